"""The report's components, run on one array of reduced responses per field; their large
arrays come from the field's :class:`~deepview._compute.spill.Workspace`."""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from deepview._compute.knn import knn_brute, knn_partitioned, rerank
from deepview._compute.pca import make_streaming_pca
from deepview._compute.rowmatch import hash_rows
from deepview._compute.spill import Pages, Workspace, take
from deepview.base import ArrayProducer, pipeline
from deepview.exceptions import InvalidDataError
from deepview.introspectors._dim_reduction import DimensionReduction
from deepview.introspectors._dim_reduction._manifold import UMAP, place_on_graph
from deepview.introspectors._duplicates import (
    centre_distances,
    identical_members,
    neighbour_groups,
)
from deepview.introspectors._familiarity import Familiarity
from deepview.report._audit import label_codes

logger = logging.getLogger(__name__)

_OWNER = "DatasetReport"
#: pre-reduction target used when ReportConfig.dim_reduction is None
DEFAULT_REDUCED_DIMS = 40
#: floor of the residual noise variance, relative to the data's variance per dimension
RESIDUAL_VARIANCE_FLOOR = 1e-3
#: familiarity models are fitted on at most this many rows (a seeded sample)
FAMILIARITY_FIT_MAX = 200_000
#: rows per block when streaming over the reduced matrix
BLOCK_ROWS = 65536
#: graph neighbours that place a row on a map fitted on a sample (the graph searched for it
#: when the report has none)
GRAPH_PLACEMENT_NEIGHBOURS = 15


def _fit_rows(n: int, limit: int, seed: int | None) -> np.ndarray | None:
    """Sorted rows of a seeded sample of ``limit`` rows, or None (all) if n <= limit."""
    if n <= limit:
        return None
    rng = np.random.default_rng(0 if seed is None else seed)
    return np.sort(rng.choice(n, size=limit, replace=False))


def strategy_for(config_value: Any, field: str) -> Any:
    if isinstance(config_value, Mapping):
        return config_value.get(field)
    return config_value


def seeded(strategy: Any, seed: int | None) -> Any:
    """``strategy`` with ``random_state=seed`` when it takes one and has none of its own."""
    if strategy is None or seed is None or not hasattr(strategy, "with_random_state"):
        return strategy
    return strategy.with_random_state(seed)


def _producer(array: Any, field: str) -> ArrayProducer:
    return ArrayProducer({field: array})


def _transform_into(producer: ArrayProducer, stage: Any, field: str, batch_size: int, *,
                    work: Workspace | None = None, name: str = "out") -> np.ndarray:
    """Run ``producer`` through ``stage``; field ``field`` stacked into one float32 array (in
    ``work``, read back as FileRows when it spills)."""
    work = work or Workspace()
    out: np.ndarray | None = None
    pages = Pages(rows=BLOCK_ROWS)
    position = 0
    for batch in pipeline(producer, stage)(batch_size):
        values = np.asarray(batch.fields[field])
        if values.ndim != 2:
            raise InvalidDataError(
                f"{_OWNER}: the dimension reduction of field '{field}' returned shape "
                f"{values.shape}; it must return (batch, target_dimensions).")
        if out is None:
            out = work.array(f"{name}.f32", (len(producer), values.shape[1]), np.float32)
            pages = Pages(out, rows=BLOCK_ROWS)
        out[position:position + len(values)] = values
        position += len(values)
        pages.add(len(values))
    if out is None or position != len(producer):
        raise InvalidDataError(
            f"{_OWNER}: the dimension reduction of field '{field}' returned {position} rows "
            f"for {len(producer)} samples.")
    return work.file_rows(out)


@dataclasses.dataclass
class Reduced:
    """One field after the pre-reduction: ``values`` ``(n, k)`` float32, and for the default PCA
    each row's squared distance to the subspace (``residual``) and the dropped dimensions."""

    values: Any  # (n, k) float32: an array, or FileRows when spilled
    residual: np.ndarray | None = None
    off_dims: int = 0


