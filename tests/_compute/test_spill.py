"""Spilled arrays: memory-mapped arrays whose pages are released, rows read back from a file,
and arrays saved block by block as ``.npy`` files numpy reads back (no pickle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepview._compute.spill import (
    FileRows,
    Pages,
    Workspace,
    is_mapped,
    mapped,
    release,
    save_npy,
    take,
)


@pytest.mark.parametrize("shape", [(0, 3), (5,), (70_000, 3), ()])
def test_save_npy_writes_what_np_load_reads(tmp_path: Path, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    source = mapped(tmp_path / "x.f64", shape, np.float64)  # a spilled source, read in blocks
    source[...] = rng.normal(size=shape) * 1000
    save_npy(tmp_path / "x.npy", source, np.int32, block_rows=4096)
    back = np.load(tmp_path / "x.npy", allow_pickle=False)
    assert back.dtype == np.int32 and back.shape == shape
    np.testing.assert_array_equal(back, np.asarray(source).astype(np.int32))


def test_detached_workspace_array_keeps_its_data_without_its_file(tmp_path: Path) -> None:
    array = Workspace(tmp_path).array("a.f32", (1000, 4), np.float32, detached=True)
    assert isinstance(array, np.memmap)
    array[:] = np.arange(4000, dtype=np.float32).reshape(1000, 4)
    assert list(tmp_path.iterdir()) == []
    assert float(array.sum()) == float(np.arange(4000).sum())
    in_memory = Workspace(None).array("a.f32", (2, 2), np.float32, detached=True)
    assert not isinstance(in_memory, np.memmap) and in_memory.shape == (2, 2)


def test_workspace_blocks_cover_every_row_and_read_back_as_file_rows(tmp_path: Path) -> None:
    work = Workspace(tmp_path)
    x = work.array("x.f64", (10, 2), np.float64)
    assert (tmp_path / "x.f64").exists()
    blocks = list(work.blocks(10, 4, x, every=2))
    assert blocks == [(0, 4), (4, 8), (8, 10)]
    for start, stop in work.blocks(10, 4, x):
        x[start:stop] = np.arange(start, stop)[:, None]
    rows = work.file_rows(x)
    assert isinstance(rows, FileRows)
    np.testing.assert_array_equal(rows.rows_at([9, 0]), [[9.0, 9.0], [0.0, 0.0]])
    plain = np.ones(3)
    assert Workspace(None).file_rows(plain) is plain
    counter = Pages(x, rows=5)
    counter.add(3)
    assert counter.count == 3
    counter.add(3)  # past 5 rows: the pages are dropped and the count starts again
    assert counter.count == 0
    assert list(work.steps("ab")) == ["a", "b"]


@pytest.mark.parametrize("spill", [True, False])
def test_workspace_parks_arrays_and_scratch_folders_are_removed(tmp_path: Path,
                                                                spill: bool) -> None:
    work = Workspace(tmp_path if spill else None)
    with work.scratch("field-") as inner:
        assert (inner.folder is not None) == spill
        source = np.arange(12, dtype=np.float64).reshape(4, 3)
        load = inner.park("d.npy", source, np.float32)
        source[:] = -1  # the parked copy is the array as it was
        back = load()
        assert back.dtype == np.float32
        np.testing.assert_array_equal(back, np.arange(12).reshape(4, 3))
        assert not spill or (inner.folder is not None and (inner.folder / "d.npy").exists())
    assert list(tmp_path.iterdir()) == []


def test_mapped_arrays_live_in_their_file_and_release_keeps_the_data(tmp_path: Path) -> None:
    x = mapped(tmp_path / "a.bin", (1000, 3), np.float64)
    x[:] = np.arange(3000.0).reshape(1000, 3)
    release(x, x[10:20], np.zeros(3))  # views and plain arrays are fine
    assert (tmp_path / "a.bin").stat().st_size == 3000 * 8
    assert float(x.sum()) == float(np.arange(3000.0).sum())
    assert mapped(tmp_path / "empty.bin", (0, 3), np.float32).shape == (0, 3)


def test_file_rows_read_slices_and_scattered_rows(tmp_path: Path) -> None:
    x = np.arange(60, dtype=np.float64).reshape(20, 3)
    path = tmp_path / "rows.npy"
    np.save(path, x)
    header = np.load(path, mmap_mode="r")
    rows = FileRows(path, x.shape, x.dtype, header.offset)
    assert len(rows) == 20 and rows.shape == (20, 3) and rows.ndim == 2
    np.testing.assert_array_equal(rows[4:7], x[4:7])
    np.testing.assert_array_equal(np.asarray(rows), x)
    wanted = np.array([19, 3, 4, 5, 3, 0, 11])  # any order, repeats, runs
    np.testing.assert_array_equal(rows.rows_at(wanted), x[wanted])
    np.testing.assert_array_equal(take(rows, wanted), x[wanted])
    assert rows.rows_at([]).shape == (0, 3)
    with pytest.raises(IndexError):
        rows.rows_at([20])
    with pytest.raises(TypeError, match="rows_at"):
        rows[[1, 2]]  # type: ignore[index]
    view = rows.mapped()  # the same rows (past the .npy header), read-only
    assert is_mapped(view) and not view.flags.writeable
    np.testing.assert_array_equal(take(view, wanted), x[wanted])
    on_disk = mapped(tmp_path / "m.bin", x.shape, x.dtype)
    on_disk[:] = x
    np.testing.assert_array_equal(take(on_disk, wanted), x[wanted])
