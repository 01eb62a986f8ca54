"""Familiarity: GMM fit, scoring, percentiles, pipelining and bad input."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

from deepview.base import Batch, pipeline
from deepview.exceptions import DeepViewException, InvalidDataError
from deepview.introspectors import (
    Familiarity,
    FamiliarityDistribution,
    FamiliarityResult,
    FamiliarityStrategyType,
    GMMCovarianceType,
)

GMM = Familiarity.Strategy.GMM


def _clusters_with_outliers(rng: np.random.Generator, n: int = 1500, d: int = 6):
    centres = np.array([[0.0] * d, [8.0] * d, [-8.0] + [8.0] * (d - 1)])
    labels = rng.integers(0, 3, size=n)
    x = centres[labels] + rng.normal(size=(n, d))
    outliers = rng.choice(n, size=15, replace=False)
    x[outliers] = centres[labels[outliers]] + rng.normal(size=(15, d)) * 6.0
    return x, np.sort(outliers)


def test_planted_outliers_get_the_lowest_scores(rng, make_producer) -> None:
    x, outliers = _clusters_with_outliers(rng)
    producer = make_producer({"emb": x})
    fam = Familiarity.introspect(producer, strategy=GMM(gaussian_count=3, _random_state=0))
    assert producer.calls == 1
    scores = fam.score(producer)["emb"]
    assert set(np.argsort(scores)[:15].tolist()) == set(outliers.tolist())


def test_diag_scores_equal_sklearn_score_samples(rng, make_producer) -> None:
    x, _ = _clusters_with_outliers(rng)
    fam = Familiarity.introspect(make_producer({"emb": x}),
                                 strategy=GMM(gaussian_count=3, _random_state=1))
    dist = fam.distributions["emb"]
    params = dist.params  # type: ignore[attr-defined]
    sk = GaussianMixture(3, covariance_type="diag")
    sk.weights_, sk.means_, sk.covariances_ = params.weights, params.means, params.variances
    sk.precisions_cholesky_ = 1.0 / np.sqrt(params.variances)
    ours = np.array([r.score for r in dist.compute_familiarity_score(x)])
    np.testing.assert_allclose(ours, sk.score_samples(x), rtol=1e-9, atol=1e-8)


def test_full_scores_equal_scipy_logpdf(rng, make_producer) -> None:
    x = rng.normal(size=(400, 2)) @ np.array([[2.0, 0.8], [0.0, 0.5]])
    fam = Familiarity.introspect(
        make_producer({"xy": x}),
        strategy=GMM(gaussian_count=1, covariance_type=GMMCovarianceType.FULL, _random_state=0))
    params = fam.distributions["xy"].params  # type: ignore[attr-defined]
    expected = multivariate_normal(params.means[0], params.covariances[0]).logpdf(x)
    np.testing.assert_allclose(fam.score(x)["xy"], expected, rtol=1e-9)
    np.testing.assert_allclose(params.covariances[0], np.cov(x.T, bias=True), rtol=1e-3)


def test_pipelined_metadata_per_field_and_percentiles(rng, make_producer) -> None:
    a = rng.normal(size=(300, 4))
    b = rng.normal(size=(300, 2)) * 3
    producer = make_producer({"a": a, "b": b})
    fam = Familiarity.introspect(producer, strategy=GMM(gaussian_count=2, _random_state=0))
    scores = fam.score(producer)
    collected: dict[str, list[FamiliarityResult]] = {"a": [], "b": []}
    for batch in pipeline(producer, fam)(64):
        results = batch.metadata[fam.meta_key]
        assert set(results) == {"a", "b"}
        for name in collected:
            assert len(results[name]) == batch.batch_size
            collected[name].extend(results[name])
        seen = len(collected["a"])
        np.testing.assert_array_equal(batch.fields["a"], a[seen - batch.batch_size:seen])
    for name in ("a", "b"):
        res = collected[name]
        assert all(isinstance(r, FamiliarityResult) for r in res)
        got = np.array([r.score for r in res])
        np.testing.assert_allclose(got, scores[name])
        pct = np.array([r.percentile for r in res])
        assert pct.min() > 0 and pct.max() == pytest.approx(100.0)
        # percentile is the rank among the training scores
        ranks = np.argsort(np.argsort(got)) + 1
        np.testing.assert_allclose(pct, ranks * 100.0 / len(got), atol=1e-6)


def test_percentile_of_new_samples(rng, make_producer) -> None:
    x = rng.normal(size=(500, 3))
    fam = Familiarity.introspect(make_producer({"x": x}), strategy=GMM(gaussian_count=1,
                                                                       _random_state=0))
    dist = fam.distributions["x"]
    far, centre = dist.compute_familiarity_score(np.array([[20.0, 20.0, 20.0], [0.0, 0.0, 0.0]]))
    assert far.percentile == 0.0
    assert centre.percentile == 100.0


def test_two_stages_in_one_pipeline_do_not_collide(rng, make_producer) -> None:
    x = rng.normal(size=(200, 3))
    producer = make_producer({"x": x})
    one = Familiarity.introspect(producer, strategy=GMM(gaussian_count=1, _random_state=0))
    two = Familiarity.introspect(producer, strategy=GMM(gaussian_count=2, _random_state=0))
    assert one.meta_key != two.meta_key
    batch = next(iter(pipeline(producer, one, two)(200)))
    s1 = [r.score for r in batch.metadata[one.meta_key]["x"]]
    s2 = [r.score for r in batch.metadata[two.meta_key]["x"]]
    assert s1 != s2
    fixed = Familiarity.introspect(producer, strategy=GMM(gaussian_count=1), meta_key="GMM")
    assert fixed.meta_key == GMM.metadata_key == Batch.DictMetaKey("GMM")


def test_unseen_field_is_a_clear_error(rng, make_producer) -> None:
    fam = Familiarity.introspect(make_producer({"seen": rng.normal(size=(50, 2))}),
                                 strategy=GMM(gaussian_count=1))
    other = make_producer({"other": rng.normal(size=(10, 2))})
    with pytest.raises(DeepViewException, match="'other'.*\\['seen'\\]"):
        list(pipeline(other, fam)(5))
    with pytest.raises(DeepViewException, match="'other'"):
        fam.score({"other": np.zeros((2, 2))})


def test_fixed_seed_gives_identical_results(rng, make_producer) -> None:
    x, _ = _clusters_with_outliers(rng)
    runs = [Familiarity.introspect(make_producer({"x": x}), batch_size=bs,
                                   strategy=GMM(gaussian_count=3, _random_state=5)).score(x)["x"]
            for bs in (1024, 1024, 100)]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_allclose(runs[0], runs[2], rtol=1e-9)
    gen = [Familiarity.introspect(make_producer({"x": x}), strategy=GMM(
        gaussian_count=3, _random_state=np.random.default_rng(9))).score(x)["x"] for _ in "ab"]
    np.testing.assert_array_equal(gen[0], gen[1])


def test_bad_input(rng, make_producer) -> None:
    x = rng.normal(size=(40, 3))
    x[3, 1] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        Familiarity.introspect(make_producer({"x": x}))
    with pytest.raises(InvalidDataError, match="Flattener"):
        Familiarity.introspect(make_producer({"x": rng.normal(size=(40, 2, 2))}))

    def empty(batch_size: int) -> Iterator[Batch]:
        return iter(())

    with pytest.raises(InvalidDataError, match="no batches"):
        Familiarity.introspect(empty)
    with pytest.raises(InvalidDataError, match="gaussian_count"):
        Familiarity.introspect(make_producer({"x": rng.normal(size=(3, 2))}))
    fam = Familiarity.introspect(make_producer({"x": rng.normal(size=(30, 3))}),
                                 strategy=GMM(gaussian_count=1))
    with pytest.raises(InvalidDataError, match=r"\(N, 3\)"):
        fam.score({"x": np.zeros((2, 4))})
    with pytest.raises(InvalidDataError, match="NaN"):
        fam.score({"x": np.full((2, 3), np.inf)})


def test_degenerate_data_gives_finite_scores(make_producer) -> None:
    same = np.ones((30, 4))
    fam = Familiarity.introspect(make_producer({"x": same}), strategy=GMM(gaussian_count=1))
    assert np.isfinite(fam.score(same)["x"]).all()
    one = Familiarity.introspect(make_producer({"x": np.array([[1.0, 2.0]])}),
                                 strategy=GMM(gaussian_count=1))
    assert np.isfinite(one.score(np.array([[1.0, 2.0], [3.0, 4.0]]))["x"]).all()


@pytest.mark.parametrize("kwargs, exc", [
    ({"gaussian_count": 0}, ValueError),
    ({"gaussian_count": 2.5}, TypeError),
    ({"max_iterations": 0}, ValueError),
    ({"convergence_threshold": -1.0}, ValueError),
    ({"covariance_type": "spherical"}, ValueError),
    ({"_random_state": "seed"}, TypeError),
])
def test_strategy_validation(kwargs, exc) -> None:
    with pytest.raises(exc):
        GMM(**kwargs)


def test_strategy_defaults_and_protocols(rng, make_producer) -> None:
    gmm = GMM()
    assert (gmm.gaussian_count, gmm.convergence_threshold, gmm.max_iterations) == (5, 1e-3, 200)
    assert gmm.covariance_type is GMMCovarianceType.DIAG
    assert GMM(covariance_type="full").covariance_type is GMMCovarianceType.FULL
    assert GMMCovarianceType.DIAG.value == "diag" and GMMCovarianceType.FULL == "full"
    assert isinstance(gmm, FamiliarityStrategyType)
    with pytest.raises(TypeError):
        GMM(5)  # keyword-only
    fam = Familiarity.introspect(make_producer({"x": rng.normal(size=(30, 2))}),
                                 strategy=GMM(gaussian_count=1))
    assert isinstance(fam.distributions["x"], FamiliarityDistribution)


def test_custom_strategy(rng, make_producer) -> None:
    class Norm:
        def compute_familiarity_score(self, x: np.ndarray) -> list[FamiliarityResult]:
            return [FamiliarityResult(score=-float(v)) for v in np.linalg.norm(x, axis=1)]

    class NormStrategy:
        metadata_key = Batch.DictMetaKey[FamiliarityResult]("Norm")

        def __call__(self, producer, batch_size=1024):
            return {"x": Norm()}

    producer = make_producer({"x": np.array([[3.0, 4.0], [0.0, 1.0]])})
    fam = Familiarity.introspect(producer, strategy=NormStrategy())
    assert fam.meta_key.name.startswith("Norm:")
    np.testing.assert_allclose(fam.score(producer)["x"], [-5.0, -1.0])
    batch = next(iter(pipeline(producer, fam)(2)))
    assert [r.score for r in batch.metadata[fam.meta_key]["x"]] == [-5.0, -1.0]
