"""Streaming PCA: ``partial_fit(x)`` per batch, then ``finalize()`` -> :class:`LinearProjection`;
exact from the covariance up to :data:`EXACT_MAX_FEATURES` features, else incremental."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg  # noqa: F401 - loaded with PCA (symmetric_eigh's top-k solver), not mid-fit

from deepview._compute.blas import blas_threads_for
from deepview._compute.covariance import CovarianceAccumulator, symmetric_eigh
from deepview.exceptions import InvalidDataError

__all__ = ["EXACT_MAX_FEATURES", "BufferedIncrementalPCA", "CovarianceAccumulator",
           "CovariancePCA", "LinearProjection", "flip_signs", "make_streaming_pca"]

#: widest data for which :func:`make_streaming_pca` accumulates the exact covariance
EXACT_MAX_FEATURES = 4096


@dataclass(frozen=True)
class LinearProjection:
    """A fitted PCA: ``transform(x) = (x - mean) @ components.T``; unit axes by decreasing
    ``explained_variance``, each with its largest loading positive."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    n_samples: int
    _mean32: np.ndarray
    _components32_t: np.ndarray

    @classmethod
    def create(cls, mean: np.ndarray, components: np.ndarray, explained_variance: np.ndarray,
               n_samples: int) -> LinearProjection:
        mean = np.ascontiguousarray(mean, dtype=np.float64)
        components = np.ascontiguousarray(components, dtype=np.float64)
        return cls(mean, components, np.asarray(explained_variance, dtype=np.float64),
                   int(n_samples), mean.astype(np.float32),
                   np.ascontiguousarray(components.T, dtype=np.float32))

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Project rows of ``x``; float32 in -> float32 out, else float64."""
        with blas_threads_for(2.0 * x.shape[0] * x.shape[1] * self.components.shape[0]):
            if x.dtype == np.float32:
                return np.subtract(x, self._mean32) @ self._components32_t
            return (np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T


def flip_signs(components: np.ndarray) -> np.ndarray:
    """Make the largest-|loading| entry of every row positive (like sklearn's svd_flip)."""
    if components.size == 0:
        return components
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


class CovariancePCA:
    """Exact PCA from one streaming pass, in row blocks of about ``buffer_bytes``."""

    def __init__(self, n_components: int, *, buffer_bytes: int = 16 * 2**20) -> None:
        self.n_components = n_components
        self.buffer_bytes = buffer_bytes
        self._acc = CovarianceAccumulator(block_bytes=buffer_bytes, owner="PCA")

    @property
    def n_samples(self) -> int:
        return self._acc.n

    def partial_fit(self, x: np.ndarray) -> None:
        self._acc.update(x)

    def finalize(self) -> LinearProjection:
        if self._acc.n == 0:
            raise InvalidDataError("PCA: no data was given to fit; give at least one sample.")
        n, mean, covariance = self._acc.finalize()  # n - 1 normalisation, like sklearn
        values, vectors = symmetric_eigh(covariance, self.n_components)
        return LinearProjection.create(mean, flip_signs(vectors.T), values, n)


class BufferedIncrementalPCA:
    """sklearn ``IncrementalPCA`` that never skips data: chunks of at least ``n_components``
    rows, the last ones held back for the final chunk."""

    def __init__(self, n_components: int) -> None:
        from sklearn.decomposition import IncrementalPCA

        self.n_components = n_components
        self._ipca: Any = IncrementalPCA(n_components=n_components)
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._fitted_rows = 0

    @property
    def n_samples(self) -> int:
        return self._fitted_rows + self._pending_rows

    def partial_fit(self, x: np.ndarray) -> None:
        if len(x) == 0:
            return
        self._pending.append(np.asarray(x))
        self._pending_rows += len(x)
        k = self.n_components
        if self._pending_rows >= 2 * k:
            block = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._fit(block[:-k])
            self._pending = [block[-k:].copy()]
            self._pending_rows = k

    def _fit(self, block: np.ndarray) -> None:
        self._ipca.partial_fit(block)
        self._fitted_rows += len(block)

    def finalize(self) -> LinearProjection:
        if self._pending_rows:
            block = np.concatenate(self._pending)
            if self._fitted_rows == 0 and len(block) < self.n_components:
                raise InvalidDataError(f"PCA: {self.n_components} components need at least "
                                       f"{self.n_components} samples; got {len(block)}.")
            self._fit(block)
            self._pending, self._pending_rows = [], 0
        if self._fitted_rows == 0:
            raise InvalidDataError("PCA: no data was given to fit; give at least one sample.")
        ipca = self._ipca
        components = flip_signs(np.asarray(ipca.components_, dtype=np.float64))
        return LinearProjection.create(ipca.mean_, components, ipca.explained_variance_,
                                       self._fitted_rows)


def make_streaming_pca(n_components: int, n_features: int, *,
                       exact_max_features: int = EXACT_MAX_FEATURES
                       ) -> CovariancePCA | BufferedIncrementalPCA:
    """The exact covariance fitter up to ``exact_max_features`` features, else incremental."""
    if n_features <= exact_max_features:
        return CovariancePCA(n_components)
    return BufferedIncrementalPCA(n_components)
