"""kNN kernels (brute force, partitioned cells, the query index, FAISS and Annoy) and
bounded-diameter grouping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepview._compute.grouping import bounded_groups
from deepview._compute.knn import (
    CellIndex,
    exact_distances,
    exact_duplicate_labels,
    knn_annoy,
    knn_brute,
    knn_faiss,
    knn_partitioned,
    normalize_columns,
)
from deepview._compute.spill import FileRows, mapped, release


def _reference_knn(x: np.ndarray, k: int) -> np.ndarray:
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return np.sort(d, axis=1)[:, :k]


def test_brute_is_exact_and_self_first(rng: np.random.Generator) -> None:
    x = rng.normal(size=(300, 5))
    idx, dist = knn_brute(x, 10)
    assert idx.shape == dist.shape == (300, 10)
    np.testing.assert_array_equal(idx[:, 0], np.arange(300))
    np.testing.assert_allclose(dist, _reference_knn(x, 10), rtol=1e-5, atol=1e-6)
    assert (np.diff(dist, axis=1) >= 0).all()


def test_fewer_samples_than_k(rng: np.random.Generator) -> None:
    x = rng.normal(size=(4, 3))
    idx, dist = knn_brute(x, 10)
    assert idx.shape == (4, 4)
    np.testing.assert_allclose(dist, _reference_knn(x, 4), rtol=1e-5)


def test_tiny_distances_are_exact(rng: np.random.Generator) -> None:
    x = normalize_columns(rng.normal(size=(500, 64)).astype(np.float32) + 10.0)
    x[1] = x[0]
    x[1, 0] += np.float32(1e-6)
    true = float(np.linalg.norm(x[1].astype(np.float64) - x[0]))
    for knn in (knn_brute, knn_partitioned):
        idx, dist = knn(x, 10)
        assert idx[0, 1] == 1 and idx[1, 1] == 0
        assert dist[0, 1] == pytest.approx(true, rel=1e-6)


def _clusters(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(8, d)).astype(np.float32)
    x = centres[rng.integers(0, 8, n)] + rng.standard_normal((n, d), dtype=np.float32)
    x[5] = x[7]  # an identical pair
    x[11] = x[12] + np.float32(1e-4)  # a near-duplicate
    return x


def _assert_same_neighbours(found: tuple[np.ndarray, np.ndarray],
                            expected: tuple[np.ndarray, np.ndarray]) -> None:
    """Equal neighbour lists up to the last bits of the distances: each row's set is the
    same, or differs only by neighbours tied with the k-th distance (the order of equal
    distances follows the CPU's BLAS kernels)."""
    np.testing.assert_allclose(found[1], expected[1], rtol=1e-5, atol=1e-4)
    for row in range(len(found[0])):
        a, b = set(found[0][row].tolist()), set(expected[0][row].tolist())
        if a == b:
            continue
        kth = expected[1][row].max()
        for idx, dist in ((found[0][row], found[1][row]), (expected[0][row], expected[1][row])):
            swapped = np.isin(idx, list(a ^ b))
            np.testing.assert_allclose(dist[swapped], kth, rtol=1e-5, atol=1e-4)


def test_partitioned_finds_planted_pairs(rng: np.random.Generator) -> None:
    x = rng.normal(size=(3000, 16)).astype(np.float32)
    x[1500:1600] = x[:100] + rng.normal(0, 1e-4, size=(100, 16)).astype(np.float32)
    idx, dist = knn_partitioned(x, 10, cell_size=256)
    assert all(i + 1500 in idx[i] for i in range(100))
    # approximate distances are never below the exact k-th neighbour distance
    ref = knn_brute(x, 10)[1]
    assert (dist[:, -1] >= ref[:, -1] * (1 - 1e-4) - 1e-5).all()  # up to float32 rounding


@pytest.mark.parametrize(("n", "d", "k", "rounds"), [
    (6000, 40, 21, 3), (3000, 130, 10, 2), (700, 8, 10, 1), (300, 5, 10, 2), (40, 3, 10, 1),
])
def test_partitioned_neighbours_against_brute_force(n: int, d: int, k: int,
                                                    rounds: int) -> None:
    x = _clusters(n, d)
    idx, dist = knn_partitioned(x, k, seed=3, rounds=rounds)
    assert idx.dtype == np.int32 and dist.dtype == np.float64
    assert idx.shape == dist.shape == (n, min(k, n))
    np.testing.assert_array_equal(idx[:, 0], np.arange(n))  # the point itself first
    assert (np.diff(dist, axis=1) >= 0).all()
    # the distances are those of the neighbours returned
    np.testing.assert_allclose(dist, np.linalg.norm(x[:, None] - x[idx], axis=2),
                               rtol=1e-4, atol=1e-4)
    assert idx[5, 1] == 7 and idx[7, 1] == 5 and dist[5, 1] == 0.0
    near = float(np.linalg.norm(x[11].astype(np.float64) - x[12]))
    assert idx[11, 1] == 12 and dist[11, 1] == pytest.approx(near, rel=1e-6)
    ref_idx, ref = knn_brute(x, k)
    # never closer than the exact ones (up to float32 rounding, which follows the BLAS
    # kernel: the two searches compute distances in differently shaped blocks)
    assert (dist[:, -1] >= ref[:, -1] * (1 - 1e-4) - 1e-5).all()
    recall = np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(idx, ref_idx)])
    assert recall >= (0.999 if n < 2 * 256 else 0.9)


