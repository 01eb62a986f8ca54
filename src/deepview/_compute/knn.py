"""Euclidean k-nearest-neighbour kernels (exact, partitioned, FAISS, Annoy) and a k-NN index.

Every search returns ``(indices, distances)`` of shape ``(n, k)``, rows sorted by distance
with the point itself first; small distances are recomputed from the vectors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import reverse_cuthill_mckee

from deepview._compute.blas import in_threads, single_blas_thread
from deepview._compute.select import median
from deepview._compute.spill import FileRows, Pages, Workspace, mapped, take
from deepview._optional import require

__all__ = ["CellIndex", "exact_distances", "exact_duplicate_labels", "knn_annoy", "knn_brute",
           "knn_faiss", "knn_partitioned", "normalize_columns", "rerank"]

#: rows per chunk of a streamed pass (a multiple of ``_nearest``'s 8192-row blocks)
CHUNK_ROWS = 8192 * 8
#: rows of the points gathered between two releases of their mapped pages
RELEASE_ROWS = 1024
#: cells a thread searches at a time
THREAD_CELLS = 32
#: a cell of more points than this is searched in blocks of ``CELL_STEP_ROWS`` rows
CELL_BLOCK_ROWS = 2048
#: rows of at most this many distances pick their k smallest by one partition of the values
#: (a cell's, with the rows' earlier lists); wider ones (the exact search's blocks) by
#: argpartition
PARTITION_WIDTH = 2048
CELL_STEP_ROWS = 512


def normalize_columns(x: np.ndarray) -> np.ndarray:
    """Every column divided by its L2 norm (zero columns stay zero), as a new array."""
    dtype: Any = np.float64 if x.dtype == np.float64 else np.float32
    out: np.ndarray = np.array(x, dtype=dtype, order="C")
    norms = np.sqrt((out.astype(np.float64) ** 2).sum(axis=0))
    norms[norms == 0] = 1.0
    out *= (1.0 / norms).astype(dtype)
    return out


def exact_distances(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``||x[rows] - x[cols]||``: differences in the input precision, summed in float64."""
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    out = np.empty(rows.shape, dtype=np.float64)
    flat_r, flat_c, flat_o = rows.reshape(-1), cols.reshape(-1), out.reshape(-1)
    step = max(1, 2**22 // max(1, x.shape[1]))
    for s in range(0, len(flat_r), step):
        diff = x[flat_r[s:s + step]] - x[flat_c[s:s + step]]
        flat_o[s:s + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff, dtype=np.float64))
    return out


def _gathered_distances(x: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """:func:`exact_distances` of points that may be mapped or in a file."""
    out = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), RELEASE_ROWS):
        pair = slice(start, start + RELEASE_ROWS)
        both = take(x, np.concatenate([rows[pair], cols[pair]]))
        half = len(both) // 2
        out[pair] = exact_distances(both, np.arange(half), np.arange(half, len(both)))
    return out


#: rows re-ranked at a time by :func:`rerank` (their candidates read together), and rows whose
#: candidates are copied out at a time (a cache-sized piece)
RERANK_ROWS = 512
RERANK_PIECE = 32


