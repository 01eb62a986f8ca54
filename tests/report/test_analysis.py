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
    monkeypatch.setattr(_analysis, "EXACT_KNN_MAX_SAMPLES", 299)  # umap's own approximate path
    strategy = S.UMAP(2)
    assert _analysis._tune_umap(strategy, reduced) is strategy
