"""multi_introspect: one pass, no hang when an introspector stops early or fails."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from deepview.base import (
    ArrayProducer,
    Batch,
    Introspector,
    Producer,
    accumulate_batches,
    multi_introspect,
    peek_first_batch,
)
from deepview.exceptions import DeepViewException, InvalidDataError, InvalidParameterError

pytestmark = pytest.mark.timeout(20)


def total(producer: Producer, batch_size: int = 4) -> float:
    return float(sum(b.fields["responses"].sum() for b in producer(batch_size)))


def count(producer: Producer, batch_size: int = 4) -> int:
    return sum(b.batch_size for b in producer(batch_size))


def ids(producer: Producer, batch_size: int = 4) -> list[int]:
    return accumulate_batches(producer, batch_size).metadata[Batch.StdKeys.IDENTIFIER]


def test_results_in_argument_order_and_source_read_once(make_producer) -> None:
    source = make_producer(np.arange(50.0).reshape(25, 2))
    result = multi_introspect(total, count, ids, producer=source)
    assert result == (float(np.arange(50.0).sum()), 25, list(range(25)))
    assert source.calls == 1


def test_early_stopping_introspectors_are_detached(make_producer) -> None:
    source = make_producer(np.ones((40, 1)))

    def peek(producer: Producer) -> int:
        return peek_first_batch(producer, 4).batch_size

    def breaks(producer: Producer) -> int:
        for i, _ in enumerate(producer(4)):
            if i == 1:
                break
        return i

    def never_reads(producer: Producer) -> str:
        return "done"

    def holds_iterator(producer: Producer) -> int:
        iterator = iter(producer(4))
        next(iterator)
        return 1  # returns without closing: detached when its thread ends

    result = multi_introspect(
        peek, breaks, never_reads, holds_iterator, count, producer=source, buffer_size=1
    )
    assert result == (4, 1, "done", 1, 40)
    assert source.calls == 1


def test_all_stop_early_stops_reading_the_source() -> None:
    produced: list[int] = []

    def endless(batch_size: int) -> Iterator[Batch]:
        i = 0
        while True:
            produced.append(i)
            yield Batch({"responses": np.full((batch_size, 1), i)})
            i += 1

    first = functools.partial(peek_first_batch, batch_size=2)
    a, b = multi_introspect(first, first, producer=endless)
    assert a.fields["responses"].ravel().tolist() == [0, 0]
    assert b.fields["responses"].ravel().tolist() == [0, 0]
    assert len(produced) <= 4  # stopped, not run forever


def test_exception_cancels_others_and_is_chained() -> None:
    started = threading.Event()

    def fails(producer: Producer) -> None:
        for i, _ in enumerate(producer(4)):
            if i == 2:
                raise ZeroDivisionError("boom")

    def slow_reader(producer: Producer) -> int:
        started.set()
        return count(producer)

    endless_calls = []

    def endless(batch_size: int) -> Iterator[Batch]:
        endless_calls.append(1)
        while True:
            yield Batch({"responses": np.zeros((batch_size, 1))})

    with pytest.raises(DeepViewException, match="multiple introspectors") as info:
        multi_introspect(slow_reader, fails, producer=endless)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert "introspector 1" in str(info.value) and "fails" in str(info.value)
    assert started.is_set() and endless_calls == [1]


def test_exception_swallowing_introspector_is_still_cancelled() -> None:
    def fails(producer: Producer) -> None:
        next(iter(producer(2)))
        raise KeyError("bad")

    def swallows(producer: Producer) -> int:
        try:
            return count(producer, 2)
        except Exception:  # noqa: BLE001 - the cancellation is not an Exception
            return -1

    def endless(batch_size: int) -> Iterator[Batch]:
        while True:
            yield Batch({"responses": np.zeros((batch_size, 1))})

    with pytest.raises(DeepViewException) as info:
        multi_introspect(swallows, fails, producer=endless)
    assert isinstance(info.value.__cause__, KeyError)


def test_producer_error_propagates() -> None:
    def broken(batch_size: int) -> Iterator[Batch]:
        yield Batch({"responses": np.zeros((batch_size, 1))})
        raise OSError("disk gone")

    with pytest.raises(DeepViewException, match="the producer failed") as info:
        multi_introspect(count, total, producer=broken)
    assert isinstance(info.value.__cause__, OSError)


def test_empty_producer_error_from_introspector_is_wrapped() -> None:
    def strict(producer: Producer) -> Batch:
        return accumulate_batches(producer, 4, owner="Strict")

    with pytest.raises(DeepViewException) as info:
        multi_introspect(strict, count, producer=lambda bs: iter([]))
    assert isinstance(info.value.__cause__, InvalidDataError)


def test_batch_size_mismatch(make_producer) -> None:
    source = make_producer(np.zeros((10, 1)))
    with pytest.raises(DeepViewException, match="different batch sizes") as info:
        multi_introspect(functools.partial(count, batch_size=3), count, producer=source)
    assert isinstance(info.value.__cause__, InvalidParameterError)
    assert source.calls == 0


def test_second_pass_is_an_error(make_producer) -> None:
    def two_passes(producer: Producer) -> int:
        return count(producer) + count(producer)

    with pytest.raises(DeepViewException, match="second time"):
        multi_introspect(two_passes, count, producer=make_producer(np.zeros((8, 1))))


def test_bad_arguments(make_producer) -> None:
    source = make_producer(np.zeros((2, 1)))
    with pytest.raises(InvalidParameterError, match="at least one introspector"):
        multi_introspect(producer=source)
    with pytest.raises(TypeError, match="introspector 0 must be callable"):
        multi_introspect(3, producer=source)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'producer' must be callable"):
        multi_introspect(count, producer=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="buffer_size"):
        multi_introspect(count, producer=source, buffer_size=0)


def test_many_batches_with_uneven_consumers_and_bounded_buffers(rng) -> None:
    x = rng.normal(size=(500, 3))
    producer = ArrayProducer(x)

    def mean(p: Producer) -> np.ndarray:
        return accumulate_batches(p, 4).fields["responses"].mean(axis=0)

    results = multi_introspect(mean, count, total, producer=producer, buffer_size=1)
    np.testing.assert_allclose(results[0], x.mean(axis=0))
    assert results[1] == 500
    assert results[2] == pytest.approx(x.sum())


def test_introspector_protocol() -> None:
    class Counter:
        @staticmethod
        def introspect(producer: Producer, *, batch_size: int = 4) -> int:
            return count(producer, batch_size)

    assert isinstance(Counter, Introspector)
    assert multi_introspect(Counter.introspect, producer=ArrayProducer(np.zeros((9, 1)))) == (9,)
