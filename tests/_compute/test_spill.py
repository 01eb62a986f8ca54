"""Spilled arrays: saved block by block as ``.npy`` files numpy reads back (no pickle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepview._compute.spill import mapped, save_npy, spilled


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
