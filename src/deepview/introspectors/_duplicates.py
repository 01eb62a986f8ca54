"""Duplicates: sets of near-duplicate samples found from each sample's nearest neighbours."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from deepview._compute.grouping import bounded_groups
from deepview._compute.knn import (
    exact_distances,
    exact_duplicate_labels,
    knn_annoy,
    knn_brute,
    knn_faiss,
    knn_partitioned,
    normalize_columns,
)
from deepview._compute.select import median
from deepview._compute.spill import take
from deepview._progress import progress_disabled
from deepview._validation import check_batch_size, check_field, check_float, check_int
from deepview.base import Batch, Producer, concatenate_batches
from deepview.base._producer import iter_batches
from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError

__all__ = ["DuplicateSetCandidate", "Duplicates", "DuplicatesStrategyType",
           "DuplicatesThresholdStrategyType", "centre_distances", "identical_members",
           "neighbour_groups"]

logger = logging.getLogger(__name__)

_OWNER = "Duplicates"
#: neighbours per sample (itself included)
_K = 10
#: KNNPartitioned searches two merged partitions from this many dimensions on
_TWO_ROUNDS_MIN_DIM = 128
#: KNNAuto uses exact numpy brute force while n * n * dim is at most this
_BRUTE_BUDGET = 6e8
#: rows of neighbour distances read at a time
BLOCK_ROWS = 65536


@runtime_checkable
class DuplicatesThresholdStrategyType(Protocol):
    """Maps the ascending array of neighbour distances (zeros removed) to the distance at or
    below which two samples count as duplicates."""

    def __call__(self, distances: np.ndarray) -> float: ...


@runtime_checkable
class DuplicatesStrategyType(Protocol):
    """Takes the ``(N, D)`` vectors and a threshold strategy and returns, for each sample,
    the indices of its close neighbours (itself included)."""

    def __call__(self, vectors: np.ndarray,
                 threshold: DuplicatesThresholdStrategyType) -> Sequence[Sequence[int]]: ...


#: distances up to this fraction of the median neighbour distance count as identical
IDENTICAL_FRACTION = 1e-4


def _sorted_positive(distances: Any) -> np.ndarray:
    d = np.asarray(distances, dtype=np.float64).reshape(-1)
    return np.sort(d[d > 0])


def _sorted_distinct(distances: Any) -> np.ndarray:
    """:func:`_sorted_positive` without the numerically identical pairs."""
    d = _sorted_positive(distances)
    return d[d > identical_tolerance(d)]


def identical_tolerance(distances: Any) -> float:
    """``IDENTICAL_FRACTION`` times the median neighbour distance above 1e-6 of the largest
    (0 when none): the distance up to which two samples are identical."""
    largest = max((float(b.max(initial=0.0)) for b in _distance_blocks(distances)), default=0.0)
    if largest <= 0:
        return 0.0
    return float(IDENTICAL_FRACTION * median_above(distances, 1e-6 * largest)[0])


def _distance_blocks(distances: Any) -> Iterator[np.ndarray]:
    """``distances`` (array, memory map or file rows) as float64 row blocks."""
    for start in range(0, len(distances), BLOCK_ROWS):
        yield np.asarray(distances[start:start + BLOCK_ROWS], dtype=np.float64)


def median_above(distances: Any, lower: float) -> tuple[float, int]:
    """Median of the ``distances`` above ``lower`` (0 if none) and their count, by blocks."""
    return median(lambda: (b[b > lower] for b in _distance_blocks(distances)))


@dataclasses.dataclass(frozen=True)
class _Distance:
    """Pairs at most ``distance`` apart (in the column-normalised space) are duplicates.

    Parameters
    ----------
    distance : float
        ``>= 0``; 0 groups identical samples only.
    """

    distance: float

    def __post_init__(self) -> None:
        check_float(self.distance, name="distance", owner=type(self).__qualname__, min_value=0.0)

    def __call__(self, distances: np.ndarray) -> float:
        return float(self.distance)


@dataclasses.dataclass(frozen=True)
class _Relative:
    """``fraction`` times the median neighbour distance (identical pairs left out).

    Parameters
    ----------
    fraction : float, default=0.35
        In ``(0, 1]``; larger finds looser duplicates.
    """

    fraction: float = 0.35

    def __post_init__(self) -> None:
        check_float(self.fraction, name="fraction", owner=type(self).__qualname__, min_value=0.0,
                    max_value=1.0)
        if self.fraction == 0:
            raise InvalidParameterError("Duplicates.ThresholdStrategy.Relative: 'fraction' must be "
                                        "> 0; use Duplicates.ThresholdStrategy.Distance(0) to "
                                        "group identical samples only.")

    def __call__(self, distances: np.ndarray) -> float:
        d = _sorted_distinct(distances)
        return float(self.fraction * np.median(d)) if len(d) else 0.0


@dataclasses.dataclass(frozen=True)
class _Percentile:
    """The closest ``100 - percentile`` % of the neighbour distances are duplicates.

    Parameters
    ----------
    percentile : float
        In ``[0, 100]``.
    """

    percentile: float

    def __post_init__(self) -> None:
        check_float(self.percentile, name="percentile", owner=type(self).__qualname__,
                    min_value=0.0, max_value=100.0)

    def __call__(self, distances: np.ndarray) -> float:
        d = _sorted_positive(distances)
        index = len(d) - int(self.percentile * 0.01 * len(d))
        return float(d[min(max(index, 0), len(d) - 1)]) if len(d) else 0.0


def _elbow_index(d: np.ndarray, sensitivity: int) -> int:
    """Index of the sliding-window elbow of the ascending distances ``d``."""
    n = len(d)
    last = n - 1
    stride = n // 1000 + 1
    probe = n // 2
    target = d[min(last, probe + probe // 2)] - d[probe - probe // 2]
    window = n // sensitivity
    while probe > stride:
        if d[min(last, probe + window)] - d[probe] > target:
            break
        probe -= stride
    return probe


@dataclasses.dataclass(frozen=True)
class _Slope:
    """The top of a separated low mode of the neighbour distances, else 0 (identical only).

    Below the sliding-window elbow, the largest jump (log scale) between consecutive
    distances must be at least a factor ``max(2, 0.6 * sensitivity)``.

    Parameters
    ----------
    sensitivity : int, default=5
        Must be > 2; lower accepts smaller jumps (more duplicates).
    """

    sensitivity: int = 5

    def __post_init__(self) -> None:
        check_int(self.sensitivity, name="sensitivity", owner=type(self).__qualname__, min_value=3)

    def __call__(self, distances: np.ndarray) -> float:
        d = _sorted_distinct(distances)
        if len(d) < 2:
            return 0.0
        probe = _elbow_index(d, self.sensitivity)
        top = max(probe, len(d) // 2, 1)
        gaps = np.diff(np.log(d[:top + 1]))
        i = int(np.argmax(gaps))
        if gaps[i] >= math.log(max(2.0, 0.6 * self.sensitivity)):
            return float(d[i])
        logger.info("Duplicates: no separated low mode among %d neighbour distances; only "
                    "identical samples are grouped.", len(d))
        return 0.0


class _KNNBase:
    """``__call__`` of the bundled kNN strategies: neighbours within the threshold."""

    knn: Callable[..., tuple[np.ndarray, Any]]

    def __call__(self, vectors: np.ndarray,
                 threshold: DuplicatesThresholdStrategyType) -> Sequence[Sequence[int]]:
        idx, dist = self.knn(vectors, min(_K, len(vectors)))
        t = _threshold_value(threshold, dist)
        return [row[d <= t].tolist() for row, d in zip(idx, dist)]


@dataclasses.dataclass(frozen=True)
class _KNNAnnoy(_KNNBase):
    """Approximate neighbours with Annoy (30 trees, seed 0); needs the ``annoy`` extra."""

    knn = staticmethod(knn_annoy)


@dataclasses.dataclass(frozen=True)
class _KNNFaiss(_KNNBase):
    """Neighbours with FAISS (exact up to 20 000 samples, else IVF); needs the ``faiss`` extra."""

    knn = staticmethod(knn_faiss)


@dataclasses.dataclass(frozen=True)
class _KNNExact(_KNNBase):
    """Exact neighbours by blocked brute force (numpy): O(n^2 D) time."""

    knn = staticmethod(knn_brute)


@dataclasses.dataclass(frozen=True)
class _KNNPartitioned(_KNNBase):
    """Approximate neighbours, numpy only: exact search inside k-means cells of ~256 samples.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the k-means cells.
    rounds : int, optional
        Partitions searched and merged; default 2 from 128 dimensions on, else 1.
    """

    random_state: int = 0
    rounds: int | None = None

    def __post_init__(self) -> None:
        owner = type(self).__qualname__
        check_int(self.random_state, name="random_state", owner=owner, min_value=0)
        if self.rounds is not None:
            check_int(self.rounds, name="rounds", owner=owner, min_value=1)

    def knn(self, vectors: Any, k: int, *,
            distances_file: Path | None = None) -> tuple[np.ndarray, Any]:
        """``(indices, distances)`` of each sample's ``k`` nearest samples."""
        rounds = self.rounds or (2 if vectors.shape[1] >= _TWO_ROUNDS_MIN_DIM else 1)
        return knn_partitioned(vectors, k, seed=self.random_state, rounds=rounds,
                               distances_file=distances_file)


