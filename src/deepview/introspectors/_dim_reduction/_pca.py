"""PCA strategies: :class:`PCA` (exact, streaming) and :class:`StandardPCA` (sklearn)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import numpy as np

from deepview._compute.pca import (
    BufferedIncrementalPCA,
    CovariancePCA,
    LinearProjection,
    flip_signs,
    make_streaming_pca,
)
from deepview._validation import check_batch_size, check_int
from deepview.exceptions import DeepViewWarning, InvalidDataError, InvalidParameterError
from deepview.introspectors._dim_reduction._base import (
    Collected,
    StrategyBase,
    as_matrix,
    check_target,
    not_fitted,
)

__all__ = ["PCA", "StandardPCA"]

_P = TypeVar("_P", bound="_LinearStrategy")


class _PCAState(Collected):
    """The streaming fitter while fitting; ``fitted``: the :class:`LinearProjection`."""

    fitter: CovariancePCA | BufferedIncrementalPCA | None = None


def _check_samples(target_dimensions: int, n: int, owner: str) -> None:
    if n < target_dimensions:
        raise InvalidDataError(f"{owner}: target_dimensions={target_dimensions} needs at least as "
                               f"many samples; got {n}. Use target_dimensions <= {n} or give more "
                               "samples.")


class _LinearStrategy(StrategyBase):
    """Base of PCA and StandardPCA: a checked ``target_dimensions``, a fitted projection."""

    target_dimensions: int
    _state: Collected

    def __post_init__(self) -> None:
        check_int(self.target_dimensions, name="target_dimensions", owner=self._owner, min_value=1)

    def transform(self, data: np.ndarray) -> np.ndarray:
        model: LinearProjection | None = self._state.fitted
        if model is None:
            raise not_fitted(self._owner)
        x = as_matrix(data, self._owner)
        if x.shape[1] != model.mean.shape[0]:
            raise InvalidDataError(f"{self._owner}: data has {x.shape[1]} features but the PCA was "
                                   f"fitted on {model.mean.shape[0]}.")
        return model.transform(x)

    def _clone(self: _P) -> _P:
        return type(self)(self.target_dimensions)  # type: ignore[call-arg]


@dataclass(frozen=True)
class PCA(_LinearStrategy):
    """Exact principal component analysis in one streaming pass, in constant memory.

    Parameters
    ----------
    target_dimensions : int, default=2
        Number of principal components kept.
    """

    target_dimensions: int = 2
    _state: _PCAState = field(default_factory=_PCAState, init=False, repr=False, compare=False,
                              hash=False)
    _owner: ClassVar[str] = "DimensionReduction.Strategy.PCA"

    def default_batch_size(self) -> int:
        return max(5 * self.target_dimensions, 500)

    def check_batch_size(self, batch_size: int) -> None:
        batch_size = check_batch_size(batch_size, owner=self._owner)
        if self.target_dimensions > batch_size:
            raise InvalidParameterError(f"{self._owner}: batch_size ({batch_size}) must be >= "
                                        f"target_dimensions ({self.target_dimensions}). Use "
                                        f"batch_size={self.default_batch_size()} (or leave "
                                        "batch_size=None).")

    def fit_incremental(self, data: np.ndarray) -> None:
        x = as_matrix(data, self._owner)
        state = self._state
        state.add(x[:0], self._owner)  # checks the width and that it is not fitted yet
        if state.fitter is None:
            check_target(self.target_dimensions, int(x.shape[1]), self._owner)
            state.fitter = make_streaming_pca(self.target_dimensions, int(x.shape[1]))
        state.fitter.partial_fit(x)

    def fit_complete(self) -> None:
        state = self._state
        if state.fitted is not None:
            return
        if state.fitter is None:
            raise InvalidDataError(f"{self._owner}: no data to fit; give at least one sample.")
        n = state.fitter.n_samples
        _check_samples(self.target_dimensions, n, self._owner)
        state.fitted = state.fitter.finalize()
        state.fitter = None
        if not np.any(state.fitted.explained_variance > 0):
            warnings.warn(f"{self._owner}: the data has zero variance ({n} sample(s)); every "
                          "sample projects to 0.", DeepViewWarning, stacklevel=2)

    @property
    def projection(self) -> LinearProjection | None:
        """The fitted projection (mean, components, explained variance), if fitted."""
        return self._state.fitted


@dataclass(frozen=True)
class StandardPCA(_LinearStrategy):
    """Exact PCA with sklearn ``PCA`` on all samples held in memory (prefer :class:`PCA`).

    Parameters
    ----------
    target_dimensions : int, default=2
        Number of principal components kept.
    """

    target_dimensions: int = 2
    _state: Collected = field(default_factory=Collected, init=False, repr=False, compare=False,
                              hash=False)
    _owner: ClassVar[str] = "DimensionReduction.Strategy.StandardPCA"

    def fit_incremental(self, data: np.ndarray) -> None:
        x = as_matrix(data, self._owner)
        if self._state.n_features is None:
            check_target(self.target_dimensions, int(x.shape[1]), self._owner)
        self._state.add(x, self._owner)

    def fit_complete(self) -> None:
        from sklearn.decomposition import PCA as SKPCA

        state = self._state
        if state.fitted is not None:
            return
        x = state.take_all(self._owner, dtype=np.float64)
        n, d = x.shape
        _check_samples(self.target_dimensions, n, self._owner)
        # both solvers are exact; covariance_eigh is much faster when n >> d
        solver = "covariance_eigh" if (n >= 10 * d and d <= 1000) else "full"
        try:
            pca = SKPCA(n_components=self.target_dimensions, svd_solver=solver).fit(x)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise InvalidDataError(f"{self._owner}: sklearn PCA failed: {exc}") from exc
        components = flip_signs(np.asarray(pca.components_, dtype=np.float64))
        state.fitted = LinearProjection.create(pca.mean_, components, pca.explained_variance_, n)
