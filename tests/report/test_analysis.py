"""The report's components: the exact k-NN graph handed to a stock UMAP."""

from __future__ import annotations

import numpy as np
import pytest

from deepview._compute.knn import knn_brute
from deepview.introspectors import DimensionReduction
from deepview.report import _analysis

S = DimensionReduction.Strategy


@pytest.fixture
def reduced() -> np.ndarray:
    x = np.random.default_rng(0).normal(size=(300, 10)).astype(np.float32)
    x[7] = x[8]  # an identical pair: distance exactly 0
    return x


def test_stock_umap_gets_the_exact_knn_graph(reduced: np.ndarray) -> None:
    pytest.importorskip("umap")
    strategy = S.UMAP(2, n_neighbors=10, random_state=0)
    tuned = _analysis._tune_umap(strategy, reduced)
    assert type(tuned) is S.UMAP and tuned.target_dimensions == 2
    params = dict(tuned.parameters)
    indices, distances, index = params.pop("precomputed_knn")
    assert params == {"n_neighbors": 10, "random_state": 0,
                      "force_approximation_algorithm": True}
    expected_indices, expected_distances = knn_brute(reduced, 10)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_array_equal(distances, expected_distances.astype(np.float32))
    assert distances.dtype == np.float32 and index is None
    assert set(indices[7, :2]) == {7, 8} and distances[7, 1] == 0.0
    assert "precomputed_knn" not in strategy.parameters  # the given strategy is unchanged
    kept = _analysis._tune_umap(S.UMAP(2, force_approximation_algorithm=False), reduced)
    assert kept.parameters["force_approximation_algorithm"] is False
    assert _analysis.project(reduced, "f", strategy, batch_size=128).shape == (300, 2)


def test_other_strategies_and_settings_are_left_alone(reduced: np.ndarray,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("umap")
    graph = (np.zeros((300, 2), dtype=np.int64), np.zeros((300, 2), np.float32), None)
    unchanged = [
        S.PCA(2),
        S.UMAP(2, metric="cosine"),
        S.UMAP(2, n_neighbors=300),  # no more samples than neighbours
        S.UMAP(2, precomputed_knn=graph),
    ]
    for strategy in unchanged:
        assert _analysis._tune_umap(strategy, reduced) is strategy
        assert not _analysis.projects_on_graph(strategy, len(reduced), 21)


def test_umap_builds_on_the_report_graph(reduced: np.ndarray) -> None:
    """The report's neighbour lists (21 per row, itself first) are handed to a UMAP fitted
    on every row, cut to its n_neighbors; a sampled UMAP on more rows than its sample does
    not take them (its fit searches the sample's own graph; the graph places the others)."""
    pytest.importorskip("umap")
    graph = _analysis.neighbours(reduced, 21, seed=0)
    tuned = _analysis._tune_umap(S.UMAP(2, random_state=0), reduced, graph)
    indices, distances, _ = tuned.parameters["precomputed_knn"]
    np.testing.assert_array_equal(indices, graph[0][:, :15])
    np.testing.assert_array_equal(distances, graph[1][:, :15])
    assert _analysis.projects_on_graph(S.UMAP(2), 300, 21)
    assert not _analysis.projects_on_graph(S.UMAP(2, n_neighbors=30), 300, 21)
    # a UMAP fitted on a sample places the other rows from the graph, whatever its k
    assert _analysis.projects_on_graph(S.UMAP(2, max_fit_samples=100, n_neighbors=30), 300, 21)
    assert not _analysis.projects_on_graph(S.UMAP(2, max_fit_samples=100), 300, 12)
    assert not _analysis.projects_on_graph(S.PCA(2), 300, 21)
    assert _analysis.projects_on_graph(S.UMAP(2, max_fit_samples=300), 300, 21)
    xy = _analysis.project(reduced, "f", S.UMAP(2, random_state=0), batch_size=128,
                           graph=graph)
    again = _analysis.project(reduced, "f", S.UMAP(2, random_state=0), batch_size=128)
    np.testing.assert_array_equal(xy, again)  # the same graph, given or searched