@dataclasses.dataclass(frozen=True)
class _KNNAuto(_KNNPartitioned):
    """Default: ``KNNExact`` while ``n * n * dim <= 6e8``, else ``KNNPartitioned`` (same
    ``random_state`` and ``rounds``)."""

    def knn(self, vectors: Any, k: int, *,
            distances_file: Path | None = None) -> tuple[np.ndarray, Any]:
        n, d = vectors.shape
        if float(n) * n * d > _BRUTE_BUDGET:
            return super().knn(vectors, k, distances_file=distances_file)
        return knn_brute(np.asarray(vectors), k)


for _cls, _path in [
    (_Percentile, "ThresholdStrategy.Percentile"), (_Slope, "ThresholdStrategy.Slope"),
    (_Distance, "ThresholdStrategy.Distance"), (_Relative, "ThresholdStrategy.Relative"),
    (_KNNAnnoy, "KNNStrategy.KNNAnnoy"), (_KNNFaiss, "KNNStrategy.KNNFaiss"),
    (_KNNExact, "KNNStrategy.KNNExact"), (_KNNPartitioned, "KNNStrategy.KNNPartitioned"),
    (_KNNAuto, "KNNStrategy.KNNAuto"),
]:
    _cls.__name__ = _path.rsplit(".", 1)[1]
    _cls.__qualname__ = f"Duplicates.{_path}"


