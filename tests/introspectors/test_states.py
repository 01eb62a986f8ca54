"""Partial states (deepview.partial, deepview.introspectors.states): per-block states merged
in row order equal the single-process introspectors (issue 11)."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from deepview.base import ArrayProducer, pipeline
from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError
from deepview.introspectors import IUA, PFA, DimensionReduction, Familiarity
from deepview.introspectors.states import FamiliarityScores, IUAState, PCAState, PFAState
from deepview.partial import PartialState, merge_states

BLOCKS = [1, 2, 8]


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    emb = (rng.normal(size=(3000, 24)) @ rng.normal(size=(24, 24)) + 50).astype(np.float32)
    relu = np.maximum(rng.normal(size=(3000, 16)), 0).astype(np.float32)
    relu[:, 3] = 0.0
    return {"emb": emb, "relu": relu}


def block_states(make: Any, fields: dict[str, np.ndarray], count: int,
                 batch: int = 97) -> list[Any]:
    """One state per block (through pickle, as from a worker), in row order."""
    n = len(next(iter(fields.values())))
    states = []
    for rows in np.array_split(np.arange(n), count):
        state = make()
        producer = ArrayProducer({k: v[rows] for k, v in fields.items()})
        for b in producer(batch):
            state.update(b)
        states.append(pickle.loads(pickle.dumps(state)))
    return states


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(b).max())


@pytest.mark.parametrize("count", BLOCKS)
def test_pca_state_equals_dimension_reduction(data, count) -> None:
    producer = ArrayProducer({"emb": data["emb"]})
    whole = DimensionReduction.introspect(producer,
                                          strategies=DimensionReduction.Strategy.PCA(5))
    merged = merge_states(block_states(lambda: PCAState(5), {"emb": data["emb"]}, count))
    assert isinstance(merged, PartialState)
    stage = merged.finish()
    assert isinstance(stage, DimensionReduction)
    ours = next(iter(pipeline(producer, stage)(3000))).fields["emb"]
    theirs = next(iter(pipeline(producer, whole)(3000))).fields["emb"]
    assert rel(ours, theirs) < 1e-6
    a, b = stage.reducers["emb"].projection, whole.reducers["emb"].projection
    assert rel(a.explained_variance, b.explained_variance) < 1e-6
    assert rel(a.mean, b.mean) < 1e-6


@pytest.mark.parametrize("count", BLOCKS)
def test_pfa_state_equals_pfa(data, count) -> None:
    """PFA multiplies float32 responses in float32 (documented: ~1e-6 relative), so the
    single-process covariance is itself ~2e-6 from the float64 one on these ReLU values;
    the merged blocks are as close to it, and to the single-process result."""
    whole = PFA.introspect(ArrayProducer(data), batch_size=64)
    merged = merge_states(block_states(PFAState, data, count)).finish()
    for name in data:
        a, b = merged.covariances[name], whole.covariances[name]
        truth = np.cov(data[name].astype(np.float64).T)
        assert rel(b.covariances, truth) < 5e-6  # the single process's own accuracy
        assert rel(a.covariances, truth) < 5e-6
        assert rel(a.covariances, b.covariances) < 5e-6
        assert rel(a.eigenvalues, b.eigenvalues) < 5e-6
        assert np.array_equal(a.inactive_units, b.inactive_units)
    # float64 data: float64 products everywhere, equal within 1e-6 (in fact ~1e-12)
    wide = {"emb": data["emb"].astype(np.float64)}
    exact = PFA.introspect(ArrayProducer(wide)).covariances["emb"]
    ours = merge_states(block_states(PFAState, wide, count)).finish().covariances["emb"]
    assert rel(ours.covariances, exact.covariances) < 1e-6
    assert rel(ours.eigenvalues, exact.eigenvalues) < 1e-6
    for strategy in (PFA.Strategy.KL(), PFA.Strategy.Energy(0.9)):
        ours, theirs = merged.get_recipe(strategy=strategy), whole.get_recipe(strategy=strategy)
        for name in data:
            assert ours[name].recommended_output_count == theirs[name].recommended_output_count
            assert list(ours[name].maximally_correlated_units) == list(
                theirs[name].maximally_correlated_units)


@pytest.mark.parametrize("count", BLOCKS)
def test_iua_state_equals_iua_exactly(data, count) -> None:
    whole = IUA.introspect(ArrayProducer(data)).results
    merged = merge_states(block_states(IUA.partial, data, count)).finish().results
    for name in data:
        assert merged[name].mean_inactive == whole[name].mean_inactive
        assert merged[name].std_inactive == whole[name].std_inactive
        assert np.array_equal(merged[name].inactive, whole[name].inactive)
        assert np.array_equal(merged[name].unit_inactive_count, whole[name].unit_inactive_count)


@pytest.mark.parametrize("count", BLOCKS)
def test_familiarity_scores_equal_score(data, count) -> None:
    x = {"emb": data["emb"].astype(np.float64)}
    fam = Familiarity.introspect(ArrayProducer(x),
                                 strategy=Familiarity.Strategy.GMM(gaussian_count=3,
                                                                   random_state=0))
    merged = merge_states(block_states(fam.partial_scores, x, count)).finish()
    # row by row: only the BLAS blocking of the batches differs (float64 rounding)
    np.testing.assert_allclose(merged["emb"], fam.score(x)["emb"], rtol=1e-12)


def test_merge_rejects_other_kinds_parameters_and_fields(data) -> None:
    with pytest.raises(InvalidTypeError, match="another PFAState"):
        PFAState().merge(PCAState())  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="target_dimensions differ"):
        PCAState(2).merge(PCAState(3))
    with pytest.raises(InvalidParameterError, match="different tolerances"):
        IUAState(atol=0.1).merge(IUAState())
    a, b = PFAState(), PFAState()
    a.update(next(iter(ArrayProducer({"x": data["emb"]})(10))))
    b.update(next(iter(ArrayProducer({"y": data["emb"]})(10))))
    with pytest.raises(InvalidDataError, match="same fields"):
        a.merge(b)
    with pytest.raises(InvalidDataError, match="no states"):
        merge_states([])
    with pytest.raises(InvalidTypeError, match="partial state"):
        merge_states([object()])  # type: ignore[list-item]
    for empty in (PCAState(), PFAState(), IUAState()):
        with pytest.raises(InvalidDataError, match="no samples"):
            empty.finish()
    with pytest.raises(InvalidTypeError, match="fitted Familiarity"):
        FamiliarityScores("model")  # type: ignore[arg-type]


def test_states_are_small_when_pickled(data) -> None:
    """A block state ships its statistics, not its rows or work buffers."""
    state = PFAState()
    for b in ArrayProducer({"emb": data["emb"]})(500):
        state.update(b)
    assert len(pickle.dumps(state)) < 24 * 24 * 8 * 2 + 4096
    iua = IUAState()
    for b in ArrayProducer({"relu": data["relu"]})(500):
        iua.update(b)
    assert len(pickle.dumps(iua)) < 3000 * 4 + 4096
