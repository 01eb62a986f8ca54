"""Dimension reduction of batch fields: PCA (exact, streaming), StandardPCA, t-SNE, UMAP, PaCMAP.

:meth:`DimensionReduction.introspect` fits one reducer per field in a single pass over a
producer; the returned :class:`DimensionReduction` is a :class:`~deepview.base.PipelineStage`
that replaces each reduced field by its ``(batch, target_dimensions)`` projection.

Strategies are configuration: ``introspect`` fits a fresh clone per field, so one strategy
object can serve any number of fields (or introspections) without sharing state, and the
fitted state lives in the returned result.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Final, Protocol, Union, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from deepview._compute.pca import (
    BufferedIncrementalPCA,
    CovariancePCA,
    LinearProjection,
    flip_signs,
    make_streaming_pca,
)
from deepview._compute.rowmatch import ExactRowIndex, RowFingerprints
from deepview._optional import require
from deepview._validation import check_batch_size, check_field, check_int
from deepview.base import Batch, PipelineStage, Producer, iter_batches
from deepview.exceptions import (
    DeepViewException,
    DeepViewWarning,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
    MissingFieldError,
)

__all__ = ["DimensionReduction", "DimensionReductionStrategyType", "OneOrManyDimStrategies"]

logger = logging.getLogger(__name__)

_OWNER = "DimensionReduction"


# --------------------------------------------------------------------------------------
# protocol
# --------------------------------------------------------------------------------------


@runtime_checkable
class DimensionReductionStrategyType(Protocol):
    """Strategy for reducing the dimension of one field.

    ``fit_incremental`` is called for every batch, then ``fit_complete`` once.  Streaming
    strategies (``is_one_shot == False``) then map any data with ``transform``; one-shot
    strategies (t-SNE, PaCMAP) only embed the fitted samples, returned in fit order by
    ``transform_one_shot``.  Calling the unsupported transform raises
    :class:`~deepview.exceptions.DeepViewException`.  ``_clone`` returns a fresh, unfitted
    copy: :meth:`DimensionReduction.introspect` fits one clone per field.
    """

    def default_batch_size(self) -> int:
        """Batch size used when ``introspect`` is given none."""
        ...

    def check_batch_size(self, batch_size: int) -> None:
        """Raise :class:`DeepViewException` if ``batch_size`` cannot be used."""
        ...

    @property
    def target_dimensions(self) -> int:
        """Number of dimensions of the output."""
        ...

    def fit_incremental(self, data: np.ndarray) -> None:
        """Fit (or collect) one batch of ``(batch, features)`` data."""
        ...

    def fit_complete(self) -> None:
        """Called once after the last batch."""
        ...

    @property
    def is_one_shot(self) -> bool:
        """True if only ``transform_one_shot`` works (the fitted samples' embedding)."""
        ...

    def transform(self, data: np.ndarray) -> np.ndarray:
        """Project ``(batch, features)`` data to ``(batch, target_dimensions)``."""
        ...

    def transform_one_shot(self) -> np.ndarray:
        """The embedding of all fitted samples, in fit order."""
        ...

    def _clone(self) -> DimensionReductionStrategyType:
        """A fresh, unfitted copy with the same parameters."""
        ...


OneOrManyDimStrategies = Union[
    DimensionReductionStrategyType, Mapping[str, DimensionReductionStrategyType]
]
"""One strategy for every field, or a mapping from field name to strategy."""


# --------------------------------------------------------------------------------------
# shared helpers for the bundled strategies
# --------------------------------------------------------------------------------------


def _as_matrix(data: Any, owner: str) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise InvalidTypeError(f"{owner}: data must be a numpy array; got {type(data).__name__}.")
    if data.ndim != 2:
        raise InvalidDataError(
            f"{owner}: data has shape {data.shape} but needs 2 dims (batch, features); "
            "add Flattener() (deepview.processors) to the pipeline."
        )
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_):
        raise InvalidTypeError(f"{owner}: data must hold numbers; got dtype {data.dtype}.")
    return data


def _check_target(target: int, n_features: int, owner: str) -> None:
    if target > n_features:
        raise InvalidDataError(
            f"{owner}: target_dimensions={target} exceeds the {n_features} feature(s) of the "
            f"data. Use target_dimensions <= {n_features}."
        )


