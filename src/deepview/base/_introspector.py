"""The :class:`Introspector` protocol and :func:`multi_introspect` (several introspectors, one
pass over the producer)."""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

from deepview._validation import check_batch_size, check_int
from deepview.base._batch import Batch
from deepview.base._producer import Producer
from deepview.exceptions import DeepViewException, InvalidParameterError, InvalidTypeError

__all__ = ["Introspector", "multi_introspect"]


@runtime_checkable
class Introspector(Protocol):
    """Anything with a static ``introspect(producer, *, ...)`` factory."""

    @staticmethod
    def introspect(producer: Producer, *args: Any, **kwargs: Any) -> Any: ...


class _Cancelled(BaseException):
    """Stops an introspector when another one failed (``except Exception`` lets it pass)."""


@dataclasses.dataclass(slots=True, eq=False)
class _Consumer:
    """State of one introspector: its buffer and where it stands."""

    index: int
    buffer: collections.deque[Batch] = dataclasses.field(default_factory=collections.deque)
    batch_size: int | None = None
    called: bool = False
    detached: bool = False
    finished: bool = False
    result: Any = None


class _Hub:
    """Shared state of one :func:`multi_introspect` call, guarded by one condition."""

    def __init__(self, count: int, buffer_size: int) -> None:
        self.cond = threading.Condition()
        self.consumers = [_Consumer(i) for i in range(count)]
        self.buffer_size = buffer_size
        self.end_of_data = False
        self.error: BaseException | None = None
        self.error_owner: str | None = None

    def fail(self, exc: BaseException, owner: str) -> None:
        with self.cond:
            if self.error is None:
                self.error = exc
                self.error_owner = owner
            self.cond.notify_all()

    def register(self, consumer: _Consumer, batch_size: Any) -> None:
        with self.cond:
            if consumer.called:
                raise DeepViewException(
                    f"multi_introspect: introspector {consumer.index} called its producer a "
                    "second time; inside multi_introspect each introspector may read the data "
                    "only once. Run introspectors that need several passes on their own, or "
                    "cache the data first (deepview.processors.Cacher).")
            consumer.called = True
            consumer.batch_size = check_batch_size(
                batch_size, owner=f"multi_introspect (introspector {consumer.index})")
            self.cond.notify_all()

    def read(self, consumer: _Consumer) -> Iterator[Batch]:
        try:
            while True:
                with self.cond:
                    self.cond.wait_for(
                        lambda: self.error is not None or consumer.buffer or self.end_of_data)
                    if self.error is not None:
                        raise _Cancelled()
                    if not consumer.buffer:
                        return  # end of data and nothing left
                    batch = consumer.buffer.popleft()
                    self.cond.notify_all()
                yield batch
        finally:
            self.detach(consumer)

    def detach(self, consumer: _Consumer) -> None:
        with self.cond:
            consumer.detached = True
            consumer.buffer.clear()
            self.cond.notify_all()

    def _settled(self) -> bool:
        return self.error is not None or all(
            c.batch_size is not None or c.finished or c.detached for c in self.consumers)

    def wait_for_batch_size(self) -> int | None:
        """Block until every live consumer asked for data; return the common batch size."""
        with self.cond:
            self.cond.wait_for(self._settled)
            if self.error is not None:
                return None
            sizes = {c.index: c.batch_size for c in self.consumers
                     if c.batch_size is not None and not c.detached}
            if len(set(sizes.values())) > 1:
                exc = InvalidParameterError(
                    f"multi_introspect: the introspectors asked for different batch sizes "
                    f"{sizes} (introspector: batch_size); give them all the same batch_size.")
                self.error = exc
                self.error_owner = "batch sizes"
                self.cond.notify_all()
                return None
            return next(iter(sizes.values()), None)

    def _has_room(self) -> bool:
        return self.error is not None or all(
            c.detached or c.finished or len(c.buffer) < self.buffer_size for c in self.consumers)

    def distribute(self, batch: Batch) -> bool:
        """Hand ``batch`` to every attached consumer; False when reading should stop."""
        with self.cond:
            self.cond.wait_for(self._has_room)
            if self.error is not None:
                return False
            live = [c for c in self.consumers if not (c.detached or c.finished)]
            for consumer in live:
                consumer.buffer.append(batch)
            self.cond.notify_all()
            return bool(live)

    def close(self) -> None:
        with self.cond:
            self.end_of_data = True
            self.cond.notify_all()


