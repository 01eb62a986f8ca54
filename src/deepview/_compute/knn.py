"""k-nearest-neighbour kernels (Euclidean), exact and approximate.

Every function returns ``(indices, distances)`` of shape ``(n, k)``, each row sorted by
distance, with the query point itself first (distance 0).  Distances are always *plain*
Euclidean and are recomputed from the vectors as ``||x_i - x_j||`` (float64 differences), so
they do not suffer from the cancellation of ``|a|^2 + |b|^2 - 2 a.b`` and are identical for
every backend: a near-duplicate at distance 1e-6 gets 1e-6, not 0 or 1e-4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix

from deepview._compute.blas import in_threads, single_blas_thread
from deepview._compute.spill import take
from deepview._optional import require

__all__ = [
    "exact_distances",
    "exact_duplicate_labels",
    "knn_annoy",
    "knn_brute",
    "knn_faiss",
    "knn_partitioned",
    "normalize_columns",
]


def normalize_columns(x: np.ndarray) -> np.ndarray:
    """Divide every column by its L2 norm over all rows (all-zero columns stay zero).

    Returns a new C-contiguous float32 array (float64 input stays float64).
    """
    dtype: Any = np.float64 if x.dtype == np.float64 else np.float32
    out: np.ndarray = np.array(x, dtype=dtype, order="C")
    norms = np.sqrt((out.astype(np.float64) ** 2).sum(axis=0))
    norms[norms == 0] = 1.0
    out *= (1.0 / norms).astype(dtype)
    return out


def exact_distances(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``||x[rows] - x[cols]||`` computed from differences in float64; same shape as rows."""
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    out = np.empty(rows.shape, dtype=np.float64)
    flat_r, flat_c, flat_o = rows.reshape(-1), cols.reshape(-1), out.reshape(-1)
    step = max(1, 2**22 // max(1, x.shape[1]))
    for s in range(0, len(flat_r), step):
        # differences in the input precision (exact for close values), sums in float64
        diff = x[flat_r[s:s + step]] - x[flat_c[s:s + step]]
        flat_o[s:s + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff, dtype=np.float64))
    return out