def _threshold_value(threshold: Any, dist: np.ndarray) -> float:
    value = threshold(_sorted_positive(dist))
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{_OWNER}: the threshold strategy must return a number; got "
                               f"{value!r}.") from None
    if not math.isfinite(t) or t < 0:
        raise InvalidDataError(f"{_OWNER}: the threshold strategy returned {t}; it must be a "
                               "finite distance >= 0.")
    return t


class DuplicateSetCandidate:
    """One set of near-duplicate samples.

    Parameters
    ----------
    std, mean : float
        Spread and mean of the members' distances to the set's centroid.
    projection : numpy.ndarray or None
        ``(size, 2)`` PCA coordinates of the members for sets of more than 5, else ``None``.
    indices : Sequence[int]
        Members' positions in producer order (along the set's first principal axis).
    exact : bool
        ``True`` when the members are identical (up to float rounding).
    identical : numpy.ndarray
        Per member, bool: it has an identical copy in the set.
    batch : Batch or Callable[[], Batch]
        The members' data (all fields and metadata); a callable is called on first access.
    """

    __slots__ = ("std", "mean", "projection", "indices", "_batch", "exact", "identical")

    def __init__(self, std: float, mean: float, projection: np.ndarray | None,
                 indices: Sequence[int], batch: Batch | Callable[[], Batch],
                 exact: bool = False, identical: np.ndarray | None = None) -> None:
        self.std = std
        self.mean = mean
        self.projection = projection
        self.indices = indices
        self._batch = batch
        self.exact = exact
        self.identical = np.asarray(np.full(len(indices), bool(exact)) if identical is None
                                    else identical, dtype=bool)

    @property
    def batch(self) -> Batch:
        if callable(self._batch):
            self._batch = self._batch()
        return self._batch

    @property
    def size(self) -> int:
        """Number of samples in the set."""
        return len(self.indices)

    def __repr__(self) -> str:
        more = "..." if self.size > 8 else ""
        return (f"DuplicateSetCandidate(size={self.size}, exact={self.exact}, mean={self.mean:.3g}"
                f", std={self.std:.3g}, indices={list(self.indices)[:8]}{more})")


