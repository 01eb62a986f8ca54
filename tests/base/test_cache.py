"""Cacher and CachedProducer: npy + JSON on disk, no pickle, safe interrupted passes."""

from __future__ import annotations

import gc
import json
import pathlib
from collections.abc import Iterator

import numpy as np
import pytest

from deepview.base import (
    ArrayProducer,
    Batch,
    CachedProducer,
    Cacher,
    _cache,
    accumulate_batches,
    pipeline,
)
from deepview.exceptions import DeepViewException, InvalidDataError, InvalidParameterError
from deepview.processors import Cacher as ReExported
from deepview.processors import SnapshotSaver

ID = Batch.StdKeys.IDENTIFIER
LABELS = Batch.StdKeys.LABELS
PATH = Batch.StdKeys.PATH


def no_ids_producer(n: int = 10) -> tuple[list[int], object]:
    calls: list[int] = []

    def producer(batch_size: int) -> Iterator[Batch]:
        calls.append(batch_size)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            builder = Batch.Builder({"x": np.arange(start, stop, dtype=np.float32)[:, None]})
            builder.metadata[LABELS] = {"c": [np.int64(i % 3) for i in range(start, stop)]}
            builder.metadata[PATH] = [pathlib.Path(f"/data/{i}.png") for i in range(start, stop)]
            yield builder.make_batch()

    return calls, producer


def test_first_pass_streams_and_stores_then_reads_from_disk(tmp_path: pathlib.Path) -> None:
    calls, producer = no_ids_producer(10)
    cacher = Cacher(tmp_path / "cache")
    cached = pipeline(producer, cacher)
    assert not cacher.cached
    first = list(cached(4))
    assert [b.batch_size for b in first] == [4, 4, 2]
    assert [i for b in first for i in b.metadata[ID]] == list(range(10))
    assert cacher.cached and calls == [4]
    again = list(cached(3))  # re-batched from disk, upstream not called
    assert calls == [4]
    assert [b.batch_size for b in again] == [3, 3, 3, 1]
    merged = accumulate_batches(cached, 7)
    assert merged.fields["x"].dtype == np.float32
    assert merged.fields["x"].ravel().tolist() == list(range(10))
    assert merged.metadata[ID] == list(range(10))
    assert merged.metadata[LABELS]["c"] == [i % 3 for i in range(10)]
    assert merged.metadata[PATH][3] == pathlib.Path("/data/3.png")
    files = {p.suffix for p in (tmp_path / "cache").iterdir()}
    assert files <= {".npy", ".json", "", ".done"} and not list((tmp_path / "cache").glob("*.pkl"))
    assert ReExported is Cacher


def test_arrays_load_without_pickle(tmp_path: pathlib.Path) -> None:
    x = np.arange(6.0).reshape(3, 2)
    cached = pipeline(ArrayProducer(x), Cacher(tmp_path))
    list(cached(2))
    arrays = sorted(tmp_path.glob("*.npy"))
    manifests = sorted(tmp_path.glob("batch-*.json"))
    assert arrays and manifests, sorted(p.name for p in tmp_path.iterdir())
    loaded = np.concatenate([np.load(file, allow_pickle=False) for file in arrays])
    np.testing.assert_array_equal(loaded, x)
    ids = [v for file in manifests for entry in json.loads(file.read_text())["metadata"]
           if entry["name"] == ID.name for v in entry["values"]]
    assert ids == [0, 1, 2]


def test_snapshots_round_trip(tmp_path: pathlib.Path) -> None:
    cacher = Cacher(tmp_path)
    cached = pipeline(ArrayProducer(np.arange(6.0).reshape(3, 2)), SnapshotSaver("raw"), cacher)
    original = accumulate_batches(cached, 2)
    restored = accumulate_batches(cacher.as_producer(), 3)
    assert restored == original
    assert restored.snapshots["raw"].fields["responses"].shape == (3, 2)


@pytest.fixture
def one_file_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cache, "_CHUNK_BYTES", 0)


