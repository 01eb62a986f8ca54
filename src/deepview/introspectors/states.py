"""Partial states of the introspectors (update / merge / finish, see :mod:`deepview.partial`):
``finish()`` returns what the single-process introspector returns for the same rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from deepview._compute.covariance import CovarianceAccumulator
from deepview._compute.pca import EXACT_MAX_FEATURES, CovariancePCA
from deepview._validation import check_field, check_float, check_int
from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError
from deepview.introspectors._dim_reduction._introspector import DimensionReduction
from deepview.introspectors._dim_reduction._pca import PCA
from deepview.introspectors._familiarity import FamiliarityScores
from deepview.introspectors._iua import IUAState
from deepview.introspectors._pfa._core import PFA
from deepview.introspectors._pfa._covariances import check_response, streaming_covariance
from deepview.partial import batch_fields

__all__ = ["FamiliarityScores", "IUAState", "PCAState", "PFAState"]

_S = TypeVar("_S", bound="_CovarianceStates")


class _CovarianceStates:
    """Per-field :class:`CovarianceAccumulator` s, merged field by field."""

    _OWNER = "states"
    _PARAMETER = ""  # the parameter two merged states must share

    def __init__(self) -> None:
        self._accumulators: dict[str, CovarianceAccumulator] = {}

    @property
    def samples(self) -> int:
        """Samples added so far."""
        return next(iter(self._accumulators.values())).n if self._accumulators else 0

    def _new(self, name: str) -> CovarianceAccumulator:
        raise NotImplementedError

    def _prepare(self, name: str, x: Any) -> Any:
        return x

    def _names(self, fields: Mapping[str, Any]) -> list[str]:
        return list(fields)

    def update(self, batch: Any) -> None:
        """Add the rows of every analysed field of ``batch`` (a :class:`Batch`)."""
        seen = () if getattr(self, "fields", None) else self._accumulators  # a subset: no check
        fields = batch_fields(batch, seen, self._OWNER)
        if fields is None:
            return
        if not fields:
            raise InvalidDataError(f"{self._OWNER}.update: the batch has no fields to analyse.")
        for name in self._names(fields):
            x = self._prepare(name, fields[name])
            acc = self._accumulators.get(name)
            if acc is None:
                acc = self._accumulators[name] = self._new(name)
            acc.update(x)

    def merge(self: _S, other: _S) -> _S:
        """Add ``other``'s rows; returns ``self``."""
        if type(other) is not type(self):
            raise InvalidTypeError(f"{self._OWNER}.merge: can only merge another "
                                   f"{type(self).__name__}; got {type(other).__name__}.")
        ours, theirs = getattr(self, self._PARAMETER), getattr(other, self._PARAMETER)
        if ours != theirs:
            raise InvalidParameterError(f"{self._OWNER}.merge: {self._PARAMETER} differs ({ours} "
                                        f"and {theirs}); build every state with the same one.")
        if self._accumulators and other._accumulators and (
                set(other._accumulators) != set(self._accumulators)):
            raise InvalidDataError(
                f"{self._OWNER}.merge: one state has fields {sorted(self._accumulators)}, the "
                f"other {sorted(other._accumulators)}; every block must carry the same fields.")
        for name, acc in other._accumulators.items():
            mine = self._accumulators.get(name)
            if mine is None:
                mine = self._accumulators[name] = self._new(name)
            mine.merge(acc)
        return self

    def _check_not_empty(self) -> None:
        if not self._accumulators or self.samples == 0:
            raise InvalidDataError(f"{self._OWNER}.finish: no samples were added; update the state "
                                   "with at least one non-empty batch.")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(samples={self.samples}, "
                f"fields={sorted(self._accumulators)})")


