"""DimensionReduction: exact streaming PCA, StandardPCA, t-SNE, UMAP, PaCMAP, pipelining."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch, pipeline
from deepview.exceptions import (
    DeepViewException,
    DeepViewWarning,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
    MissingDependencyError,
    MissingFieldError,
)
from deepview.introspectors import (
    DimensionReduction,
    DimensionReductionStrategyType,
    OneOrManyDimStrategies,
)

S = DimensionReduction.Strategy


def collect(producer, name: str = "responses", batch_size: int = 64) -> np.ndarray:
    return np.concatenate([b.fields[name] for b in producer(batch_size)])


def lowrank(rng: np.random.Generator, n: int = 400, d: int = 12) -> np.ndarray:
    scales = np.linspace(6.0, 0.2, d)
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (rng.normal(size=(n, d)) * scales) @ basis.T + rng.normal(size=d) * 3.0


def exact_projection(x: np.ndarray, k: int) -> np.ndarray:
    xc = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    return xc @ vt[:k].T


def assert_equal_up_to_sign(a: np.ndarray, b: np.ndarray, atol: float) -> None:
    signs = np.sign(np.sum(a * b, axis=0))
    np.testing.assert_allclose(a, b * signs, atol=atol)


def two_clusters(rng: np.random.Generator, n: int = 200, d: int = 10) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    labels = np.repeat([0, 1], n // 2)
    x = rng.normal(size=(n, d)) + labels[:, None] * 20.0
    return x.astype(np.float32), labels


def assert_separated(y: np.ndarray, labels: np.ndarray) -> None:
    dist = np.linalg.norm(y[:, None] - y[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    # every point's nearest other point is in its own cluster ...
    assert np.array_equal(labels[dist.argmin(axis=1)], labels)
    # ... and the clusters are far apart compared with the typical neighbour distance
    between = dist[labels[:, None] != labels[None]].min()
    assert between > 3 * np.median(dist.min(axis=1)), between


class ChunkProducer:
    """Yields fixed-size chunks whatever batch_size is asked (a 'misbehaving' producer)."""

    def __init__(self, x: np.ndarray, chunk: int) -> None:
        self.x, self.chunk = x, chunk

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        for start in range(0, len(self.x), self.chunk):
            yield Batch({"responses": self.x[start:start + self.chunk]})


class NoIdProducer:
    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        for start in range(0, len(self.x), batch_size):
            yield Batch({"responses": self.x[start:start + batch_size]})


# --------------------------------------------------------------------------------------
# PCA
# --------------------------------------------------------------------------------------


def test_pca_matches_exact_svd_up_to_sign(rng, make_producer):
    x = lowrank(rng)
    producer = make_producer(x)
    dr = DimensionReduction.introspect(producer, strategies=S.PCA(4))
    assert producer.calls == 1  # one streaming pass
    y = collect(pipeline(producer, dr))
    assert y.shape == (400, 4) and y.dtype == np.float64
    assert_equal_up_to_sign(y, exact_projection(x, 4), atol=1e-9)


def test_pca_float32_in_float32_out(rng):
    x = lowrank(rng).astype(np.float32)
    dr = DimensionReduction.introspect(ArrayProducer(x), strategies=S.PCA(3))
    y = collect(pipeline(ArrayProducer(x), dr))
    assert y.dtype == np.float32
    assert_equal_up_to_sign(y, exact_projection(x.astype(np.float64), 3), atol=1e-4)


@pytest.mark.parametrize("batch_size", [5, 37, 128, 1000])
def test_pca_independent_of_batch_size(rng, batch_size):
    x = lowrank(rng, n=403)  # 403 % 5 == 3 < target: the short last batch must count
    reference = collect(pipeline(ArrayProducer(x), DimensionReduction.introspect(
        ArrayProducer(x), strategies=S.PCA(5), batch_size=500)))
    dr = DimensionReduction.introspect(ArrayProducer(x), strategies=S.PCA(5),
                                       batch_size=batch_size)
    np.testing.assert_allclose(collect(pipeline(ArrayProducer(x), dr)), reference, atol=1e-9)


def test_pca_batches_smaller_than_target_are_not_skipped(rng):
    x = lowrank(rng, n=100)
    dr = DimensionReduction.introspect(ChunkProducer(x, 3), strategies=S.PCA(5))
    assert dr.reducers["responses"].projection.n_samples == 100
    assert_equal_up_to_sign(collect(pipeline(ArrayProducer(x), dr)), exact_projection(x, 5),
                            atol=1e-9)


def test_standard_pca_matches_exact(rng):
    x = lowrank(rng)
    dr = DimensionReduction.introspect(ArrayProducer(x), strategies=S.StandardPCA(4))
    assert_equal_up_to_sign(collect(pipeline(ArrayProducer(x), dr)), exact_projection(x, 4),
                            atol=1e-8)
    pca = DimensionReduction.introspect(ArrayProducer(x), strategies=S.PCA(4))
    # same sign convention -> identical output
    np.testing.assert_allclose(collect(pipeline(ArrayProducer(x), dr)),
                               collect(pipeline(ArrayProducer(x), pca)), atol=1e-8)


def test_pca_zero_variance_warns_and_projects_to_zero():
    x = np.ones((20, 4))
    with pytest.warns(DeepViewWarning, match="zero variance"):
        dr = DimensionReduction.introspect(ArrayProducer(x), strategies=S.PCA(2))
    y = collect(pipeline(ArrayProducer(x), dr))
    assert y.shape == (20, 2) and np.all(y == 0)


def test_pca_single_sample():
    x = np.arange(4.0)[None]
    with pytest.warns(DeepViewWarning):
        dr = DimensionReduction.introspect(ArrayProducer(x), strategies=S.PCA(1))
    assert collect(pipeline(ArrayProducer(x), dr)).tolist() == [[0.0]]
    with pytest.raises(InvalidDataError, match="field 'responses'.*at least as many samples"):
        DimensionReduction.introspect(ArrayProducer(x), strategies=S.PCA(2))


def test_pca_target_larger_than_features(rng):
    with pytest.raises(InvalidDataError, match="field 'responses'.*exceeds the 3 feature"):
        DimensionReduction.introspect(ArrayProducer(rng.normal(size=(50, 3))),
                                      strategies=S.PCA(5))
    with pytest.raises(InvalidDataError, match="exceeds the 3 feature"):
        DimensionReduction.introspect(ArrayProducer(rng.normal(size=(50, 3))),
                                      strategies=S.StandardPCA(5))


def test_pca_wide_data_uses_buffered_incremental_fallback(rng, monkeypatch):
    import deepview._compute.pca as kernels

    monkeypatch.setattr(kernels, "EXACT_MAX_FEATURES", 4)
    original = kernels.make_streaming_pca
    monkeypatch.setattr(
        kernels, "make_streaming_pca",
        lambda k, d, exact_max_features=4: original(k, d, exact_max_features=4),
    )
    import deepview.introspectors._dim_reduction._pca as module

    monkeypatch.setattr(module, "make_streaming_pca", kernels.make_streaming_pca)
    x = lowrank(rng, n=300, d=8)
    dr = DimensionReduction.introspect(ChunkProducer(x, 2), strategies=S.PCA(3))
    reducer = dr.reducers["responses"]
    assert reducer.projection.n_samples == 300  # 2-row batches buffered, none dropped
    y = collect(pipeline(ArrayProducer(x), dr))
    exact = exact_projection(x, 3)
    # approximate, but the same subspace up to numerical noise for this easy spectrum
    q1, _ = np.linalg.qr(y - y.mean(0))
    q2, _ = np.linalg.qr(exact)
    cos = np.linalg.svd(q1.T @ q2, compute_uv=False)
    assert np.mean(cos**2) > 0.99


# --------------------------------------------------------------------------------------
# strategy objects, protocol, batch sizes
# --------------------------------------------------------------------------------------


def test_strategies_satisfy_protocol_and_defaults():
    for strategy in (S.PCA(), S.StandardPCA(), S.TSNE()):
        assert isinstance(strategy, DimensionReductionStrategyType)
        assert strategy.target_dimensions == 2
    assert S.PCA(40).default_batch_size() == 500
    assert S.PCA(200).default_batch_size() == 1000
    assert S.StandardPCA().default_batch_size() == 1024
    assert S.TSNE(2).is_one_shot and not S.PCA(2).is_one_shot
    assert S.PCA(3) == S.PCA(3) and S.PCA(3) != S.PCA(4)
    assert S.TSNE(2, perplexity=5.0) == S.TSNE(2, _parameters={"perplexity": 5.0})
    clone = S.TSNE(3, perplexity=5.0)._clone()
    assert clone.target_dimensions == 3 and dict(clone._parameters) == {"perplexity": 5.0}


def test_with_params_gives_a_fresh_copy_with_more_keyword_arguments(rng):
    tsne = S.TSNE(3, perplexity=30.0)
    more = tsne.with_params(perplexity=5.0, random_state=0)
    assert type(more) is S.TSNE and more.target_dimensions == 3
    assert dict(more.parameters) == {"perplexity": 5.0, "random_state": 0}
    assert dict(tsne.parameters) == {"perplexity": 30.0}  # unchanged
    with pytest.raises(TypeError):
        more.parameters["perplexity"] = 1.0  # type: ignore[index]
    with pytest.raises(InvalidParameterError, match="no_such_knob"):
        tsne.with_params(no_such_knob=1)
    fitted = S.TSNE(2, perplexity=5.0, random_state=0)
    fitted.fit_incremental(rng.normal(size=(30, 4)))
    fitted.fit_complete()
    assert fitted.transform_one_shot().shape == (30, 2)
    with pytest.raises(DeepViewException, match="fit"):
        fitted.with_params(perplexity=4.0).transform_one_shot()  # a copy starts unfitted
    assert fitted.with_random_state(1) is fitted  # already seeded: kept
    assert S.TSNE(2).with_random_state(1).random_state == 1


def test_check_batch_size():
    with pytest.raises(DeepViewException, match="batch_size .3. must be >= target_dimensions"):
        S.PCA(5).check_batch_size(3)
    S.PCA(5).check_batch_size(5)
    S.StandardPCA(5).check_batch_size(1)
    with pytest.raises(InvalidParameterError):
        S.PCA(2).check_batch_size(0)


def test_introspect_batch_size_smaller_than_target_raises(rng):
    with pytest.raises(DeepViewException, match="target_dimensions"):
        DimensionReduction.introspect(ArrayProducer(rng.normal(size=(20, 8))),
                                      strategies=S.PCA(5), batch_size=2)


def test_default_batch_size_of_mapping_is_max(rng):
    seen = []

    def producer(batch_size):
        seen.append(batch_size)
        yield from ArrayProducer({"a": rng.normal(size=(30, 4)),
                                  "b": rng.normal(size=(30, 4))})(batch_size)

    DimensionReduction.introspect(producer, strategies={"a": S.PCA(2), "b": S.StandardPCA(2)})
    assert seen == [1024]
    DimensionReduction.introspect(producer, strategies=S.PCA(2))
    assert seen[-1] == 500


def test_invalid_strategy_parameters():
    with pytest.raises(InvalidParameterError, match="target_dimensions"):
        S.PCA(0)
    with pytest.raises(InvalidTypeError, match="target_dimensions"):
        S.StandardPCA(2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="not_a_tsne_option"):
        S.TSNE(2, not_a_tsne_option=1)
    with pytest.raises(InvalidParameterError, match="target_dimensions, not n_components"):
        S.TSNE(n_components=3)


def test_invalid_strategies_argument(rng):
    producer = ArrayProducer(rng.normal(size=(10, 3)))
    with pytest.raises(InvalidTypeError, match="'strategies' must be a strategy"):
        DimensionReduction.introspect(producer, strategies="PCA")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="empty mapping"):
        DimensionReduction.introspect(producer, strategies={})
    with pytest.raises(InvalidTypeError, match=r"strategies\['responses'\]"):
        DimensionReduction.introspect(producer, strategies={"responses": 3})  # type: ignore


def test_custom_strategy_through_protocol(rng):
    class FirstColumns:
        target_dimensions = 2
        is_one_shot = False

        def default_batch_size(self) -> int:
            return 7

        def check_batch_size(self, batch_size: int) -> None:
            pass

        def fit_incremental(self, data: np.ndarray) -> None:
            pass

        def fit_complete(self) -> None:
            pass

        def transform(self, data: np.ndarray) -> np.ndarray:
            return data[:, :2] * 10

        def transform_one_shot(self) -> np.ndarray:
            raise DeepViewException("no")

        def _clone(self) -> FirstColumns:
            return FirstColumns()

    strategy: OneOrManyDimStrategies = FirstColumns()
    assert isinstance(strategy, DimensionReductionStrategyType)
    x = rng.normal(size=(15, 4))
    dr = DimensionReduction.introspect(ArrayProducer(x), strategies=strategy)
    np.testing.assert_array_equal(collect(pipeline(ArrayProducer(x), dr)), x[:, :2] * 10)


def test_unfitted_and_wrong_transform_calls():
    with pytest.raises(DeepViewException, match="not fitted"):
        S.PCA(2).transform(np.zeros((3, 4)))
    with pytest.raises(DeepViewException, match="transform\\(data\\)"):
        S.PCA(2).transform_one_shot()
    with pytest.raises(DeepViewException, match="transform_one_shot"):
        S.TSNE(2).transform(np.zeros((3, 4)))
    with pytest.raises(DeepViewException, match="not fitted"):
        S.TSNE(2).transform_one_shot()


# --------------------------------------------------------------------------------------
# per-field strategies and fitted state
# --------------------------------------------------------------------------------------


def test_mapping_reduces_only_named_fields_and_never_shares_state(rng):
    a, b, c = lowrank(rng, d=10), lowrank(rng, d=6), rng.normal(size=(400, 3))
    shared = S.PCA(2)  # one instance for two fields of different widths
    producer = ArrayProducer({"a": a, "b": b, "c": c}, labels={"k": list(range(400))})
    dr = DimensionReduction.introspect(producer, strategies={"a": shared, "b": shared})
    assert shared.projection is None  # the caller's strategy is never fitted
    batches = list(pipeline(producer, dr)(100))
    ya = np.concatenate([x.fields["a"] for x in batches])
    yb = np.concatenate([x.fields["b"] for x in batches])
    assert_equal_up_to_sign(ya, exact_projection(a, 2), atol=1e-9)
    assert_equal_up_to_sign(yb, exact_projection(b, 2), atol=1e-9)
    np.testing.assert_array_equal(np.concatenate([x.fields["c"] for x in batches]), c)
    assert batches[1].metadata[Batch.StdKeys.LABELS]["k"] == list(range(100, 200))
    assert batches[0].metadata[Batch.StdKeys.IDENTIFIER] == list(range(100))


def test_single_strategy_reduces_every_field_with_its_own_clone(rng):
    a, b = lowrank(rng, d=8), lowrank(rng, d=5)
    strategy = S.PCA(3)
    dr = DimensionReduction.introspect(ArrayProducer({"a": a, "b": b}), strategies=strategy)
    assert len({dr, dr}) == 1  # a hashable pipeline stage
    with pytest.raises(dataclasses.FrozenInstanceError):
        dr._reducers = {}  # type: ignore[misc]
    assert set(dr.reducers) == {"a", "b"}
    assert dr.reducers["a"] is not dr.reducers["b"] and strategy.projection is None
    y = collect(pipeline(ArrayProducer({"a": a, "b": b}), dr), "b")
    assert_equal_up_to_sign(y, exact_projection(b, 3), atol=1e-9)


def test_unknown_field_in_mapping_names_it_and_available_fields(rng):
    producer = ArrayProducer({"conv": rng.normal(size=(10, 3)), "fc": rng.normal(size=(10, 3))})
    with pytest.raises(MissingFieldError, match=r"\['penult'\].*available fields: \['conv', "
                                                r"'fc'\]"):
        DimensionReduction.introspect(producer, strategies={"penult": S.PCA(2)})


def test_pipelined_producer_missing_field_or_wrong_width(rng):
    x = rng.normal(size=(30, 4))
    dr = DimensionReduction.introspect(ArrayProducer(x, field="emb"), strategies=S.PCA(2))
    with pytest.raises(MissingFieldError, match="'emb'"):
        collect(pipeline(ArrayProducer(x, field="other"), dr), "other")
    with pytest.raises(InvalidDataError, match="5 features but DimensionReduction was fitted "
                                               "on 4"):
        collect(pipeline(ArrayProducer(rng.normal(size=(30, 5)), field="emb"), dr), "emb")


# --------------------------------------------------------------------------------------
# bad data
# --------------------------------------------------------------------------------------


def test_nan_and_inf_are_refused_with_field_name(rng):
    x = rng.normal(size=(50, 4))
    x[7, 2] = np.nan
    with pytest.raises(InvalidDataError, match="field 'emb' contains NaN or inf"):
        DimensionReduction.introspect(ArrayProducer(x, field="emb"), strategies=S.PCA(2))
    good = rng.normal(size=(50, 4))
    dr = DimensionReduction.introspect(ArrayProducer(good, field="emb"), strategies=S.PCA(2))
    x[7, 2] = np.inf
    with pytest.raises(InvalidDataError, match="field 'emb' contains NaN or inf"):
        collect(pipeline(ArrayProducer(x, field="emb"), dr), "emb")


def test_three_dimensional_field_needs_flattener(rng):
    producer = ArrayProducer(rng.normal(size=(10, 3, 4)), field="conv")
    with pytest.raises(DeepViewException, match="field 'conv' has shape .* Flattener"):
        DimensionReduction.introspect(producer, strategies=S.PCA(2))


def test_empty_producer(rng):
    def empty(batch_size):
        return iter(())

    with pytest.raises(InvalidDataError, match="no batches"):
        DimensionReduction.introspect(empty, strategies=S.PCA(2))


def test_changing_feature_count_between_batches(rng):
    def producer(batch_size):
        yield Batch({"r": rng.normal(size=(10, 4))})
        yield Batch({"r": rng.normal(size=(10, 5))})

    with pytest.raises(InvalidDataError, match="field 'r' has 5 features in batch 1"):
        DimensionReduction.introspect(producer, strategies=S.PCA(2))


# --------------------------------------------------------------------------------------
# one-shot strategies (t-SNE, PaCMAP): rows keyed by identifier, verified against the fit
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tsne_fit():
    rng = np.random.default_rng(7)
    x, labels = two_clusters(rng, n=120, d=6)
    ids = [f"s{i}" for i in range(len(x))]
    dr = DimensionReduction.introspect(
        ArrayProducer(x, identifiers=ids),
        strategies=S.TSNE(2, perplexity=10.0, random_state=0, max_iter=500),
    )
    return x, labels, ids, dr


def test_tsne_separates_clusters_and_is_reproducible(tsne_fit):
    x, labels, ids, dr = tsne_fit
    y = collect(pipeline(ArrayProducer(x, identifiers=ids), dr))
    assert y.shape == (120, 2)
    assert_separated(y, labels)
    np.testing.assert_array_equal(y, dr.reducers["responses"].transform_one_shot())
    again = DimensionReduction.introspect(
        ArrayProducer(x, identifiers=ids),
        strategies=S.TSNE(2, perplexity=10.0, random_state=0, max_iter=500),
    )
    np.testing.assert_array_equal(collect(pipeline(ArrayProducer(x, identifiers=ids), again)), y)


def test_one_shot_shuffled_and_subset_producers_get_their_own_rows(tsne_fit):
    x, _, ids, dr = tsne_fit
    fitted = dr.reducers["responses"].transform_one_shot()
    order = np.random.default_rng(3).permutation(len(x))[:50]
    shuffled = ArrayProducer(x[order], identifiers=[ids[i] for i in order])
    np.testing.assert_array_equal(collect(pipeline(shuffled, dr), batch_size=16),
                                  fitted[order])


def test_one_shot_refuses_unknown_ids_and_changed_data(tsne_fit):
    x, _, ids, dr = tsne_fit
    with pytest.raises(InvalidDataError, match="not in the data.*'new0'"):
        collect(pipeline(ArrayProducer(x[:3], identifiers=["s0", "new0", "s1"]), dr))
    other = x[:10] + 5.0  # same ids, different samples
    with pytest.raises(InvalidDataError, match="differ from the fitted sample"):
        collect(pipeline(ArrayProducer(other, identifiers=ids[:10]), dr))
    # float noise of a re-run is tolerated
    noisy = x[:10] * (1 + 1e-7)
    assert collect(pipeline(ArrayProducer(noisy, identifiers=ids[:10]), dr)).shape == (10, 2)


def test_one_shot_without_ids_needs_same_order_and_length(tsne_fit):
    x, _, _, _ = tsne_fit
    dr = DimensionReduction.introspect(
        NoIdProducer(x), strategies=S.TSNE(2, perplexity=10.0, random_state=0, max_iter=500))
    fitted = dr.reducers["responses"].transform_one_shot()
    np.testing.assert_array_equal(collect(pipeline(NoIdProducer(x), dr), batch_size=50), fitted)
    with pytest.raises(InvalidDataError, match="differ from the fitted sample at position"):
        collect(pipeline(NoIdProducer(x[::-1].copy()), dr))
    with pytest.raises(InvalidDataError, match="yielded 60 samples but .* fitted on 120"):
        collect(pipeline(NoIdProducer(x[:60]), dr))
    with pytest.raises(InvalidDataError, match="more samples than the 120"):
        collect(pipeline(NoIdProducer(np.concatenate([x, x[:5]])), dr))


def test_hand_built_one_shot_result_slices_by_position(tsne_fit):
    x, _, ids, dr = tsne_fit
    bare = DimensionReduction(_reducers=dr.reducers)
    fitted = dr.reducers["responses"].transform_one_shot()
    np.testing.assert_array_equal(collect(pipeline(ArrayProducer(x, identifiers=ids), bare)),
                                  fitted)
    with pytest.raises(InvalidDataError, match="yielded 10 samples"):
        collect(pipeline(ArrayProducer(x[:10]), bare))


def test_tsne_perplexity_too_large_names_field():
    x = np.random.default_rng(0).normal(size=(12, 3))
    with pytest.raises(InvalidDataError, match="field 'responses'.*perplexity"):
        DimensionReduction.introspect(ArrayProducer(x), strategies=S.TSNE(2))


def test_pacmap_separates_clusters_by_id():
    pytest.importorskip("pacmap")
    rng = np.random.default_rng(11)
    x, labels = two_clusters(rng, n=200, d=8)
    dr = DimensionReduction.introspect(
        ArrayProducer(x), strategies=S.PaCMAP(2, random_state=0, n_neighbors=10))
    assert dr.reducers["responses"].is_one_shot
    order = rng.permutation(200)
    y = collect(pipeline(ArrayProducer(x[order], identifiers=order.tolist()), dr))
    assert_separated(y, labels[order])
    np.testing.assert_array_equal(y, dr.reducers["responses"].transform_one_shot()[order])


# --------------------------------------------------------------------------------------
# UMAP (one module-scoped fit: numba JIT costs seconds per process)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def umap_fit():
    pytest.importorskip("umap")
    rng = np.random.default_rng(5)
    x, labels = two_clusters(rng, n=200, d=8)
    strategy = S.UMAP(2, random_state=0, n_neighbors=10)
    dr = DimensionReduction.introspect(NoIdProducer(x), strategies=strategy)
    again = DimensionReduction.introspect(NoIdProducer(x), strategies=strategy)
    return x, labels, dr, again


def test_umap_training_rows_get_fitted_embedding(umap_fit):
    x, labels, dr, _ = umap_fit
    reducer = dr.reducers["responses"]
    assert not reducer.is_one_shot
    y = collect(pipeline(NoIdProducer(x), dr), batch_size=33)
    np.testing.assert_array_equal(y, reducer.embedding_)
    assert_separated(y, labels)
    # shuffled / float64 copies of training rows are recognised too
    order = np.random.default_rng(1).permutation(200)
    np.testing.assert_array_equal(reducer.transform(x[order].astype(np.float64)),
                                  reducer.embedding_[order])


def test_umap_only_new_rows_go_through_umap_transform_quietly(umap_fit, monkeypatch, capsys):
    # umap's own transform is numba code that takes ~15 s to compile; a stand-in records
    # what deepview sends it (the routing and silencing are what is under test here)
    x, _, dr, _ = umap_fit
    reducer = dr.reducers["responses"]
    received = []

    def fake_transform(data):
        print("umap chatter that must not reach stdout")
        received.append(data.copy())
        return np.full((len(data), 2), 7.0, dtype=np.float32)

    monkeypatch.setattr(reducer._state.fitted.model, "transform", fake_transform)
    new = x[:10] + np.float32(0.05)
    y = reducer.transform(np.concatenate([x[10:15], new, x[15:16]]))
    assert len(received) == 1
    np.testing.assert_array_equal(received[0], new)
    np.testing.assert_array_equal(y[:5], reducer.embedding_[10:15])
    np.testing.assert_array_equal(y[5:15], np.full((10, 2), 7.0))
    np.testing.assert_array_equal(y[15], reducer.embedding_[15])
    assert "chatter" not in capsys.readouterr().out
    # all-training input never calls umap
    reducer.transform(x[:50])
    assert len(received) == 1


def test_umap_fixed_seed_is_reproducible(umap_fit):
    _, _, dr, again = umap_fit
    np.testing.assert_array_equal(dr.reducers["responses"].embedding_,
                                  again.reducers["responses"].embedding_)


def test_seeded_umap_starts_from_principal_components(umap_fit):
    # the spectral init's eigen-solver fails on some runs and not others on graphs of many
    # components (then starts at random), so a seeded fit starts from PCA unless told not to
    assert S.UMAP(2, random_state=0)._make_estimator().init == "pca"
    assert S.UMAP(2, random_state=0, init="spectral")._make_estimator().init == "spectral"
    assert S.UMAP(2)._make_estimator().init == "spectral"  # umap-learn's default, unseeded
    # 24 far-apart clusters: a graph of many components, laid out identically twice
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=50.0, size=(24, 16))
    x = (np.repeat(centres, 12, axis=0) + rng.normal(size=(288, 16))).astype(np.float32)
    fits = [DimensionReduction.introspect(NoIdProducer(x), strategies=S.UMAP(
        2, random_state=7, n_neighbors=8)).reducers["responses"].embedding_ for _ in range(2)]
    np.testing.assert_array_equal(fits[0], fits[1])


def test_umap_rejects_unknown_kwargs():
    pytest.importorskip("umap")
    with pytest.raises(InvalidParameterError, match="umap.UMAP"):
        S.UMAP(2, definitely_not_an_option=3)


def test_missing_optional_dependency_names_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)
    monkeypatch.setitem(sys.modules, "pacmap", None)
    with pytest.raises(MissingDependencyError, match=r'deepview\[umap\]'):
        S.UMAP(2)
    with pytest.raises(MissingDependencyError, match=r'deepview\[pacmap\]'):
        S.PaCMAP(2)


def test_import_does_not_pull_optional_libraries():
    code = (
        "import sys, deepview.introspectors as i; i.DimensionReduction; "
        "import deepview.introspectors._dim_reduction; "
        "bad = [m for m in ('umap', 'pacmap', 'torch', 'numba') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
