"""Accumulating manifold learners with keyword passthrough: t-SNE, UMAP, PaCMAP."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import numpy as np

from deepview._compute.blas import single_threaded
from deepview._compute.knn import CellIndex
from deepview._compute.rowmatch import ExactRowIndex
from deepview._optional import require
from deepview._validation import check_int
from deepview.exceptions import DeepViewException, InvalidDataError, InvalidParameterError
from deepview.introspectors._dim_reduction._base import (
    Collected,
    StrategyBase,
    as_matrix,
    not_fitted,
    quiet,
)

__all__ = ["TSNE", "UMAP", "PaCMAP"]

logger = logging.getLogger(__name__)

_S = TypeVar("_S", bound="_KwargsStrategy")


@dataclass(frozen=True, init=False)
class _KwargsStrategy(StrategyBase):
    """Base of TSNE / UMAP / PaCMAP: ``(target_dimensions=2, *, _parameters=None, **kwargs)``."""

    target_dimensions: int
    _parameters: Mapping[str, Any] = field(hash=False)
    _state: Collected = field(repr=False, compare=False, hash=False)
    _one_shot: ClassVar[bool] = True

    def __init__(self, target_dimensions: int = 2, *, _parameters: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        check_int(target_dimensions, name="target_dimensions", owner=self._owner, min_value=1)
        params = {**(_parameters or {}), **kwargs}
        if "n_components" in params:
            raise InvalidParameterError(f"{self._owner}: pass the output dimension as "
                                        "target_dimensions, not n_components (got "
                                        f"n_components={params['n_components']!r}).")
        object.__setattr__(self, "target_dimensions", int(target_dimensions))
        object.__setattr__(self, "_parameters", MappingProxyType(params))
        object.__setattr__(self, "_state", Collected())
        self._make_estimator()  # validates the keyword arguments now, before any data

    def _estimator_class(self) -> Callable[..., Any]:
        raise NotImplementedError

    def _estimator_parameters(self) -> dict[str, Any]:
        return dict(self._parameters)

    def _make_estimator(self) -> Any:
        cls = self._estimator_class()
        try:
            with quiet():
                return cls(n_components=self.target_dimensions, **self._estimator_parameters())
        except TypeError as exc:
            module = ".".join(p for p in cls.__module__.split(".") if p.strip("_") == p)
            raise InvalidParameterError(f"{self._owner}: invalid keyword argument(s) "
                                        f"{sorted(self._parameters)}: {exc}. See the documentation "
                                        f"of {module}.{cls.__name__}.") from exc

    def fit_incremental(self, data: np.ndarray) -> None:
        self._state.add(as_matrix(data, self._owner), self._owner)

    def fit_complete(self) -> None:
        state = self._state
        if state.fitted is not None:
            return
        x = state.take_all(self._owner)
        if len(x) < 2:
            raise InvalidDataError(f"{self._owner}: needs at least 2 samples to embed; got "
                                   f"{len(x)}.")
        estimator = self._make_estimator()
        try:
            with quiet(), self._threads():
                state.fitted = self._fit(estimator, x)
        except DeepViewException:
            raise
        except (ValueError, TypeError, IndexError, np.linalg.LinAlgError) as exc:
            raise InvalidDataError(f"{self._owner}: fitting {len(x)} samples x {x.shape[1]} "
                                   f"features failed: {exc}. Check the keyword arguments against "
                                   "the number of samples (e.g. perplexity / n_neighbors must be "
                                   "smaller than the sample count).") from exc

    def _fit(self, estimator: Any, x: np.ndarray) -> Any:
        raise NotImplementedError

    def transform_one_shot(self) -> np.ndarray:
        return self._fitted()

    def _fitted(self) -> Any:
        if self._state.fitted is None:
            raise not_fitted(self._owner)
        return self._state.fitted

    def _clone(self) -> _KwargsStrategy:
        return self.with_params()

    @property
    def parameters(self) -> Mapping[str, Any]:
        """The keyword arguments passed to the estimator (read-only)."""
        return self._parameters

    def with_params(self: _S, **kwargs: Any) -> _S:
        """A fresh, unfitted copy with ``kwargs`` added to (or replacing) the estimator's."""
        return type(self)(self.target_dimensions, _parameters={**self._parameters, **kwargs})

    @property
    def random_state(self) -> Any:
        """The ``random_state`` keyword passed to the estimator (``None`` = unseeded)."""
        return self._parameters.get("random_state")

    def _threads(self) -> Any:
        """One thread when seeded (parallel sums depend on the thread count)."""
        return single_threaded() if self.random_state is not None else contextlib.nullcontext()

    def with_random_state(self, random_state: Any) -> _KwargsStrategy:
        """A fresh copy seeded with ``random_state``; the same strategy if it has a seed."""
        seeded = self.random_state is not None
        return self if seeded else self.with_params(random_state=random_state)