class _ConsumerProducer:
    """The producer an introspector sees inside :func:`multi_introspect`."""

    def __init__(self, hub: _Hub, consumer: _Consumer) -> None:
        self._hub = hub
        self._consumer = consumer

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        self._hub.register(self._consumer, batch_size)
        return self._hub.read(self._consumer)

    def __repr__(self) -> str:
        return f"multi_introspect producer (introspector {self._consumer.index})"


def _run_consumer(hub: _Hub, consumer: _Consumer, introspector: Callable[[Producer], Any]) -> None:
    try:
        consumer.result = introspector(_ConsumerProducer(hub, consumer))
    except _Cancelled:
        pass
    except BaseException as exc:  # noqa: BLE001 - re-raised by the caller thread
        hub.fail(exc, f"introspector {consumer.index} ({_name(introspector)})")
    finally:
        consumer.finished = True
        hub.detach(consumer)


def _name(obj: Any) -> str:
    func = getattr(obj, "func", obj)  # functools.partial
    return getattr(func, "__qualname__", None) or type(obj).__name__


def multi_introspect(*introspectors: Callable[[Producer], Any], producer: Producer,
                     buffer_size: int = 2) -> tuple[Any, ...]:
    """Run several introspectors, each in its own thread, over **one** pass of ``producer``.

    Parameters
    ----------
    *introspectors : Callable[[Producer], Any]
        Callables ``f(producer)`` (``functools.partial(X.introspect, batch_size=8)``), each
        reading its producer at most once, all with the same batch size.
    producer : Producer
        The source; called once.
    buffer_size : int, default=2
        Batches buffered per introspector (bounds memory).

    Returns
    -------
    tuple
        The results, in argument order.

    Raises
    ------
    DeepViewException
        An introspector or the producer raised (the others are stopped), the batch sizes
        differ, or an introspector read its producer twice.
    """
    if not introspectors:
        raise InvalidParameterError(
            "multi_introspect: give at least one introspector, e.g. "
            "multi_introspect(functools.partial(Familiarity.introspect), producer=p).")
    for i, intro in enumerate(introspectors):
        if not callable(intro):
            raise InvalidTypeError(
                f"multi_introspect: introspector {i} must be callable as f(producer); got "
                f"{type(intro).__name__}. Use functools.partial(X.introspect, ...).")
    if not callable(producer):
        raise InvalidTypeError(
            f"multi_introspect: 'producer' must be callable as producer(batch_size); "
            f"got {type(producer).__name__}.")
    buffer_size = check_int(buffer_size, name="buffer_size", owner="multi_introspect",
                            min_value=1)
    hub = _Hub(len(introspectors), buffer_size)
    threads = [threading.Thread(target=_run_consumer, args=(hub, consumer, intro),
                                name=f"deepview-multi-introspect-{consumer.index}", daemon=True)
               for consumer, intro in zip(hub.consumers, introspectors)]
    for thread in threads:
        thread.start()
    try:
        _feed(hub, producer)
    except BaseException as exc:  # e.g. KeyboardInterrupt: stop every introspector
        hub.fail(exc, "multi_introspect")
        raise
    finally:
        hub.close()
        for thread in threads:
            thread.join()
    if hub.error is not None:
        raise DeepViewException(
            f"multi_introspect: {hub.error_owner} failed while running multiple "
            f"introspectors: {type(hub.error).__name__}: {hub.error}") from hub.error
    return tuple(c.result for c in hub.consumers)


def _feed(hub: _Hub, producer: Producer) -> None:
    batch_size = hub.wait_for_batch_size()
    if batch_size is None:
        return
    iterator = iter(producer(batch_size))
    try:
        for batch in iterator:
            if not hub.distribute(batch):
                break
    except BaseException as exc:
        hub.fail(exc, "the producer")
        if not isinstance(exc, Exception):
            raise
    finally:
        getattr(iterator, "close", lambda: None)()