def rerank(x: Any, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` closest ``candidates`` (an ``(n, m)`` index array from a search in
    another space) by distance in ``x`` (an array, mapped or not, or FileRows; float32
    products, squared distances below 1e-3 of their median summed from the differences):
    int32 indices and float32 distances, sorted, the row itself first; a row with fewer
    distinct candidates ends with itself (distance 0)."""
    n, m = candidates.shape
    k = min(k, m)
    idx = np.empty((n, k), dtype=np.int32)
    dist = np.empty((n, k), dtype=np.float32)

    # blocks of rows close in the graph (reverse Cuthill-McKee order of the first 8 candidates)
    # share most of their candidates
    near = np.ascontiguousarray(candidates[:, :8], dtype=np.int32)
    graph = csr_matrix((np.ones(near.size, dtype=np.int8), near.ravel(),
                        np.arange(0, near.size + 1, near.shape[1], dtype=np.int32)), shape=(n, n))
    blocks = reverse_cuthill_mckee(graph, symmetric_mode=True)
    del graph, near

    def block(start: int) -> None:
        own = np.sort(blocks[start:start + RERANK_ROWS])
        cand = np.sort(np.concatenate(  # the row itself is among its candidates
            [own[:, None], np.asarray(candidates[own], dtype=np.int64)], axis=1), axis=1)
        unique_rows, at = np.unique(cand, return_inverse=True)  # read in file order
        at = at.reshape(cand.shape)
        gathered = np.asarray(take(x, unique_rows), dtype=np.float32)
        norms = _sq_norms(gathered)
        own_at = np.searchsorted(unique_rows, own)
        d = np.empty(cand.shape, dtype=np.float64)
        for s in range(0, len(own), RERANK_PIECE):  # candidates' rows copied a piece at a time
            piece, rows = at[s:s + RERANK_PIECE], own_at[s:s + RERANK_PIECE]
            d[s:s + RERANK_PIECE] = (norms[piece] + norms[rows][:, None] - 2.0 * np.matmul(
                gathered[piece], gathered[rows][:, :, None])[..., 0])
        positive = d[d > 0]
        small = d <= 1e-3 * (float(np.median(positive)) if len(positive) else 0.0)
        if small.any():  # near copies: their differences, not the cancelling products
            diff = gathered[at[small]] - gathered[own_at[np.nonzero(small)[0]]]
            d[small] = np.einsum("ij,ij->i", diff, diff, dtype=np.float64)
        d = np.sqrt(np.maximum(d, 0.0))
        d[cand == own[:, None]] = -1.0
        d[:, 1:][cand[:, 1:] == cand[:, :-1]] = np.inf  # listed twice (or the row again)
        best = np.argsort(d, axis=1, kind="stable")[:, :k]
        found, found_d = np.take_along_axis(cand, best, axis=1), np.take_along_axis(d, best, 1)
        short = np.isinf(found_d)  # fewer distinct candidates than k: the row itself again
        found[short] = np.broadcast_to(own[:, None], found.shape)[short]
        idx[own] = found
        dist[own] = np.where(short, 0.0, np.maximum(found_d, 0.0))

    in_threads(block, range(0, n, RERANK_ROWS))
    return idx, dist


def _chunks(idx: Any, d2: Any) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per row chunk of the lists: ``(start, stop, indices, squared distances, is_self)``."""
    for start in range(0, len(idx), CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, len(idx))
        own = np.arange(start, stop)[:, None]
        block_idx = np.array(idx[start:stop], dtype=np.int64)
        has_self = (block_idx == own).any(axis=1)
        block_idx[~has_self, -1] = own[~has_self, 0]
        yield start, stop, block_idx, np.asarray(d2[start:stop]), block_idx == own


def _positive_blocks(idx: Any, d2: Any) -> Iterator[np.ndarray]:
    """The positive squared distances to other points, chunk by chunk."""
    return (block_d2[~is_self & (block_d2 > 0)] for *_, block_d2, is_self in _chunks(idx, d2))


def _finish(x: Any, idx: Any, d2: Any, out_dist: Any, pages: Pages | None = None) -> None:
    """Put each point first, recompute distances below 1e-3 of the median from the vectors and
    sort each row, chunk by chunk in place (``out_dist``: the distances, or None; ``pages``
    dropped after each chunk)."""
    pages = pages or Pages()
    scale = median(lambda: _positive_blocks(idx, d2))[0]
    pages.drop()
    for start, stop, block_idx, block_d2, is_self in _chunks(idx, d2):
        block_d2 = np.maximum(block_d2.astype(np.float64), 0.0)
        small = ~is_self & (block_d2 <= 1e-3 * scale)
        if small.any():
            rows = np.broadcast_to(np.arange(start, stop)[:, None], block_idx.shape)[small]
            block_d2[small] = _gathered_distances(x, rows, block_idx[small]) ** 2
        block_d2[is_self] = -1.0
        order = np.argsort(block_d2, axis=1, kind="stable")
        idx[start:stop] = np.take_along_axis(block_idx, order, axis=1)
        if out_dist is not None:
            out_dist[start:stop] = np.sqrt(np.maximum(np.take_along_axis(block_d2, order, 1), 0))
        pages.drop()


def _finished(x: np.ndarray, idx: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_finish` of in-memory lists: int64 indices and float64 distances."""
    idx = np.array(idx, dtype=np.int64)
    dist = np.empty(idx.shape, dtype=np.float64)
    _finish(x, idx, d2, dist)
    return idx, dist


def _sq_norms(xf: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", xf, xf)


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` smallest entries of each row, in column order: the entries up
    to the row's k-th smallest (one partition of the values, no index array); rows with ties at
    it (or NaN) by ``argpartition``."""
    rows, width = values.shape
    kth = np.partition(values, k - 1, axis=1)[:, k - 1:k]
    below = values <= kth
    clean = np.count_nonzero(below, axis=1) == k
    tied = np.flatnonzero(~clean)
    below[tied] = False
    found = np.flatnonzero(below)  # row by row: minus each row's offset, its columns
    found -= np.repeat(np.flatnonzero(clean) * width, k)
    part = np.empty((rows, k), dtype=np.int64)
    part[clean] = found.reshape(-1, k)
    part[tied] = np.argpartition(values[tied], k - 1, axis=1)[:, :k]
    return part


def _topk_block(q: np.ndarray, q_sq: np.ndarray, ref: np.ndarray, ref_sq: np.ndarray, k: int,
                self_cols: np.ndarray | None, more: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest ``ref`` rows of each ``q`` row (``self_cols``: forced first), and of
    further candidates whose squared distances ``more`` are columns after ``ref``'s."""
    d2 = q_sq[:, None] - 2.0 * (q @ ref.T)
    d2 += ref_sq[None, :]
    if self_cols is not None:
        d2[np.arange(len(q)), self_cols] = -np.inf
    if more is not None:
        d2 = np.concatenate([d2, more], axis=1)
    m = d2.shape[1]
    if k < m:
        part = (_smallest(d2, k) if m <= PARTITION_WIDTH
                else np.argpartition(d2, k - 1, axis=1)[:, :k])
    else:
        part = np.broadcast_to(np.arange(m), (len(q), m)).copy()
    dist = np.take_along_axis(d2, part, axis=1)
    if self_cols is not None:
        dist[part == self_cols[:, None]] = 0.0
    return part, dist


def _blocked_topk(xf: np.ndarray, sq: np.ndarray, k: int, block_rows: int,
                  more: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_topk_block` of every row among all of them, ``block_rows`` at a time."""
    n = len(xf)
    idx = np.empty((n, k), dtype=np.int64)
    d2 = np.empty((n, k), dtype=np.float32)
    for s in range(0, n, block_rows):
        e = min(n, s + block_rows)
        idx[s:e], d2[s:e] = _topk_block(xf[s:e], sq[s:e], xf, sq, k, np.arange(s, e),
                                        None if more is None else more[s:e])
    return idx, d2


@single_blas_thread()  # blocked, memory-bound products (see deepview._compute.blas)
def knn_brute(x: np.ndarray, k: int, *, block_rows: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN by blocked float32 products: int64 indices, float64 distances."""
    xf = np.ascontiguousarray(x, dtype=np.float32)
    return _finished(x, *_blocked_topk(xf, _sq_norms(xf), min(k, len(x)), block_rows))


def _kmeans(xf: np.ndarray, n_centroids: int, rng: np.random.Generator | np.ndarray,
            n_iter: int = 10) -> np.ndarray:
    """Lloyd k-means from random rows (or the rows ``rng`` when it is an array)."""
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
        products = xf[s:s + block_rows] @ centroids.T
        out[s:s + block_rows] = np.argmin(c_sq[None, :] - 2.0 * products, axis=1)
    return out


def _cells(x: Any, n_cells: int, cell_size: int, rng: np.random.Generator,
           pages: Pages | None = None) -> tuple[np.ndarray, int]:
    """Two-level k-means cells of about ``cell_size`` points (label per row, cell count), read
    in chunks of :data:`CHUNK_ROWS` rows, ``pages`` dropped after each chunk."""
    pages = pages or Pages()
    n = len(x)
    n_groups = max(1, int(round(np.sqrt(n_cells))))
    sample = np.ascontiguousarray(
        take(x, np.sort(rng.choice(n, size=min(n, 16 * n_cells), replace=False))),
        dtype=np.float32)
    top = _kmeans(sample, n_groups, rng, n_iter=6)
    row_group = np.empty(n, dtype=np.int32)

    def assign(start: int) -> None:
        row_group[start:start + CHUNK_ROWS] = _nearest(_rows(x, start, start + CHUNK_ROWS), top)
        pages.drop()

    in_threads(assign, range(0, n, CHUNK_ROWS))
    sample_group = _nearest(sample, top)
    label = np.empty(n, dtype=np.int32)
    order = np.argsort(row_group, kind="stable")  # each group's rows in increasing order
    bounds = np.searchsorted(row_group[order], np.arange(n_groups + 1))
    # numbered and drawn group after group, independent of the threads below
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


def _rows(x: Any, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(x[start:stop], dtype=np.float32)


@single_blas_thread()
def knn_partitioned(x: Any, k: int, *, cell_size: int = 256, seed: int = 0, rounds: int = 1,
                    spill: Path | None = None, distances: Any = np.float64,
                    distances_file: Path | None = None) -> tuple[np.ndarray, Any]:
    """Approximate k-NN of the ``(n, d)`` points ``x`` (an array, memory-mapped or not, or
    FileRows): exact search inside k-means cells of about ``cell_size`` points, ``rounds``
    partitions (seeds ``seed, seed + 1, ...``) merged; below ``2 * cell_size`` points exact.

    Returns ``(n, k)`` int32 indices (the point itself first) and distances of dtype
    ``distances`` (``float32`` reuses the search's buffer; ``None``: no distances), as
    FileRows when written to ``distances_file``.  ``spill``: a folder for memory-mapped
    neighbour lists (default in memory)."""
    n = len(x)
    k = min(k, n)
    n_cells = max(1, n // cell_size)
    if isinstance(x, FileRows):  # the cells' scattered rows: from a map, not a read per run
        x = x.mapped()
    if n_cells < 2:
        full_idx, full_dist = knn_brute(np.asarray(x), k)
        return (full_idx.astype(np.int32),
                None if distances is None else full_dist.astype(distances))

    work = Workspace(spill)

    def new(name: str, dtype: Any) -> np.ndarray:
        return work.array(f"knn-{name}-{id(x):x}.bin", (n, k), dtype)

    idx = new("idx", np.int32)
    d2 = new("d2", np.float32)
    out_dist: Any = None
    if distances is not None and distances_file is None and np.dtype(distances) == d2.dtype:
        out_dist = d2  # the finish writes each chunk's distances over its squared ones
    elif distances is not None:
        out_dist = (new("dist", distances) if distances_file is None
                    else mapped(Path(distances_file), (n, k), distances))
    pages = Pages(x, idx, d2, out_dist, rows=RELEASE_ROWS)
    sq = np.empty(n, dtype=np.float32)
    for start, stop in work.blocks(n, CHUNK_ROWS, x):
        sq[start:stop] = _sq_norms(_rows(x, start, stop))
    for r in range(rounds):
        _search_round(x, sq, k, n_cells, cell_size, seed + r, idx, d2, r > 0, pages)
    _finish(x, idx, d2, out_dist, pages)
    if distances_file is not None:
        out_dist = work.file_rows(out_dist)
    return idx, out_dist


def _search_round(x: Any, sq: np.ndarray, k: int, n_cells: int, cell_size: int,
                  seed: int, idx: np.ndarray, d2: np.ndarray, merge: bool, pages: Pages) -> None:
    """One seeded partition's in-cell search, written or merged into ``idx`` / ``d2``."""
    label, n_cells = _cells(x, n_cells, cell_size, np.random.default_rng(seed), pages)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_cells + 1))

    def search(cells: range) -> None:
        for c in cells:
            members = order[bounds[c]:bounds[c + 1]]
            if len(members) == 0:
                continue
            points = np.ascontiguousarray(take(x, members), dtype=np.float32)
            earlier = None
            if merge:  # (scattered reads of the lists map pages around them: released below)
                listed = idx[members]
                earlier = (listed, d2[members], label[listed] == c)
            found, dist = _cell_search(points, sq[members], members, k, earlier)
            idx[members] = found
            d2[members] = dist
            pages.add(len(members))

    in_threads(search, [range(c, min(c + THREAD_CELLS, n_cells))
                        for c in range(0, n_cells, THREAD_CELLS)])
    pages.drop()


def _cell_search(points: np.ndarray, sq: np.ndarray, members: np.ndarray, k: int,
                 earlier: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN among one cell's points, merged with the rows' ``earlier`` lists (indices,
    squared distances, whether each is in this cell and so searched again); a row with fewer
    than ``k`` distinct candidates is padded with itself (distance 0)."""
    m = len(members)
    local = np.arange(m)
    more = None if earlier is None else np.where(earlier[2], np.float32(np.inf), earlier[1])
    width = min(k, m + (0 if more is None else more.shape[1]))
    if m <= CELL_BLOCK_ROWS:
        # two arrays: ``a @ a.T`` of one array (syrk) rounds differently
        part, dist = _topk_block(points, sq, points.copy(), sq, width, local, more)
    else:  # an oversized cell (k-means cells are uneven): rows in blocks, not m x m at once
        part, dist = _blocked_topk(points, sq, width, CELL_STEP_ROWS, more)
    found = members[np.minimum(part, m - 1)]
    if earlier is not None:
        listed = part >= m
        found[listed] = np.take_along_axis(earlier[0], np.maximum(part - m, 0), axis=1)[listed]
    short = np.isinf(dist)  # an earlier neighbour searched again here: no other candidate left
    found[short] = np.broadcast_to(members[:, None], found.shape)[short]
    dist[short] = 0.0
    if width < k:
        found = np.concatenate([found, np.repeat(members[:, None], k - width, axis=1)], axis=1)
        dist = np.concatenate([dist, np.zeros((m, k - width), dtype=dist.dtype)], axis=1)
    return found, dist


class CellIndex:
    """Approximate k-NN queries against fixed ``points``: each query searches the ``probes``
    k-means cells (of about ``cell_size`` points, seeded) with the nearest centroids."""

    def __init__(self, points: np.ndarray, *, cell_size: int = 256, probes: int = 4,
                 seed: int = 0) -> None:
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        m = len(self.points)
        self.sq = _sq_norms(self.points)
        self.probes = max(1, int(probes))
        n_cells = max(1, m // cell_size)
        if n_cells < 2:
            label, n_cells = np.zeros(m, dtype=np.int32), 1
        else:
            label, n_cells = _cells(self.points, n_cells, cell_size, np.random.default_rng(seed))
        self.order = np.argsort(label, kind="stable")
        self.bounds = np.searchsorted(label[self.order], np.arange(n_cells + 1))
        sums = np.zeros((n_cells, self.points.shape[1]), dtype=np.float64)
        np.add.at(sums, label, self.points)
        counts = np.bincount(label, minlength=n_cells)
        self.centroids = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        self.centroid_sq = _sq_norms(self.centroids)
        self.centroid_sq[counts == 0] = np.inf  # an empty cell is never the nearest

    def __len__(self) -> int:
        return len(self.points)

    @single_blas_thread()
    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and distances of the ``k`` nearest points; -1 / inf pad short rows."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, len(self.points))
        n_cells = len(self.centroids)
        q_sq = _sq_norms(q)
        cells, _ = _topk_block(q, q_sq, self.centroids, self.centroid_sq,
                               min(self.probes, n_cells), None)
        # (query, probed cell) pairs grouped by cell: one product per cell
        width = cells.shape[1]
        found_idx = np.full((len(q), width, k), -1, dtype=np.int64)
        found_d2 = np.full((len(q), width, k), np.inf, dtype=np.float32)
        flat = np.ascontiguousarray(cells).reshape(-1)
        by_cell = np.argsort(flat, kind="stable")
        starts = np.searchsorted(flat[by_cell], np.arange(n_cells + 1))

        def search(cells: range) -> None:  # each (query, probe) slot is written once
            for c in cells:
                pairs = by_cell[starts[c]:starts[c + 1]]
                members = self.order[self.bounds[c]:self.bounds[c + 1]]
                if len(pairs) == 0 or len(members) == 0:
                    continue
                asking, slot = np.divmod(pairs, width)
                take = min(k, len(members))
                part, dist = _topk_block(q[asking], q_sq[asking], self.points[members],
                                         self.sq[members], take, None)
                found_idx[asking, slot, :take] = members[part]
                found_d2[asking, slot, :take] = dist

        in_threads(search, [range(c, min(c + THREAD_CELLS, n_cells))
                            for c in range(0, n_cells, THREAD_CELLS)])
        flat_idx = found_idx.reshape(len(q), -1)
        flat_d2 = found_d2.reshape(len(q), -1)
        keep = np.argsort(flat_d2, axis=1, kind="stable")[:, :k]
        best_d2 = np.take_along_axis(flat_d2, keep, axis=1)
        return np.take_along_axis(flat_idx, keep, axis=1), np.sqrt(np.maximum(best_d2, 0.0))


def knn_faiss(x: np.ndarray, k: int, *, exact: bool | None = None, nprobe: int = 2,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-NN with FAISS: ``IndexFlatL2`` (``exact``; default to 20 000 points) or IVF."""
    faiss = require("faiss", feature="Duplicates.KNNStrategy.KNNFaiss")
    n, d = x.shape
    k = min(k, n)
    xf = np.ascontiguousarray(x, dtype=np.float32)
    nlist = max(1, n // 512)
    if exact or (exact is None and n <= 20_000) or nlist < 4:
        index = faiss.IndexFlatL2(d)
        index.add(xf)
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
        index.cp.seed = seed
        index.cp.niter = 10
        index.cp.min_points_per_centroid = 1
        rng = np.random.default_rng(seed)
        index.train(xf[np.sort(rng.choice(n, size=min(n, 40 * nlist), replace=False))])
        index.add(xf)
        index.nprobe = min(nprobe, nlist)
    d2, idx = index.search(xf, k)
    return _finished(x, np.where(idx < 0, np.arange(n)[:, None], idx), d2)  # -1: padding


def knn_annoy(x: np.ndarray, k: int, *, n_trees: int = 30, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Approximate k-NN with Annoy (``n_trees`` trees, fixed seed)."""
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
        idx[i] = list(found) + [i] * (k - len(found))  # padded with the point itself
        dist[i] = list(d) + [0.0] * (k - len(d))
    return _finished(x, idx, dist * dist)


def exact_duplicate_labels(x: np.ndarray) -> np.ndarray:
    """A label per row, shared by rows with identical values (-0.0 == 0.0)."""
    arr = np.ascontiguousarray(np.asarray(x) + 0)  # +0 turns -0.0 into 0.0
    rows = arr.view(np.dtype((np.void, arr.dtype.itemsize * arr.shape[1]))).ravel()
    _, labels = np.unique(rows, return_inverse=True)
    return labels.reshape(-1)