@dataclass(frozen=True, init=False)
class TSNE(_KwargsStrategy):
    """t-SNE (sklearn ``TSNE``) of all samples held in memory; one-shot (fitted samples only).

    Parameters
    ----------
    target_dimensions : int, default=2
        Output dimension (``n_components``).
    **kwargs
        Passed to ``sklearn.manifold.TSNE`` (e.g. ``perplexity=30, random_state=0``).
    """

    _owner: ClassVar[str] = "DimensionReduction.Strategy.TSNE"

    def _estimator_class(self) -> Callable[..., Any]:
        from sklearn.manifold import TSNE as SKTSNE

        return SKTSNE

    def _fit(self, estimator: Any, x: np.ndarray) -> Any:
        perplexity = float(self._parameters.get("perplexity", 30.0))
        if perplexity >= len(x):
            raise InvalidDataError(f"{self._owner}: perplexity ({perplexity:g}) must be smaller "
                                   f"than the number of samples ({len(x)}); pass a smaller "
                                   "perplexity=... or give more samples.")
        estimator.fit(x)
        return np.asarray(estimator.embedding_)


@dataclass(frozen=True, init=False)
class PaCMAP(_KwargsStrategy):
    """PaCMAP (``pacmap.PaCMAP``, extra ``pacmap``) of all samples held in memory; one-shot.

    Parameters
    ----------
    target_dimensions : int, default=2
        Output dimension.
    **kwargs
        Passed to ``pacmap.PaCMAP`` (e.g. ``n_neighbors=10, random_state=0``).
    """

    _owner: ClassVar[str] = "DimensionReduction.Strategy.PaCMAP"

    def _estimator_class(self) -> Callable[..., Any]:
        return require("pacmap", feature=self._owner, extra="pacmap").PaCMAP

    def _fit(self, estimator: Any, x: np.ndarray) -> Any:
        return np.asarray(estimator.fit_transform(x))


@dataclass
class _UMAPFit:
    model: Any
    index: ExactRowIndex
    embedding: np.ndarray
    cells: CellIndex | None = None  # built on the first placement