def reduce_field(raw: Any, field: str, config: Any, *, batch_size: int,
                 work: Workspace) -> Reduced:
    """Pre-reduce one cached field: the configured strategy, or PCA(40) when wider."""
    dim_reduction = config.dim_reduction
    if isinstance(dim_reduction, Mapping) and not dim_reduction:
        dim_reduction = None
    name = "reduced"
    if dim_reduction is None:
        if raw.shape[1] <= DEFAULT_REDUCED_DIMS:
            return Reduced(_copy_rows(raw, work, name))
        return _pca_with_residual(raw, DEFAULT_REDUCED_DIMS, batch_size, work, name)
    strategy = strategy_for(dim_reduction, field)
    if strategy is None:
        return Reduced(_copy_rows(raw, work, name))
    producer = _producer(raw, field)
    reducer = DimensionReduction.introspect(producer, strategies={field: strategy})
    return Reduced(_transform_into(producer, reducer, field, batch_size, work=work, name=name))


def _copy_rows(raw: Any, work: Workspace, name: str) -> np.ndarray:
    """``raw`` as one float32 array in ``work``."""
    n, d = raw.shape
    out = work.array(f"{name}.f32", (n, d), np.float32)
    for start, stop in work.blocks(n, BLOCK_ROWS, out):
        out[start:stop] = np.asarray(raw[start:stop])
    return work.file_rows(out)


def _pca_with_residual(raw: Any, k: int, batch_size: int, work: Workspace,
                       name: str = "reduced") -> Reduced:
    """Exact streaming PCA to ``k`` dimensions, with each row's squared residual."""
    n, d = raw.shape
    rows = max(batch_size, 4096)
    fitter = make_streaming_pca(k, d)
    for start in range(0, n, rows):
        fitter.partial_fit(np.asarray(raw[start:start + rows]))
    model = fitter.finalize()
    values = work.array(f"{name}.f32", (n, k), np.float32)
    residual = np.empty(n, dtype=np.float64)
    for start, stop in work.blocks(n, rows, values, every=16):
        x = np.asarray(raw[start:stop])
        z = model.transform(x)
        values[start:stop] = z
        centred = x.astype(np.float64) - model.mean
        z64 = z.astype(np.float64)
        residual[start:stop] = np.maximum(
            np.einsum("ij,ij->i", centred, centred) - np.einsum("ij,ij->i", z64, z64), 0.0)
    return Reduced(work.file_rows(values), residual, d - k)


def _noise_variance(reduced: Reduced, mean_residual: float, mean_squares: float) -> float:
    """The noise variance per dropped dimension, floored relative to the data's scale (data in
    the subspace must not make rounding residuals look like outliers)."""
    d = reduced.off_dims + reduced.values.shape[1]
    total = (mean_residual + mean_squares) / d
    return max(mean_residual / reduced.off_dims, RESIDUAL_VARIANCE_FLOOR * total,
               np.finfo(np.float64).tiny)


def _residual_variances(reduced: Reduced, codes: np.ndarray, count: int) -> np.ndarray:
    """The :func:`_noise_variance` of the rows of each code (NaN without rows), in one pass."""
    assert reduced.residual is not None
    values = reduced.values
    residuals = np.bincount(codes, weights=reduced.residual, minlength=count)
    squares = np.zeros(count, dtype=np.float64)
    for start in range(0, len(values), BLOCK_ROWS):
        block = np.asarray(values[start:start + BLOCK_ROWS])
        norms = np.einsum("ij,ij->i", block, block, dtype=np.float64)
        squares += np.bincount(codes[start:start + BLOCK_ROWS], weights=norms, minlength=count)
    rows = np.bincount(codes, minlength=count)
    return np.array([_noise_variance(reduced, residuals[k] / rows[k], squares[k] / rows[k])
                     if rows[k] else np.nan for k in range(count)])


def _residual_offsets(reduced: Reduced, codes: np.ndarray,
                      count: int) -> list[Callable[[int, int], np.ndarray] | None]:
    """Per code: ``(start, stop) ->`` the log-density of the rows' residuals under isotropic
    noise (probabilistic PCA), added to the familiarity scores; None without residuals."""
    residual = reduced.residual
    if residual is None or reduced.off_dims == 0:
        return [None] * count

    def offset(sigma2: float) -> Callable[[int, int], np.ndarray]:
        constant = 0.5 * reduced.off_dims * np.log(2.0 * np.pi * sigma2)
        return lambda start, stop: -0.5 * residual[start:stop] / sigma2 - constant

    return [offset(float(s)) for s in _residual_variances(reduced, codes, count)]


