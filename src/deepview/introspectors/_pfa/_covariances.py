"""Streaming per-layer covariance for PFA and its eigen-decomposition.

The scatter matrix is accumulated block by block.  Each block (a few thousand rows, about
8 MiB) is shifted by the mean of its first incoming batch, multiplied with one GEMM in the
input's precision (float32 responses use float32 GEMM, everything else float64) and merged
into float64 accumulators with the parallel-variance formula (Chan et al.).  Shifting by a
nearby mean removes the cancellation of the textbook ``Σxxᵀ − nμμᵀ`` form, so data with a
large offset (mean 1e4, std 1) keeps full accuracy, and blocks of many rows replace
thousands of tiny products when the producer yields small batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepview._compute.blas import eigh_threads
from deepview.exceptions import InvalidDataError, InvalidTypeError

#: target size of one row block, in bytes
_BLOCK_BYTES = 8 * 2**20
#: fold the per-block means into the scatter after this many blocks (bounds memory)
_MAX_PENDING = 256


@dataclass(frozen=True)
class PFACovariancesResult:
    """Covariance of one layer's responses and its eigen-decomposition.

    Parameters
    ----------
    covariances : numpy.ndarray
        ``(C, C)`` sample covariance (``n - 1`` normalisation) of the layer's ``C`` units.
    eigenvalues : numpy.ndarray
        ``(C,)`` eigenvalues of ``covariances``, clipped at 0, in descending order.
    eigenvectors : numpy.ndarray
        ``(C, C)``; column ``i`` is the unit eigenvector of ``eigenvalues[i]``, so
        ``covariances @ eigenvectors[:, i] ≈ eigenvalues[i] * eigenvectors[:, i]``.
    original_output_count : int
        Number of units ``C``.
    inactive_units : numpy.ndarray
        Sorted indices of the inactive units: variance below ``epsilon_inactive`` times the
        largest variance of the layer, or exactly 0 (so an all-constant layer is all inactive).
    """

    covariances: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    original_output_count: int
    inactive_units: np.ndarray

    @staticmethod
    def make_covariance_result(
        *, covariances: np.ndarray, epsilon_inactive: float = 1e-8
    ) -> PFACovariancesResult:
        """Build the result from a symmetric covariance matrix (eigen-decomposition included)."""
        cov = np.array(covariances, dtype=np.float64)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] == 0:
            raise InvalidDataError(
                f"PFACovariancesResult: 'covariances' must be a non-empty square matrix; "
                f"got shape {cov.shape}."
            )
        if not np.isfinite(cov).all():
            raise InvalidDataError(
                "PFACovariancesResult: 'covariances' contains NaN or inf; check the responses."
            )
        cov += cov.T
        cov *= 0.5
        return PFACovariancesResult._from_symmetric(cov, epsilon_inactive)

    @staticmethod
    def _from_symmetric(cov: np.ndarray, epsilon_inactive: float) -> PFACovariancesResult:
        """Decompose a finite symmetric float64 matrix that the result may own (no copy)."""
        eigenvalues, eigenvectors = _eigh(cov)
        # eigh returns ascending values with matching COLUMNS: reverse both the same way
        eigenvalues = np.maximum(eigenvalues[::-1], 0.0)
        eigenvectors = np.ascontiguousarray(eigenvectors[:, ::-1])
        var = np.abs(np.diag(cov))
        inactive = np.flatnonzero((var < epsilon_inactive * var.max()) | (var == 0.0))
        inactive = inactive.astype(np.int64, copy=False)
        for arr in (cov, eigenvalues, eigenvectors, inactive):
            arr.flags.writeable = False
        return PFACovariancesResult(
            covariances=cov,
            eigenvalues=eigenvalues,
            eigenvectors=eigenvectors,
            original_output_count=int(cov.shape[0]),
            inactive_units=inactive,
        )


def _eigh(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``numpy.linalg.eigh`` under deepview's thread policy for eigenproblems."""
    with eigh_threads(cov.shape[0]):
        return np.linalg.eigh(cov)  # type: ignore[return-value]


def _compute_dtype(dtype: np.dtype) -> type[np.floating]:
    if dtype in (np.float16, np.float32, np.bool_, np.int8, np.uint8, np.int16, np.uint16):
        return np.float32  # exactly representable in float32
    return np.float64