_Candidate = DuplicateSetCandidate  # the name inside Duplicates, where it is an attribute


def _candidate(vectors: np.ndarray, group: np.ndarray, data: Batch,
               identical: float) -> DuplicateSetCandidate:
    centred, to_centre = centre_distances(vectors[group])
    mean, std = float(to_centre.mean()), float(to_centre.std())
    indices = group
    projection = None
    if len(group) > 2:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        order = np.argsort(centred @ vt[0], kind="stable")
        indices = group[order]
        if len(group) > 5:
            projection = centred[order] @ vt[:2].T
            if projection.shape[1] < 2:
                projection = np.pad(projection, ((0, 0), (0, 2 - projection.shape[1])))
    return DuplicateSetCandidate(std, mean, projection, [int(i) for i in indices],
                                 lambda: data.elements[indices],
                                 exact=bool(to_centre.max() <= identical),
                                 identical=identical_members(vectors[indices], to_centre,
                                                             identical))


def centre_distances(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``members`` minus their centroid (float64), and each one's distance to it."""
    pts = np.asarray(members, dtype=np.float64)
    centred = pts - pts.mean(axis=0)
    return centred, np.sqrt(np.einsum("ij,ij->i", centred, centred))


def identical_members(members: np.ndarray, to_centre: np.ndarray, identical: float) -> np.ndarray:
    """Per member of a set: is another member within ``identical`` of it."""
    if to_centre.max() <= identical:
        return np.ones(len(members), dtype=bool)
    return _has_identical_copy(members, identical)


def _has_identical_copy(members: np.ndarray, identical: float, block: int = 1024) -> np.ndarray:
    """Per member: is its nearest other member within ``identical`` of it."""
    pts = np.asarray(members, dtype=np.float64)
    m = len(pts)
    if m < 2:
        return np.zeros(m, dtype=bool)
    sq = np.einsum("ij,ij->i", pts, pts)
    nearest = np.empty(m, dtype=np.int64)
    for start in range(0, m, block):
        rows = pts[start:start + block]
        d2 = sq[start:start + block, None] + sq[None, :] - 2.0 * (rows @ pts.T)
        d2[np.arange(len(rows)), np.arange(start, start + len(rows))] = np.inf
        nearest[start:start + len(rows)] = d2.argmin(axis=1)
    return exact_distances(pts, np.arange(m), nearest) <= identical


def _groups(strategy: Any, threshold: Any, vectors: np.ndarray) -> tuple[list[np.ndarray], float]:
    """The duplicate sets, and the distance up to which samples count as identical."""
    if hasattr(strategy, "knn"):
        return neighbour_groups(vectors, threshold, strategy.knn)
    n = len(vectors)
    seen: list[float] = []

    def recording(d: np.ndarray) -> float:
        value = _threshold_value(threshold, d)
        seen.append(value)
        return value

    lists = strategy(vectors, recording)
    if len(lists) != n:
        raise InvalidDataError(f"{_OWNER}: the kNN strategy returned {len(lists)} neighbour lists "
                               f"for {n} samples; it must return one list per sample.")
    rows = np.repeat(np.arange(n, dtype=np.int64), [len(row) for row in lists])
    cols = np.array([int(j) for row in lists for j in row], dtype=np.int64)
    if len(cols) and (cols.min() < 0 or cols.max() >= n):
        raise InvalidDataError(f"{_OWNER}: the kNN strategy returned indices outside [0, {n}).")
    dvals = exact_distances(vectors, rows, cols)
    identical = identical_tolerance(dvals)
    t = max(max(seen) if seen else float(dvals.max(initial=0.0)), identical)
    # the search may have missed identical copies: every sample is hashed
    return _linked_groups(vectors, rows, cols, dvals, np.arange(n), t), identical


def neighbour_groups(vectors: Any, threshold: Any,
                     knn: Callable[[Any, int], tuple[Any, Any]]) -> tuple[list[np.ndarray], float]:
    """The duplicate sets from each sample's ``min(10, n)`` nearest neighbours
    (``knn(vectors, k) -> (indices, distances)``), and the identical-distance tolerance."""
    n = len(vectors)
    idx, dist = knn(vectors, min(_K, n))
    identical = identical_tolerance(dist)
    if type(threshold) is _Relative:
        middle, count = median_above(dist, identical)
        t = float(threshold.fraction * middle) if count else 0.0
    else:
        positive = np.concatenate([b[b > 0] for b in _distance_blocks(dist)])
        positive.sort()
        t = _threshold_value(threshold, positive)
        del positive
    t = max(t, identical)
    parts: list[list[np.ndarray]] = [[], [], []]
    for start in range(0, n, BLOCK_ROWS):
        block = np.asarray(dist[start:start + BLOCK_ROWS])
        close = block <= t
        parts[0].append(np.nonzero(close)[0] + start)
        parts[1].append(np.asarray(idx[start:start + BLOCK_ROWS], dtype=np.int64)[close])
        parts[2].append(block[close])
    del idx, dist
    rows, cols, dvals = (np.concatenate(p) for p in parts)
    # an identical copy is among the neighbours (distance 0): only those samples are hashed
    zero = (rows != cols) & (dvals == 0)
    suspects = np.unique(np.concatenate([rows[zero], cols[zero]]))
    return _linked_groups(vectors, rows, cols, dvals, suspects, t), identical


def _linked_groups(vectors: Any, rows: np.ndarray, cols: np.ndarray, dvals: np.ndarray,
                   suspects: np.ndarray, t: float) -> list[np.ndarray]:
    """Bounded groups of the close pairs, bit-identical ``suspects`` always in one group."""
    if len(suspects) >= 2:
        labels = exact_duplicate_labels(take(vectors, suspects))
        first = np.full(labels.max() + 1, len(suspects), dtype=np.int64)
        np.minimum.at(first, labels, np.arange(len(suspects)))
        same = first[labels] != np.arange(len(suspects))
        rows = np.concatenate([rows, suspects[same]])
        cols = np.concatenate([cols, suspects[first[labels][same]]])
        dvals = np.concatenate([dvals, np.zeros(int(same.sum()))])
    other = rows != cols  # each sample's pair with itself
    rows, cols, dvals = rows[other], cols[other], dvals[other]
    nodes = np.unique(np.concatenate([rows, cols]))
    local = bounded_groups(take(vectors, nodes), np.searchsorted(nodes, rows),
                           np.searchsorted(nodes, cols), dvals, t)
    return [nodes[g] for g in local]


@dataclasses.dataclass(frozen=True)
class Duplicates:
    """Sets of near-duplicate samples per field; create it with :meth:`introspect`.

    Parameters
    ----------
    results : Mapping[str, Sequence[DuplicateSetCandidate]]
        The sets of each field, ordered by their lowest index.
    count : int
        Number of samples.

    Examples
    --------
    >>> import numpy as np
    >>> from deepview.base import ArrayProducer
    >>> x = np.random.default_rng(0).normal(size=(300, 8))
    >>> x[1] = x[0] + 1e-4                  # a planted near-duplicate pair
    >>> dups = Duplicates.introspect(ArrayProducer(x, field="emb"))
    >>> [list(c.indices) for c in dups.results["emb"]]
    [[0, 1]]
    """

    results: Mapping[str, Sequence[DuplicateSetCandidate]]
    count: int

    DuplicateSetCandidate = DuplicateSetCandidate

    class KNNStrategy:
        """Bundled nearest-neighbour strategies (see :class:`DuplicatesStrategyType`)."""

        KNNAnnoy = _KNNAnnoy
        KNNFaiss = _KNNFaiss
        KNNExact = _KNNExact
        KNNPartitioned = _KNNPartitioned
        KNNAuto = _KNNAuto

    class ThresholdStrategy:
        """Bundled threshold strategies (see :class:`DuplicatesThresholdStrategyType`)."""

        Percentile = _Percentile
        Slope = _Slope
        Distance = _Distance
        Relative = _Relative

    def items(self) -> Iterator[tuple[str, Sequence[_Candidate]]]:
        """``results.items()``."""
        return iter(self.results.items())

    @staticmethod
    def introspect(producer: Producer, *, batch_size: int = 32,
                   strategy: DuplicatesStrategyType | None = None,
                   threshold: DuplicatesThresholdStrategyType | None = None) -> Duplicates:
        """Find sets of near-duplicate samples in every 2-D field of ``producer``.

        Columns are normalised, pairs within the threshold of each sample's 10 nearest
        neighbours are grouped; a set grows only while every member stays within the
        threshold of its centroid.

        Parameters
        ----------
        producer : Producer
            The data; read once.
        batch_size : int, default=32
            Batch size used to read ``producer``.
        strategy : DuplicatesStrategyType, optional
            Nearest-neighbour search; default ``Duplicates.KNNStrategy.KNNAuto()``.
        threshold : DuplicatesThresholdStrategyType, optional
            Default ``Duplicates.ThresholdStrategy.Slope()``.
        """
        check_batch_size(batch_size, owner=_OWNER)
        strategy = _KNNAuto() if strategy is None else strategy
        threshold = _Slope() if threshold is None else threshold
        for arg, value, kind, example in (
                ("strategy", strategy, "", "KNNStrategy.KNNExact"),
                ("threshold", threshold, "Threshold", "ThresholdStrategy.Slope")):
            if not callable(value):
                raise InvalidTypeError(f"{_OWNER}: '{arg}' must be a Duplicates{kind}StrategyType "
                                       f"such as Duplicates.{example}(); got "
                                       f"{type(value).__name__}.")
        batches = tqdm(iter_batches(producer, batch_size, owner=_OWNER),
                       desc=f"{_OWNER}: reading", unit="batch", disable=progress_disabled())
        data = concatenate_batches(list(batches))
        results: dict[str, list[DuplicateSetCandidate]] = {}
        for name, x in data.fields.items():
            check_field(name, x, owner=_OWNER)
            if x.shape[1] == 0:
                raise InvalidDataError(f"{_OWNER}: field '{name}' has 0 features (shape "
                                       f"{x.shape}); give at least one feature.")
            if len(x) < 2:
                results[name] = []
                continue
            vectors = normalize_columns(x)
            groups, identical = _groups(strategy, threshold, vectors)
            results[name] = [_candidate(vectors, g, data, identical) for g in groups]
            logger.info("Duplicates: field '%s': %d sets among %d samples", name,
                        len(groups), len(x))
        return Duplicates(results=results, count=data.batch_size)
