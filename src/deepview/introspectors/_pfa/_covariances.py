"""Per-layer covariance for PFA (in the responses' precision) and its eigen-decomposition."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepview._compute.covariance import (
    BLOCK_BYTES,
    MAX_PENDING,
    CovarianceAccumulator,
    symmetric_eigh,
)
from deepview.exceptions import InvalidDataError, InvalidTypeError

#: row block size and merge interval of PFA's accumulators (read when one is created)
_BLOCK_BYTES = BLOCK_BYTES
_MAX_PENDING = MAX_PENDING


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
        ``(C, C)``; column ``i`` is the unit eigenvector of ``eigenvalues[i]``.
    original_output_count : int
        Number of units ``C``.
    inactive_units : numpy.ndarray
        Sorted indices of the inactive units (see ``PFA.introspect``'s ``epsilon_inactive``).
    """

    covariances: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    original_output_count: int
    inactive_units: np.ndarray

    @staticmethod
    def make_covariance_result(*, covariances: np.ndarray,
                               epsilon_inactive: float = 1e-8) -> PFACovariancesResult:
        """Build the result from a symmetric covariance matrix (eigen-decomposition included)."""
        cov = np.array(covariances, dtype=np.float64)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] == 0:
            raise InvalidDataError("PFACovariancesResult: 'covariances' must be a non-empty square "
                                   f"matrix; got shape {cov.shape}.")
        if not np.isfinite(cov).all():
            raise InvalidDataError("PFACovariancesResult: 'covariances' contains NaN or inf; check "
                                   "the responses.")
        cov += cov.T
        cov *= 0.5
        return PFACovariancesResult._from_symmetric(cov, epsilon_inactive)

    @staticmethod
    def _from_symmetric(cov: np.ndarray, epsilon_inactive: float) -> PFACovariancesResult:
        """Decompose a finite symmetric float64 matrix that the result may own (no copy)."""
        eigenvalues, eigenvectors = symmetric_eigh(cov)
        var = np.abs(np.diag(cov))
        inactive = np.flatnonzero((var < epsilon_inactive * var.max()) | (var == 0.0))
        inactive = inactive.astype(np.int64, copy=False)
        for arr in (cov, eigenvalues, eigenvectors, inactive):
            arr.flags.writeable = False
        return PFACovariancesResult(cov, eigenvalues, eigenvectors, int(cov.shape[0]), inactive)


def streaming_covariance(name: str, *, owner: str) -> CovarianceAccumulator:
    """The accumulator of one PFA layer: block products in the responses' precision."""
    return CovarianceAccumulator(precision="input", block_bytes=_BLOCK_BYTES,
                                 max_pending=_MAX_PENDING, name=name, owner=owner)


def check_response(name: str, x: object, *, owner: str, pfa: bool = True) -> np.ndarray:
    """Check one response, a real ``(B, ...)`` array with units; PFA's is returned ``(B, C)``."""
    if not isinstance(x, np.ndarray):
        raise InvalidTypeError(f"{owner}: field '{name}' must be a numpy array; got "
                               f"{type(x).__name__}.")
    if pfa and x.ndim > 2:
        raise InvalidDataError(f"{owner}: field '{name}' has shape {x.shape} but PFA needs at most "
                               "2 dims (batch, units); add Pooler(dim=..., "
                               "method=Pooler.Method.MAX) or Flattener() (deepview.processors) to "
                               "the pipeline before PFA.")
    if x.dtype.kind not in "biuf":
        raise InvalidTypeError(f"{owner}: field '{name}' must hold real numbers; got dtype "
                               f"{x.dtype}.")
    if x.ndim == 0:
        raise InvalidDataError(f"{owner}: field '{name}' is a scalar; responses must be (batch, "
                               "units...) arrays.")
    if math.prod(x.shape[1:]) == 0:
        raise InvalidDataError(f"{owner}: field '{name}' has shape {x.shape}, i.e. no units; drop "
                               "it from the producer.")
    return x[:, None] if pfa and x.ndim == 1 else x
