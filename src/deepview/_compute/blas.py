"""When to run BLAS single-threaded.

OpenBLAS threads spin-wait for each other.  On an oversubscribed CPU (load above the core
count, e.g. a shared 2-core box) a multi-threaded product of a few hundred rows can be
5-10x *slower* than the same product on one thread; and for small products the thread
hand-off costs more than it saves anyway.  Measured on 2 shared cores at load ~9:
100k x 256 float32 exact PCA fit 12.3 s multi-threaded vs 1.6 s single-threaded,
transform 4.2 s vs 0.3 s.

:func:`blas_threads_for` returns a context manager that limits BLAS to one thread when the
product is small (fewer than ``SMALL_FLOPS``) or the machine is oversubscribed, and does
nothing otherwise.  It only touches the BLAS libraries already loaded (threadpoolctl,
a scikit-learn dependency); if threadpoolctl is unavailable it does nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["SMALL_FLOPS", "blas_threads_for", "oversubscribed", "single_thread_if_oversubscribed"]

#: products below this many floating point operations run on one BLAS thread
SMALL_FLOPS = 2.0e8

_controller: Any = None
_load_checked = 0.0
_load_high = False


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def oversubscribed() -> bool:
    """True when the 1-minute load average exceeds the usable cores (re-checked every 5 s)."""
    global _load_checked, _load_high
    now = time.monotonic()
    if now - _load_checked > 5.0:
        _load_checked = now
        try:
            _load_high = os.getloadavg()[0] > _cpu_count() + 0.5
        except (AttributeError, OSError):  # pragma: no cover - no getloadavg
            _load_high = False
    return _load_high


def _get_controller(*, fresh: bool = False) -> Any:
    """A cached ThreadpoolController (``fresh``: rescan libraries loaded since)."""
    global _controller
    if _controller is None or (fresh and _controller is not False):
        try:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        except Exception:  # pragma: no cover - threadpoolctl missing or broken
            _controller = False
    return _controller


@contextlib.contextmanager
def blas_threads_for(flops: float) -> Iterator[None]:
    """Run the enclosed BLAS work single-threaded if it is small or the CPU is oversubscribed.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.ones((100, 8))
    >>> with blas_threads_for(2 * a.size * 8):
    ...     g = a.T @ a
    >>> float(g[0, 0])
    100.0
    """
    if _cpu_count() <= 1 or (flops >= SMALL_FLOPS and not oversubscribed()):
        yield
        return
    controller = _get_controller()
    if not controller:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


@contextlib.contextmanager
def single_thread_if_oversubscribed(*, always: bool = False) -> Iterator[None]:
    """Limit BLAS, OpenMP and numba to one thread while the CPU is oversubscribed, or
    ``always`` (a seeded fit: parallel reductions sum in an order that depends on the thread
    count, so only one thread gives the same result whatever the machine's load).

    For library calls with their own OpenMP loops (e.g. sklearn's Barnes-Hut t-SNE: 120
    samples took 3.2 s with 2 spinning threads at load ~5 on 2 cores, 0.65 s with one).
    """
    if _cpu_count() <= 1 or not (always or oversubscribed()):
        yield
        return
    with contextlib.ExitStack() as stack:
        controller = _get_controller(fresh=True)  # OpenMP runtimes may have loaded since
        if controller:
            stack.enter_context(controller.limit(limits=1))
        numba = sys.modules.get("numba")  # only if already imported (umap, pacmap)
        if numba is not None:
            previous = numba.get_num_threads()
            numba.set_num_threads(1)
            stack.callback(numba.set_num_threads, previous)
        yield