class _Reservoir:
    """A seeded uniform sample of at most ``size`` rows of a stream, in stream order."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.keys: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.count = 0
        self.held = 0

    def add(self, data: np.ndarray) -> None:
        if not len(data):
            return
        self.keys.append(self.rng.random(len(data)))
        self.rows.append(data)
        self.count += len(data)
        self.held += len(data)
        if self.held >= 2 * self.size:
            self._prune()

    def _prune(self) -> None:
        keys, rows = np.concatenate(self.keys), np.concatenate(self.rows)
        if len(keys) > self.size:
            keep = np.sort(np.argpartition(keys, self.size - 1)[:self.size])
            keys, rows = keys[keep], rows[keep]
        self.keys, self.rows = [keys], [rows]
        self.held = len(keys)

    def take(self) -> list[np.ndarray]:
        """The sampled rows (in stream order), as a list of blocks."""
        if self.held > self.size:
            self._prune()
        rows, self.rows, self.keys = self.rows, [], []
        return rows


#: fitted points whose 2-D coordinates place a new point (UMAP with max_fit_samples)
PLACEMENT_NEIGHBOURS = 10
#: k-means cells searched per placed point (cells of ~256 fitted points)
PLACEMENT_PROBES = 8


def enable_umap_jit_cache() -> None:
    """Turn numba's on-disk cache on for umap-learn's kernels (best effort)."""
    try:
        import umap.layouts as layouts
        import umap.umap_ as umap_
        from numba.core.registry import CPUDispatcher
    except Exception:  # noqa: BLE001 - optional speed-up only
        return
    for module in (umap_, layouts):
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher) and not getattr(value, "_deepview_cached", False):
                try:
                    if type(getattr(value, "_cache", None)).__name__ == "NullCache":
                        value.enable_caching()
                    setattr(value, "_deepview_cached", True)  # noqa: B010
                except Exception:  # noqa: BLE001 - e.g. read-only install: keep compiling
                    logger.debug("cannot enable numba caching for %r", value, exc_info=True)


@dataclass(frozen=True, init=False)
class UMAP(_KwargsStrategy):
    """UMAP (``umap.UMAP``, extra ``umap``) of all samples or a sample of them; transforms
    new data.

    Parameters
    ----------
    target_dimensions : int, default=2
        Output dimension.
    max_fit_samples : int, optional
        Fit on a seeded random sample of at most this many (>= 100); place the other rows
        from their 10 nearest fitted samples.  ``None``: fit on every sample.
    **kwargs
        Passed to ``umap.UMAP`` (e.g. ``n_neighbors=15, random_state=0``).
    """

    max_fit_samples: int | None = None
    _owner: ClassVar[str] = "DimensionReduction.Strategy.UMAP"
    _one_shot: ClassVar[bool] = False

    def __init__(self, target_dimensions: int = 2, *, max_fit_samples: int | None = None,
                 _parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if max_fit_samples is not None:
            max_fit_samples = check_int(max_fit_samples, name="max_fit_samples", owner=self._owner,
                                        min_value=MIN_FIT_SAMPLES)
        object.__setattr__(self, "max_fit_samples", max_fit_samples)
        super().__init__(target_dimensions, _parameters=_parameters, **kwargs)

    def with_params(self, **kwargs: Any) -> UMAP:
        """A fresh, unfitted copy with ``kwargs`` added to the estimator's (same sampling)."""
        return type(self)(self.target_dimensions, max_fit_samples=self.max_fit_samples,
                          _parameters={**self._parameters, **kwargs})

    def with_max_fit_samples(self, max_fit_samples: int | None) -> UMAP:
        """A fresh, unfitted copy with another ``max_fit_samples`` (``None``: fit on all)."""
        return type(self)(self.target_dimensions, max_fit_samples=max_fit_samples,
                          _parameters=self._parameters)

    def _estimator_class(self) -> Callable[..., Any]:
        umap = require("umap", feature=self._owner, extra="umap")
        enable_umap_jit_cache()
        return umap.UMAP

    def _estimator_parameters(self) -> dict[str, Any]:
        params = dict(self._parameters)
        params.setdefault("verbose", False)
        if params.get("random_state") is not None:
            params.setdefault("init", "pca")  # the spectral init is not deterministic
        return params

    def _sample_seed(self) -> int:
        seed = self.random_state
        return int(seed) if isinstance(seed, (int, np.integer)) else 0

    def fit_incremental(self, data: np.ndarray) -> None:
        if self.max_fit_samples is None:
            super().fit_incremental(data)
            return
        x = as_matrix(data, self._owner)
        state = self._state
        state.add(x[:0], self._owner)  # checks the width and that it is not fitted yet
        if state.reservoir is None:
            state.reservoir = _Reservoir(self.max_fit_samples, self._sample_seed())
        state.reservoir.add(x)

    def fit_complete(self) -> None:
        state = self._state
        if state.reservoir is not None and state.fitted is None:
            reservoir, state.reservoir = state.reservoir, None
            state.chunks = reservoir.take()
            if reservoir.count > reservoir.size:
                logger.info("%s: fitting on a sample of %d of %d rows", self._owner,
                            reservoir.size, reservoir.count)
        super().fit_complete()

    def _fit(self, estimator: Any, x: np.ndarray) -> Any:
        index = ExactRowIndex(x)  # canonical float32 copy, also what umap fits on
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs value.*", category=UserWarning)
            estimator.fit(index.data)
        return _UMAPFit(estimator, index, np.asarray(estimator.embedding_, dtype=np.float32))

    @property
    def embedding_(self) -> np.ndarray:
        """The fitted embedding of the training samples, in fit order."""
        return self._fitted().embedding

    def transform(self, data: np.ndarray) -> np.ndarray:
        fitted: _UMAPFit = self._fitted()
        x = as_matrix(data, self._owner)
        d = fitted.index.data.shape[1]
        if x.shape[1] != d:
            raise InvalidDataError(f"{self._owner}: data has {x.shape[1]} features but UMAP was "
                                   f"fitted on {d}.")
        rows = fitted.index.lookup(x)
        out = np.empty((len(x), self.target_dimensions), dtype=np.float32)
        known = rows >= 0
        out[known] = fitted.embedding[rows[known]]
        if not known.all():
            new = np.flatnonzero(~known)
            if self.max_fit_samples is not None:
                out[new] = self._place(fitted, x[new])
                return out
            try:
                with quiet(), warnings.catch_warnings(), self._threads():
                    warnings.simplefilter("ignore", category=UserWarning)
                    out[new] = fitted.model.transform(np.ascontiguousarray(x[new],
                                                                          dtype=np.float32))
            except (ValueError, IndexError) as exc:
                raise InvalidDataError(f"{self._owner}: transforming {len(new)} new sample(s) "
                                       f"failed: {exc}") from exc
        return out

    def _place(self, fitted: _UMAPFit, x: np.ndarray) -> np.ndarray:
        """Coordinates of new rows from their nearest fitted rows."""
        if fitted.cells is None:
            fitted.cells = CellIndex(fitted.index.data, probes=PLACEMENT_PROBES,
                                     seed=self._sample_seed())
        return place(fitted.embedding, *fitted.cells.query(x, PLACEMENT_NEIGHBOURS))

    transform_one_shot = StrategyBase.transform_one_shot


