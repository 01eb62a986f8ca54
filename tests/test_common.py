"""Common bad-input battery run against every introspector (STYLE.md §3.15).

Each introspector is a row of ``INTROSPECTORS``: a name, a callable
``fit(producer, batch_size) -> result`` and a ``summary(result, producer)`` that turns the
result into plain data (arrays, lists, frames) for equality checks.  Every row must:

- refuse an empty producer, NaN/inf in a field, a 3-D field (unless it accepts N-D),
  widths that change between batches and ``batch_size=0`` with a deepview error whose
  message names the field / parameter;
- leave the caller's arrays untouched;
- give the same result twice with the same seed;
- (streaming rows) give the same result whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deepview.base import ArrayProducer, Batch, Producer, pipeline
from deepview.exceptions import DeepViewException
from deepview.introspectors import (
    IUA,
    PFA,
    DatasetReport,
    DimensionReduction,
    Duplicates,
    Familiarity,
    ReportConfig,
)

N, D = 48, 6
FIELD = "emb"


@dataclass(frozen=True)
class Case:
    name: str
    fit: Callable[[Producer, Any], Any]
    summary: Callable[[Any, Producer], Any]
    needs_2d: bool = True  # False: accepts N-D fields (IUA)
    accepts_1d: bool = False  # True: a 1-D field is one unit per sample (PFA, IUA)
    streaming: bool = False  # result must not depend on batch_size


def _collect(stage: Any, producer: Producer) -> list[Batch]:
    return list(pipeline(producer, stage)(16))


def _familiarity_scores(fam: Familiarity, producer: Producer) -> np.ndarray:
    return np.array([
        r.score
        for b in _collect(fam, producer)
        for r in b.metadata[fam.meta_key][FIELD]
    ])


def _reduced(dr: DimensionReduction, producer: Producer) -> np.ndarray:
    return np.concatenate([b.fields[FIELD] for b in _collect(dr, producer)])


def _dim_case(name: str, strategy: Callable[[], Any], *, streaming: bool = False) -> Case:
    return Case(
        name,
        lambda p, bs: DimensionReduction.introspect(p, strategies=strategy(), batch_size=bs),
        _reduced,
        streaming=streaming,
    )


def _duplicates_summary(dup: Duplicates, _: Producer) -> Any:
    return {k: [sorted(c.indices) for c in v] for k, v in dup.results.items()}


def _pfa_summary(pfa: PFA, _: Producer) -> Any:
    return {k: np.asarray(v.covariances) for k, v in pfa.covariances.items()}


def _iua_summary(iua: IUA, _: Producer) -> Any:
    return {
        k: (np.asarray(r.unit_inactive_count), np.asarray(r.inactive), r.mean_inactive)
        for k, r in iua.results.items()
    }


def _report(p: Producer, bs: Any) -> DatasetReport:
    config = ReportConfig(
        projection=DimensionReduction.Strategy.PCA(2),
        familiarity=Familiarity.Strategy.GMM(gaussian_count=2, _random_state=0),
    )
    return DatasetReport.introspect(p, config=config, batch_size=bs)


INTROSPECTORS = [
    Case(
        "Familiarity",
        lambda p, bs: Familiarity.introspect(
            p, strategy=Familiarity.Strategy.GMM(gaussian_count=2, _random_state=0),
            batch_size=bs,
        ),
        _familiarity_scores,
    ),
    _dim_case("PCA", lambda: DimensionReduction.Strategy.PCA(2), streaming=True),
    _dim_case("StandardPCA", lambda: DimensionReduction.Strategy.StandardPCA(2)),
    _dim_case(
        "TSNE",
        lambda: DimensionReduction.Strategy.TSNE(2, perplexity=5, random_state=0, max_iter=250),
    ),
    Case("Duplicates", lambda p, bs: Duplicates.introspect(p, batch_size=bs),
         _duplicates_summary),
    Case("DatasetReport", _report, lambda r, _: r.data),
    Case("PFA", lambda p, bs: PFA.introspect(p, batch_size=bs), _pfa_summary,
         accepts_1d=True, streaming=True),
    Case("IUA", lambda p, bs: IUA.introspect(p, batch_size=bs), _iua_summary,
         needs_2d=False, accepts_1d=True, streaming=True),
]
IDS = [c.name for c in INTROSPECTORS]
parametrize = pytest.mark.parametrize("case", INTROSPECTORS, ids=IDS)


def _data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D))
    x[:, 1] = np.maximum(x[:, 1], 0.0)  # some exact zeros for IUA
    x[5] = x[4]  # a duplicate pair
    return x


class _Batches:
    """A producer yielding fixed batches (built fresh on every call), whatever the size."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        start = 0
        for a in self.arrays:
            builder = Batch.Builder({FIELD: a.copy()})
            builder.metadata[Batch.StdKeys.IDENTIFIER] = list(range(start, start + len(a)))
            start += len(a)
            yield builder.make_batch()


