"""Spilled arrays: memory-mapped arrays whose pages are released, rows read back from a file,
and arrays saved block by block as ``.npy`` files numpy reads back (no pickle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepview._compute.spill import FileRows, mapped, release, save_npy, spilled, take


@pytest.mark.parametrize("shape", [(0, 3), (5,), (70_000, 3), ()])
def test_save_npy_writes_what_np_load_reads(tmp_path: Path, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    source = mapped(tmp_path / "x.f64", shape, np.float64)  # a spilled source, read in blocks
    source[...] = rng.normal(size=shape) * 1000
    save_npy(tmp_path / "x.npy", source, np.int32, block_rows=4096)
    back = np.load(tmp_path / "x.npy", allow_pickle=False)
    assert back.dtype == np.int32 and back.shape == shape
    np.testing.assert_array_equal(back, np.asarray(source).astype(np.int32))


def test_spilled_array_keeps_its_data_without_its_file(tmp_path: Path) -> None:
    array = spilled(tmp_path, "a.f32", (1000, 4), np.float32)
    array[:] = np.arange(4000, dtype=np.float32).reshape(1000, 4)
    assert list(tmp_path.iterdir()) == []
    assert float(array.sum()) == float(np.arange(4000).sum())
    in_memory = spilled(None, "a.f32", (2, 2), np.float32)
    assert not isinstance(in_memory, np.memmap) and not in_memory.any()


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
    on_disk = mapped(tmp_path / "m.bin", x.shape, x.dtype)
    on_disk[:] = x
    np.testing.assert_array_equal(take(on_disk, wanted), x[wanted])
