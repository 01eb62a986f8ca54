"""The bounded-memory partitioned k-NN (same answers as knn_partitioned), the query index and
memory-mapped spill arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepview._compute.knn import knn_partitioned
from deepview._compute.knn_lean import CellIndex, knn_partitioned_lean
from deepview._compute.spill import FileRows, mapped, release, take


def _clusters(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(8, d)).astype(np.float32)
    x = centres[rng.integers(0, 8, n)] + rng.standard_normal((n, d), dtype=np.float32)
    x[5] = x[7]  # an identical pair
    x[11] = x[12] + np.float32(1e-4)  # a near-duplicate
    return x


@pytest.mark.parametrize(("n", "d", "k", "rounds"), [
    (6000, 40, 21, 3), (3000, 130, 10, 2), (700, 8, 10, 1), (300, 5, 10, 2), (40, 3, 10, 1),
])
def test_same_neighbours_and_distances_as_knn_partitioned(tmp_path: Path, n: int, d: int,
                                                          k: int, rounds: int) -> None:
    x = _clusters(n, d)
    expected_idx, expected_dist = knn_partitioned(x, k, seed=3, rounds=rounds)
    idx, dist = knn_partitioned_lean(x, k, seed=3, rounds=rounds)
    assert idx.dtype == np.int32 and dist is not None and dist.dtype == np.float64
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_array_equal(dist, expected_dist)
    # points and lists memory-mapped: still the same
    on_disk = mapped(tmp_path / "x.f32", x.shape, np.float32)
    on_disk[:] = x
    release(on_disk)
    idx, dist = knn_partitioned_lean(on_disk, k, seed=3, rounds=rounds, spill=tmp_path)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_array_equal(dist, expected_dist)
    # points read back with file reads
    idx, dist = knn_partitioned_lean(FileRows(tmp_path / "x.f32", x.shape), k, seed=3,
                                     rounds=rounds, spill=tmp_path)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_array_equal(dist, expected_dist)
    only_idx, none = knn_partitioned_lean(x, k, seed=3, rounds=rounds, distances=None)
    assert none is None
    np.testing.assert_array_equal(only_idx, expected_idx)


def test_lean_search_reads_the_points_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # chunks smaller than the data (a multiple of the 8192-row assignment blocks in the real
    # setting; here the rows of a chunk are what changes): same answer
    from deepview._compute import knn_lean

    x = _clusters(5000, 20, seed=1)
    expected = knn_partitioned(x, 10, seed=0, rounds=2)
    monkeypatch.setattr(knn_lean, "CHUNK_ROWS", 8192)
    monkeypatch.setattr(knn_lean, "RELEASE_ROWS", 300)
    idx, dist = knn_partitioned_lean(x, 10, seed=0, rounds=2)
    np.testing.assert_array_equal(idx, expected[0])
    np.testing.assert_array_equal(dist, expected[1])


def test_cell_index_finds_the_nearest_points() -> None:
    data = _clusters(20_500, 16, seed=2)
    queries, points = data[:500], data[500:]
    squared = ((queries[:, None, :].astype(np.float64) - points[None]) ** 2).sum(axis=2)
    truth = [set(row.tolist()) for row in np.argsort(squared, axis=1)[:, :10]]
    index = CellIndex(points, probes=16, seed=0)
    idx, dist = index.query(queries, 10)
    assert idx.shape == dist.shape == (500, 10)
    assert np.all(np.diff(dist, axis=1) >= 0)  # nearest first
    recall = np.mean([len(set(row.tolist()) & t) / 10 for row, t in zip(idx, truth)])
    assert recall >= 0.95
    # the distances are those of the points returned
    np.testing.assert_allclose(dist, np.linalg.norm(queries[:, None] - points[idx], axis=2),
                               rtol=1e-4, atol=1e-4)
    # a query equal to a point finds it first, at distance ~0
    idx, dist = index.query(points[[3, 17]], 3)
    assert idx[:, 0].tolist() == [3, 17] and np.all(dist[:, 0] < 1e-2)
    # same seed, same answers
    again = CellIndex(points, probes=16, seed=0).query(queries, 10)
    np.testing.assert_array_equal(again[0], index.query(queries, 10)[0])


def test_cell_index_of_few_points_is_exact_and_pads() -> None:
    points = _clusters(30, 4)
    index = CellIndex(points, probes=1)
    idx, dist = index.query(points[:5] + 0.01, 40)
    assert idx.shape == (5, 30)  # k capped at the number of points
    squared = ((points[:5, None, :] + 0.01 - points[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(idx, np.argsort(squared, axis=1, kind="stable"))


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


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 1001])
def test_median_of_positive_distances_without_holding_them(n: int) -> None:
    from deepview._compute.knn_lean import _median_positive

    rng = np.random.default_rng(n)
    idx = rng.integers(0, n, size=(n, 4)).astype(np.int32)
    idx[:, 0] = np.arange(n)  # the point itself first
    d2 = (rng.random((n, 4)) ** 3 * 10).astype(np.float32)
    d2[:, 0] = 0.0
    d2[rng.random((n, 4)) < 0.2] = 0.0  # some zeros (identical copies) are left out
    keep = (idx != np.arange(n)[:, None]) & (d2 > 0)
    positive = d2[keep].astype(np.float64)
    expected = float(np.median(positive)) if len(positive) else 0.0
    assert _median_positive(idx, d2, lambda: None) == expected


def test_an_oversized_cell_is_searched_in_row_blocks_with_the_same_neighbours(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from deepview._compute import knn

    rng = np.random.default_rng(0)
    points = rng.normal(size=(700, 16)).astype(np.float32)
    points[350] = points[10]  # an identical pair across two row blocks
    sq = knn._sq_norms(points)
    members = np.arange(1000, 1700)
    whole = knn._cell_search(points, sq, members, 10)
    monkeypatch.setattr(knn, "CELL_BLOCK_ROWS", 256)
    monkeypatch.setattr(knn, "CELL_STEP_ROWS", 100)
    blocked = knn._cell_search(points, sq, members, 10)
    # The two searches compute equal distances in differently shaped BLAS blocks, so the last
    # bits (and with them the order of ties) depend on the CPU's kernels: compare each row's
    # neighbour set, and where a set differs, only by neighbours tied with the k-th distance.
    np.testing.assert_allclose(np.sort(whole[1], axis=1), np.sort(blocked[1], axis=1),
                               rtol=1e-5, atol=1e-4)
    for row in range(len(points)):
        a, b = set(whole[0][row].tolist()), set(blocked[0][row].tolist())
        if a == b:
            continue
        kth = whole[1][row].max()
        for found, dist in ((whole[0][row], whole[1][row]), (blocked[0][row], blocked[1][row])):
            swapped = np.isin(found, list(a ^ b))
            np.testing.assert_allclose(dist[swapped], kth, rtol=1e-5, atol=1e-4)
    assert 1350 in blocked[0][10] and 1010 in blocked[0][350]


@pytest.mark.parametrize("threads", [1, 4])
def test_cells_searched_in_threads_give_the_same_answer(monkeypatch: pytest.MonkeyPatch,
                                                        threads: int) -> None:
    """The cells of a round (and of a CellIndex query) are searched side by side, one thread
    per CPU: the neighbours do not depend on how many threads there are."""
    from deepview._compute import blas

    x = _clusters(5000, 24, seed=4)
    expected_idx, expected_dist = knn_partitioned(x, 15, seed=1, rounds=3)
    index = CellIndex(x[:3000], probes=3, seed=2)
    monkeypatch.setattr(blas, "cpu_count", lambda: 1)
    serial = index.query(x[3000:], 7)
    monkeypatch.setattr(blas, "cpu_count", lambda: threads)
    idx, dist = knn_partitioned_lean(x, 15, seed=1, rounds=3)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_array_equal(dist, expected_dist)
    found = index.query(x[3000:], 7)
    np.testing.assert_array_equal(found[0], serial[0])
    np.testing.assert_array_equal(found[1], serial[1])
