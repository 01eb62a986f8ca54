"""ArrayProducer, peek_first_batch, iter_batches, accumulate_batches, rebatch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepview.base import (
    ArrayProducer,
    Batch,
    Producer,
    accumulate_batches,
    iter_batches,
    peek_first_batch,
    rebatch,
)
from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError

ID = Batch.StdKeys.IDENTIFIER
LABELS = Batch.StdKeys.LABELS


def test_array_producer_batches_ids_labels_paths(rng: np.random.Generator) -> None:
    x = rng.normal(size=(7, 3))
    producer = ArrayProducer(x, labels={"c": list("aabbcca")}, paths=[f"p{i}" for i in range(7)])
    batches = list(producer(3))
    assert [b.batch_size for b in batches] == [3, 3, 1]
    merged = accumulate_batches(producer, 3)
    np.testing.assert_array_equal(merged.fields["responses"], x)
    assert merged.metadata[ID] == list(range(7))
    assert merged.metadata[LABELS]["c"] == list("aabbcca")
    assert merged.metadata[Batch.StdKeys.PATH][6] == "p6"
    assert len(producer) == 7 and "n=7" in repr(producer)
    assert isinstance(producer, Producer)


def test_array_producer_mapping_and_identifiers() -> None:
    producer = ArrayProducer({"a": np.zeros((3, 2)), "b": np.ones(3)}, identifiers=["x", "y", "z"])
    batch = peek_first_batch(producer, 2)
    assert set(batch.fields) == {"a", "b"} and batch.metadata[ID] == ["x", "y"]


def test_array_producer_keeps_a_memory_mapped_npy_mapped(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(20.0).reshape(10, 2))
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    batches = list(ArrayProducer(mapped)(4))
    assert all(np.shares_memory(b.fields["responses"], mapped) for b in batches)  # no copy
    np.testing.assert_array_equal(batches[2].fields["responses"], [[16, 17], [18, 19]])


class _Rows:
    """A lazy row source: dtype, shape and rows[start:stop], reading only those rows."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.dtype, self.shape = array, array.dtype, array.shape
        self.reads: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: slice) -> np.ndarray:
        self.reads.append((index.start, index.stop))
        return self.array[index].copy()


def test_array_producer_reads_a_lazy_row_source_batch_by_batch() -> None:
    rows = _Rows(np.arange(30.0).reshape(10, 3))
    producer = ArrayProducer({"emb": rows}, labels={"c": list("aabbccddee")})
    assert rows.reads == [] and len(producer) == 10  # nothing read up front
    batches = list(producer(4))
    assert rows.reads == [(0, 4), (4, 8), (8, 10)]
    np.testing.assert_array_equal(np.concatenate([b.fields["emb"] for b in batches]),
                                  rows.array)
    # pandas objects are converted as before, not taken as row sources
    series = pd.Series(np.arange(4.0))
    assert next(iter(ArrayProducer(series)(4))).fields["responses"].tolist() == [0, 1, 2, 3]


def test_array_producer_dataframe() -> None:
    frame = pd.DataFrame({"f1": [1.0, 2.0], "f2": [3.0, 4.0], "name": ["a", "b"], "y": [0, 1]})
    producer = ArrayProducer(frame, id_column="name", label_columns=["y"])
    batch = peek_first_batch(producer, 5)
    assert batch.fields["responses"].tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert batch.metadata[ID] == ["a", "b"] and batch.metadata[LABELS]["y"] == [0, 1]
    with pytest.raises(InvalidDataError, match="no column"):
        ArrayProducer(frame, id_column="nope")
    labelled = ArrayProducer(np.zeros((2, 1)), labels=frame[["y"]])
    assert peek_first_batch(labelled, 2).metadata[LABELS]["y"] == [0, 1]


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"data": np.array(1.0)}, InvalidDataError, "scalar"),
        ({"data": np.zeros((0, 2))}, InvalidDataError, "0 rows"),
        ({"data": {}}, InvalidDataError, "empty mapping"),
        ({"data": {"a": np.zeros(2), "b": np.zeros(3)}}, InvalidDataError, "same number"),
        ({"data": np.zeros(2), "labels": {"c": [1]}}, InvalidDataError, "labels"),
        ({"data": np.zeros(2), "labels": [1, 2]}, InvalidTypeError, "labels"),
        ({"data": np.zeros(2), "identifiers": [1]}, InvalidDataError, "identifiers"),
        ({"data": np.zeros(2), "paths": ["a"]}, InvalidDataError, "paths"),
        ({"data": np.array([object(), object()])}, InvalidTypeError, "dtype object"),
    ],
)
def test_array_producer_bad_input(kwargs: dict, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        ArrayProducer(**kwargs)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True])
def test_bad_batch_size(batch_size: object) -> None:
    producer = ArrayProducer(np.zeros((3, 1)))
    with pytest.raises((InvalidParameterError, InvalidTypeError), match="batch_size"):
        list(producer(batch_size))  # type: ignore[arg-type]


def test_peek_first_batch_closes_and_empty_raises() -> None:
    closed = []

    def producer(batch_size: int) -> Iterator[Batch]:
        try:
            for i in range(3):
                yield Batch({"x": np.full(batch_size, i)})
        finally:
            closed.append(True)

    assert peek_first_batch(producer, 2).fields["x"].tolist() == [0, 0]
    assert closed == [True]
    with pytest.raises(StopIteration):
        peek_first_batch(lambda bs: iter([]))


def test_iter_batches_validates() -> None:
    def mixed(batch_size: int) -> Iterator[Batch]:
        yield Batch({"x": np.zeros(0)})
        yield Batch({"x": np.zeros(2)})

    assert [b.batch_size for b in iter_batches(mixed, 2, owner="T")] == [2]
    with pytest.raises(InvalidDataError, match="T: the producer yielded no batches"):
        list(iter_batches(lambda bs: iter([]), 2, owner="T"))
    with pytest.raises(InvalidTypeError, match="must yield"):
        list(iter_batches(lambda bs: iter([np.zeros(2)]), 2, owner="T"))
    with pytest.raises(InvalidTypeError, match="callable"):
        list(iter_batches(3, 2, owner="T"))  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="batch_size"):
        list(iter_batches(mixed, 0, owner="T"))


@pytest.mark.parametrize("in_size", [1, 3, 10, 25])
@pytest.mark.parametrize("out_size", [1, 4, 7, 23, 50])
def test_rebatch_exact_sizes_and_order(in_size: int, out_size: int) -> None:
    producer = ArrayProducer(np.arange(23.0).reshape(23, 1))
    out = list(rebatch(producer(in_size), out_size))
    assert [b.batch_size for b in out] == [min(out_size, 23 - s) for s in range(0, 23, out_size)]
    assert [i for b in out for i in b.metadata[ID]] == list(range(23))
    np.testing.assert_array_equal(
        np.concatenate([b.fields["responses"] for b in out]).ravel(), np.arange(23.0)
    )


def test_rebatch_skips_empty_batches() -> None:
    batches = [Batch({"x": np.zeros(0)}), Batch({"x": np.arange(3)}), Batch({"x": np.zeros(0)})]
    assert [b.fields["x"].tolist() for b in rebatch(batches, 2)] == [[0, 1], [2]]
    assert list(rebatch([], 2)) == []