def _finish(
    x: np.ndarray, idx: np.ndarray, d2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Put each point itself first (distance 0), make small distances exact, sort each row.

    ``d2`` are the backend's (approximate, squared) distances.  Entries below 1e-3 of the
    median squared distance (where ``|a|^2 + |b|^2 - 2 a.b`` loses its digits) are recomputed
    from the vectors; the rest keep a relative error below ~1e-4.
    """
    n = len(idx)
    own = np.arange(n)[:, None]
    idx = np.where(idx < 0, own, idx).astype(np.int64)  # FAISS pads with -1
    d2 = np.maximum(np.asarray(d2, dtype=np.float64), 0.0)
    is_self = _self_in_place(idx, own)
    positive = d2[~is_self & (d2 > 0)]
    scale = float(np.median(positive)) if len(positive) else 0.0
    idx, d2 = _exact_sorted(idx, d2, own, is_self, scale,
                            lambda rows, cols: exact_distances(x, rows, cols))
    return idx, np.sqrt(np.maximum(d2, 0.0))


def _self_in_place(idx: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Put each row's point itself (``own``, its row numbers as a column) in place of its
    farthest candidate where the list misses it; returns where the point itself stands."""
    has_self = (idx == own).any(axis=1)
    idx[~has_self, -1] = own[~has_self, 0]
    is_self: np.ndarray = idx == own
    return is_self


def _exact_sorted(idx: np.ndarray, d2: np.ndarray, own: np.ndarray, is_self: np.ndarray,
                  scale: float, exact: Any) -> tuple[np.ndarray, np.ndarray]:
    """``_finish``'s last steps on rows ``own`` (float64 squared distances ``d2``, changed):
    the distances below ``1e-3 * scale`` recomputed by ``exact(rows, cols)``, the point
    itself first, each row sorted by distance.  Returns the sorted indices and ``d2``."""
    small = ~is_self & (d2 <= 1e-3 * scale)
    if small.any():
        rows = np.broadcast_to(own, idx.shape)[small]
        d2[small] = exact(rows, idx[small]) ** 2
    d2[is_self] = -1.0
    order = np.argsort(d2, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(d2, order, axis=1)


def _sq_norms(xf: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", xf, xf)


def _topk_block(
    q: np.ndarray, q_sq: np.ndarray, ref: np.ndarray, ref_sq: np.ndarray, k: int,
    self_cols: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Local indices and squared distances of the ``k`` nearest ``ref`` rows of each ``q``
    row (``self_cols[i]``: column of q[i] itself in ref, forced first)."""
    d2 = q_sq[:, None] - 2.0 * (q @ ref.T)
    d2 += ref_sq[None, :]
    if self_cols is not None:
        d2[np.arange(len(q)), self_cols] = -np.inf
    m = d2.shape[1]
    if k < m:
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(m), (len(q), m)).copy()
    dist = np.take_along_axis(d2, part, axis=1)
    if self_cols is not None:
        dist[part == self_cols[:, None]] = 0.0
    return part, dist


@single_blas_thread()  # blocked, memory-bound products (see deepview._compute.blas)
def knn_brute(x: np.ndarray, k: int, *, block_rows: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN by blocked matrix products (float32 BLAS); O(n^2 D) time, O(block x n)
    extra memory."""
    n = len(x)
    k = min(k, n)
    xf = np.ascontiguousarray(x, dtype=np.float32)
    sq = _sq_norms(xf)
    idx = np.empty((n, k), dtype=np.int64)
    d2 = np.empty((n, k), dtype=np.float32)
    for s in range(0, n, block_rows):
        e = min(n, s + block_rows)
        idx[s:e], d2[s:e] = _topk_block(xf[s:e], sq[s:e], xf, sq, k, np.arange(s, e))
    return _finish(x, idx, d2)


def _kmeans(xf: np.ndarray, n_centroids: int, rng: np.random.Generator | np.ndarray,
            n_iter: int = 10) -> np.ndarray:
    """Lloyd k-means (float32 BLAS) started from random rows (drawn from ``rng``, or the
    rows ``rng`` when it is an array of them); returns the centroids."""
    first = (rng if isinstance(rng, np.ndarray)
             else rng.choice(len(xf), size=n_centroids, replace=False))
    centroids = xf[first].copy()
    for _ in range(n_iter):
        label = _nearest(xf, centroids)
        counts = np.bincount(label, minlength=n_centroids)
        onehot = coo_matrix((np.ones(len(xf), dtype=xf.dtype), (label, np.arange(len(xf)))),
                            shape=(n_centroids, len(xf))).tocsr()
        sums = np.asarray(onehot @ xf, dtype=np.float64)
        filled = counts > 0
        centroids[filled] = (sums[filled] / counts[filled, None]).astype(xf.dtype)
    return centroids


def _nearest(xf: np.ndarray, centroids: np.ndarray, block_rows: int = 8192) -> np.ndarray:
    c_sq = _sq_norms(centroids)
    out = np.empty(len(xf), dtype=np.int64)
    for s in range(0, len(xf), block_rows):
        out[s:s + block_rows] = np.argmin(c_sq[None, :] - 2.0 * (xf[s:s + block_rows]
                                                               @ centroids.T), axis=1)
    return out


#: rows per chunk when assigning every row to its group in :func:`_cells` (a multiple of
#: ``_nearest``'s 8192-row blocks, so the chunked assignment does exactly the products of a
#: one-piece one)
CELL_CHUNK_ROWS = 8192 * 8


def _cells(
    x: Any, n_cells: int, cell_size: int, rng: np.random.Generator,
    drop: Callable[[], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Two-level k-means cells: ~sqrt(n_cells) groups, each split into cells of about
    ``cell_size`` points.  Training on a 16-points-per-cell sample and assignment cost
    O(n sqrt(n_cells) D) instead of O(n n_cells D).  Returns (label per row, cell count).

    ``x`` may be an array, a memory-mapped array or rows in a file
    (:class:`~deepview._compute.spill.FileRows`): it is read in chunks of
    :data:`CELL_CHUNK_ROWS` rows and by gathered rows, each as float32, and ``drop`` (e.g.
    giving a mapping's pages back) is called after each chunk.
    """
    n = len(x)
    n_groups = max(1, int(round(np.sqrt(n_cells))))
    sample = np.ascontiguousarray(
        take(x, np.sort(rng.choice(n, size=min(n, 16 * n_cells), replace=False))),
        dtype=np.float32)
    top = _kmeans(sample, n_groups, rng, n_iter=6)
    row_group = np.empty(n, dtype=np.int32)

    def assign(start: int) -> None:
        row_group[start:start + CELL_CHUNK_ROWS] = _nearest(
            np.ascontiguousarray(x[start:start + CELL_CHUNK_ROWS], dtype=np.float32), top)
        if drop is not None:
            drop()

    in_threads(assign, range(0, n, CELL_CHUNK_ROWS))
    sample_group = _nearest(sample, top)
    label = np.empty(n, dtype=np.int32)
    order = np.argsort(row_group, kind="stable")  # each group's rows in increasing order
    bounds = np.searchsorted(row_group[order], np.arange(n_groups + 1))
    # each group's cells: numbered group after group, their k-means started from rows drawn
    # in that order (so the cells are the same however many threads split them below)
    plans: list[tuple[int, int, np.ndarray]] = []  # (group, first label, start rows)
    next_label = 0
    for g in range(n_groups):
        size = int(bounds[g + 1] - bounds[g])
        if size == 0:
            continue
        in_sample = int(np.count_nonzero(sample_group == g))
        parts = min(in_sample, max(1, int(round(size / cell_size))))
        if parts <= 1:
            label[order[bounds[g]:bounds[g + 1]]] = next_label
            next_label += 1
            continue
        plans.append((g, next_label, rng.choice(in_sample, size=parts, replace=False)))
        next_label += parts

    def split(plan: tuple[int, int, np.ndarray]) -> None:
        g, first, start_rows = plan
        members = order[bounds[g]:bounds[g + 1]]
        cents = _kmeans(sample[sample_group == g], len(start_rows), start_rows, n_iter=6)
        label[members] = first + _nearest(
            np.ascontiguousarray(take(x, members), dtype=np.float32), cents)

    in_threads(split, plans)
    return label, next_label


@single_blas_thread()
def knn_partitioned(
    x: np.ndarray, k: int, *, cell_size: int = 256, seed: int = 0, rounds: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate k-NN: k-means cells of ~``cell_size`` points, exact search (one matrix
    product per cell) inside each point's cell.  O(rounds * n * cell_size * D) time.

    Points closer than the distance to their cell boundary are always found, so
    near-duplicates are found (unless they straddle a boundary within their tiny distance);
    ordinary neighbours across a boundary can be missed, which makes some of the larger
    neighbour distances slightly too large.  With ``rounds > 1`` the search is repeated on
    independent partitions (seeds ``seed, seed + 1, ...``) and the lists merged, so a pair
    is missed only when every partition separates it.
    """
    n, _ = x.shape
    k = min(k, n)
    n_cells = max(1, n // cell_size)
    xf = np.ascontiguousarray(x, dtype=np.float32)
    if n_cells < 2:
        return knn_brute(x, k)
    sq = _sq_norms(xf)
    idx, d2 = _partition_search(xf, sq, k, n_cells, cell_size, seed)
    for r in range(1, rounds):
        more_idx, more_d2 = _partition_search(xf, sq, k, n_cells, cell_size, seed + r)
        idx, d2 = _merge_lists(np.concatenate([idx, more_idx], axis=1),
                               np.concatenate([d2, more_d2], axis=1), k)
    return _finish(x, idx, d2)


def _merge_lists(idx: np.ndarray, d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` closest distinct neighbours per row of concatenated neighbour lists."""
    by_index = np.argsort(idx, axis=1, kind="stable")
    idx = np.take_along_axis(idx, by_index, axis=1)
    d2 = np.take_along_axis(d2, by_index, axis=1)
    d2[:, 1:][idx[:, 1:] == idx[:, :-1]] = np.inf  # the same neighbour found twice
    best = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(idx, best, axis=1), np.take_along_axis(d2, best, axis=1)


def _partition_search(xf: np.ndarray, sq: np.ndarray, k: int, n_cells: int, cell_size: int,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN inside each cell of one seeded partition: ``(idx, squared distances)``."""
    n = len(xf)
    label, n_cells = _cells(xf, n_cells, cell_size, np.random.default_rng(seed))
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_cells + 1))
    idx = np.empty((n, k), dtype=np.int64)
    d2 = np.full((n, k), np.inf, dtype=np.float32)
    for c in range(n_cells):
        members = order[bounds[c]:bounds[c + 1]]
        m = len(members)
        if m == 0:
            continue
        idx[members], d2[members] = _cell_search(xf[members], sq[members], members, k)
    return idx, d2


#: a cell of more points than this searches its rows in blocks of ``CELL_STEP_ROWS``: its
#: distance matrix and the selection's indices take 12 bytes x m^2 at once, and k-means
#: cells are uneven (of 390 cells of a nominal 256 points on 100k clustered points, the
#: largest held 2,400; one of 5,000 points would take 300 MB)
CELL_BLOCK_ROWS = 2048
CELL_STEP_ROWS = 512


def _cell_search(points: np.ndarray, sq: np.ndarray, members: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN among one cell's ``points`` (float32, their squared norms ``sq``): the
    ``(m, k)`` neighbours as ``members`` and squared distances, padded with the point itself
    (distance 0, dropped later) in a cell of fewer than ``k`` points."""
    m = len(members)
    local = np.arange(m)
    if m <= CELL_BLOCK_ROWS:
        # two arrays: numpy computes ``a @ a.T`` of one array with a symmetric product
        # (syrk) that rounds differently
        part, dist = _topk_block(points, sq, points.copy(), sq, min(k, m), local)
    else:  # an oversized cell (k-means cells are uneven): rows in blocks, not m x m at once
        part = np.empty((m, min(k, m)), dtype=np.int64)
        dist = np.empty((m, min(k, m)), dtype=np.float32)
        for s in range(0, m, CELL_STEP_ROWS):
            e = min(m, s + CELL_STEP_ROWS)
            part[s:e], dist[s:e] = _topk_block(points[s:e], sq[s:e], points, sq, min(k, m),
                                               local[s:e])
    if m < k:
        part = np.concatenate([part, np.repeat(local[:, None], k - m, axis=1)], axis=1)
        dist = np.concatenate([dist, np.zeros((m, k - m), dtype=dist.dtype)], axis=1)
    return members[part], dist


def knn_faiss(
    x: np.ndarray, k: int, *, exact: bool | None = None, nprobe: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """k-NN with FAISS: ``IndexFlatL2`` (exact) or ``IndexIVFFlat``.

    ``exact=None`` picks the flat index up to 20 000 points.  The IVF index uses about
    ``n / 512`` lists (cells of ~512 points, so the search cost grows ~linearly in n), is
    trained on a 40-points-per-list subsample with a fixed seed, and probes ``nprobe`` lists.
    """
    faiss = require("faiss", feature="Duplicates.KNNStrategy.KNNFaiss")
    n, d = x.shape
    k = min(k, n)
    xf = np.ascontiguousarray(x, dtype=np.float32)
    if exact is None:
        exact = n <= 20_000
    nlist = max(1, n // 512)
    if exact or nlist < 4:
        index = faiss.IndexFlatL2(d)
        index.add(xf)
    else:
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist)
        index.cp.seed = seed
        index.cp.niter = 10
        index.cp.min_points_per_centroid = 1
        rng = np.random.default_rng(seed)
        train_n = min(n, 40 * nlist)
        sample = xf[np.sort(rng.choice(n, size=train_n, replace=False))]
        index.train(sample)
        index.add(xf)
        index.nprobe = min(nprobe, nlist)
    d2, idx = index.search(xf, k)
    return _finish(x, np.asarray(idx, dtype=np.int64), d2)


def knn_annoy(
    x: np.ndarray, k: int, *, n_trees: int = 30, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate k-NN with Annoy (Euclidean metric, ``n_trees`` trees, fixed seed)."""
    annoy = require("annoy", feature="Duplicates.KNNStrategy.KNNAnnoy")
    n, d = x.shape
    k = min(k, n)
    index = annoy.AnnoyIndex(d, "euclidean")
    index.set_seed(seed)
    for i, row in enumerate(np.asarray(x, dtype=np.float32)):
        index.add_item(i, row)
    index.build(n_trees, n_jobs=1)
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.zeros((n, k))
    for i in range(n):
        found, d = index.get_nns_by_item(i, k, include_distances=True)
        if len(found) < k:
            found = list(found) + [i] * (k - len(found))
            d = list(d) + [0.0] * (k - len(d))
        idx[i] = found
        dist[i] = d
    return _finish(x, idx, dist * dist)


def exact_duplicate_labels(x: np.ndarray) -> np.ndarray:
    """Label per row such that rows with identical values (bitwise, -0.0 == 0.0) share one
    label; ``O(n log n)``."""
    arr = np.ascontiguousarray(x) + 0  # +0 turns -0.0 into 0.0
    arr = np.ascontiguousarray(arr)
    rows = arr.view(np.dtype((np.void, arr.dtype.itemsize * arr.shape[1]))).ravel()
    _, labels = np.unique(rows, return_inverse=True)
    return labels.reshape(-1)
