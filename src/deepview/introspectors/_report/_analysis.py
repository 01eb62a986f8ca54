"""The report's components, run on one in-memory array of reduced responses per field.

Everything here composes the public introspectors (DimensionReduction, Duplicates,
Familiarity) over small in-memory producers that hand out *views* of that one array (or, for
per-label familiarity, row subsets one batch at a time), so no component keeps its own copy
of the dataset beyond what its own algorithm needs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from deepview.base import Batch, pipeline
from deepview.exceptions import InvalidDataError

logger = logging.getLogger(__name__)

_OWNER = "DatasetReport"
#: pre-reduction target used when ReportConfig.dim_reduction is None
DEFAULT_REDUCED_DIMS = 40


class ArrayFieldProducer:
    """Producer over rows of one 2-D array (optionally a subset ``rows``), as field ``name``.

    Batches hold views of ``array`` when ``rows`` is None, so reading the producer costs no
    copy; with ``rows`` only one batch of selected rows exists at a time.
    """

    def __init__(self, array: np.ndarray, name: str, rows: np.ndarray | None = None) -> None:
        self.array = array
        self.name = name
        self.rows = rows
        self.n = len(array) if rows is None else len(rows)

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        for start in range(0, self.n, batch_size):
            stop = min(start + batch_size, self.n)
            if self.rows is None:
                chunk = self.array[start:stop]
            else:
                chunk = np.asarray(self.array[self.rows[start:stop]])
            yield Batch({self.name: chunk})


def _strategy_for(config_value: Any, field: str) -> Any:
    if config_value is None:
        return None
    if isinstance(config_value, Mapping):
        return config_value.get(field)
    return config_value


def _transform_into(producer: ArrayFieldProducer, stage: Any, field: str,
                    batch_size: int) -> np.ndarray:
    """Run ``producer`` through ``stage`` and stack field ``field`` into one float32 array."""
    out: np.ndarray | None = None
    position = 0
    for batch in pipeline(producer, stage)(batch_size):
        values = np.asarray(batch.fields[field])
        if values.ndim != 2:
            raise InvalidDataError(
                f"{_OWNER}: the dimension reduction of field '{field}' returned shape "
                f"{values.shape}; it must return (batch, target_dimensions)."
            )
        if out is None:
            out = np.empty((producer.n, values.shape[1]), dtype=np.float32)
        out[position:position + len(values)] = values
        position += len(values)
    if out is None or position != producer.n:
        raise InvalidDataError(
            f"{_OWNER}: the dimension reduction of field '{field}' returned {position} rows "
            f"for {producer.n} samples."
        )
    return out


def reduce_field(raw: np.ndarray, field: str, config: Any, *, batch_size: int) -> np.ndarray:
    """Pre-reduce one cached field: the configured strategy, or PCA(40) when wider than 40.

    Returns an in-memory float32 array (n, k): the one copy all components share.
    """
    from deepview.introspectors import DimensionReduction

    dim_reduction = config.dim_reduction
    if isinstance(dim_reduction, Mapping) and not dim_reduction:
        dim_reduction = None
    if dim_reduction is None:
        if raw.shape[1] <= DEFAULT_REDUCED_DIMS:
            return np.array(raw, dtype=np.float32)
        strategy = DimensionReduction.Strategy.PCA(DEFAULT_REDUCED_DIMS)
    else:
        strategy = _strategy_for(dim_reduction, field)
        if strategy is None:
            return np.array(raw, dtype=np.float32)
    producer = ArrayFieldProducer(raw, field)
    reducer = DimensionReduction.introspect(producer, strategies={field: strategy})
    return _transform_into(producer, reducer, field, batch_size)


def find_duplicates(reduced: np.ndarray, field: str, threshold: Any,
                    *, batch_size: int) -> np.ndarray:
    """``duplicates_R`` column: group number per sample (Duplicates result order), -1 = none."""
    from deepview.introspectors import Duplicates

    producer = ArrayFieldProducer(reduced, field)
    result = Duplicates.introspect(producer, batch_size=batch_size, threshold=threshold)
    column = np.full(len(reduced), -1, dtype=np.int32)
    for number, candidate in enumerate(result.results.get(field, ())):
        column[np.asarray(candidate.indices, dtype=np.int64)] = number
    return column


def project(reduced: np.ndarray, field: str, strategy: Any, *, batch_size: int) -> np.ndarray:
    """(n, 2) projection of the reduced responses."""
    from deepview.introspectors import DimensionReduction

    producer = ArrayFieldProducer(reduced, field)
    reducer = DimensionReduction.introspect(producer, strategies={field: strategy})
    projection = _transform_into(producer, reducer, field, batch_size)
    if projection.shape[1] != 2:
        raise InvalidDataError(
            f"{_OWNER}: the projection of field '{field}' has {projection.shape[1]} "
            "dimensions; ReportConfig.projection must project to 2."
        )
    return projection


def _fit_familiarity(producer: ArrayFieldProducer, strategy: Any, batch_size: int) -> Any:
    from deepview.introspectors import Familiarity

    return Familiarity.introspect(producer, strategy=strategy, batch_size=batch_size)


def _score(familiarity: Any, reduced: np.ndarray, field: str, batch_size: int) -> np.ndarray:
    producer = ArrayFieldProducer(reduced, field)
    scores = np.empty(len(reduced), dtype=np.float64)
    position = 0
    for batch in pipeline(producer, familiarity)(batch_size):
        results = batch.metadata[familiarity.meta_key][field]
        scores[position:position + len(results)] = [float(r.score) for r in results]
        position += len(results)
    return scores


def overall_familiarity(reduced: np.ndarray, field: str, strategy: Any,
                        *, batch_size: int) -> np.ndarray:
    """``familiarity_R``: score of every sample under a model fitted on all samples."""
    model = _fit_familiarity(ArrayFieldProducer(reduced, field), strategy, batch_size)
    return _score(model, reduced, field, batch_size)


def split_familiarity(
    reduced: np.ndarray,
    field: str,
    strategy: Any,
    labels: Mapping[str, list[str]],
    *,
    minimum: int,
    batch_size: int,
    progress: Any,
) -> dict[str, list[dict[str, float]]]:
    """``splitFamiliarity_R_byAttr_<dim>``: per sample, ``{label value: score}`` under one model
    per label value with at least ``minimum`` samples (fitted on that value's rows only).

    The models are fitted one after the other on row subsets of the same array; dimensions
    where no value reaches ``minimum`` get no column.
    """
    columns: dict[str, list[dict[str, float]]] = {}
    for dim, values in labels.items():
        codes, uniques = _encode(values)
        counts = np.bincount(codes, minlength=len(uniques))
        kept = [k for k in range(len(uniques)) if counts[k] >= minimum]  # sorted values
        if not kept:
            logger.info("%s: no value of label '%s' has %d samples; no split familiarity.",
                        _OWNER, dim, minimum)
            continue
        scores = np.empty((len(reduced), len(kept)), dtype=np.float64)
        for j, k in enumerate(kept):
            rows = np.flatnonzero(codes == k)
            model = _fit_familiarity(ArrayFieldProducer(reduced, field, rows), strategy,
                                     batch_size)
            scores[:, j] = _score(model, reduced, field, batch_size)
            progress.update(1)
        keys = [str(uniques[k]) for k in kept]
        columns[dim] = [dict(zip(keys, row)) for row in scores.tolist()]
    return columns


def count_split_models(labels: Mapping[str, list[str]], minimum: int) -> int:
    total = 0
    for values in labels.values():
        codes, uniques = _encode(values)
        total += int(np.count_nonzero(np.bincount(codes, minlength=len(uniques)) >= minimum))
    return total


def _encode(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    uniques, codes = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return codes.astype(np.int64), uniques
