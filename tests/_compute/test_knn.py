"""kNN kernels and bounded-diameter grouping."""

from __future__ import annotations

import numpy as np
import pytest

from deepview._compute.grouping import bounded_groups
from deepview._compute.knn import (
    exact_distances,
    exact_duplicate_labels,
    knn_annoy,
    knn_brute,
    knn_faiss,
    knn_partitioned,
    normalize_columns,
)


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


def test_partitioned_finds_planted_pairs(rng: np.random.Generator) -> None:
    x = rng.normal(size=(3000, 16)).astype(np.float32)
    x[1500:1600] = x[:100] + rng.normal(0, 1e-4, size=(100, 16)).astype(np.float32)
    idx, dist = knn_partitioned(x, 10, cell_size=256)
    assert all(i + 1500 in idx[i] for i in range(100))
    # approximate distances are never below the exact k-th neighbour distance
    ref = knn_brute(x, 10)[1]
    assert (dist[:, -1] >= ref[:, -1] - 1e-5).all()


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
