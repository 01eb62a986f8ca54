"""Gaussian mixture kernels: EM fit and log-densities against scikit-learn / scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

from deepview._compute.gmm import as_random_state, fit_gmm


def _two_blobs(rng: np.random.Generator, n: int = 600, d: int = 3) -> np.ndarray:
    a = rng.normal(size=(n // 2, d)) * 0.5 + 5.0
    b = rng.normal(size=(n - n // 2, d)) * 1.5 - 5.0
    return np.concatenate([a, b])


def test_diag_log_density_equals_sklearn_score_samples(rng: np.random.Generator) -> None:
    x = _two_blobs(rng)
    params = fit_gmm([x[:250], x[250:]], n_components=2, random_state=0)
    sk = GaussianMixture(2, covariance_type="diag")
    sk.weights_, sk.means_, sk.covariances_ = params.weights, params.means, params.variances
    sk.precisions_cholesky_ = 1.0 / np.sqrt(params.variances)
    np.testing.assert_allclose(params.log_density(x), sk.score_samples(x), rtol=1e-10,
                               atol=1e-9)


def test_diag_fit_matches_sklearn_fit(rng: np.random.Generator) -> None:
    x = _two_blobs(rng)
    ours = fit_gmm([x], n_components=2, random_state=0, tol=1e-6)
    sk = GaussianMixture(2, covariance_type="diag", init_params="k-means++", tol=1e-6,
                         random_state=0).fit(x)
    order_o, order_s = np.argsort(ours.means[:, 0]), np.argsort(sk.means_[:, 0])
    np.testing.assert_allclose(ours.means[order_o], sk.means_[order_s], atol=1e-3)
    np.testing.assert_allclose(ours.variances[order_o], sk.covariances_[order_s], rtol=1e-3)
    np.testing.assert_allclose(ours.weights[order_o], sk.weights_[order_s], atol=1e-4)
    assert ours.converged


def test_full_log_density_equals_scipy(rng: np.random.Generator) -> None:
    x = _two_blobs(rng) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    params = fit_gmm([x], n_components=2, covariance_type="full", random_state=0)
    covs = params.covariances
    expected = np.log(sum(
        w * multivariate_normal(mean=m, cov=c).pdf(x)
        for w, m, c in zip(params.weights, params.means, covs)
    ))
    np.testing.assert_allclose(params.log_density(x), expected, rtol=1e-8)
    assert params.training_scores is not None
    np.testing.assert_allclose(params.training_scores, expected, rtol=1e-8)


def test_same_seed_same_model(rng: np.random.Generator) -> None:
    x = _two_blobs(rng, d=4)
    a = fit_gmm([x], n_components=3, random_state=7)
    b = fit_gmm([x[:100], x[100:]], n_components=3, random_state=7)
    np.testing.assert_allclose(a.means, b.means, rtol=1e-9)
    np.testing.assert_allclose(a.variances, b.variances, rtol=1e-9)


@pytest.mark.parametrize("seed", [3, np.random.RandomState(3), np.random.default_rng(3), None])
def test_as_random_state(seed: object) -> None:
    assert isinstance(as_random_state(seed), np.random.RandomState)


def test_zero_variance_data_is_finite() -> None:
    x = np.ones((50, 3))
    params = fit_gmm([x], n_components=1, random_state=0)
    scores = params.log_density(x)
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(params.variances, 1e-6, rtol=1e-6)


def test_diag_fit_converges_on_relu_zeros() -> None:
    # Half the samples are exactly 0 in 8 features (dead ReLU units in one cluster): the
    # float32 E-step alone oscillates around the optimum; the fit must still converge early,
    # like scikit-learn, and agree with it.
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(size=(5000, 32)) + rng.normal(size=32), 0).astype(np.float32)
    x[:2500, :8] = 0
    params = fit_gmm([x], n_components=5, random_state=np.random.RandomState(0))
    assert params.converged
    assert params.n_iter < 50
    reference = GaussianMixture(5, covariance_type="diag", init_params="k-means++",
                                random_state=np.random.RandomState(0)).fit(x)
    np.testing.assert_allclose(params.log_density(x.astype(np.float64)).mean(),
                               reference.score(x), rtol=1e-3)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_a_far_outlier_never_keeps_a_component_of_its_own(covariance_type: str) -> None:
    # EM gave the outlier its own component (full, seed 3): it came out the MOST familiar
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 32))
    x[0] = 8.0
    for seed in range(4):
        params = fit_gmm([x], n_components=5, covariance_type=covariance_type,
                         random_state=seed)
        assert (params.weights * len(x) >= 33).all()
        assert params.weights.sum() == pytest.approx(1.0)
        scores = params.log_density(x)
        assert scores.argmin() == 0
        if params.training_scores is not None:
            np.testing.assert_allclose(params.training_scores, scores)
