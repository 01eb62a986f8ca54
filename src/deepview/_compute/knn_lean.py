"""The partitioned k-NN search of :mod:`deepview._compute.knn` with bounded memory, and a
k-NN index for queries against a fixed set of points.

:func:`knn_partitioned_lean` returns exactly what :func:`~deepview._compute.knn.knn_partitioned`
returns (same cells, same neighbours, same distances), but

- the points may be a memory-mapped array (:func:`deepview._compute.spill.mapped`): they are
  read cell by cell and chunk by chunk, and their pages are given back every few cells, so
  the resident set holds one chunk of them, not all;
- the rounds are merged cell by cell into one ``(n, k)`` list (``int32`` indices, ``float32``
  squared distances, optionally memory-mapped too) instead of concatenating whole lists;
- the final pass (the point itself first, small distances recomputed exactly, rows sorted)
  runs in row chunks.

So its extra memory is the ``(n, k)`` lists plus a fixed amount, against about ten times the
lists and a float32 copy of the points for ``knn_partitioned``.

:class:`CellIndex` answers "which of these ``m`` points are nearest to each query?" for many
queries: the points are cut into k-means cells (the same two-level cells), each query searches
the ``probes`` cells whose centroids are nearest, exactly, with one matrix product per cell.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deepview._compute.blas import in_threads, single_blas_thread
from deepview._compute.knn import (
    CELL_CHUNK_ROWS,
    _cell_search,
    _cells,
    _exact_sorted,
    _merge_lists,
    _self_in_place,
    _sq_norms,
    _topk_block,
    exact_distances,
    knn_brute,
)
from deepview._compute.spill import FileRows, mapped, release, take

__all__ = ["CellIndex", "knn_partitioned_lean"]

#: rows per chunk of a streamed pass
CHUNK_ROWS = CELL_CHUNK_ROWS
#: rows of the points gathered between two releases of the mapped pages (a scattered read
#: maps up to 16 pages around it: see deepview._compute.spill)
RELEASE_ROWS = 1024
#: cells a thread searches at a time
THREAD_CELLS = 32


def _rows(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(x[start:stop], dtype=np.float32)


def _search_round(x: np.ndarray, sq: np.ndarray, k: int, n_cells: int, cell_size: int,
                  seed: int, idx: np.ndarray, d2: np.ndarray, merge: bool,
                  drop: Callable[[], None]) -> None:
    """One partition's exact in-cell search, written (``merge=False``) or merged into
    ``idx``/``d2`` cell by cell."""
    label, n_cells = _cells(x, n_cells, cell_size, np.random.default_rng(seed), drop)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_cells + 1))
    del label

    def search(cells: range) -> None:
        gathered = 0
        for c in cells:
            members = order[bounds[c]:bounds[c + 1]]
            m = len(members)
            if m == 0:
                continue
            found, dist = _cell_search(
                np.ascontiguousarray(take(x, members), dtype=np.float32), sq[members],
                members, k)
            if merge:  # (scattered reads of the lists map pages around them: released below)
                found, dist = _merge_lists(np.concatenate([idx[members], found], axis=1),
                                           np.concatenate([d2[members], dist], axis=1), k)
            idx[members] = found
            d2[members] = dist
            gathered += m
            if gathered >= RELEASE_ROWS:
                drop()
                gathered = 0

    # the cells are disjoint: their searches (and merges) run side by side, one per CPU
    in_threads(search, [range(c, min(c + THREAD_CELLS, n_cells))
                        for c in range(0, n_cells, THREAD_CELLS)])
    drop()


def _positive_blocks(idx: np.ndarray, d2: np.ndarray) -> Any:
    """The positive squared distances to other points, block by block, as ``_finish`` takes
    them (after the point itself was put in place of the farthest where missing)."""
    for start in range(0, len(idx), CHUNK_ROWS):
        rows = np.arange(start, min(start + CHUNK_ROWS, len(idx)))[:, None]
        block_idx = np.array(idx[start:start + CHUNK_ROWS], dtype=np.int64)
        block_d2 = np.asarray(d2[start:start + CHUNK_ROWS], dtype=np.float32)
        is_self = _self_in_place(block_idx, rows)
        yield block_d2[~is_self & (block_d2 > 0)]


def _median_positive(idx: np.ndarray, d2: np.ndarray, drop: Callable[[], None]) -> float:
    """``np.median`` of the positive float64 squared distances (:func:`_positive_blocks`),
    found without holding them: positive float32 values sort like their bit patterns, so a
    count per top-16-bit pattern finds the one or two patterns holding the middle values,
    and a second pass sorts only the values of those."""
    counts = np.zeros(1 << 16, dtype=np.int64)
    for block in _positive_blocks(idx, d2):
        counts += np.bincount(block.view(np.uint32) >> 16, minlength=1 << 16)
        drop()
    total = int(counts.sum())
    if not total:
        return 0.0
    middle = total // 2
    ranks = [middle] if total % 2 else [middle - 1, middle]
    cumulative = np.cumsum(counts)
    bins = [int(np.searchsorted(cumulative, r, side="right")) for r in ranks]
    below = int(cumulative[bins[0] - 1]) if bins[0] else 0
    kept = [block[((block.view(np.uint32) >> 16) >= bins[0])
                  & ((block.view(np.uint32) >> 16) <= bins[-1])]
            for block in _positive_blocks(idx, d2)]
    drop()
    values = np.sort(np.concatenate(kept))
    middle_values = values[[r - below for r in ranks]].astype(np.float64)
    return float(np.mean(middle_values))


def _exact_distances(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``knn.exact_distances`` (the same values), the rows gathered with ``take``."""
    out = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), RELEASE_ROWS):
        pair = slice(start, start + RELEASE_ROWS)
        both = take(x, np.concatenate([rows[pair], cols[pair]]))
        half = len(both) // 2
        out[pair] = exact_distances(both, np.arange(half), np.arange(half, len(both)))
    return out


