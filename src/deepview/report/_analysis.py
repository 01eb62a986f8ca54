"""The report's components, run on one in-memory array of reduced responses per field.

Everything here composes the public introspectors (DimensionReduction, Duplicates,
Familiarity) over :class:`~deepview.base.ArrayProducer` s that hand out *views* of that one
array (for per-label familiarity: of a copy of that value's rows), so no component keeps its
own copy of the dataset beyond what its own algorithm needs.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from deepview._compute.knn import knn_brute, knn_partitioned
from deepview._compute.pca import make_streaming_pca
from deepview.base import ArrayProducer, pipeline
from deepview.exceptions import InvalidDataError
from deepview.introspectors._dim_reduction import DimensionReduction
from deepview.introspectors._dim_reduction._manifold import UMAP
from deepview.introspectors._duplicates import Duplicates
from deepview.introspectors._familiarity import Familiarity

logger = logging.getLogger(__name__)

_OWNER = "DatasetReport"
#: pre-reduction target used when ReportConfig.dim_reduction is None
DEFAULT_REDUCED_DIMS = 40
#: the residual noise variance is at least this fraction of the data's variance per dimension
RESIDUAL_VARIANCE_FLOOR = 1e-3
#: umap-learn computes exact neighbours below 4096 samples; we hand it the same graph
EXACT_KNN_MAX_SAMPLES = 4096


def strategy_for(config_value: Any, field: str) -> Any:
    if config_value is None:
        return None
    if isinstance(config_value, Mapping):
        return config_value.get(field)
    return config_value


def seeded(strategy: Any, seed: int | None) -> Any:
    """``strategy`` with ``random_state=seed`` when it draws random numbers, has no seed of
    its own and ``seed`` is not None (``ReportConfig.seed``); otherwise unchanged."""
    if strategy is None or seed is None or not hasattr(strategy, "with_random_state"):
        return strategy
    return strategy.with_random_state(seed)


def _producer(array: Any, field: str) -> ArrayProducer:
    """Producer of ``array``'s rows (views of an in-memory array, or read from a
    :class:`~deepview.report.files.RowFile` batch by batch) as field ``field``."""
    return ArrayProducer({field: array})


def _transform_into(producer: ArrayProducer, stage: Any, field: str,
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
            out = np.empty((len(producer), values.shape[1]), dtype=np.float32)
        out[position:position + len(values)] = values
        position += len(values)
    if out is None or position != len(producer):
        raise InvalidDataError(
            f"{_OWNER}: the dimension reduction of field '{field}' returned {position} rows "
            f"for {len(producer)} samples."
        )
    return out


@dataclasses.dataclass
class Reduced:
    """One field after the pre-reduction.

    ``values`` ``(n, k)`` float32 feeds every component.  For the default PCA reduction
    ``residual`` ``(n,)`` holds each row's squared distance to the PCA subspace (what the
    reduction drops) and ``off_dims`` the number of dropped dimensions; familiarity models it
    as isotropic Gaussian noise (probabilistic PCA).  Other reductions give ``None`` / 0.
    """

    values: np.ndarray
    residual: np.ndarray | None = None
    off_dims: int = 0


def reduce_field(raw: Any, field: str, config: Any, *, batch_size: int) -> Reduced:
    """Pre-reduce one cached field: the configured strategy, or PCA(40) when wider than 40."""
    dim_reduction = config.dim_reduction
    if isinstance(dim_reduction, Mapping) and not dim_reduction:
        dim_reduction = None
    if dim_reduction is None:
        if raw.shape[1] <= DEFAULT_REDUCED_DIMS:
            return Reduced(np.array(raw, dtype=np.float32))
        return _pca_with_residual(raw, DEFAULT_REDUCED_DIMS, batch_size)
    strategy = strategy_for(dim_reduction, field)
    if strategy is None:
        return Reduced(np.array(raw, dtype=np.float32))
    producer = _producer(raw, field)
    reducer = DimensionReduction.introspect(producer, strategies={field: strategy})
    return Reduced(_transform_into(producer, reducer, field, batch_size))


def _pca_with_residual(raw: Any, k: int, batch_size: int) -> Reduced:
    """Exact streaming PCA to ``k`` dimensions (two passes over ``raw``), keeping each row's
    squared distance to the subspace."""
    n, d = raw.shape
    rows = max(batch_size, 4096)
    fitter = make_streaming_pca(k, d)
    for start in range(0, n, rows):
        fitter.partial_fit(np.asarray(raw[start:start + rows]))
    model = fitter.finalize()
    values = np.empty((n, k), dtype=np.float32)
    residual = np.empty(n, dtype=np.float64)
    for start in range(0, n, rows):
        x = np.asarray(raw[start:start + rows])
        z = model.transform(x)
        values[start:start + len(x)] = z
        centred = x.astype(np.float64) - model.mean
        z64 = z.astype(np.float64)
        residual[start:start + len(x)] = np.maximum(
            np.einsum("ij,ij->i", centred, centred) - np.einsum("ij,ij->i", z64, z64), 0.0)
    return Reduced(values, residual, d - k)


def residual_log_density(reduced: Reduced, rows: np.ndarray | None = None) -> np.ndarray:
    """Log-density of every row's residual under isotropic Gaussian noise off the subspace,
    with the noise variance estimated on ``rows`` (default all): the probabilistic-PCA
    term that makes a sample far from the PCA subspace unfamiliar.  0 without a residual."""
    if reduced.residual is None or reduced.off_dims == 0:
        return np.zeros(len(reduced.values))
    fitted = reduced.residual if rows is None else reduced.residual[rows]
    kept = reduced.values if rows is None else reduced.values[rows]
    d = reduced.off_dims + reduced.values.shape[1]
    total = (float(fitted.mean()) + float(np.einsum("ij,ij->", kept, kept,
                                                    dtype=np.float64)) / len(kept)) / d
    # a floor relative to the data's scale: data that lies in the subspace (dead ReLU units)
    # must not make every tiny rounding residual look like an outlier
    sigma2 = max(float(fitted.mean()) / reduced.off_dims, RESIDUAL_VARIANCE_FLOOR * total,
                 np.finfo(np.float64).tiny)
    return (-0.5 * reduced.residual / sigma2
            - 0.5 * reduced.off_dims * np.log(2.0 * np.pi * sigma2))


def find_duplicates(raw: Any, field: str, threshold: Any) -> tuple[np.ndarray, np.ndarray]:
    """``duplicates_R`` and ``duplicatesExact_R``: per sample, its duplicate group (numbered
    by decreasing size, ties by first member; -1 = none) and whether it has an identical
    copy in that group (else it is a near-duplicate only).

    Runs on the full-dimensional responses: distances in the pre-reduced space lose what
    the reduction drops (two texts that differ off the PCA subspace would look identical).
    """
    values = np.asarray(raw)
    producer = _producer(values, field)
    # one batch holding the whole array: Duplicates takes a single batch as is (no copy)
    result = Duplicates.introspect(producer, batch_size=max(1, len(values)),
                                   threshold=threshold)
    groups = sorted(result.results.get(field, ()),
                    key=lambda c: (-c.size, min(c.indices)))
    column = np.full(len(values), -1, dtype=np.int32)
    exact = np.zeros(len(values), dtype=bool)
    for number, candidate in enumerate(groups):
        members = np.asarray(candidate.indices, dtype=np.int64)
        column[members] = number
        exact[members] = candidate.identical
    return column, exact


#: exact neighbour search for label issues while n * n * dim is at most this (12k x 40: 3 s)
LABEL_KNN_EXACT_MAX = 2e10
#: partitioned rounds above it: 8 merged partitions find 0.94 of the exact 20 neighbours on
#: the 12k docstring embeddings (one round: 0.66, which cost a third of the label-issue recall)
LABEL_KNN_ROUNDS = 8


def neighbours(values: np.ndarray, k: int, *, seed: int | None) -> np.ndarray:
    """``(n, min(k, n))`` indices of each row's nearest rows (itself among them) in the
    reduced space: exact while small, else partitioned (seeded)."""
    x = np.ascontiguousarray(values, dtype=np.float32)
    k = min(k, len(x))
    if float(len(x)) ** 2 * x.shape[1] <= LABEL_KNN_EXACT_MAX:
        indices, _ = knn_brute(x, k)
    else:
        indices, _ = knn_partitioned(x, k, seed=0 if seed is None else seed,
                                     rounds=LABEL_KNN_ROUNDS)
    return np.asarray(indices)


def project(reduced: np.ndarray, field: str, strategy: Any, *, batch_size: int) -> np.ndarray:
    """(n, 2) projection of the reduced responses."""
    strategy = _tune_umap(strategy, reduced)
    producer = _producer(reduced, field)
    with warnings.catch_warnings():
        # umap: "precomputed_knn[2] is not an NNDescent object" (we never transform new data)
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        reducer = DimensionReduction.introspect(producer, strategies={field: strategy})
    projection = _transform_into(producer, reducer, field, batch_size)
    if projection.shape[1] != 2:
        raise InvalidDataError(
            f"{_OWNER}: the projection of field '{field}' has {projection.shape[1]} "
            "dimensions; ReportConfig.projection must project to 2."
        )
    return projection


def _tune_umap(strategy: Any, reduced: np.ndarray) -> Any:
    """Speed up a stock ``DimensionReduction.Strategy.UMAP`` without changing its result.

    For up to :data:`EXACT_KNN_MAX_SAMPLES` samples (where umap itself computes *exact*
    neighbours, but through a Python-level pairwise loop), hands umap the same exact k-NN
    graph computed with BLAS (``precomputed_knn``).  Other strategies are returned unchanged.
    """
    if type(strategy) is not UMAP:
        return strategy
    params = strategy.parameters
    k = params.get("n_neighbors", 15)
    n = len(reduced)
    if (
        "precomputed_knn" in params
        or params.get("metric", "euclidean") != "euclidean"
        or not isinstance(k, int)
        or n > EXACT_KNN_MAX_SAMPLES
        or n <= k
    ):
        return strategy
    indices, distances = knn_brute(reduced, k)
    # below 4096 samples umap ignores precomputed_knn unless told to use its general path,
    # which with the exact graph builds the same fuzzy graph as its small-data path
    return strategy.with_params(
        precomputed_knn=(indices, distances.astype(np.float32), None),
        force_approximation_algorithm=params.get("force_approximation_algorithm", True),
    )


def _fit_familiarity(producer: ArrayProducer, strategy: Any, batch_size: int) -> Any:
    return Familiarity.introspect(producer, strategy=strategy, batch_size=batch_size)


def _score(familiarity: Any, reduced: np.ndarray, field: str,
           batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and training percentiles (NaN when the strategy gives none) of every row."""
    producer = _producer(reduced, field)
    scores = np.empty(len(reduced), dtype=np.float64)
    percentiles = np.full(len(reduced), np.nan, dtype=np.float64)
    position = 0
    for batch in pipeline(producer, familiarity)(batch_size):
        results = batch.metadata[familiarity.meta_key][field]
        stop = position + len(results)
        raw_scores = getattr(results, "scores", None)  # FamiliarityResults: arrays, no objects
        if isinstance(raw_scores, np.ndarray):
            scores[position:stop] = raw_scores
            percentiles[position:stop] = getattr(results, "percentiles", np.nan)
        else:
            scores[position:stop] = [float(r.score) for r in results]
            percentiles[position:stop] = [float(getattr(r, "percentile", np.nan))
                                          for r in results]
        position = stop
    return scores, percentiles