#: neighbours of the graph (searched in the reduced space) re-ranked for the duplicates: about
#: as many as hold each row's 10 nearest in the full space
DUPLICATE_CANDIDATES = 30


def find_duplicates(raw: Any, candidates: np.ndarray, threshold: Any, *,
                    work: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """``duplicates_R`` (group numbers by decreasing size, -1 = none) and ``duplicatesExact_R``:
    :func:`neighbour_groups` on the column-normalised responses (a copy in ``work``), each
    row's neighbours the closest of its ``candidates`` (the report's neighbour graph) by
    distance on them (:func:`rerank`)."""
    n, d = raw.shape
    if d == 0:
        raise InvalidDataError(
            f"{_OWNER}: a field has 0 features (shape {raw.shape}); give at least one feature.")
    scale = _column_scale(raw)
    vectors = work.array("duplicates-vectors.f32", (n, d), np.float32)
    for start, stop in work.blocks(n, SCALE_ROWS, vectors, every=8):
        vectors[start:stop] = np.asarray(raw[start:stop], dtype=np.float32) * scale
    # (scattered rows are gathered by take(), which drops a mapping's pages as it goes)
    groups, identical = neighbour_groups(vectors, threshold,
                                         lambda v, k: rerank(v, candidates, k))
    column = np.full(n, -1, dtype=np.int32)
    exact = np.zeros(n, dtype=bool)
    ordered = sorted(groups, key=lambda g: (-len(g), int(g.min())))
    for number, members in enumerate(ordered):
        rows = take(vectors, members)
        column[members] = number
        exact[members] = identical_members(rows, centre_distances(rows)[1], identical)
    return column, exact


def copy_representatives(raw: Any, exact: np.ndarray) -> np.ndarray | None:
    """Each row's first row with the same vector (hashed, then compared; -0.0 == 0.0), itself
    if none; None when no two rows hold the same vector.  Only rows flagged ``exact`` (an
    identical copy in their duplicate group) are looked at."""
    n = len(exact)
    rows = np.flatnonzero(exact)
    if len(rows) < 2:
        return None
    reps = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    hashes = np.empty(len(rows), dtype=np.uint64)
    for start in range(0, len(rows), SCALE_ROWS):
        block = np.asarray(take(raw, rows[start:start + SCALE_ROWS]), dtype=np.float32)
        hashes[start:start + SCALE_ROWS] = hash_rows(block + np.float32(0.0))
    order = np.lexsort((rows, hashes))
    runs = np.flatnonzero(np.concatenate([[True], hashes[order][1:] != hashes[order][:-1]]))
    first = rows[order][np.repeat(runs, np.diff(np.append(runs, len(order))))]
    reps[rows[order]] = first
    for start in range(0, len(rows), SCALE_ROWS):  # a hash collision keeps its row apart
        part = rows[start:start + SCALE_ROWS]
        same = (np.asarray(take(raw, part), dtype=np.float32)  # -0.0 == 0.0 here too
                == np.asarray(take(raw, reps[part]), dtype=np.float32)).all(axis=1)
        reps[part[~same]] = part[~same]
    return reps if (reps[rows] != rows).any() else None


def representatives_graph(graph: tuple[np.ndarray, np.ndarray], reps: np.ndarray,
                          unique: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour graph among the ``unique`` rows, copies mapped to their representatives:
    each row itself first, then its other distinct neighbours."""
    position = np.full(len(reps), -1, dtype=np.int64)
    position[unique] = np.arange(len(unique))
    idx = position[reps[graph[0][unique]]]
    dist = np.asarray(graph[1][unique], dtype=np.float32)
    keep = idx != np.arange(len(unique))[:, None]
    for j in range(1, idx.shape[1]):
        keep[:, j] &= ~(idx[:, j:j + 1] == idx[:, :j]).any(axis=1)
    width = int(keep.sum(axis=1).min()) if len(unique) else 0
    order = np.argsort(~keep, axis=1, kind="stable")[:, :width]
    own = np.arange(len(unique))[:, None]
    return (np.hstack([own, np.take_along_axis(idx, order, axis=1)]).astype(np.int32),
            np.hstack([np.zeros_like(own, dtype=np.float32),
                       np.take_along_axis(dist, order, axis=1)]))


#: rows per block when summing the columns' squares
SCALE_ROWS = 8192


def _column_scale(raw: Any) -> np.ndarray:
    """``1 / ||column||`` (float32; 1 for zero columns), summed like numpy's one-piece sum."""
    total = np.zeros(raw.shape[1], dtype=np.float64)
    for start in range(0, len(raw), SCALE_ROWS):
        block = np.asarray(raw[start:start + SCALE_ROWS], dtype=np.float32).astype(np.float64)
        block **= 2
        total = np.add.reduce(np.concatenate([total[None, :], block]), axis=0)
    norms = np.sqrt(total)
    norms[norms == 0] = 1.0
    scale: np.ndarray = (1.0 / norms).astype(np.float32)
    return scale


#: the neighbour graph is searched exactly while n * n * dim is at most this
GRAPH_EXACT_MAX = 2e10
#: else partitioned, this many partitions merged (one misses too many of the true neighbours)
GRAPH_ROUNDS = 8


def neighbours(values: np.ndarray, k: int, *, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The field's neighbour graph: ``(n, min(k, n))`` int32 neighbours (each row itself first)
    and float32 distances in the reduced space, exact while small, else partitioned."""
    n = len(values)
    k = min(k, n)
    if float(n) ** 2 * values.shape[1] <= GRAPH_EXACT_MAX:
        indices, dist = knn_brute(np.ascontiguousarray(values, dtype=np.float32), k)
        return np.asarray(indices, dtype=np.int32), dist.astype(np.float32)
    found, dist = knn_partitioned(values, k, seed=0 if seed is None else seed,
                                  rounds=GRAPH_ROUNDS, distances=np.float32)
    return found, dist


def projects_on_graph(strategy: Any, n: int, width: int) -> bool:
    """Whether :func:`project` uses a graph ``width`` wide for ``strategy`` on ``n`` rows: to
    place the rows a UMAP fitted on a sample leaves out, or as a stock Euclidean UMAP's
    neighbours."""
    if not isinstance(strategy, UMAP):
        return False
    limit = strategy.max_fit_samples
    if limit is not None and n > limit:
        return width > GRAPH_PLACEMENT_NEIGHBOURS
    params = strategy.parameters
    k = params.get("n_neighbors", 15)
    return (type(strategy) is UMAP and "precomputed_knn" not in params
            and params.get("metric", "euclidean") == "euclidean"
            and isinstance(k, int) and k <= min(width, n - 1))


def project(reduced: np.ndarray, field: str, strategy: Any, *, batch_size: int,
            strata: np.ndarray | None = None, seed: int | None = None,
            graph: tuple[np.ndarray, np.ndarray] | None = None,
            represents: int | None = None) -> np.ndarray:
    """``(n, 2)`` projection of the reduced responses.  A UMAP with ``max_fit_samples`` below
    ``n`` is fitted on a stratified sample and the other rows are placed from their neighbours
    in ``graph`` (searched here when not given); a UMAP fitted on every row is given ``graph``
    as its neighbours; ``represents`` sets umap-learn's epochs for that many samples."""
    n = len(reduced)
    limit = getattr(strategy, "max_fit_samples", None) if isinstance(strategy, UMAP) else None
    if limit is not None and n > limit:
        rows = stratified_rows(n, limit, strata, seed)
        sample = np.ascontiguousarray(take(reduced, rows), dtype=np.float32)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*knn_search_index.*")
            reducer = DimensionReduction.introspect(
                _producer(sample, field), strategies={field: _tune_umap(strategy, sample)})
        fitted = _transform_into(_producer(sample, field), reducer, field, batch_size)
        del sample
        if graph is None:
            graph = neighbours(reduced, GRAPH_PLACEMENT_NEIGHBOURS + 1, seed=seed)
        projection = place_on_graph(fitted, rows, *graph)  # the others from their neighbours
        apart = np.flatnonzero(np.isnan(projection[:, 0]))  # not linked to the sample
        if len(apart):
            projection[apart] = _transform_into(_producer(take(reduced, apart), field),
                                                reducer, field, batch_size)
    else:
        strategy = _tune_umap(strategy, reduced, graph)
        if (type(strategy) is UMAP and represents is not None
                and "n_epochs" not in strategy.parameters):  # umap-learn's rule, for all rows
            strategy = strategy.with_params(n_epochs=500 if represents <= 10_000 else 200)
        producer = _producer(reduced, field)
        with warnings.catch_warnings():
            # umap: "precomputed_knn[2] is not an NNDescent object" (no new data)
            warnings.filterwarnings("ignore", message=".*knn_search_index.*")
            reducer = DimensionReduction.introspect(producer, strategies={field: strategy})
        projection = _transform_into(producer, reducer, field, batch_size)
    if projection.shape[1] != 2:
        raise InvalidDataError(
            f"{_OWNER}: the projection of field '{field}' has {projection.shape[1]} "
            "dimensions; ReportConfig.projection must project to 2.")
    return projection


#: every stratum keeps at least this many rows (or all it has) in a stratified sample
MIN_STRATUM_ROWS = 50


def stratified_rows(n: int, size: int, strata: np.ndarray | None,
                    seed: int | None) -> np.ndarray:
    """Sorted indices of a seeded sample of ``size`` of ``n`` rows: every stratum gets
    ``min(its rows, MIN_STRATUM_ROWS)`` first, the rest in proportion to the strata's sizes."""
    rng = np.random.default_rng(0 if seed is None else seed)
    if size >= n:
        return np.arange(n)
    if strata is None:
        return np.sort(rng.choice(n, size=size, replace=False))
    _, codes = np.unique(np.asarray(strata), return_inverse=True)
    counts = np.bincount(codes)
    quota = np.minimum(counts, MIN_STRATUM_ROWS)
    if quota.sum() >= size:  # too many strata for the floor: proportional only
        quota = np.zeros_like(counts)
    room = counts - quota
    share = (size - quota.sum()) * room / max(int(room.sum()), 1)
    extra = np.floor(share).astype(np.int64)
    left = int(size - quota.sum() - extra.sum())
    if left > 0:
        extra[np.argsort(-(share - extra), kind="stable")[:left]] += 1
    quota = np.minimum(quota + extra, counts)
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    chosen = [rng.choice(order[bounds[c]:bounds[c + 1]], size=int(quota[c]), replace=False)
              for c in range(len(counts)) if quota[c] > 0]
    return np.sort(np.concatenate(chosen))


def _tune_umap(strategy: Any, reduced: np.ndarray,
               graph: tuple[np.ndarray, np.ndarray] | None = None) -> Any:
    """A stock Euclidean UMAP given its k-NN graph (``precomputed_knn``); others unchanged."""
    if type(strategy) is not UMAP:
        return strategy
    params = strategy.parameters
    k = params.get("n_neighbors", 15)
    n = len(reduced)
    if ("precomputed_knn" in params or params.get("metric", "euclidean") != "euclidean"
            or not isinstance(k, int) or n <= k):
        return strategy
    if graph is None or graph[0].shape[1] < k:
        graph = neighbours(reduced, k, seed=None)
    indices = np.ascontiguousarray(graph[0][:, :k])
    distances = np.ascontiguousarray(graph[1][:, :k], dtype=np.float32)
    # below 4096 samples umap ignores precomputed_knn without its general path
    return strategy.with_params(
        precomputed_knn=(indices, distances.astype(np.float32), None),
        force_approximation_algorithm=params.get("force_approximation_algorithm", True),
    )


def _fit_familiarity(values: np.ndarray, rows: np.ndarray | None, field: str, strategy: Any,
                     batch_size: int) -> Any:
    """A familiarity model fitted on ``values`` (or a copy of its ``rows``)."""
    data = values if rows is None else np.ascontiguousarray(take(values, rows))
    return Familiarity.introspect(_producer(data, field), strategy=strategy,
                                  batch_size=batch_size)


def _score(familiarity: Any, reduced: np.ndarray, field: str, batch_size: int, *,
           out: np.ndarray | None = None,
           offset: Callable[[int, int], np.ndarray] | None = None) -> np.ndarray:
    """Familiarity scores of every row into ``out`` (float64), plus ``offset(start, stop)``."""
    producer = _producer(reduced, field)
    scores = np.empty(len(reduced), dtype=np.float64) if out is None else out
    position = 0
    for batch in pipeline(producer, familiarity)(batch_size):
        results = batch.metadata[familiarity.meta_key][field]
        stop = position + len(results)
        raw_scores = getattr(results, "scores", None)  # FamiliarityResults: arrays, no objects
        if not isinstance(raw_scores, np.ndarray):
            raw_scores = np.array([float(r.score) for r in results], dtype=np.float64)
        if offset is not None:
            raw_scores = raw_scores + offset(position, stop)
        scores[position:stop] = raw_scores
        position = stop
    return scores


#: neighbours whose distances make a sample's familiarity (``familiarity_R``)
FAMILIARITY_NEIGHBOURS = 10


def knn_familiarity(reduced: Reduced, neighbours: np.ndarray, distances: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``familiarity_R`` (minus half the log of the mean squared distance to the 10 nearest
    samples, residuals added) and ``familiarityPercentile_R``."""
    n = len(neighbours)
    k = min(FAMILIARITY_NEIGHBOURS, neighbours.shape[1] - 1)
    residual = reduced.residual
    mean_square = np.empty(n, dtype=np.float64)
    for start in range(0, n, BLOCK_ROWS):
        stop = min(n, start + BLOCK_ROWS)
        near = np.asarray(distances[start:stop, 1:k + 1], dtype=np.float64)
        block = (near * near).mean(axis=1) if k else np.zeros(stop - start)
        if residual is not None and k:
            rows = np.asarray(neighbours[start:stop, 1:k + 1])
            block += residual[start:stop] + residual[rows].mean(axis=1)
        mean_square[start:stop] = block
    positive = mean_square[mean_square > 0]
    floor = 1e-12 * (float(np.median(positive)) if len(positive) else 1.0)
    scores = -0.5 * np.log(np.maximum(mean_square, floor))
    order = np.sort(scores)
    percentiles = 100.0 * np.searchsorted(order, scores, side="right") / n
    return scores, percentiles


def split_familiarity(reduced: Reduced, field: str, strategy: Any, labels: Mapping[str, Any], *,
                      minimum: int, batch_size: int, progress: Any, work: Workspace,
                      seed: int | None = None) -> dict[str, pd.Series]:
    """``splitFamiliarity_R_byAttr_<dim>``: per sample, an Arrow struct of float32 scores under
    one model per label value with at least ``minimum`` samples (one model at a time, the heap
    trimmed between them)."""
    import pyarrow as pa

    values = reduced.values
    columns: dict[str, pd.Series] = {}
    for dim, labelled in labels.items():
        codes, uniques = label_codes(labelled)
        if (codes < 0).any():  # the missing labels as one more code, which gets no model
            codes = np.where(codes < 0, len(uniques), codes)
        counts = np.bincount(codes, minlength=len(uniques))
        kept = [k for k in range(len(uniques)) if counts[k] >= minimum]  # sorted values
        if not kept:
            logger.info("%s: no value of label '%s' has %d samples; no split familiarity.",
                        _OWNER, dim, minimum)
            continue
        offsets = _residual_offsets(reduced, codes, len(counts))
        fields = []  # one float32 array per kept value, wrapped by Arrow without a copy
        for k in work.steps(kept):
            rows = np.flatnonzero(codes == k)
            sample = _fit_rows(len(rows), FAMILIARITY_FIT_MAX, seed)
            fit = rows if sample is None else rows[sample]
            del rows
            model = _fit_familiarity(values, fit, field, strategy, batch_size)
            del fit
            scores = np.empty(len(values), dtype=np.float32)  # summed in float64, then kept
            _score(model, values, field, batch_size, out=scores, offset=offsets[k])
            fields.append(pa.array(scores))
            del scores, model
            progress.update(1)
        names = [str(uniques[k]) for k in kept]
        struct = pa.StructArray.from_arrays(fields, names=names)
        del fields
        columns[dim] = pd.Series(pd.arrays.ArrowExtensionArray(struct))
    return columns


def count_split_models(labels: Mapping[str, Any], minimum: int) -> int:
    total = 0
    for values in labels.values():
        codes, uniques = label_codes(values)
        total += int(np.count_nonzero(
            np.bincount(codes[codes >= 0], minlength=len(uniques)) >= minimum))
    return total