@pytest.mark.parametrize(("n", "rounds"), [(3000, 2), (300, 1)])
def test_partitioned_points_and_lists_on_disk_give_the_same_answer(
        tmp_path: Path, n: int, rounds: int) -> None:
    x = _clusters(n, 24)
    expected_idx, expected_dist = knn_partitioned(x, 10, seed=3, rounds=rounds)
    # points and lists memory-mapped
    on_disk = mapped(tmp_path / "x.f32", x.shape, np.float32)
    on_disk[:] = x
    release(on_disk)
    idx, dist = knn_partitioned(on_disk, 10, seed=3, rounds=rounds, spill=tmp_path)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_array_equal(dist, expected_dist)
    # points read back with file reads, distances written to a file
    idx, dist = knn_partitioned(FileRows(tmp_path / "x.f32", x.shape), 10, seed=3,
                                rounds=rounds, spill=tmp_path,
                                distances_file=tmp_path / "dist.f64")
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_array_equal(np.asarray(dist), expected_dist)
    # no distances, or float32 ones (in the buffer of the squared ones)
    only_idx, none = knn_partitioned(x, 10, seed=3, rounds=rounds, distances=None)
    assert none is None
    np.testing.assert_array_equal(only_idx, expected_idx)
    idx, dist32 = knn_partitioned(x, 10, seed=3, rounds=rounds, distances=np.float32)
    assert dist32.dtype == np.float32
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_allclose(dist32, expected_dist, rtol=1e-6)