def test_batches_are_coalesced_into_chunks(tmp_path: pathlib.Path, monkeypatch) -> None:
    calls, producer = no_ids_producer(10)
    cacher = Cacher(tmp_path)
    list(pipeline(producer, cacher)(2))
    assert len(list(tmp_path.glob("batch-*.json"))) == 1  # 10 small rows: one chunk
    assert [b.batch_size for b in cacher.as_producer()(4)] == [4, 4, 2]
    monkeypatch.setattr(_cache, "_CHUNK_BYTES", 3 * 4)  # 3 float32 rows per chunk
    other = Cacher(tmp_path / "small")
    list(pipeline(no_ids_producer(10)[1], other)(1))
    assert len(list((tmp_path / "small").glob("batch-*.json"))) == 4  # 3 + 3 + 3 + 1
    assert accumulate_batches(other.as_producer(), 3).metadata[ID] == list(range(10))


def test_structure_change_starts_a_new_chunk(tmp_path: pathlib.Path) -> None:
    def producer(batch_size: int) -> Iterator[Batch]:
        yield Batch({"x": np.zeros((2, 1), dtype=np.float32)})
        yield Batch({"x": np.zeros((2, 1), dtype=np.float64)})  # other dtype: not merged

    cacher = Cacher(tmp_path)
    list(pipeline(producer, cacher)(2))
    dtypes = [b.fields["x"].dtype for b in cacher.as_producer()._batches()]
    assert dtypes == [np.float32, np.float64]


@pytest.mark.usefixtures("one_file_per_batch")
def test_interrupted_pass_leaves_no_trusted_cache_and_restarts_clean(
    tmp_path: pathlib.Path,
) -> None:
    calls, producer = no_ids_producer(10)
    cacher = Cacher(tmp_path)
    cached = pipeline(producer, cacher)
    for i, _ in enumerate(cached(2)):
        if i == 2:
            break
    assert not cacher.cached
    with pytest.raises(DeepViewException, match="not finished"):
        cacher.as_producer()
    with pytest.raises(DeepViewException, match="no finished cache"):
        CachedProducer(tmp_path)
    # a full pass with another batch size: ids restart at 0, stale files are gone
    batches = list(cached(4))
    assert [i for b in batches for i in b.metadata[ID]] == list(range(10))
    assert len(list(tmp_path.glob("batch-*.json"))) == 3
    assert accumulate_batches(cacher.as_producer(), 10).metadata[ID] == list(range(10))
    assert calls == [2, 4]


def test_exception_mid_pass_leaves_no_done_marker(tmp_path: pathlib.Path) -> None:
    def broken(batch_size: int) -> Iterator[Batch]:
        yield Batch({"x": np.zeros((batch_size, 1))})
        raise OSError("upstream failed")

    cacher = Cacher(tmp_path)
    with pytest.raises(OSError):
        list(pipeline(broken, cacher)(2))
    assert not cacher.cached and not (tmp_path / ".cache.done").exists()


def test_unsupported_metadata_is_rejected_clearly(tmp_path: pathlib.Path) -> None:
    producer = ArrayProducer(np.zeros((2, 1)), labels={"box": [(1, 2), (3, 4)]})
    cacher = Cacher(tmp_path)
    expected = r"'deepview.base.Batch.StdKeys.labels'\['box'\].*tuple"
    with pytest.raises(InvalidDataError, match=expected):
        list(pipeline(producer, cacher)(2))
    assert not cacher.cached


def test_object_field_is_rejected(tmp_path: pathlib.Path) -> None:
    def producer(batch_size: int) -> Iterator[Batch]:
        yield Batch({"o": np.array([object(), object()])})

    with pytest.raises(InvalidDataError, match="dtype object"):
        list(pipeline(producer, Cacher(tmp_path))(2))


def test_existing_ids_are_kept(tmp_path: pathlib.Path) -> None:
    producer = ArrayProducer(np.zeros((3, 1)), identifiers=["a", "b", "c"])
    cacher = Cacher(tmp_path)
    list(pipeline(producer, cacher)(2))
    assert accumulate_batches(cacher.as_producer(), 2).metadata[ID] == ["a", "b", "c"]


def test_storage_path_checks(tmp_path: pathlib.Path) -> None:
    list(pipeline(ArrayProducer(np.zeros((2, 1))), Cacher(tmp_path / "c"))(2))
    with pytest.raises(DeepViewException, match="already holds a cache"):
        Cacher(tmp_path / "c")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "0.pkl").write_bytes(b"")
    with pytest.raises(DeepViewException, match="already holds a cache"):
        Cacher(tmp_path / "old")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        Cacher(tmp_path / "file")
    cacher = Cacher(tmp_path / "new" / "nested")
    assert (cacher.storage_path / ".dni_cache_dir").exists()
    assert "cached=False" in repr(cacher)