def _empty(batch_size: int) -> Iterator[Batch]:
    return iter(())


def _fit(case: Case, producer: Producer, batch_size: Any = 16) -> Any:
    return case.fit(producer, batch_size)


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (tuple, list)) and a and not np.isscalar(a[0]):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                   rtol=1e-9, atol=1e-12)


@parametrize
def test_empty_producer(case: Case) -> None:
    with pytest.raises(DeepViewException, match="no batches"):
        _fit(case, _empty)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@parametrize
def test_non_finite_values_name_the_field(case: Case, bad: float) -> None:
    x = _data()
    x[30, 2] = bad  # in the second batch of 16
    producer = ArrayProducer({"clean": _data(1), FIELD: x})
    with pytest.raises(DeepViewException, match=rf"'{FIELD}'.*(NaN|inf)"):
        _fit(case, producer)


@parametrize
def test_three_dims(case: Case) -> None:
    x = _data().reshape(N, 2, 3)
    producer = ArrayProducer({FIELD: x})
    if not case.needs_2d:
        _fit(case, producer)  # accepted: N-D responses
        return
    with pytest.raises(DeepViewException, match=rf"'{FIELD}'.*Flattener"):
        _fit(case, producer)


@parametrize
def test_one_dim_field_is_handled(case: Case) -> None:
    """1-D fields are one unit per sample (PFA, IUA) or a deepview error naming the field."""
    producer = ArrayProducer({FIELD: _data()[:, 0]})
    if case.accepts_1d:
        _fit(case, producer)
        return
    with pytest.raises(DeepViewException, match=rf"'{FIELD}'.*2 dims"):
        _fit(case, producer)


@parametrize
def test_widths_change_between_batches(case: Case) -> None:
    x = _data()
    producer = _Batches([x[:16, :6], x[16:32, :5], x[32:, :6]])
    with pytest.raises((DeepViewException, ValueError)) as info:
        _fit(case, producer)
    assert isinstance(info.value, DeepViewException), repr(info.value)
    assert FIELD in str(info.value)


@parametrize
def test_batch_size_zero(case: Case) -> None:
    with pytest.raises(ValueError, match="batch_size") as info:
        _fit(case, ArrayProducer({FIELD: _data()}), 0)
    assert isinstance(info.value, DeepViewException)


@parametrize
def test_inputs_not_mutated(case: Case) -> None:
    x = _data()
    original = x.copy()
    producer = ArrayProducer({FIELD: x})
    result = _fit(case, producer)
    case.summary(result, producer)
    np.testing.assert_array_equal(x, original)
    assert x.flags.writeable


@parametrize
def test_same_seed_same_result(case: Case) -> None:
    first = case.summary(_fit(case, ArrayProducer({FIELD: _data()})),
                         ArrayProducer({FIELD: _data()}))
    second = case.summary(_fit(case, ArrayProducer({FIELD: _data()})),
                          ArrayProducer({FIELD: _data()}))
    _assert_same(first, second)


@pytest.mark.parametrize("case", [c for c in INTROSPECTORS if c.streaming],
                         ids=[c.name for c in INTROSPECTORS if c.streaming])
def test_streaming_result_independent_of_batch_size(case: Case) -> None:
    x = _data()
    summaries = [case.summary(_fit(case, ArrayProducer({FIELD: x}), bs),
                              ArrayProducer({FIELD: x})) for bs in (7, 16, N)]
    for s in summaries[:-1]:
        if case.name == "PCA":  # exact streaming PCA, signs fixed: equal up to rounding
            np.testing.assert_allclose(s, summaries[-1], rtol=1e-6, atol=1e-8)
        else:
            _assert_same(s, summaries[-1])
