"""Streaming PCA kernels: covariance accumulation, exact PCA, buffered IncrementalPCA."""

from __future__ import annotations

import numpy as np
import pytest

from deepview._compute.pca import (
    BufferedIncrementalPCA,
    CovarianceAccumulator,
    CovariancePCA,
    flip_signs,
    make_streaming_pca,
)
from deepview.exceptions import InvalidDataError


def test_covariance_accumulator_matches_numpy_and_is_stable(rng):
    # a large common offset: the naive sum(x x^T) - n mu mu^T form loses all digits here
    x = rng.normal(size=(1000, 5)) + 1e8
    acc = CovarianceAccumulator()
    for start in range(0, 1000, 37):
        acc.update(x[start:start + 37])
    assert acc.n == 1000 and acc.n_features == 5
    np.testing.assert_allclose(acc.mean, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(acc.covariance(ddof=1), np.cov(x.T), rtol=1e-6, atol=1e-6)


def test_covariance_accumulator_does_not_modify_input(rng):
    x = rng.normal(size=(10, 3))
    copy = x.copy()
    CovarianceAccumulator().update(x)
    np.testing.assert_array_equal(x, copy)
    with pytest.raises(InvalidDataError):
        CovarianceAccumulator().covariance()


@pytest.mark.parametrize("chunk", [1, 3, 50, 1000])
def test_covariance_pca_is_exact_for_any_chunking(rng, chunk):
    x = rng.normal(size=(300, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    pca = CovariancePCA(3, buffer_bytes=8 * 6 * 64)  # small buffer: several flushes
    for start in range(0, 300, chunk):
        pca.partial_fit(x[start:start + chunk].astype(np.float32))
    model = pca.finalize()
    xc = x.astype(np.float32).astype(np.float64)
    xc -= xc.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    np.testing.assert_allclose(model.components, flip_signs(vt[:3]), atol=1e-9)
    np.testing.assert_allclose(model.explained_variance, s[:3] ** 2 / 299, rtol=1e-9)
    assert model.n_samples == 300 and model.n_components == 3


def test_linear_projection_dtypes(rng):
    x = rng.normal(size=(50, 4))
    pca = CovariancePCA(2)
    pca.partial_fit(x)
    model = pca.finalize()
    assert model.transform(x.astype(np.float32)).dtype == np.float32
    assert model.transform(x).dtype == np.float64
    assert model.transform(x.astype(np.int64)).dtype == np.float64
    np.testing.assert_allclose(model.transform(x.astype(np.float32)), model.transform(x),
                               atol=1e-5)


def test_flip_signs_makes_largest_loading_positive():
    out = flip_signs(np.array([[0.1, -0.9], [0.0, 0.0], [-0.6, 0.5]]))
    np.testing.assert_array_equal(out, [[-0.1, 0.9], [0.0, 0.0], [0.6, -0.5]])


def test_buffered_incremental_pca_never_drops_rows(rng):
    x = rng.normal(size=(101, 8)) * np.linspace(4, 0.5, 8)
    ipca = BufferedIncrementalPCA(4)
    for start in range(0, 101, 3):  # every batch smaller than n_components
        ipca.partial_fit(x[start:start + 3])
    model = ipca.finalize()
    assert model.n_samples == 101
    np.testing.assert_allclose(model.mean, x.mean(axis=0), atol=1e-12)
    with pytest.raises(InvalidDataError, match="at least 4 samples"):
        small = BufferedIncrementalPCA(4)
        small.partial_fit(x[:3])
        small.finalize()


def test_make_streaming_pca_switches_on_width():
    assert isinstance(make_streaming_pca(2, 10), CovariancePCA)
    assert isinstance(make_streaming_pca(2, 10, exact_max_features=5), BufferedIncrementalPCA)