class _Collected:
    """Batches collected by an accumulating strategy, plus the fitted result."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.n_features: int | None = None
        self.fitted: Any = None

    def add(self, data: np.ndarray, owner: str) -> None:
        d = int(data.shape[1])
        if self.fitted is not None:
            raise DeepViewException(
                f"{owner}: already fitted; use _clone() for a fresh copy to fit new data."
            )
        if self.n_features is None:
            self.n_features = d
        elif d != self.n_features:
            raise InvalidDataError(
                f"{owner}: batches have different feature counts ({self.n_features} then "
                f"{d}); every batch of a field needs the same shape."
            )
        if len(data):
            self.chunks.append(data)

    def take_all(self, owner: str, dtype: type = np.float32) -> np.ndarray:
        if not self.chunks:
            raise InvalidDataError(f"{owner}: no data to fit; give at least one sample.")
        parts, self.chunks = self.chunks, []
        return np.ascontiguousarray(np.concatenate(parts) if len(parts) > 1 else parts[0],
                                    dtype=dtype)


def _not_fitted(owner: str) -> DeepViewException:
    return DeepViewException(
        f"{owner}: not fitted yet; call fit_incremental() and fit_complete() first "
        "(or use DimensionReduction.introspect)."
    )


def _wrong_transform(owner: str, one_shot: bool) -> DeepViewException:
    if one_shot:
        return DeepViewException(
            f"{owner}: transform() is not available for a one-shot strategy; call "
            "transform_one_shot() to get the embedding of the fitted samples."
        )
    return DeepViewException(
        f"{owner}: transform_one_shot() is not available; call transform(data)."
    )


# --------------------------------------------------------------------------------------
# PCA (exact, streaming) and StandardPCA
# --------------------------------------------------------------------------------------


class _PCAState:
    def __init__(self) -> None:
        self.fitter: CovariancePCA | BufferedIncrementalPCA | None = None
        self.n_features: int | None = None
        self.model: LinearProjection | None = None


@dataclass(frozen=True)
class PCA:
    """Principal component analysis in one streaming pass, in constant memory.

    Exact, streaming: the mean and D x D covariance are accumulated in float64 batch by
    batch (pairwise-merged, numerically stable) and eigendecomposed once in
    ``fit_complete``, so the result is the exact PCA whatever the batch size, batches
    smaller than ``target_dimensions`` included.  For very wide data (more than 4096
    features) it switches to sklearn ``IncrementalPCA`` (approximate), buffering small
    batches into the next partial fit instead of skipping them.

    Parameters
    ----------
    target_dimensions : int, default=2
        Number of principal components kept.

    Notes
    -----
    Memory: O(D^2) per field (D <= 4096), O(batch_size * D) above; independent of the
    number of samples.  Time: O(n D^2) BLAS work plus one partial eigendecomposition.
    Components are signed so that each one's largest loading is positive.

    Examples
    --------
    >>> import numpy as np
    >>> from deepview.base import ArrayProducer, pipeline
    >>> from deepview.introspectors import DimensionReduction
    >>> x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    >>> dr = DimensionReduction.introspect(
    ...     ArrayProducer(x), strategies=DimensionReduction.Strategy.PCA(3))
    >>> next(iter(pipeline(ArrayProducer(x), dr)(100))).fields["responses"].shape
    (100, 3)
    """

    target_dimensions: int = 2
    _state: _PCAState = field(
        default_factory=_PCAState, init=False, repr=False, compare=False, hash=False
    )
    _owner: ClassVar[str] = "DimensionReduction.Strategy.PCA"

    def __post_init__(self) -> None:
        check_int(self.target_dimensions, name="target_dimensions", owner=self._owner,
                  min_value=1)

    def default_batch_size(self) -> int:
        return max(5 * self.target_dimensions, 500)

    def check_batch_size(self, batch_size: int) -> None:
        batch_size = check_batch_size(batch_size, owner=self._owner)
        if self.target_dimensions > batch_size:
            raise InvalidParameterError(
                f"{self._owner}: batch_size ({batch_size}) must be >= target_dimensions "
                f"({self.target_dimensions}). Use batch_size={self.default_batch_size()} "
                "(or leave batch_size=None)."
            )

    @property
    def is_one_shot(self) -> bool:
        return False

    def fit_incremental(self, data: np.ndarray) -> None:
        x = _as_matrix(data, self._owner)
        state = self._state
        if state.model is not None:
            raise DeepViewException(
                f"{self._owner}: already fitted; use _clone() for a fresh copy to fit new data."
            )
        d = int(x.shape[1])
        if state.fitter is None:
            _check_target(self.target_dimensions, d, self._owner)
            state.fitter = make_streaming_pca(self.target_dimensions, d)
            state.n_features = d
        elif d != state.n_features:
            raise InvalidDataError(
                f"{self._owner}: batches have different feature counts ({state.n_features} "
                f"then {d}); every batch of a field needs the same shape."
            )
        state.fitter.partial_fit(x)

    def fit_complete(self) -> None:
        state = self._state
        if state.model is not None:
            return
        if state.fitter is None:
            raise InvalidDataError(f"{self._owner}: no data to fit; give at least one sample.")
        n = state.fitter.n_samples
        if n < self.target_dimensions:
            raise InvalidDataError(
                f"{self._owner}: target_dimensions={self.target_dimensions} needs at least as "
                f"many samples; got {n}. Use target_dimensions <= {n} or give more samples."
            )
        state.model = state.fitter.finalize()
        state.fitter = None
        if not np.any(state.model.explained_variance > 0):
            warnings.warn(
                f"{self._owner}: the data has zero variance ({n} sample(s)); every sample "
                "projects to 0.",
                DeepViewWarning,
                stacklevel=2,
            )

    @property
    def projection(self) -> LinearProjection | None:
        """The fitted projection (mean, components, explained variance), if fitted."""
        return self._state.model

    def transform(self, data: np.ndarray) -> np.ndarray:
        model = self._state.model
        if model is None:
            raise _not_fitted(self._owner)
        x = _as_matrix(data, self._owner)
        if x.shape[1] != model.mean.shape[0]:
            raise InvalidDataError(
                f"{self._owner}: data has {x.shape[1]} features but the PCA was fitted on "
                f"{model.mean.shape[0]}."
            )
        return model.transform(x)

    def transform_one_shot(self) -> np.ndarray:
        raise _wrong_transform(self._owner, one_shot=False)

    def _clone(self) -> PCA:
        return PCA(self.target_dimensions)


@dataclass(frozen=True)
class StandardPCA:
    """Exact PCA with sklearn ``PCA``; collects all samples in memory first.

    :class:`PCA` gives the same (exact) result in constant memory and is preferred; this
    strategy is kept for parity with the reference API.

    Parameters
    ----------
    target_dimensions : int, default=2
        Number of principal components kept.

    Notes
    -----
    Memory: O(n D) (every sample of the field is held until ``fit_complete``).
    """

    target_dimensions: int = 2
    _state: _Collected = field(
        default_factory=_Collected, init=False, repr=False, compare=False, hash=False
    )
    _owner: ClassVar[str] = "DimensionReduction.Strategy.StandardPCA"

    def __post_init__(self) -> None:
        check_int(self.target_dimensions, name="target_dimensions", owner=self._owner,
                  min_value=1)

    def default_batch_size(self) -> int:
        return 1024

    def check_batch_size(self, batch_size: int) -> None:
        check_batch_size(batch_size, owner=self._owner)

    @property
    def is_one_shot(self) -> bool:
        return False

    def fit_incremental(self, data: np.ndarray) -> None:
        x = _as_matrix(data, self._owner)
        if self._state.n_features is None:
            _check_target(self.target_dimensions, int(x.shape[1]), self._owner)
        self._state.add(x, self._owner)

    def fit_complete(self) -> None:
        from sklearn.decomposition import PCA as SKPCA

        state = self._state
        if state.fitted is not None:
            return
        x = state.take_all(self._owner, dtype=np.float64)
        n, d = x.shape
        if n < self.target_dimensions:
            raise InvalidDataError(
                f"{self._owner}: target_dimensions={self.target_dimensions} needs at least as "
                f"many samples; got {n}. Use target_dimensions <= {n} or give more samples."
            )
        # both solvers are exact; covariance_eigh is much faster when n >> d
        solver = "covariance_eigh" if (n >= 10 * d and d <= 1000) else "full"
        try:
            pca = SKPCA(n_components=self.target_dimensions, svd_solver=solver).fit(x)
        except (ValueError, np.linalg.LinAlgError) as exc:  # older sklearn: no such solver
            if solver == "full":
                raise InvalidDataError(f"{self._owner}: sklearn PCA failed: {exc}") from exc
            pca = SKPCA(n_components=self.target_dimensions, svd_solver="full").fit(x)
        state.fitted = LinearProjection.create(
            pca.mean_, flip_signs(np.asarray(pca.components_, dtype=np.float64)),
            pca.explained_variance_, n,
        )

    def transform(self, data: np.ndarray) -> np.ndarray:
        model: LinearProjection | None = self._state.fitted
        if model is None:
            raise _not_fitted(self._owner)
        x = _as_matrix(data, self._owner)
        if x.shape[1] != model.mean.shape[0]:
            raise InvalidDataError(
                f"{self._owner}: data has {x.shape[1]} features but the PCA was fitted on "
                f"{model.mean.shape[0]}."
            )
        return model.transform(x)

    def transform_one_shot(self) -> np.ndarray:
        raise _wrong_transform(self._owner, one_shot=False)

    def _clone(self) -> StandardPCA:
        return StandardPCA(self.target_dimensions)


# --------------------------------------------------------------------------------------
# accumulating manifold learners with **kwargs passthrough
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, init=False)
class _KwargsStrategy:
    """Base of TSNE / UMAP / PaCMAP: ``(target_dimensions=2, *, _parameters=None, **kwargs)``."""

    target_dimensions: int
    _parameters: Mapping[str, Any] = field(hash=False)
    _state: _Collected = field(repr=False, compare=False, hash=False)
    _owner: ClassVar[str] = "DimensionReduction.Strategy"
    _one_shot: ClassVar[bool] = True

    def __init__(
        self,
        target_dimensions: int = 2,
        *,
        _parameters: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        check_int(target_dimensions, name="target_dimensions", owner=self._owner, min_value=1)
        params = dict(_parameters or {})
        params.update(kwargs)
        if "n_components" in params:
            raise InvalidParameterError(
                f"{self._owner}: pass the output dimension as target_dimensions, not "
                f"n_components (got n_components={params['n_components']!r})."
            )
        object.__setattr__(self, "target_dimensions", int(target_dimensions))
        object.__setattr__(self, "_parameters", MappingProxyType(params))
        object.__setattr__(self, "_state", _Collected())
        self._make_estimator()  # validates the keyword arguments now, before any data

    def _estimator_class(self) -> Callable[..., Any]:
        raise NotImplementedError

    def _make_estimator(self) -> Any:
        cls = self._estimator_class()
        try:
            with _quiet():
                return cls(n_components=self.target_dimensions, **self._parameters)
        except TypeError as exc:
            raise InvalidParameterError(
                f"{self._owner}: invalid keyword argument(s) {sorted(self._parameters)}: {exc}."
                f" See the documentation of {cls.__module__}.{cls.__name__}."
            ) from exc

    def default_batch_size(self) -> int:
        return 1024

    def check_batch_size(self, batch_size: int) -> None:
        check_batch_size(batch_size, owner=self._owner)

    @property
    def is_one_shot(self) -> bool:
        return self._one_shot

    def fit_incremental(self, data: np.ndarray) -> None:
        self._state.add(_as_matrix(data, self._owner), self._owner)

    def fit_complete(self) -> None:
        state = self._state
        if state.fitted is not None:
            return
        x = state.take_all(self._owner)
        if len(x) < 2:
            raise InvalidDataError(
                f"{self._owner}: needs at least 2 samples to embed; got {len(x)}."
            )
        estimator = self._make_estimator()
        try:
            with _quiet():
                state.fitted = self._fit(estimator, x)
        except DeepViewException:
            raise
        except (ValueError, TypeError, IndexError, np.linalg.LinAlgError) as exc:
            raise InvalidDataError(
                f"{self._owner}: fitting {len(x)} samples x {x.shape[1]} features failed: "
                f"{exc}. Check the keyword arguments against the number of samples "
                "(e.g. perplexity / n_neighbors must be smaller than the sample count)."
            ) from exc

    def _fit(self, estimator: Any, x: np.ndarray) -> Any:
        raise NotImplementedError

    def transform(self, data: np.ndarray) -> np.ndarray:
        raise _wrong_transform(self._owner, one_shot=True)

    def transform_one_shot(self) -> np.ndarray:
        if self._state.fitted is None:
            raise _not_fitted(self._owner)
        embedding: np.ndarray = self._state.fitted
        return embedding

    def _clone(self) -> _KwargsStrategy:
        return type(self)(self.target_dimensions, _parameters=dict(self._parameters))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence library chatter written to stdout (progress prints of umap/pacmap)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@dataclass(frozen=True, init=False)
class TSNE(_KwargsStrategy):
    """t-SNE (sklearn ``TSNE``); collects all samples in memory, then embeds them at once.

    One-shot: it embeds the fitted samples only.  In a pipeline, rows are matched to the
    fitted samples by ``Batch.StdKeys.IDENTIFIER`` (or by position when there are no ids)
    and checked against the fitted data, so a different sample is refused, never embedded
    wrongly.  Reduce to ~40 dimensions with :class:`PCA` first.

    Parameters
    ----------
    target_dimensions : int, default=2
        Output dimension (``n_components``).
    **kwargs
        Passed to ``sklearn.manifold.TSNE`` (e.g. ``perplexity=30, random_state=0``).

    Notes
    -----
    Memory: O(n D) for the collected samples plus t-SNE's own O(n) neighbour structures.
    """

    _owner: ClassVar[str] = "DimensionReduction.Strategy.TSNE"
    _one_shot: ClassVar[bool] = True

    def _estimator_class(self) -> Callable[..., Any]:
        from sklearn.manifold import TSNE as SKTSNE

        return SKTSNE

    def _fit(self, estimator: Any, x: np.ndarray) -> Any:
        perplexity = float(self._parameters.get("perplexity", 30.0))
        if perplexity >= len(x):
            raise InvalidDataError(
                f"{self._owner}: perplexity ({perplexity:g}) must be smaller than the number "
                f"of samples ({len(x)}); pass a smaller perplexity=... or give more samples."
            )
        estimator.fit(x)
        return np.asarray(estimator.embedding_)


@dataclass(frozen=True, init=False)
class PaCMAP(_KwargsStrategy):
    """PaCMAP (``pacmap.PaCMAP``); collects all samples in memory, then embeds them at once.

    One-shot, like :class:`TSNE`: pipelined rows are matched to the fitted samples by
    identifier (or position) and verified.  Needs the ``pacmap`` extra
    (``pip install "deepview[pacmap]"``).

    Parameters
    ----------
    target_dimensions : int, default=2
        Output dimension.
    **kwargs
        Passed to ``pacmap.PaCMAP`` (e.g. ``n_neighbors=10, random_state=0``).

    Notes
    -----
    Memory: O(n D) for the collected samples plus PaCMAP's O(n) pair lists.
    """

    _owner: ClassVar[str] = "DimensionReduction.Strategy.PaCMAP"
    _one_shot: ClassVar[bool] = True

    def _estimator_class(self) -> Callable[..., Any]:
        pacmap = require("pacmap", feature=self._owner, extra="pacmap")
        cls: Callable[..., Any] = pacmap.PaCMAP
        return cls

    def _fit(self, estimator: Any, x: np.ndarray) -> Any:
        return np.asarray(estimator.fit_transform(x))


class _UMAPFit:
    def __init__(self, model: Any, index: ExactRowIndex, embedding: np.ndarray) -> None:
        self.model = model
        self.index = index
        self.embedding = embedding


@dataclass(frozen=True, init=False)
class UMAP(_KwargsStrategy):
    """UMAP (``umap.UMAP``); collects all samples in memory, fits, then transforms any data.

    Rows identical to fitted samples get their fitted coordinates (``embedding_``), found
    by an exact match of the row values; only new rows go through ``umap.transform``
    (with its output silenced).  So pipelining the training data returns exactly the
    fitted embedding, at almost no cost.  Needs the ``umap`` extra
    (``pip install "deepview[umap]"``).

    Parameters
    ----------
    target_dimensions : int, default=2
        Output dimension.
    **kwargs
        Passed to ``umap.UMAP`` (e.g. ``n_neighbors=15, random_state=0``).

    Notes
    -----
    Memory: O(n D) for the fitted samples (kept once, shared with umap) plus umap's graph.
    """

    _owner: ClassVar[str] = "DimensionReduction.Strategy.UMAP"
    _one_shot: ClassVar[bool] = False

    def _estimator_class(self) -> Callable[..., Any]:
        umap = require("umap", feature=self._owner, extra="umap")
        cls: Callable[..., Any] = umap.UMAP
        return cls

    def _make_estimator(self) -> Any:
        params = dict(self._parameters)
        params.setdefault("verbose", False)
        cls = self._estimator_class()
        try:
            with _quiet():
                return cls(n_components=self.target_dimensions, **params)
        except TypeError as exc:
            raise InvalidParameterError(
                f"{self._owner}: invalid keyword argument(s) {sorted(self._parameters)}: {exc}."
                " See the documentation of umap.UMAP."
            ) from exc

    def _fit(self, estimator: Any, x: np.ndarray) -> Any:
        index = ExactRowIndex(x)  # canonical float32 copy, also what umap fits on
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs value.*", category=UserWarning)
            estimator.fit(index.data)
        embedding = np.asarray(estimator.embedding_, dtype=np.float32)
        return _UMAPFit(estimator, index, embedding)

    @property
    def embedding_(self) -> np.ndarray:
        """The fitted embedding of the training samples, in fit order."""
        fitted: _UMAPFit | None = self._state.fitted
        if fitted is None:
            raise _not_fitted(self._owner)
        return fitted.embedding

    def transform(self, data: np.ndarray) -> np.ndarray:
        fitted: _UMAPFit | None = self._state.fitted
        if fitted is None:
            raise _not_fitted(self._owner)
        x = _as_matrix(data, self._owner)
        d = fitted.index.data.shape[1]
        if x.shape[1] != d:
            raise InvalidDataError(
                f"{self._owner}: data has {x.shape[1]} features but UMAP was fitted on {d}."
            )
        rows = fitted.index.lookup(x)
        out = np.empty((len(x), self.target_dimensions), dtype=np.float32)
        known = rows >= 0
        out[known] = fitted.embedding[rows[known]]
        if not known.all():
            new = np.flatnonzero(~known)
            try:
                with _quiet(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", category=UserWarning)
                    out[new] = fitted.model.transform(np.ascontiguousarray(x[new],
                                                                          dtype=np.float32))
            except (ValueError, IndexError) as exc:
                raise InvalidDataError(
                    f"{self._owner}: transforming {len(new)} new sample(s) failed: {exc}"
                ) from exc
        return out

    def transform_one_shot(self) -> np.ndarray:
        raise _wrong_transform(self._owner, one_shot=False)


# --------------------------------------------------------------------------------------
# one-shot row bookkeeping
# --------------------------------------------------------------------------------------


class _OneShotRows:
    """Maps pipelined samples to the rows of a one-shot embedding and verifies them.

    Rows are found by identifier when every fitted batch had unique, hashable ids (so a
    shuffled or subset producer works), else by running position (same order and length
    as the fit).  Every row is checked against a fingerprint of the fitted sample.
    """

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = list(fields)
        self.fingerprints = {name: RowFingerprints() for name in self.fields}
        self._ids: list[Hashable] | None = []
        self.id_to_row: dict[Hashable, int] | None = None
        self.n = 0

    def observe(self, batch: Batch, data: Mapping[str, np.ndarray]) -> None:
        for name in self.fields:
            self.fingerprints[name].update(data[name])
        if self._ids is not None:
            if Batch.StdKeys.IDENTIFIER in batch.metadata:
                self._ids.extend(batch.metadata[Batch.StdKeys.IDENTIFIER])
            else:
                self._ids = None
        self.n += batch.batch_size

    def finish(self) -> None:
        for fp in self.fingerprints.values():
            fp.finalize()
        ids, self._ids = self._ids, None
        if ids is None:
            logger.info("DimensionReduction: no identifiers at fit; one-shot rows by position")
            return
        try:
            mapping = {key: row for row, key in enumerate(ids)}
        except TypeError:
            logger.info("DimensionReduction: unhashable identifiers; one-shot rows by position")
            return
        if len(mapping) != len(ids):
            logger.info("DimensionReduction: duplicate identifiers; one-shot rows by position")
            return
        self.id_to_row = mapping

    def rows_for(self, batch: Batch, position: int) -> tuple[np.ndarray, bool]:
        """Row indices for ``batch`` and whether they were found by identifier."""
        if self.id_to_row is not None and Batch.StdKeys.IDENTIFIER in batch.metadata:
            ids = batch.metadata[Batch.StdKeys.IDENTIFIER]
            rows = np.fromiter((self.id_to_row.get(i, -1) for i in ids), dtype=np.intp,
                               count=len(ids))
            if (rows < 0).any():
                unknown = [ids[j] for j in np.flatnonzero(rows < 0)[:5]]
                raise InvalidDataError(
                    f"{_OWNER}: {int((rows < 0).sum())} sample(s) were not in the data the "
                    f"one-shot strategy was fitted on (identifiers {unknown}...). t-SNE and "
                    "PaCMAP can only return the embedding of fitted samples; fit "
                    "DimensionReduction on this producer (or use PCA/UMAP, which transform "
                    "new data)."
                )
            return rows, True
        end = position + batch.batch_size
        if end > self.n:
            raise InvalidDataError(
                f"{_OWNER}: the pipelined producer yields more samples than the {self.n} the "
                "one-shot strategy was fitted on. Without identifiers, pipeline the same "
                "producer (same samples, same order), or attach Batch.StdKeys.IDENTIFIER."
            )
        return np.arange(position, end, dtype=np.intp), False

    def verify(self, name: str, rows: np.ndarray, x: np.ndarray, by_id: bool) -> None:
        ok = self.fingerprints[name].matches(rows, x)
        if ok.all():
            return
        first = int(np.flatnonzero(~ok)[0])
        where = "with the same identifier" if by_id else f"at position {int(rows[first])}"
        raise InvalidDataError(
            f"{_OWNER}: field '{name}': {int((~ok).sum())} sample(s) differ from the fitted "
            f"sample {where}; the one-shot embedding would give them wrong coordinates. "
            "Pipeline the producer that was fitted (same samples and order, or with "
            "identifiers), or re-fit DimensionReduction on this data."
        )


# --------------------------------------------------------------------------------------
# the introspector
# --------------------------------------------------------------------------------------


def _enrich(exc: DeepViewException, name: str) -> DeepViewException:
    """Same exception type, message prefixed with the field name."""
    try:
        return type(exc)(f"{_OWNER}: field '{name}': {exc.message or exc}")
    except Exception:  # pragma: no cover - exotic subclass signature
        return exc


def _resolve_strategies(
    strategies: Any,
) -> tuple[DimensionReductionStrategyType | None, dict[str, DimensionReductionStrategyType]]:
    """(single strategy or None, mapping) after type checks."""
    if isinstance(strategies, Mapping):
        if not strategies:
            raise InvalidParameterError(
                f"{_OWNER}.introspect: 'strategies' is an empty mapping; map at least one "
                "field name to a strategy, or pass one strategy for every field."
            )
        mapping: dict[str, DimensionReductionStrategyType] = {}
        for name, strategy in strategies.items():
            if not isinstance(name, str):
                raise InvalidTypeError(
                    f"{_OWNER}.introspect: 'strategies' keys must be field names (str); got "
                    f"{name!r}."
                )
            if not isinstance(strategy, DimensionReductionStrategyType):
                raise InvalidTypeError(
                    f"{_OWNER}.introspect: strategies['{name}'] must be a dimension reduction "
                    f"strategy (e.g. DimensionReduction.Strategy.PCA(40)); got "
                    f"{type(strategy).__name__}."
                )
            mapping[name] = strategy
        return None, mapping
    if not isinstance(strategies, DimensionReductionStrategyType):
        raise InvalidTypeError(
            f"{_OWNER}.introspect: 'strategies' must be a strategy (e.g. "
            "DimensionReduction.Strategy.PCA(40)) or a mapping {field: strategy}; got "
            f"{type(strategies).__name__}."
        )
    return strategies, {}


@dataclass(frozen=True)
class DimensionReduction(PipelineStage):
    """Reduces the dimension of batch fields; a :class:`~deepview.base.PipelineStage`.

    Use :meth:`introspect` to fit one; put the result in a :func:`~deepview.base.pipeline`
    to replace each reduced field by its ``(batch, target_dimensions)`` projection (other
    fields and metadata pass through untouched).

    Examples
    --------
    >>> import numpy as np
    >>> from deepview.base import ArrayProducer, pipeline
    >>> from deepview.introspectors import DimensionReduction
    >>> rng = np.random.default_rng(0)
    >>> producer = ArrayProducer({"a": rng.normal(size=(200, 16)),
    ...                           "b": rng.normal(size=(200, 5))})
    >>> dr = DimensionReduction.introspect(
    ...     producer, strategies={"a": DimensionReduction.Strategy.PCA(2)})
    >>> batch = next(iter(pipeline(producer, dr)(50)))
    >>> batch.fields["a"].shape, batch.fields["b"].shape
    ((50, 2), (50, 5))
    """

    _reducers: Mapping[str, DimensionReductionStrategyType]
    _n_features: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    _one_shot: _OneShotRows | None = field(default=None, repr=False, compare=False)

    class Strategy:
        """Bundled strategies (any :class:`DimensionReductionStrategyType` also works).

        - :class:`PCA` -- exact PCA in one streaming pass, constant memory (preferred).
        - :class:`StandardPCA` -- sklearn PCA on all samples held in memory.
        - :class:`TSNE` -- sklearn t-SNE, one-shot, all samples in memory.
        - :class:`UMAP` -- umap-learn, all samples in memory; transforms new data.
        - :class:`PaCMAP` -- pacmap, one-shot, all samples in memory.
        """

        PCA: Final = PCA
        StandardPCA: Final = StandardPCA
        TSNE: Final = TSNE
        UMAP: Final = UMAP
        PaCMAP: Final = PaCMAP

    @property
    def reducers(self) -> Mapping[str, DimensionReductionStrategyType]:
        """The fitted reducer of each reduced field (read-only)."""
        return MappingProxyType(dict(self._reducers))

    @staticmethod
    def introspect(
        producer: Producer,
        *,
        strategies: OneOrManyDimStrategies,
        batch_size: int | None = None,
    ) -> DimensionReduction:
        """Fit dimension reduction on ``producer`` (one pass) and return the pipeline stage.

        Parameters
        ----------
        producer : Producer
            Yields batches whose reduced fields are 2-D ``(batch, features)``; use
            ``Flattener`` or ``Pooler`` first for multi-dimensional responses.
        strategies : DimensionReductionStrategyType or Mapping[str, DimensionReductionStrategyType]
            One strategy, applied to every field (each field fits its own clone), or a
            mapping from field name to strategy (only those fields are reduced).
        batch_size : int, optional
            Batch size to read with.  Default: the strategy's ``default_batch_size()`` (the
            largest over a mapping).  Checked by every strategy's ``check_batch_size``.

        Returns
        -------
        DimensionReduction
            The fitted stage.  Strategies passed in are never modified.

        Raises
        ------
        DeepViewException
            (subclasses) a field that is not 2-D, holds NaN/inf or is missing; a batch size
            smaller than a PCA's ``target_dimensions``; an empty producer; more target
            dimensions than features or samples.
        """
        owner = f"{_OWNER}.introspect"
        single, mapping = _resolve_strategies(strategies)
        templates = [single] if single is not None else list(mapping.values())
        if batch_size is None:
            batch_size = max(int(t.default_batch_size()) for t in templates)
        else:
            batch_size = check_batch_size(batch_size, owner=owner)
            for template in templates:
                template.check_batch_size(batch_size)

        reducers: dict[str, DimensionReductionStrategyType] = {}
        n_features: dict[str, int] = {}
        one_shot: _OneShotRows | None = None
        batches = iter_batches(producer, batch_size, owner=owner)
        for index, batch in enumerate(
            tqdm(batches, desc="DimensionReduction: fit", unit="batch", disable=None)
        ):
            if index == 0:
                names = list(batch.fields) if single is not None else list(mapping)
                missing = [n for n in names if n not in batch.fields]
                if missing:
                    raise MissingFieldError(
                        f"{owner}: strategies name field(s) {missing} that the producer does "
                        f"not yield; available fields: {sorted(batch.fields)}. Fix the "
                        "field names in the 'strategies' mapping."
                    )
                if not names:
                    raise InvalidDataError(
                        f"{owner}: the batches have no fields to reduce (metadata only)."
                    )
                reducers = {
                    n: (single if single is not None else mapping[n])._clone() for n in names
                }
                one_shot_fields = [n for n, r in reducers.items() if r.is_one_shot]
                one_shot = _OneShotRows(one_shot_fields) if one_shot_fields else None
            data: dict[str, np.ndarray] = {}
            for name, reducer in reducers.items():
                if name not in batch.fields:
                    raise MissingFieldError(
                        f"{owner}: field '{name}' is missing from batch {index}; available "
                        f"fields: {sorted(batch.fields)}. Every batch needs the same fields."
                    )
                x = check_field(name, batch.fields[name], owner=owner)
                d = n_features.setdefault(name, int(x.shape[1]))
                if x.shape[1] != d:
                    raise InvalidDataError(
                        f"{owner}: field '{name}' has {x.shape[1]} features in batch {index} "
                        f"but {d} before; every batch needs the same shape."
                    )
                data[name] = x
                try:
                    reducer.fit_incremental(x)
                except DeepViewException as exc:
                    raise _enrich(exc, name) from exc
            if one_shot is not None:
                one_shot.observe(batch, data)

        for name, reducer in reducers.items():
            try:
                reducer.fit_complete()
            except DeepViewException as exc:
                raise _enrich(exc, name) from exc
        if one_shot is not None:
            one_shot.finish()
        return DimensionReduction(_reducers=reducers, _n_features=n_features,
                                  _one_shot=one_shot)

    def _pipeline(self, producer: Producer) -> Producer:
        return _ReducedProducer(producer, self)


class _ReducedProducer:
    """Producer of ``producer``'s batches with the reduced fields replaced."""

    def __init__(self, producer: Producer, stage: DimensionReduction) -> None:
        self._producer = producer
        self._stage = stage

    def __repr__(self) -> str:
        return f"{self._producer!r} -> DimensionReduction({sorted(self._stage._reducers)})"

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        owner = f"{_OWNER} (pipeline)"
        batch_size = check_batch_size(batch_size, owner=owner)
        stage = self._stage
        reducers = stage._reducers
        one_shot = stage._one_shot
        embeddings: dict[str, np.ndarray] = {}
        for name, reducer in reducers.items():
            if reducer.is_one_shot:
                try:
                    embeddings[name] = np.asarray(reducer.transform_one_shot())
                except DeepViewException as exc:
                    raise _enrich(exc, name) from exc
        position = 0
        all_positional = True
        for batch in self._producer(batch_size):
            builder = Batch.Builder(base=batch)
            rows: np.ndarray | None = None
            by_id = False
            for name, reducer in reducers.items():
                if name not in batch.fields:
                    raise MissingFieldError(
                        f"{owner}: field '{name}' was reduced at fit time but is missing from "
                        f"the batch; available fields: {sorted(batch.fields)}."
                    )
                x = check_field(name, batch.fields[name], owner=owner)
                expected = stage._n_features.get(name)
                if expected is not None and x.shape[1] != expected:
                    raise InvalidDataError(
                        f"{owner}: field '{name}' has {x.shape[1]} features but "
                        f"DimensionReduction was fitted on {expected}."
                    )
                if name in embeddings and one_shot is not None:
                    if rows is None:
                        rows, by_id = one_shot.rows_for(batch, position)
                        all_positional = all_positional and not by_id
                    one_shot.verify(name, rows, x, by_id)
                    builder.fields[name] = embeddings[name][rows]
                    continue
                try:
                    builder.fields[name] = reducer.transform(x)
                except DeepViewException as exc:
                    raise _enrich(exc, name) from exc
            position += batch.batch_size
            yield builder.make_batch()
        if one_shot is not None and embeddings and all_positional and position != one_shot.n:
            raise InvalidDataError(
                f"{owner}: the pipelined producer yielded {position} samples but the one-shot "
                f"strategy was fitted on {one_shot.n}. Without identifiers, pipeline the same "
                "producer (same samples, same order), or attach Batch.StdKeys.IDENTIFIER."
            )