def _finish_lean(x: np.ndarray, idx: np.ndarray, d2: np.ndarray, out_dist: np.ndarray | None,
                 drop: Callable[[], None]) -> None:
    """``knn._finish`` in row chunks, in place: ``idx`` sorted, ``out_dist`` the distances."""
    scale = _median_positive(idx, d2, drop)
    for start in range(0, len(idx), CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, len(idx))
        own = np.arange(start, stop)[:, None]
        block_idx = np.array(idx[start:stop], dtype=np.int64)
        block_d2 = np.maximum(np.asarray(d2[start:stop], dtype=np.float64), 0.0)
        is_self = _self_in_place(block_idx, own)
        idx[start:stop], block_d2 = _exact_sorted(
            block_idx, block_d2, own, is_self, scale,
            lambda rows, cols: _exact_distances(x, rows, cols))
        if out_dist is not None:
            out_dist[start:stop] = np.sqrt(np.maximum(block_d2, 0.0))
        drop()


@single_blas_thread()
def knn_partitioned_lean(
    x: np.ndarray, k: int, *, cell_size: int = 256, seed: int = 0, rounds: int = 1,
    spill: Path | None = None, distances: Any = np.float64,
    distances_file: Path | None = None,
) -> tuple[np.ndarray, Any]:
    """:func:`~deepview._compute.knn.knn_partitioned` with bounded memory (module docstring).

    Parameters
    ----------
    x : numpy.ndarray or FileRows
        ``(n, d)`` points, float32 for the same result as ``knn_partitioned``; may be rows in
        a file (:class:`~deepview._compute.spill.FileRows`, read cell by cell) or a
        memory-mapped array (its pages are released as the search goes).
    k, cell_size, seed, rounds
        As for ``knn_partitioned``.
    spill : pathlib.Path, optional
        Folder where the neighbour lists are kept memory-mapped (``knn-*.bin`` files, which
        the caller removes with the folder); default in memory.
    distances : numpy dtype or None, default=float64
        dtype of the returned distances; ``None`` returns no distances, and ``float32``
        returns them in the buffer of the search's squared distances (no more memory).
    distances_file : pathlib.Path, optional
        Write the distances to this file (written and read in order, so nothing of them
        stays resident) and return them as :class:`~deepview._compute.spill.FileRows`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray or None)
        ``(n, k)`` ``int32`` indices and distances, each row sorted by distance with the point
        itself first.  Equal to ``knn_partitioned``'s (the indices as ``int32``).
    """
    n = len(x)
    k = min(k, n)
    n_cells = max(1, n // cell_size)
    if n_cells < 2:
        full_idx, full_dist = knn_brute(np.ascontiguousarray(x, dtype=np.float32), k)
        return (full_idx.astype(np.int32),
                None if distances is None else full_dist.astype(distances))

    def new(name: str, dtype: Any) -> np.ndarray:
        if spill is None:
            return np.empty((n, k), dtype=dtype)
        return mapped(Path(spill) / f"knn-{name}-{id(x):x}.bin", (n, k), dtype)

    idx = new("idx", np.int32)
    d2 = new("d2", np.float32)
    out_dist: Any = None
    if distances is not None and distances_file is None and np.dtype(distances) == d2.dtype:
        out_dist = d2  # the finish writes each chunk's distances over its squared ones
    elif distances is not None:
        out_dist = (new("dist", distances) if distances_file is None
                    else mapped(Path(distances_file), (n, k), distances))

    def drop() -> None:
        release(x, idx, d2, out_dist)

    sq = np.empty(n, dtype=np.float32)
    for start in range(0, n, CHUNK_ROWS):
        sq[start:start + CHUNK_ROWS] = _sq_norms(_rows(x, start, start + CHUNK_ROWS))
    drop()
    for r in range(rounds):
        _search_round(x, sq, k, n_cells, cell_size, seed + r, idx, d2, r > 0, drop)
    _finish_lean(x, idx, d2, out_dist, drop)
    if distances_file is not None and isinstance(out_dist, np.memmap):
        out_dist.flush()
        release(out_dist)
        out_dist = FileRows(Path(distances_file), (n, k), out_dist.dtype)
    return idx, out_dist


class CellIndex:
    """Approximate k-NN queries against ``points`` (Euclidean): k-means cells of about
    ``cell_size`` points; a query searches the ``probes`` cells with the nearest centroids.

    Up to ``2 * cell_size`` points the search is exact (one cell).  Seeded: the same points
    and seed give the same cells and answers.

    Parameters
    ----------
    points : numpy.ndarray
        ``(m, d)`` points (copied as float32).
    cell_size : int, default=256
    probes : int, default=4
        Cells searched per query.
    seed : int, default=0
        Seed of the k-means cells.
    """

    def __init__(self, points: np.ndarray, *, cell_size: int = 256, probes: int = 4,
                 seed: int = 0) -> None:
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        m = len(self.points)
        self.sq = _sq_norms(self.points)
        self.probes = max(1, int(probes))
        n_cells = max(1, m // cell_size)
        if n_cells < 2:
            label = np.zeros(m, dtype=np.int32)
            n_cells = 1
        else:
            label, n_cells = _cells(self.points, n_cells, cell_size,
                                         np.random.default_rng(seed), lambda: None)
        self.order = np.argsort(label, kind="stable")
        self.bounds = np.searchsorted(label[self.order], np.arange(n_cells + 1))
        sums = np.zeros((n_cells, self.points.shape[1]), dtype=np.float64)
        np.add.at(sums, label, self.points)
        counts = np.bincount(label, minlength=n_cells)
        self.centroids = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        self.centroids[counts == 0] = np.inf  # never the nearest
        self.centroid_sq = _sq_norms(np.where(np.isfinite(self.centroids), self.centroids, 0))

    def __len__(self) -> int:
        return len(self.points)

    @single_blas_thread()
    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(len(queries), k)`` indices into ``points`` and distances, nearest first.
        Rows with fewer than ``k`` candidates are padded with index -1 at distance inf."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, len(self.points))
        n_cells = len(self.centroids)
        q_sq = _sq_norms(q)
        probes = min(self.probes, n_cells)
        if n_cells == 1:
            cells = np.zeros((len(q), 1), dtype=np.int64)
        else:
            to_cells = q_sq[:, None] - 2.0 * (q @ np.nan_to_num(self.centroids, posinf=0).T)
            to_cells += self.centroid_sq[None, :]
            to_cells[:, ~np.isfinite(self.centroids[:, 0])] = np.inf
            cells = np.argpartition(to_cells, probes - 1, axis=1)[:, :probes] \
                if probes < n_cells else np.broadcast_to(np.arange(n_cells), (len(q), n_cells))
        # every (query, probed cell) pair, grouped by cell: one product per cell, then one
        # selection of the k best of each query's probes x k candidates
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
        best_idx = np.take_along_axis(flat_idx, keep, axis=1)
        best_d2 = np.take_along_axis(flat_d2, keep, axis=1)
        return best_idx, np.sqrt(np.maximum(best_d2, 0.0))