#: smallest max_fit_samples: UMAP needs many more samples than its n_neighbors (15)
MIN_FIT_SAMPLES = 100


def place(embedding: np.ndarray, indices: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Each row at the mean of ``embedding[indices]`` weighted ``exp(-(d - d_1) / s)``
    (``d_1``: nearest distance, ``s``: mean of ``d - d_1``); index ``-1`` weighs 0.

    Examples
    --------
    >>> import numpy as np
    >>> emb = np.array([[0.0, 0.0], [2.0, 0.0], [9.0, 9.0]], dtype=np.float32)
    >>> place(emb, np.array([[0, 1, -1]]), np.array([[1.0, 1.0, np.inf]])).tolist()
    [[1.0, 0.0]]
    """
    valid = indices >= 0
    d = np.where(valid, distances, np.inf).astype(np.float64)
    nearest = d.min(axis=1, keepdims=True)
    gaps = np.where(valid, d - nearest, 0.0)
    counts = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    scale = gaps.sum(axis=1, keepdims=True) / counts
    tiny = np.finfo(np.float64).tiny
    weights = np.where(valid, np.exp(-gaps / np.maximum(scale, tiny)), 0.0)
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), tiny)
    coordinates = np.where(valid[..., None], embedding[np.where(valid, indices, 0)], 0.0)
    return np.einsum("ij,ijk->ik", weights, coordinates).astype(np.float32)


#: rows placed at a time by :func:`place_on_graph`
GRAPH_PLACE_ROWS = 65536


def place_on_graph(embedding: np.ndarray, rows: np.ndarray, indices: Any, distances: Any,
                   *, least: int = 3) -> np.ndarray:
    """``(n, 2)`` coordinates of every row of a neighbour graph (``indices`` / ``distances``,
    ``(n, m)``) whose ``rows`` hold ``embedding``: in waves, each other row is placed by
    :func:`place` on its neighbours placed in earlier waves once it has ``least`` of them (fewer
    when no row has as many); NaN for rows the graph never connects to ``rows``."""
    n = len(indices)
    xy = np.full((n, embedding.shape[1]), np.nan, dtype=np.float32)
    xy[rows] = embedding
    placed = np.zeros(n, dtype=bool)
    placed[rows] = True
    least = max(1, min(least, indices.shape[1] - 1))
    need = least
    while not placed.all():
        before = placed.copy()
        todo = np.flatnonzero(~before)
        for first in range(0, len(todo), GRAPH_PLACE_ROWS):
            part = todo[first:first + GRAPH_PLACE_ROWS]
            near = np.asarray(indices[part], dtype=np.int64)
            usable = before[near]
            ready = usable.sum(axis=1) >= need
            chosen = part[ready]
            xy[chosen] = place(xy, np.where(usable[ready], near[ready], -1),
                               np.asarray(distances[chosen]))
            placed[chosen] = True
        if (placed != before).any():
            need = least
        elif need > 1:
            need -= 1
        else:
            break
    return xy
