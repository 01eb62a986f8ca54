"""Duplicates: kNN strategies, thresholds, bounded grouping, candidates and bad input."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import numpy as np
import pytest

from deepview.base import Batch
from deepview.exceptions import InvalidDataError
from deepview.introspectors import (
    Duplicates,
    DuplicatesStrategyType,
    DuplicatesThresholdStrategyType,
)

Percentile = Duplicates.ThresholdStrategy.Percentile
Slope = Duplicates.ThresholdStrategy.Slope
KNN = Duplicates.KNNStrategy


def _planted(rng: np.random.Generator, n: int = 2000, d: int = 16, pairs: int = 40):
    """Clustered data with ``pairs`` planted near-duplicate pairs (noise 1e-3)."""
    centres = rng.normal(0, 4, size=(5, d))
    x = centres[rng.integers(0, 5, size=n)] + rng.normal(size=(n, d))
    perm = rng.permutation(n)
    src, dst = perm[:pairs], perm[pairs:2 * pairs]
    x[dst] = x[src] + rng.normal(0, 1e-3, size=(pairs, d))
    planted = {tuple(sorted((int(a), int(b)))) for a, b in zip(src, dst)}
    return x.astype(np.float32), planted


def _pairs(result: Duplicates, field: str) -> set[tuple[int, int]]:
    out = set()
    for c in result.results[field]:
        idx = sorted(c.indices)
        out.update((a, b) for i, a in enumerate(idx) for b in idx[i + 1:])
    return out


def test_defaults_find_planted_pairs_precisely(rng, make_producer) -> None:
    x, planted = _planted(rng)
    producer = make_producer({"emb": x})
    result = Duplicates.introspect(producer)
    assert producer.calls == 1
    found = _pairs(result, "emb")
    assert len(found & planted) / len(planted) >= 0.95
    assert len(found & planted) / len(found) >= 0.9
    assert result.count == len(x)


def test_large_data_uses_partitioned_search_and_finds_pairs(rng, make_producer) -> None:
    x, planted = _planted(rng, n=12000, d=24, pairs=60)
    found = _pairs(Duplicates.introspect(make_producer({"emb": x})), "emb")
    assert len(found & planted) / len(planted) >= 0.95
    assert len(found & planted) / len(found) >= 0.9


@pytest.mark.parametrize("strategy", ["KNNExact", "KNNPartitioned", "KNNFaiss", "KNNAnnoy"])
def test_strategies_give_the_same_groups(strategy, rng, make_producer) -> None:
    if strategy == "KNNFaiss":
        pytest.importorskip("faiss")
    if strategy == "KNNAnnoy":
        pytest.importorskip("annoy")
    x, planted = _planted(rng, n=600, d=8, pairs=10)
    result = Duplicates.introspect(make_producer({"emb": x}), strategy=getattr(KNN, strategy)())
    assert _pairs(result, "emb") == planted
    assert isinstance(getattr(KNN, strategy)(), DuplicatesStrategyType)


def test_well_separated_points_are_not_grouped(rng, make_producer) -> None:
    x = rng.normal(size=(500, 10))
    assert Duplicates.introspect(make_producer({"x": x})).results["x"] == []


def test_groups_do_not_chain(make_producer) -> None:
    # points on a line, 1 apart: every neighbour distance is "close" for a loose threshold,
    # but no group may span more than 2 * threshold
    x = np.stack([np.arange(200.0), np.zeros(200)], axis=1)
    result = Duplicates.introspect(make_producer({"x": x}), threshold=Percentile(100))
    norm = x / np.linalg.norm(x, axis=0).clip(min=1e-300)
    step = norm[1, 0] - norm[0, 0]
    for c in result.results["x"]:
        span = norm[c.indices, 0].max() - norm[c.indices, 0].min()
        assert span <= 2 * step * (1 + 1e-9)
    assert max(c.size for c in result.results["x"]) <= 3


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_small_inputs(n, rng, make_producer) -> None:
    x = rng.normal(size=(n, 3))
    assert Duplicates.introspect(make_producer({"x": x})).results["x"] == []
    if n >= 3:
        x[1] = x[0] + 1e-6
        result = Duplicates.introspect(make_producer({"x": x}))
        assert [sorted(c.indices) for c in result.results["x"]] == [[0, 1]]


def test_identical_samples_form_one_group(make_producer) -> None:
    x = np.tile(np.array([[1.0, 2.0, 0.0]]), (60, 1))
    result = Duplicates.introspect(make_producer({"x": x}))
    (group,) = result.results["x"]
    assert sorted(group.indices) == list(range(60))
    assert group.mean < 1e-12 and group.std < 1e-12


def test_zero_columns_and_exact_copies(rng, make_producer) -> None:
    x = np.zeros((100, 4))
    x[:, 1:3] = rng.normal(size=(100, 2))
    x[7] = x[3]
    result = Duplicates.introspect(make_producer({"x": x}))
    assert [sorted(c.indices) for c in result.results["x"]] == [[3, 7]]
    assert all(np.isfinite(c.mean) for c in result.results["x"])


def test_candidate_contents(rng, make_producer) -> None:
    x = rng.normal(size=(300, 5)) * 10
    members = [10, 20, 30, 40, 50, 60, 70]
    x[members] = x[10] + rng.normal(0, 1e-3, size=(7, 5))
    labels = {"kind": [f"k{i}" for i in range(300)]}
    result = Duplicates.introspect(make_producer({"x": x}, labels=labels))
    (cand,) = result.results["x"]
    assert cand.size == 7 and sorted(cand.indices) == members
    assert cand.projection is not None and cand.projection.shape == (7, 2)
    # members ordered along their first principal axis
    assert np.all(np.diff(cand.projection[:, 0]) >= 0)
    assert cand.mean > 0 and cand.std >= 0
    batch = cand.batch
    assert isinstance(batch, Batch) and batch.batch_size == 7
    assert batch.metadata[Batch.StdKeys.IDENTIFIER] == list(cand.indices)
    assert batch.metadata[Batch.StdKeys.LABELS]["kind"] == [f"k{i}" for i in cand.indices]
    np.testing.assert_array_equal(batch.fields["x"], x[list(cand.indices)])
    assert dict(result.items()) == dict(result.results)


def test_small_candidates_have_no_projection(rng, make_producer) -> None:
    x = rng.normal(size=(100, 3))
    x[[5, 6]] = x[4] + 1e-6
    (cand,) = Duplicates.introspect(make_producer({"x": x})).results["x"]
    assert cand.size == 3 and cand.projection is None


def test_percentile_follows_the_spec_without_overflow() -> None:
    d = np.arange(1.0, 201.0)
    assert Percentile(98.5)(d) == d[200 - int(0.985 * 200)]
    assert Percentile(0)(d) == 200.0
    assert Percentile(100)(d) == 1.0
    assert Percentile(50)(np.zeros(10)) == 0.0
    assert Percentile(50)(np.array([])) == 0.0
    assert isinstance(Percentile(5), DuplicatesThresholdStrategyType)
    for bad in (-1, 101):
        with pytest.raises(ValueError):
            Percentile(bad)


def test_slope_finds_the_low_mode() -> None:
    bulk = np.concatenate([np.linspace(1.0, 1.1, 900), np.linspace(1.1, 5.0, 100)])
    # a low mode (near-duplicates) separated by a jump: the threshold is its top
    low = np.concatenate([np.full(6, 1e-4), [2e-4], bulk])
    assert Slope()(low) == 2e-4
    assert Slope(sensitivity=20)(low) == 2e-4  # a 5000x jump passes any sensitivity
    # a 4x jump passes the default (3x) but not sensitivity 20 (12x)
    mid = np.concatenate([np.full(6, 0.25), bulk])
    assert Slope()(mid) == 0.25
    assert Slope(sensitivity=20)(mid) == 0.0
    # no low mode, nothing close; degenerate inputs
    assert Slope()(bulk) == 0.0
    assert Slope()(np.zeros(5)) == 0.0
    assert Slope()(np.array([1.0])) == 0.0
    # unsorted input is sorted first
    assert Slope()(low[::-1]) == 2e-4
    for bad in (2, 1, 0):
        with pytest.raises(ValueError):
            Slope(sensitivity=bad)
    assert Slope().sensitivity == 5


def test_bad_input(rng, make_producer) -> None:
    x = rng.normal(size=(20, 3))
    x[2, 2] = np.inf
    with pytest.raises(InvalidDataError, match="NaN or inf"):
        Duplicates.introspect(make_producer({"x": x}))
    with pytest.raises(InvalidDataError, match="Flattener"):
        Duplicates.introspect(make_producer({"x": rng.normal(size=(20, 3, 2))}))

    def empty(batch_size: int) -> Iterator[Batch]:
        return iter(())

    with pytest.raises(InvalidDataError, match="no batches"):
        Duplicates.introspect(empty)
    with pytest.raises(TypeError):
        Duplicates.introspect(make_producer({"x": rng.normal(size=(5, 2))}), strategy=3)
    with pytest.raises(ValueError):
        Duplicates.introspect(make_producer({"x": rng.normal(size=(5, 2))}), batch_size=0)


def test_fixed_seed_is_reproducible(rng, make_producer) -> None:
    x, _ = _planted(rng, n=6000, d=24, pairs=30)  # n*n*d > 6e8: partitioned search
    runs = [[list(c.indices) for c in Duplicates.introspect(
        make_producer({"x": x}), batch_size=bs).results["x"]] for bs in (32, 500)]
    assert runs[0] == runs[1]


def test_custom_protocol_strategy(rng, make_producer) -> None:
    class Everyone:
        """Calls the threshold strategy, then says every sample is close to sample 0."""

        def __call__(self, vectors, threshold):
            threshold(np.array([1.0, 2.0]))
            return [[0, i] for i in range(len(vectors))]

    x = rng.normal(size=(30, 2))
    x[1] = x[0]
    result = Duplicates.introspect(make_producer({"x": x}), strategy=Everyone(),
                                   threshold=Percentile(50))
    # only samples within the (bounded) threshold of each other end up grouped
    groups = [sorted(c.indices) for c in result.results["x"]]
    assert [0, 1] in [g[:2] for g in groups]


def test_duplicates_config_drives_duplicates_introspect() -> None:
    """DeepView 3.x code passes a DuplicatesConfig's two strategies to Duplicates.introspect:
    its default search (Annoy, as DeepView's) and an explicit one find the planted copy."""
    import deepview.introspectors as introspectors
    from deepview.base import ArrayProducer
    from deepview.introspectors import Duplicates, DuplicatesConfig

    assert "DuplicatesConfig" in introspectors.__all__
    x = np.random.default_rng(3).normal(size=(400, 6)).astype(np.float32)
    x[9] = x[4] + 1e-5
    searches = [Duplicates.KNNStrategy.KNNExact()]
    if importlib.util.find_spec("annoy") is not None:
        searches.append(None)  # DuplicatesConfig's default, KNNAnnoy()
    for search in searches:
        config = DuplicatesConfig(threshold=Duplicates.ThresholdStrategy.Distance(0.01),
                                  strategy=search)
        found = Duplicates.introspect(ArrayProducer(x, field="emb"),
                                      threshold=config.threshold, strategy=config.strategy)
        assert [sorted(c.indices) for c in found.results["emb"]] == [[4, 9]]


def test_relative_threshold_ignores_exact_copies() -> None:
    from deepview.introspectors import Duplicates

    relative = Duplicates.ThresholdStrategy.Relative(0.5)
    typical = np.linspace(1.0, 3.0, 101)  # median 2.0
    assert relative(typical) == pytest.approx(1.0)
    # a data set dominated by copies (rounding-level distances) keeps the same threshold
    flooded = np.sort(np.concatenate([np.full(5000, 1e-9), typical]))
    assert relative(flooded) == pytest.approx(1.0)
    assert Duplicates.ThresholdStrategy.Distance(0.25)(typical) == 0.25
    with pytest.raises(ValueError, match="fraction"):
        Duplicates.ThresholdStrategy.Relative(0)
    with pytest.raises(ValueError, match="distance"):
        Duplicates.ThresholdStrategy.Distance(-1)


def test_rounding_level_copies_form_one_exact_set() -> None:
    from deepview.base import ArrayProducer
    from deepview.introspectors import Duplicates

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16))
    x[100:160] = x[0] * (1 + 1e-7 * rng.normal(size=(60, 16)))  # one text, many batches
    x[200] = x[1] + 0.01  # a near-duplicate
    result = Duplicates.introspect(ArrayProducer(x, field="e"),
                                   threshold=Duplicates.ThresholdStrategy.Slope())
    sets = {frozenset(c.indices): c.exact for c in result.results["e"]}
    assert sets[frozenset([0, *range(100, 160)])] is True
    assert sets[frozenset([1, 200])] is False


def test_identical_members_of_a_near_duplicate_set_are_marked() -> None:
    from deepview.base import ArrayProducer
    from deepview.introspectors import Duplicates

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 16))
    x[10:14] = x[5]  # five copies of one sample ...
    x[20] = x[5] + 0.01  # ... and a near-duplicate of it: one set, not exact
    result = Duplicates.introspect(ArrayProducer(x, field="e"),
                                   threshold=Duplicates.ThresholdStrategy.Relative())
    (candidate,) = [c for c in result.results["e"] if 5 in c.indices]
    assert sorted(candidate.indices) == [5, 10, 11, 12, 13, 20]
    assert candidate.exact is False
    flags = dict(zip(candidate.indices, candidate.identical.tolist()))
    assert flags == {5: True, 10: True, 11: True, 12: True, 13: True, 20: False}