def overall_familiarity(reduced: Reduced, field: str, strategy: Any,
                        *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``familiarity_R`` and ``familiarityPercentile_R``: score of every sample under a model
    fitted on all samples, and the share (0..100) of samples scoring at most as high.

    The score is the log-density of the strategy's model on the pre-reduced responses plus,
    after the default PCA reduction, :func:`residual_log_density` (what the reduction drops).
    """
    values = reduced.values
    model = _fit_familiarity(_producer(values, field), strategy, batch_size)
    scores, percentiles = _score(model, values, field, batch_size)
    if reduced.residual is not None:
        scores += residual_log_density(reduced)
        percentiles[:] = np.nan  # the model's own percentiles ignore the residual
    if np.isnan(percentiles).any():  # rank the scores
        order = np.sort(scores)
        percentiles = 100.0 * np.searchsorted(order, scores, side="right") / len(scores)
    return scores, percentiles


def split_familiarity(
    reduced: Reduced,
    field: str,
    strategy: Any,
    labels: Mapping[str, list[str]],
    *,
    minimum: int,
    batch_size: int,
    progress: Any,
) -> dict[str, list[dict[str, float]]]:
    """``splitFamiliarity_R_byAttr_<dim>``: per sample, ``{label value: score}`` under one model
    per label value with at least ``minimum`` samples (fitted on that value's rows only; the
    residual noise variance too).

    The models are fitted one after the other on row subsets of the same array; dimensions
    where no value reaches ``minimum`` get no column.
    """
    values = reduced.values
    columns: dict[str, list[dict[str, float]]] = {}
    for dim, labelled in labels.items():
        codes, uniques = _encode(labelled)
        counts = np.bincount(codes, minlength=len(uniques))
        kept = [k for k in range(len(uniques)) if counts[k] >= minimum]  # sorted values
        if not kept:
            logger.info("%s: no value of label '%s' has %d samples; no split familiarity.",
                        _OWNER, dim, minimum)
            continue
        scores = np.empty((len(values), len(kept)), dtype=np.float64)
        for j, k in enumerate(kept):
            rows = np.flatnonzero(codes == k)
            model = _fit_familiarity(_producer(values[rows], field), strategy, batch_size)
            scores[:, j] = (_score(model, values, field, batch_size)[0]
                            + residual_log_density(reduced, rows))
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
