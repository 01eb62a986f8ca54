"""Connecting to a Ray cluster with a deadline, or starting a local one."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from deepview.exceptions import DeepViewException

__all__ = ["ClusterUnavailableError", "ray_session"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 20.0  # to reach a cluster address


class ClusterUnavailableError(DeepViewException, ConnectionError):
    """A Ray cluster address did not answer (in time), or Ray could not start locally."""


def _probe(address: str, timeout_s: float) -> None:
    """Fail fast when nothing listens at ``"host:port"`` / ``"ray://host:port"`` (before Ray
    retries for minutes); ``"auto"`` is not probed."""
    if address in ("auto", "local"):
        return
    host, sep, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterUnavailableError(
            f"ray_session: cannot read the cluster address {address!r}; give HOST:PORT of the "
            "head node (e.g. 10.0.0.5:6379), ray://HOST:PORT, or 'auto'.")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                      timeout=timeout_s):
            pass
    except OSError as exc:
        raise ClusterUnavailableError(
            f"ray_session: the Ray cluster at {address!r} does not answer ({exc}); check the "
            "address (the head node's GCS port, 6379 by default) and that the cluster is up."
        ) from None


def _init_with_deadline(ray: Any, deadline: float, timeout_s: float, **kwargs: Any) -> None:
    """``ray.init(**kwargs)``, abandoned with an error when it has not returned by ``deadline``."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            ray.init(**kwargs)
            outcome.append(None)
        except BaseException as exc:  # handed to the caller below
            outcome.append(exc)

    thread = threading.Thread(target=target, name="deepview-ray-init", daemon=True)
    thread.start()
    thread.join(max(deadline - time.monotonic(), 0.1))
    if thread.is_alive() or not outcome:
        raise ClusterUnavailableError(
            f"ray_session: no Ray cluster answered at {kwargs.get('address')!r} within the "
            f"{timeout_s:g} s deadline (timeout_s); something listens there but it is not a Ray "
            "head node (or it is overloaded). Check the address and port.")
    if outcome[0] is not None:
        raise ClusterUnavailableError(
            f"ray_session: cannot connect to the Ray cluster at {kwargs.get('address')!r}: "
            f"{outcome[0]}") from outcome[0]


@dataclasses.dataclass
class RaySession:
    """What :func:`ray_session` yields: :meth:`close` ends the session early."""

    started: bool  # Ray was started (or connected) by the session: closing shuts it down

    def close(self) -> None:
        """Shut Ray down now if this session started or connected it."""
        import ray

        if self.started and ray.is_initialized():
            ray.shutdown()
        self.started = False


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                timeout_s: float = DEFAULT_TIMEOUT_S, quiet: bool = True,
                object_store_memory: int | None = None) -> Iterator[RaySession]:
    """Use a Ray cluster for the duration of a ``with`` block; yields a :class:`RaySession`.

    Parameters
    ----------
    address : str, optional
        ``HOST:PORT`` of a head node, ``ray://HOST:PORT`` or ``"auto"``; default the Ray
        instance of this process, else a new local cluster shut down with the block.
    num_cpus : int, optional
        CPUs of a local cluster (default: all of this machine's).
    timeout_s : float, default=20
        Give up connecting to ``address`` after this many seconds.
    quiet : bool, default=True
        No Ray progress bars and only warnings from Ray's loggers.
    object_store_memory : int, optional
        Bytes of a local cluster's object store (default Ray's); bounds the driver's memory.

    Raises
    ------
    ClusterUnavailableError
        Nothing answers at ``address`` within ``timeout_s``, or it is not a Ray cluster.
    """
    import ray
    import ray.data

    if quiet:
        ray.data.DataContext.get_current().enable_progress_bars = False
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.WARNING)
    # without an address, an instance already initialised is the caller's: used, not shut down
    session = RaySession(address is not None or not ray.is_initialized())
    if address is None and session.started:
        try:
            ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                     logging_level=logging.WARNING, log_to_driver=not quiet,
                     object_store_memory=object_store_memory)
        except Exception as exc:
            raise ClusterUnavailableError(
                f"ray_session: could not start a local Ray cluster: {exc}") from exc
    elif address is not None:
        if ray.is_initialized():
            raise ClusterUnavailableError(
                "ray_session: Ray is already initialised in this process; call "
                "ray.shutdown() first, or pass no address to use that instance.")
        deadline = time.monotonic() + timeout_s
        _probe(address, timeout_s)
        _init_with_deadline(ray, deadline, timeout_s, address=address,
                            logging_level=logging.WARNING, log_to_driver=not quiet)
    try:
        yield session
    finally:
        session.close()
