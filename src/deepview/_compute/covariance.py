"""Streaming covariance (mean and scatter matrix of row batches in O(D²) memory, merged
exactly) and the symmetric eigensolver, shared by PCA and PFA."""

from __future__ import annotations

from typing import Literal

import numpy as np

from deepview._compute.blas import eigh_threads
from deepview.exceptions import InvalidDataError, InvalidParameterError

__all__ = ["BLOCK_BYTES", "MAX_PENDING", "CovarianceAccumulator", "symmetric_eigh"]

#: default size of one row block, in bytes
BLOCK_BYTES = 8 * 2**20
#: default number of blocks whose means are merged into the scatter at once (bounds memory)
MAX_PENDING = 256

Precision = Literal["float64", "input"]


def _gemm_dtype(dtype: np.dtype, precision: Precision) -> type[np.floating]:
    """float64, or float32 for ``"input"`` data that float32 holds exactly."""
    small = (np.float16, np.float32, np.bool_, np.int8, np.uint8, np.int16, np.uint16)
    if precision == "input" and dtype in small:
        return np.float32
    return np.float64


class CovarianceAccumulator:
    """Streaming mean and scatter matrix of ``(B, D)`` row batches: blocks of about
    ``block_bytes`` shifted by their first rows' mean, one GEMM each (in float32 for
    ``precision="input"`` on float32 or small integer data), merged in float64 (Chan et al.)
    ``max_pending`` blocks at a time.  ``update`` / ``merge`` / ``finish`` is the
    partial-state protocol; pickled without the row block.  ``name`` and ``owner`` go into
    the errors (:class:`InvalidDataError` for NaN/inf, another width, float64 overflow).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 3)) + 1e8
    >>> first, second = CovarianceAccumulator(), CovarianceAccumulator()
    >>> for start in range(0, 30, 7):
    ...     first.update(x[start:min(start + 7, 30)])
    >>> second.update(x[30:])
    >>> n, mean, cov = first.merge(second).finish()  # n - 1 normalisation, like np.cov
    >>> n, bool(np.allclose(cov, np.cov(x.T)))
    (100, True)
    """

    def __init__(self, *, precision: Precision = "float64", block_bytes: int = BLOCK_BYTES,
                 max_pending: int = MAX_PENDING, name: str | None = None,
                 owner: str = "CovarianceAccumulator") -> None:
        self.precision = precision
        self.block_bytes = block_bytes
        self.max_pending = max_pending
        self.name = name
        self.owner = owner
        self._reset()

    def _reset(self) -> None:
        self.n_features: int | None = None
        self.count = 0  # rows merged into the totals (the block holds the rest)
        self._buf: np.ndarray | None = None
        self._fill = 0
        self._shift = np.zeros(0)  # subtracted from the rows of the current block
        self._scatter: np.ndarray | None = None
        self._pending: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._n_merged = 0
        self._mean_merged: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Rows seen so far."""
        return self.count + self._fill

    def _allocate(self, input_dtype: np.dtype) -> None:
        """The row block (also after unpickling, which drops it)."""
        assert self.n_features is not None
        d = self.n_features
        dtype = _gemm_dtype(input_dtype, self.precision)
        rows = self.block_bytes // ((d + 1) * np.dtype(dtype).itemsize)
        # the last column stays 1: the GEMM yields the column sums too
        self._buf = np.empty((int(min(max(rows, 64), 65536)), d + 1), dtype=dtype)
        self._buf[:, d] = 1.0

    def update(self, x: np.ndarray) -> None:
        """Add the rows of a 2-D array of real numbers (the array is not modified)."""
        if x.ndim != 2:
            raise InvalidDataError(
                f"{self._where()} must be 2-D (samples, features); got shape {x.shape}.")
        if self.n_features is None:
            d = self.n_features = int(x.shape[1])
            self._scatter = np.zeros((d, d), dtype=np.float64)
            self._mean_merged = np.zeros(d, dtype=np.float64)
        elif x.shape[1] != self.n_features:
            raise InvalidDataError(
                f"{self._where()} has {x.shape[1]} features in a later batch but "
                f"{self.n_features} in the first; every batch must have the same width.")
        if self._buf is None:
            self._allocate(x.dtype)
        buf = self._buf
        assert buf is not None
        d = buf.shape[1] - 1
        pos, k = 0, int(x.shape[0])
        while pos < k:
            if self._fill == 0:
                shift = x[pos:pos + 64].mean(axis=0, dtype=np.float64)
                shift[~np.isfinite(shift)] = 0.0  # NaN/inf: reported at the flush
                self._shift = shift.astype(buf.dtype)
            take = min(k - pos, len(buf) - self._fill)
            np.subtract(x[pos:pos + take], self._shift,
                        out=buf[self._fill:self._fill + take, :d], casting="unsafe")
            self._fill += take
            pos += take
            if self._fill == len(buf):
                self._flush()

    def _flush(self) -> None:
        m = self._fill
        if m == 0 or self._buf is None or self._scatter is None:
            return
        d = self._buf.shape[1] - 1
        block = self._buf[:m]
        with np.errstate(over="ignore", invalid="ignore"):
            gram = block.T @ block
        if not (np.isfinite(gram[d, :d]).all() and np.isfinite(np.diagonal(gram)).all()):
            gram = self._recheck_block(block)
        d_mean = gram[d, :d].astype(np.float64) / m
        np.add(self._scatter, gram[:d, :d], out=self._scatter, casting="unsafe")
        self._pending.append((m, self._shift.astype(np.float64) + d_mean, d_mean))
        self.count += m
        self._fill = 0
        if len(self._pending) >= self.max_pending:
            self._merge()

    def _where(self) -> str:
        return f"{self.owner}: field '{self.name}'" if self.name else f"{self.owner}: the data"

    def _recheck_block(self, block: np.ndarray) -> np.ndarray:
        """Non-finite block statistics: NaN/inf in the data, or float32 overflow."""
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            raise InvalidDataError(
                f"{self._where()} contains NaN or inf values in "
                f"{int(np.count_nonzero(~finite))} sample(s) of samples {self.count}.."
                f"{self.count + len(block) - 1}; remove or impute them (e.g. with "
                "Composer.from_element_filter) before introspecting.")
        wide = block.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            gram = wide.T @ wide
        if not np.isfinite(gram).all():
            raise InvalidDataError(
                f"{self._where()} has values too large to square in float64 (the covariance "
                "overflows); rescale them (e.g. divide by their max).")
        return gram

    def _merge(self) -> None:
        """Merge the pending block means into the scatter (parallel-variance formula)."""
        if not self._pending or self._scatter is None or self._mean_merged is None:
            return
        counts = np.array([self._n_merged] + [p[0] for p in self._pending], dtype=np.float64)
        means = np.vstack([self._mean_merged] + [p[1] for p in self._pending])
        shifts = np.vstack([np.zeros_like(self._mean_merged)] + [p[2] for p in self._pending])
        total = counts.sum()
        mean = (counts @ means) / total
        w = np.sqrt(counts)[:, None]
        between = (means - mean) * w
        within = shifts * w
        self._scatter += between.T @ between
        self._scatter -= within.T @ within
        self._n_merged = int(total)
        self._mean_merged = mean
        self._pending = []

    def merge(self, other: CovarianceAccumulator) -> CovarianceAccumulator:
        """Add the rows of ``other`` to this one, exactly; returns ``self``.  Raises
        InvalidDataError for another width, InvalidParameterError for another type."""
        if not isinstance(other, CovarianceAccumulator):
            raise InvalidParameterError(f"{self.owner}: can only merge another "
                                        f"CovarianceAccumulator; got {type(other).__name__}.")
        if other.n_features is None or other.n == 0:
            return self
        other_scatter = other._settle()
        assert other._mean_merged is not None
        if self.n_features is None or self.n == 0:
            self._reset()  # the row block: allocated on the next update, in its data's precision
            self.n_features = other.n_features
            self._scatter = other_scatter.copy()
            self._mean_merged = other._mean_merged.copy()
            self._n_merged = self.count = other.count
            return self
        if other.n_features != self.n_features:
            raise InvalidDataError(
                f"{self._where()} cannot be merged: a partial state of rows with "
                f"{other.n_features} features into one of rows with {self.n_features}; "
                "every block must have the same width.")
        scatter = self._settle()
        assert self._mean_merged is not None
        n_a, n_b = float(self.count), float(other.count)
        delta = other._mean_merged - self._mean_merged
        scatter += other_scatter
        scatter += np.outer(delta, delta * (n_a * n_b / (n_a + n_b)))
        self._mean_merged = self._mean_merged + delta * (n_b / (n_a + n_b))
        self.count += other.count
        self._n_merged = self.count
        return self

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the row block (folded into the totals first)."""
        if self.n_features is not None:
            self._settle()
        state = dict(self.__dict__)
        state["_buf"] = None
        return state

    def _settle(self) -> np.ndarray:
        self._flush()
        self._merge()
        if self._scatter is None:
            raise InvalidDataError(f"{self.owner}: no data was given; give at least one sample.")
        return self._scatter

    @property
    def mean(self) -> np.ndarray:
        """``(D,)`` float64 mean of the rows so far."""
        self._settle()
        assert self._mean_merged is not None
        return self._mean_merged.copy()

    def covariance(self, ddof: int = 0) -> np.ndarray:
        """A new ``(D, D)`` float64 covariance matrix, ``scatter / (n - ddof)``."""
        if self.n - ddof <= 0:
            raise InvalidDataError(f"{self.owner}: need more than {ddof} sample(s); got {self.n}.")
        scatter = self._settle()
        cov = scatter + scatter.T
        cov *= 0.5 / (self.count - ddof)
        return cov

    def finalize(self) -> tuple[int, np.ndarray, np.ndarray]:
        """``(n, mean, covariance)`` with ``n - 1`` normalisation, in the accumulator's memory; the
        accumulator is empty afterwards."""
        cov = self._settle()
        n = self.count
        assert self._mean_merged is not None
        mean = self._mean_merged
        cov += cov.T  # symmetrised and scaled in place
        cov *= 0.5 / (n - 1 if n > 1 else max(n, 1))
        self._reset()
        return n, mean, cov

    #: :meth:`finalize` (the partial-state protocol's end)
    finish = finalize


def symmetric_eigh(matrix: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, clipped at 0) and unit eigenvector columns of a symmetric PSD
    ``(D, D)`` matrix: all, or the ``k`` largest.

    Examples
    --------
    >>> import numpy as np
    >>> values, vectors = symmetric_eigh(np.diag([1.0, 3.0, 2.0]), k=2)
    >>> values.tolist(), np.abs(vectors[:, 0]).tolist()
    ([3.0, 2.0], [0.0, 1.0, 0.0])
    """
    d = matrix.shape[0]
    with eigh_threads(d):
        if k is None or k >= d:
            values, vectors = np.linalg.eigh(matrix)  # divide and conquer: all pairs
        else:
            import scipy.linalg  # only here: PFA's full decompositions do without it

            values, vectors = scipy.linalg.eigh(matrix, subset_by_index=[d - k, d - 1],
                                                check_finite=False)
    # eigh returns ascending values with matching COLUMNS: reverse both the same way
    return np.maximum(values[::-1], 0.0), np.ascontiguousarray(vectors[:, ::-1])
