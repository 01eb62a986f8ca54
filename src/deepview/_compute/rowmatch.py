"""Recognising rows seen before: exact row lookup (hash, then compare) and tolerant row
fingerprints (a few random projections per row)."""

from __future__ import annotations

import numpy as np

__all__ = ["ExactRowIndex", "RowFingerprints", "hash_rows"]

_SEED = 0x5EED_D1AB


def _canonical32(x: np.ndarray) -> np.ndarray:
    """C-contiguous float32 copy-or-view with ``-0.0`` turned into ``+0.0``."""
    out = np.ascontiguousarray(x, dtype=np.float32)
    return out + np.float32(0.0)  # -0.0 + 0.0 == +0.0; always a fresh array


def _multipliers(n_features: int) -> np.ndarray:
    rng = np.random.default_rng(_SEED + n_features)
    return rng.integers(1, 2**63 - 1, size=n_features, dtype=np.uint64) | np.uint64(1)


def hash_rows(x32: np.ndarray) -> np.ndarray:
    """64-bit hash of each row of a canonical float32 array."""
    if x32.shape[1] == 0:
        return np.zeros(len(x32), dtype=np.uint64)
    bits = x32.view(np.uint32).astype(np.uint64)
    mult = _multipliers(x32.shape[1])
    with np.errstate(over="ignore"):
        bits += np.uint64(0x9E3779B97F4A7C15)
        bits *= mult
        bits ^= bits >> np.uint64(29)
        h: np.ndarray = bits.sum(axis=1, dtype=np.uint64)
    return h


class ExactRowIndex:
    """Lookup of exact copies (float32, ``-0.0 == 0.0``) of the training rows ``data``.

    Examples
    --------
    >>> import numpy as np
    >>> train = np.arange(12, dtype=np.float32).reshape(4, 3)
    >>> index = ExactRowIndex(train)
    >>> index.lookup(np.stack([train[2], train[0] + 1, train[1]])).tolist()
    [2, -1, 1]
    """

    def __init__(self, data: np.ndarray) -> None:
        self.data = _canonical32(data)
        hashes = hash_rows(self.data)
        # stable sort: among exact duplicates the first occurrence is found first
        self._order = np.argsort(hashes, kind="stable")
        self._sorted = hashes[self._order]

    def lookup(self, x: np.ndarray) -> np.ndarray:
        """Index of a training row equal to each row of ``x``, or -1 where there is none."""
        q = _canonical32(x)
        if q.shape[1] != self.data.shape[1] or len(self._sorted) == 0:
            return np.full(len(q), -1, dtype=np.intp)
        h = hash_rows(q)
        # past the end: the last hash, smaller than h
        pos = np.minimum(np.searchsorted(self._sorted, h), len(self._sorted) - 1)
        cand = self._order[pos]
        hit = self._sorted[pos] == h
        if hit.any():
            rows = np.flatnonzero(hit)
            equal = (self.data[cand[rows]] == q[rows]).all(axis=1)
            hit[rows[~equal]] = False
        return np.where(hit, cand, -1).astype(np.intp)


class RowFingerprints:
    """A few random projections per fitted row; ``matches(rows, x)`` checks that the rows of
    ``x`` are fitted rows ``rows`` up to ``rtol`` times (distance to the centre + RMS spread)."""

    def __init__(self, n_projections: int = 4, rtol: float = 1e-3) -> None:
        self.n_projections = n_projections
        self.rtol = rtol
        self._centre: np.ndarray | None = None
        self._proj: np.ndarray | None = None
        self._chunks: list[np.ndarray] = []
        self._norms: list[np.ndarray] = []
        self._sq_sum = 0.0
        self._n = 0
        self._spread = 0.0
        self._fp: np.ndarray | None = None
        self._fp_norm: np.ndarray | None = None

    def _project(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._centre is None or self._proj is None:
            rng = np.random.default_rng(_SEED)
            self._centre = np.asarray(x, dtype=np.float64).mean(axis=0)
            # unit-variance directions: a projection is on the scale of the row norm
            self._proj = rng.normal(size=(x.shape[1], self.n_projections))
        xc = np.asarray(x, dtype=np.float64) - self._centre
        return xc @ self._proj, np.sqrt(np.einsum("ij,ij->i", xc, xc))

    def update(self, x: np.ndarray) -> None:
        fp, norms = self._project(x)
        self._chunks.append(fp)
        self._norms.append(norms)
        self._sq_sum += float(np.dot(norms, norms))
        self._n += len(x)

    def finalize(self) -> None:
        self._fp = np.concatenate(self._chunks) if self._chunks else np.zeros((0, 0))
        self._fp_norm = np.concatenate(self._norms) if self._norms else np.zeros(0)
        self._chunks, self._norms = [], []
        self._spread = float(np.sqrt(self._sq_sum / self._n)) if self._n else 0.0

    def matches(self, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Per row of ``x``: is it (up to float noise) fitted row ``rows[i]``?"""
        if self._fp is None or self._fp_norm is None:
            self.finalize()
        ref_fp, ref_norm = self._fp, self._fp_norm
        assert ref_fp is not None and ref_norm is not None
        fp, norms = self._project(x)
        tol = self.rtol * (ref_norm[rows] + norms + self._spread) + 1e-12
        diff = np.abs(fp - ref_fp[rows]).max(axis=1)
        ok: np.ndarray = (diff <= tol) & (np.abs(norms - ref_norm[rows]) <= tol)
        return ok