class StreamingScatter:
    """Accumulates ``n``, the mean and the centered scatter of ``(B, C)`` batches.

    Memory is O(C²) (float64 accumulator + one float32/float64 row block), independent of
    the number of samples.
    """

    def __init__(self, name: str, n_units: int, dtype: np.dtype, *, owner: str) -> None:
        self.name = name
        self.owner = owner
        self.n_units = n_units
        self.dtype = _compute_dtype(dtype)
        itemsize = np.dtype(self.dtype).itemsize
        rows = _BLOCK_BYTES // ((n_units + 1) * itemsize)
        self.block_rows = int(min(max(rows, 64), 65536))
        # last column stays 1 so that one GEMM also yields the column sums and the count
        self._buf = np.empty((self.block_rows, n_units + 1), dtype=self.dtype)
        self._buf[:, n_units] = 1.0
        self._fill = 0
        self._shift = np.zeros(n_units, dtype=self.dtype)
        self.count = 0
        self._scatter = np.zeros((n_units, n_units), dtype=np.float64)
        # per-block (count, mean, mean of the shifted block), folded into _scatter later
        self._pending: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._n_folded = 0
        self._mean_folded = np.zeros(n_units, dtype=np.float64)

    def update(self, x: np.ndarray) -> None:
        k = x.shape[0]
        pos = 0
        c = self.n_units
        while pos < k:
            if self._fill == 0:
                head = x[pos:pos + 64]
                shift = head.mean(axis=0, dtype=np.float64)
                # a NaN/inf in the head must not poison the whole block (reported at flush)
                shift[~np.isfinite(shift)] = 0.0
                self._shift = shift.astype(self.dtype)
            take = min(k - pos, self.block_rows - self._fill)
            np.subtract(
                x[pos:pos + take], self._shift, out=self._buf[self._fill:self._fill + take, :c],
                casting="unsafe",
            )
            self._fill += take
            pos += take
            if self._fill == self.block_rows:
                self._flush()

    def _flush(self) -> None:
        m = self._fill
        if m == 0:
            return
        c = self.n_units
        block = self._buf[:m]
        with np.errstate(over="ignore", invalid="ignore"):
            gram = block.T @ block
        sums = gram[c, :c]
        if not (np.isfinite(sums).all() and np.isfinite(np.diagonal(gram)).all()):
            gram = self._recheck_block(block)
        n_b = m
        s = gram[c, :c].astype(np.float64)
        d = s / n_b
        np.add(self._scatter, gram[:c, :c], out=self._scatter, casting="unsafe")
        self._pending.append((n_b, self._shift.astype(np.float64) + d, d))
        self.count += n_b
        self._fill = 0
        if len(self._pending) >= _MAX_PENDING:
            self._fold()

    def _recheck_block(self, block: np.ndarray) -> np.ndarray:
        """Non-finite block statistics: NaN/inf in the data, or float32 overflow."""
        if not np.isfinite(block).all():
            bad = int(np.count_nonzero(~np.isfinite(block).all(axis=1)))
            raise InvalidDataError(
                f"{self.owner}: field '{self.name}' contains NaN or inf values in {bad} "
                f"sample(s) of samples {self.count}..{self.count + len(block) - 1}; remove or "
                "impute them (e.g. with Composer.from_element_filter) before introspecting."
            )
        wide = block.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            gram = wide.T @ wide
        if not np.isfinite(gram).all():
            raise InvalidDataError(
                f"{self.owner}: field '{self.name}' has values too large to square in float64 "
                "(covariance overflows); rescale the responses (e.g. divide by their max)."
            )
        return gram

    def _fold(self) -> None:
        """Merge the pending block means into the scatter (parallel-variance formula)."""
        if not self._pending:
            return
        counts = np.array([self._n_folded] + [p[0] for p in self._pending], dtype=np.float64)
        means = np.vstack([self._mean_folded] + [p[1] for p in self._pending])
        shifts = np.vstack([np.zeros(self.n_units)] + [p[2] for p in self._pending])
        total = counts.sum()
        mean = (counts @ means) / total
        w = np.sqrt(counts)[:, None]
        between = (means - mean) * w
        within = shifts * w
        self._scatter += between.T @ between
        self._scatter -= within.T @ within
        self._n_folded = int(total)
        self._mean_folded = mean
        self._pending = []

    def finalize(self) -> tuple[int, np.ndarray, np.ndarray]:
        """Return ``(n, mean, covariance)``; covariance uses ``n - 1`` (``n`` if ``n <= 1``)."""
        self._flush()
        self._fold()
        self._buf = np.empty((0, self.n_units + 1), dtype=self.dtype)  # release the block
        n = self.count
        cov = self._scatter  # symmetrised and scaled in place: no C x C copies
        cov += cov.T
        cov *= 0.5 / (n - 1 if n > 1 else max(n, 1))
        self._scatter = np.zeros((0, 0))
        return n, self._mean_folded.copy(), cov


def check_response(name: str, x: object, *, owner: str) -> np.ndarray:
    """Validate one PFA response of a batch and return it as ``(B, C)``."""
    if not isinstance(x, np.ndarray):
        raise InvalidTypeError(
            f"{owner}: field '{name}' must be a numpy array; got {type(x).__name__}."
        )
    if x.ndim > 2:
        raise InvalidDataError(
            f"{owner}: field '{name}' has shape {x.shape} but PFA needs at most 2 dims "
            "(batch, units); add Pooler(dim=..., method=Pooler.Method.MAX) or Flattener() "
            "(deepview.processors) to the pipeline before PFA."
        )
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
            or x.dtype == np.bool_):
        raise InvalidTypeError(
            f"{owner}: field '{name}' must hold real numbers; got dtype {x.dtype}."
        )
    if x.ndim == 1:
        x = x[:, None]
    elif x.ndim == 0:
        raise InvalidDataError(
            f"{owner}: field '{name}' is a scalar; responses must be (batch, units) arrays."
        )
    if x.shape[1] == 0:
        raise InvalidDataError(
            f"{owner}: field '{name}' has shape {x.shape}, i.e. no units; drop it from the "
            "producer before PFA."
        )
    return x
