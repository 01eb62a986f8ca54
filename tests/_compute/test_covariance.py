"""deepview._compute.covariance: the one streaming covariance and eigensolver of PCA and PFA."""

from __future__ import annotations

import numpy as np
import pytest

from deepview._compute import pca
from deepview._compute.covariance import CovarianceAccumulator, symmetric_eigh
from deepview.exceptions import InvalidDataError


def feed(acc: CovarianceAccumulator, x: np.ndarray, batch: int) -> CovarianceAccumulator:
    for start in range(0, len(x), batch):
        acc.update(x[start:start + batch])
    return acc


def test_pca_and_pfa_share_the_accumulator() -> None:
    from deepview.introspectors._pfa import _covariances

    assert pca.CovarianceAccumulator is CovarianceAccumulator
    assert isinstance(pca.CovariancePCA(2)._acc, CovarianceAccumulator)
    assert isinstance(_covariances.streaming_covariance("x", owner="PFA"), CovarianceAccumulator)
    assert not hasattr(_covariances, "StreamingScatter")


@pytest.mark.parametrize("batch", [1, 13, 500])
def test_small_blocks_and_frequent_merges_match_numpy(rng, batch) -> None:
    x = rng.normal(size=(700, 4)) + np.linspace(0, 30, 700)[:, None]  # drifting mean
    acc = feed(CovarianceAccumulator(block_bytes=64, max_pending=2), x, batch)
    assert acc.n == 700 and acc.n_features == 4
    np.testing.assert_allclose(acc.mean, x.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(acc.covariance(ddof=1), np.cov(x.T), rtol=1e-10)
    n, mean, cov = acc.finalize()
    assert n == 700
    np.testing.assert_allclose(cov, np.cov(x.T), rtol=1e-10)
    assert np.array_equal(cov, cov.T)
    assert acc.n == 0 and acc.n_features is None  # empty again, ready for new data


def test_input_precision_multiplies_float32_in_float32(rng) -> None:
    x = (rng.normal(size=(3000, 20)) @ rng.normal(size=(20, 20)) + 100).astype(np.float32)
    exact = np.cov(x.astype(np.float64).T)
    fast = feed(CovarianceAccumulator(precision="input"), x, 256)
    assert fast._buf is not None and fast._buf.dtype == np.float32
    _, _, cov = fast.finalize()
    assert np.abs(cov - exact).max() <= 1e-5 * np.abs(exact).max()
    full = feed(CovarianceAccumulator(), x, 256)
    assert full._buf is not None and full._buf.dtype == np.float64
    np.testing.assert_allclose(full.finalize()[2], exact, rtol=1e-10, atol=1e-12)
    ints = feed(CovarianceAccumulator(precision="input"), np.arange(20.0).reshape(10, 2), 3)
    assert ints.covariance(ddof=1)[0, 0] == pytest.approx(np.var(np.arange(0, 20, 2), ddof=1))


def test_float32_overflow_is_redone_in_float64() -> None:
    x = np.array([[1e20, 0.0], [-1e20, 1.0], [3e20, 2.0]], dtype=np.float32)
    acc = feed(CovarianceAccumulator(precision="input"), x, 3)
    np.testing.assert_allclose(acc.covariance(ddof=1), np.cov(x.astype(np.float64).T),
                               rtol=1e-6)


@pytest.mark.parametrize(("name", "where"), [("emb", "field 'emb'"), (None, "the data")])
def test_bad_values_name_the_field(name, where) -> None:
    x = np.ones((5, 2))
    x[3, 1] = np.nan
    with pytest.raises(InvalidDataError, match=f"PFA: {where} contains NaN or inf values in 1"):
        feed(CovarianceAccumulator(name=name, owner="PFA"), x, 5).finalize()
    with pytest.raises(InvalidDataError, match="too large to square"):
        huge = np.array([[1e200, 0.0], [-1e200, 1.0], [3e200, 2.0]])
        feed(CovarianceAccumulator(name=name), huge, 3).finalize()


def test_bad_shapes_and_no_data() -> None:
    acc = CovarianceAccumulator(name="x", owner="PCA")
    with pytest.raises(InvalidDataError, match="2-D"):
        acc.update(np.zeros(3))
    acc.update(np.zeros((2, 3)))
    with pytest.raises(InvalidDataError, match="4 features in a later batch but 3"):
        acc.update(np.zeros((2, 4)))
    with pytest.raises(InvalidDataError, match="no data"):
        _ = CovarianceAccumulator().mean
    with pytest.raises(InvalidDataError, match="more than 1"):
        feed(CovarianceAccumulator(), np.zeros((1, 2)), 1).covariance(ddof=1)


def test_few_rows_normalisation() -> None:
    empty = CovarianceAccumulator()
    empty.update(np.zeros((0, 2)))
    n, mean, cov = empty.finalize()
    assert n == 0 and mean.tolist() == [0.0, 0.0] and not cov.any()
    one = feed(CovarianceAccumulator(), np.array([[1.0, 2.0]]), 1)
    n, mean, cov = one.finalize()
    assert n == 1 and mean.tolist() == [1.0, 2.0] and not cov.any()


def test_symmetric_eigh_all_and_top_k(rng) -> None:
    a = rng.normal(size=(30, 6))
    cov = np.cov(a.T)
    values, vectors = symmetric_eigh(cov)
    assert np.all(np.diff(values) <= 0) and vectors.flags.c_contiguous
    np.testing.assert_allclose(cov @ vectors, vectors * values, atol=1e-12)
    top_values, top_vectors = symmetric_eigh(cov, 2)
    np.testing.assert_allclose(top_values, values[:2], rtol=1e-12)
    np.testing.assert_allclose(np.abs(top_vectors), np.abs(vectors[:, :2]), atol=1e-10)
    assert top_vectors.shape == (6, 2) and top_vectors.flags.c_contiguous
    # rounding-level negative eigenvalues of a singular covariance are clipped to 0
    singular = np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert symmetric_eigh(singular)[0].min() == 0.0


# ------------------------------------------------------------------ partial states (issue 11)
def blocks_of(x: np.ndarray, count: int) -> list[np.ndarray]:
    return [b for b in np.array_split(x, count) if len(b)]


@pytest.mark.parametrize("precision", ["float64", "input"])
@pytest.mark.parametrize("count", [1, 2, 8])
def test_merged_blocks_equal_one_accumulator(rng, precision, count) -> None:
    x = (rng.normal(size=(5000, 12)) @ rng.normal(size=(12, 12)) + 1e3).astype(np.float32)
    whole = feed(CovarianceAccumulator(precision=precision), x, 256)
    states = [feed(CovarianceAccumulator(precision=precision), b, 100)
              for b in blocks_of(x, count)]
    merged = states[0]
    for state in states[1:]:
        merged.merge(state)
    n, mean, cov = merged.finish()
    n0, mean0, cov0 = whole.finish()
    assert n == n0 == 5000
    np.testing.assert_allclose(mean, mean0, rtol=1e-6)
    np.testing.assert_allclose(cov, cov0, rtol=1e-6, atol=1e-6 * np.abs(cov0).max())


def test_merge_is_exact_for_shifted_blocks_and_survives_pickle(rng) -> None:
    import pickle

    x = rng.normal(size=(3000, 5)) * 0.5 + 1e7  # a large offset: no cancellation allowed
    parts = [pickle.loads(pickle.dumps(feed(CovarianceAccumulator(), b, 37)))
             for b in blocks_of(x, 8)]
    assert all(p._buf is None for p in parts)  # the row block does not travel
    # merged as a tree, not in order: associative
    left = parts[0].merge(parts[1]).merge(parts[2].merge(parts[3]))
    right = parts[4].merge(parts[5].merge(parts[6])).merge(parts[7])
    merged = left.merge(right)
    expected = np.cov(x.T)
    np.testing.assert_allclose(merged.covariance(ddof=1), expected, rtol=1e-9,
                               atol=1e-9 * np.abs(expected).max())
    merged.update(x[:10])  # still accepts rows after a merge and a pickle
    assert merged.n == 3010


def test_merge_with_empty_and_mismatched_states(rng) -> None:
    x = rng.normal(size=(50, 3))
    empty = CovarianceAccumulator()
    acc = feed(CovarianceAccumulator(), x, 7)
    assert acc.merge(CovarianceAccumulator()) is acc and acc.n == 50
    assert empty.merge(acc).n == 50
    np.testing.assert_allclose(empty.covariance(), np.cov(x.T, bias=True), rtol=1e-12)
    with pytest.raises(InvalidDataError, match="4 features into one of rows with 3"):
        acc.merge(feed(CovarianceAccumulator(), rng.normal(size=(5, 4)), 5))
    with pytest.raises(ValueError, match="another CovarianceAccumulator"):
        acc.merge(x)  # type: ignore[arg-type]