class PCAState(_CovarianceStates):
    """Exact streaming PCA (``DimensionReduction.Strategy.PCA``) as a partial state; ``finish()``
    returns the fitted :class:`~deepview.introspectors.DimensionReduction`.

    Parameters
    ----------
    target_dimensions : int, default=2
        Principal components kept per field.
    fields : Sequence[str], optional
        Fields to reduce (others pass through the fitted stage); default every field.

    Raises
    ------
    InvalidDataError
        From :meth:`update`: a field not 2-D, with NaN/inf, or wider than 4096 features.
    """

    _OWNER = "PCAState"
    _PARAMETER = "target_dimensions"

    def __init__(self, target_dimensions: int = 2, *, fields: Sequence[str] | None = None) -> None:
        super().__init__()
        self.target_dimensions = check_int(target_dimensions, name="target_dimensions",
                                           owner=self._OWNER, min_value=1)
        if isinstance(fields, str):
            fields = [fields]
        self.fields = None if fields is None else list(fields)

    def _names(self, fields: Mapping[str, Any]) -> list[str]:
        if self.fields is None:
            return list(fields)
        missing = [f for f in self.fields if f not in fields]
        if missing:
            raise InvalidDataError(f"{self._OWNER}.update: the batch has no field(s) {missing}; "
                                   f"its fields are {sorted(fields)}.")
        return list(self.fields)

    def _prepare(self, name: str, x: Any) -> Any:
        arr = check_field(name, x, owner=self._OWNER)
        if arr.shape[1] > EXACT_MAX_FEATURES:
            raise InvalidDataError(f"{self._OWNER}: field '{name}' has {arr.shape[1]} features; "
                                   "partial PCA states hold the exact covariance, up to "
                                   f"{EXACT_MAX_FEATURES} features. Reduce the field first (e.g. a "
                                   "Pooler) or fit DimensionReduction in one process.")
        return arr

    def _new(self, name: str) -> CovarianceAccumulator:
        return CovariancePCA(self.target_dimensions)._acc

    def finish(self) -> DimensionReduction:
        """The fitted :class:`~deepview.introspectors.DimensionReduction` stage."""
        self._check_not_empty()
        reducers: dict[str, Any] = {}
        n_features: dict[str, int] = {}
        for name, acc in self._accumulators.items():
            assert acc.n_features is not None
            strategy = PCA(self.target_dimensions)
            fitter = CovariancePCA(self.target_dimensions)
            fitter._acc = acc
            strategy._state.fitter = fitter
            strategy._state.n_features = n_features[name] = acc.n_features
            if acc.n_features < self.target_dimensions:
                raise InvalidDataError(f"{self._OWNER}: field '{name}' has {acc.n_features} "
                                       "features, fewer than "
                                       f"target_dimensions={self.target_dimensions}.")
            strategy.fit_complete()
            reducers[name] = strategy
        self._accumulators = {}
        return DimensionReduction(_reducers=reducers, _n_features=n_features)


class PFAState(_CovarianceStates):
    """:meth:`PFA.introspect <deepview.introspectors.PFA.introspect>` as a partial state;
    ``finish()`` returns the :class:`~deepview.introspectors.PFA`.

    Parameters
    ----------
    epsilon_inactive : float, default=1e-8
        As in ``PFA.introspect``.
    """

    _OWNER = "PFAState"
    _PARAMETER = "epsilon_inactive"

    def __init__(self, epsilon_inactive: float = 1e-8) -> None:
        super().__init__()
        self.epsilon_inactive = check_float(epsilon_inactive, name="epsilon_inactive",
                                            owner=self._OWNER, min_value=0.0, max_value=1.0)

    def _prepare(self, name: str, x: Any) -> Any:
        arr = check_response(name, x, owner=self._OWNER)
        acc = self._accumulators.get(name)
        if acc is not None and acc.n_features is not None and arr.shape[1] != acc.n_features:
            raise InvalidDataError(f"{self._OWNER}: field '{name}' has {arr.shape[1]} units in a "
                                   f"later batch but {acc.n_features} in the first; responses must "
                                   "keep their shape.")
        return arr

    def _new(self, name: str) -> CovarianceAccumulator:
        return streaming_covariance(name, owner="PFA.introspect")

    def finish(self) -> PFA:
        """The :class:`~deepview.introspectors.PFA` of every row added or merged."""
        self._check_not_empty()
        accumulators, self._accumulators = self._accumulators, {}
        return PFA._from_scatters(accumulators, self.epsilon_inactive)