def test_partitioned_search_reads_the_points_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # chunks smaller than the data (a multiple of the 8192-row assignment blocks in the real
    # setting; here the rows of a chunk are what changes): the same neighbours
    from deepview._compute import knn

    x = _clusters(20_000, 20, seed=1)
    expected = knn_partitioned(x, 10, seed=0, rounds=2)
    monkeypatch.setattr(knn, "CHUNK_ROWS", 8192)
    monkeypatch.setattr(knn, "RELEASE_ROWS", 300)
    _assert_same_neighbours(knn_partitioned(x, 10, seed=0, rounds=2), expected)


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
    # the two searches compute equal distances in differently shaped BLAS blocks; a cell's
    # lists are in no particular order

    def by_distance(found: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(found[1], axis=1, kind="stable")
        return (np.take_along_axis(found[0], order, axis=1),
                np.sqrt(np.maximum(np.take_along_axis(found[1], order, axis=1), 0)))

    _assert_same_neighbours(by_distance(blocked), by_distance(whole))
    assert 1350 in blocked[0][10] and 1010 in blocked[0][350]


@pytest.mark.parametrize("threads", [1, 4])
def test_cells_searched_in_threads_give_the_same_answer(monkeypatch: pytest.MonkeyPatch,
                                                        threads: int) -> None:
    """The cells of a round (and of a CellIndex query) are searched side by side, one thread
    per CPU: the neighbours do not depend on how many threads there are."""
    from deepview._compute import blas

    x = _clusters(5000, 24, seed=4)
    index = CellIndex(x[:3000], probes=3, seed=2)
    monkeypatch.setattr(blas, "cpu_count", lambda: 1)
    serial = knn_partitioned(x, 15, seed=1, rounds=3)
    serial_query = index.query(x[3000:], 7)
    monkeypatch.setattr(blas, "cpu_count", lambda: threads)
    idx, dist = knn_partitioned(x, 15, seed=1, rounds=3)
    np.testing.assert_array_equal(idx, serial[0])
    np.testing.assert_array_equal(dist, serial[1])
    found = index.query(x[3000:], 7)
    np.testing.assert_array_equal(found[0], serial_query[0])
    np.testing.assert_array_equal(found[1], serial_query[1])


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


def test_backends_agree_on_distance_scale(rng: np.random.Generator) -> None:
    pytest.importorskip("faiss")
    pytest.importorskip("annoy")
    x = rng.normal(size=(400, 8)).astype(np.float32)
    ref_idx, ref = knn_brute(x, 5)
    for knn in (knn_faiss, knn_annoy):
        idx, dist = knn(x, 5)
        np.testing.assert_allclose(dist[:, 1], ref[:, 1], rtol=1e-4)  # plain Euclidean
        np.testing.assert_array_equal(idx[:, 1], ref_idx[:, 1])


def test_normalize_columns_zero_column() -> None:
    x = np.array([[1.0, 0.0, 3.0], [1.0, 0.0, 4.0]])
    out = normalize_columns(x)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [1.0, 0.0, 1.0])


def test_exact_distances_and_duplicate_labels() -> None:
    x = np.array([[0.0, -0.0], [0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(exact_distances(x, np.array([0, 1]), np.array([2, 4])),
                               [5.0, np.sqrt(2)])
    labels = exact_duplicate_labels(x)
    assert labels[0] == labels[1] and labels[2] == labels[3]
    assert len(set(labels.tolist())) == 3


def test_bounded_groups_do_not_chain() -> None:
    # a chain of points 1 apart: single linkage at threshold 1 would join all of them
    x = np.arange(10, dtype=np.float64)[:, None]
    rows, cols = np.arange(9), np.arange(1, 10)
    groups = bounded_groups(x, rows, cols, np.ones(9), threshold=1.0)
    for g in groups:
        assert np.ptp(x[g]) <= 2.0
    assert max(len(g) for g in groups) <= 3
    assert sum(len(g) for g in groups) >= 8


def test_bounded_groups_accepts_tight_components() -> None:
    x = np.array([[0.0], [0.1], [0.05], [10.0], [10.1]])
    groups = bounded_groups(x, np.array([0, 1, 3]), np.array([1, 2, 4]),
                            np.array([0.1, 0.05, 0.1]), threshold=0.1)
    assert [g.tolist() for g in groups] == [[0, 1, 2], [3, 4]]
    assert bounded_groups(x, np.array([0]), np.array([0]), np.array([0.0]), 1.0) == []


def test_smallest_picks_each_rows_k_smallest_with_ties_and_nan() -> None:
    from deepview._compute.knn import _smallest

    rng = np.random.default_rng(1)
    for trial in range(200):
        rows, width = int(rng.integers(1, 40)), int(rng.integers(2, 80))
        k = int(rng.integers(1, width))
        values = (rng.integers(0, 6, size=(rows, width)) if trial % 2  # ties at the k-th
                  else rng.random((rows, width))).astype(np.float32)
        if trial % 5 == 0:
            values[0, 0] = np.nan
        got = _smallest(values.copy(), k)
        expected = np.argsort(values, axis=1, kind="stable")[:, :k]
        assert got.shape == (rows, k)
        for picked, wanted, row in zip(got, expected, values):
            assert len(set(picked.tolist())) == k
            np.testing.assert_array_equal(np.sort(row[picked]), np.sort(row[wanted]))