def test_one_pipeline_only() -> None:
    cacher = Cacher()
    pipeline(ArrayProducer(np.zeros((2, 1))), cacher)
    with pytest.raises(DeepViewException, match="already part of a pipeline"):
        pipeline(ArrayProducer(np.zeros((2, 1))), cacher)


def test_temporary_cache_removed_when_unreferenced() -> None:
    cacher = Cacher()
    path = cacher.storage_path
    cached = pipeline(ArrayProducer(np.zeros((2, 1))), cacher)
    list(cached(2))
    producer = cacher.as_producer()
    del cacher, cached
    gc.collect()
    assert path.exists()  # the CachedProducer keeps it alive
    assert len(list(producer(1))) == 2
    del producer
    gc.collect()
    assert not path.exists()


def test_cached_producer_errors_and_copy(tmp_path: pathlib.Path) -> None:
    cacher = Cacher(tmp_path / "src")
    list(pipeline(ArrayProducer(np.arange(5.0)[:, None]), cacher)(2))
    producer = cacher.as_producer()
    assert len(producer) == 5 and "n=5" in repr(producer)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        producer(0)
    copy = producer.copy_to(tmp_path / "dst")
    assert accumulate_batches(copy, 5).fields["responses"].ravel().tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(DeepViewException, match="already holds a cache"):
        producer.copy_to(tmp_path / "dst")
    again = producer.copy_to(tmp_path / "dst", overwrite=True)
    assert again.storage_path == tmp_path / "dst"
    with pytest.raises(DeepViewException, match="the cache itself"):
        producer.copy_to(tmp_path / "src")
    Cacher.clear(tmp_path / "src")
    assert not (tmp_path / "src").exists()
    with pytest.raises(DeepViewException, match="deleted"):
        list(producer(2))


@pytest.mark.usefixtures("one_file_per_batch")
def test_damaged_cache_is_reported(tmp_path: pathlib.Path) -> None:
    cacher = Cacher(tmp_path)
    list(pipeline(ArrayProducer(np.zeros((4, 1))), cacher)(2))
    producer = cacher.as_producer()
    (tmp_path / "batch-000001.f0.npy").unlink()
    with pytest.raises(DeepViewException, match="cannot read cached batch 1"):
        list(producer(2))
    (tmp_path / ".cache.done").write_text('{"format_version": 99}')
    with pytest.raises(DeepViewException, match="unsupported format"):
        CachedProducer(tmp_path)


def test_clear(tmp_path: pathlib.Path) -> None:
    for name in ("a", "b"):
        Cacher(tmp_path / name)
    (tmp_path / "keep").mkdir()
    Cacher.clear(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]
    with pytest.raises(NotADirectoryError):
        Cacher.clear(tmp_path / "missing")
    own = Cacher(tmp_path / "own")
    other = Cacher(tmp_path / "other")
    own.clear()  # on an instance: only its own cache
    assert not own.storage_path.exists() and other.storage_path.exists()


def test_cacher_recreates_a_cleared_directory(tmp_path: pathlib.Path) -> None:
    cacher = Cacher(tmp_path / "c")
    cached = pipeline(ArrayProducer(np.zeros((3, 1))), cacher)
    cacher.clear()
    assert [b.batch_size for b in cached(2)] == [2, 1]
    assert cacher.cached


@pytest.mark.usefixtures("one_file_per_batch")
def test_overlapping_passes_only_the_newest_writes(tmp_path: pathlib.Path) -> None:
    cacher = Cacher(tmp_path)
    cached = pipeline(ArrayProducer(np.arange(6.0)[:, None]), cacher)
    old = iter(cached(2))
    next(old)
    new = list(cached(3))  # a second pass starts before the first finished
    assert [b.batch_size for b in new] == [3, 3] and cacher.cached
    assert [b.batch_size for b in old] == [2, 2]  # the old pass still streams ...
    stored = accumulate_batches(cacher.as_producer(), 6)
    assert stored.metadata[ID] == list(range(6))  # ... but did not overwrite the cache
    assert len(list(tmp_path.glob("batch-*.json"))) == 2


def test_empty_upstream_is_not_marked_done(tmp_path: pathlib.Path) -> None:
    cacher = Cacher(tmp_path)
    assert list(pipeline(lambda bs: iter([]), cacher)(2)) == []
    assert not cacher.cached
