"""PFA unit selection: which units to remove, given how many to keep."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from deepview._validation import check_int
from deepview.exceptions import InvalidParameterError
from deepview.introspectors._pfa._covariances import PFACovariancesResult

_EPSILON = 1e-8
_RTOL = 1e-5
_ATOL = 1e-8


@runtime_checkable
class PFAUnitSelectionStrategyType(Protocol):
    """Returns the indices of the units to remove, inactive units first, so that
    ``num_units_to_keep`` units of the layer remain."""

    def __call__(self, covariances: PFACovariancesResult, *,
                 num_units_to_keep: int) -> np.ndarray: ...


def _abs_correlation(cov: PFACovariancesResult) -> np.ndarray:
    s = np.asarray(cov.covariances, dtype=np.float64)
    std = np.sqrt(np.abs(np.diag(s)))
    corr = np.abs(s)
    corr /= np.maximum(np.outer(std, std), _EPSILON)
    return corr


def _select_l1(cov: PFACovariancesResult, inactive: np.ndarray, alive: np.ndarray, steps: int,
               maximize: bool) -> np.ndarray:
    corr = _abs_correlation(cov)
    np.fill_diagonal(corr, 0.0)
    corr[inactive, :] = 0.0
    corr[:, inactive] = 0.0
    sums = corr.sum(axis=0)
    fill = -np.inf if maximize else np.inf
    removed = [int(u) for u in inactive]
    for _ in range(steps):
        candidates = np.where(alive, sums, fill)
        j = int(np.argmax(candidates) if maximize else np.argmin(candidates))
        extreme = candidates[j]
        tied = np.flatnonzero(alive & (np.abs(sums - extreme) <= _ATOL + _RTOL * abs(extreme)))
        if tied.size > 1:
            j = _break_l1_tie(corr, alive, tied, maximize)
        removed.append(j)
        alive[j] = False
        sums -= corr[j]
    return np.asarray(removed, dtype=np.int64)


def _break_l1_tie(corr: np.ndarray, alive: np.ndarray, tied: np.ndarray, maximize: bool) -> int:
    """Among the tied columns only, pick the one holding the most extreme coefficient."""
    sub = corr[np.ix_(alive, tied)]  # the tied units are alive: never empty
    if maximize:
        return int(tied[int(np.argmax(sub.max(axis=0)))])
    rows = np.flatnonzero(alive)
    sub = np.where(rows[:, None] == tied[None, :], np.inf, sub)  # ignore the diagonal
    return int(tied[int(np.argmin(sub.min(axis=0)))])


def _select_abs(cov: PFACovariancesResult, inactive: np.ndarray, alive: np.ndarray, steps: int,
                maximize: bool) -> np.ndarray:
    fill = -np.inf if maximize else np.inf
    work = _abs_correlation(cov)
    np.fill_diagonal(work, fill)
    work[inactive, :] = fill
    work[:, inactive] = fill
    arg_ext: Callable[..., np.ndarray] = np.argmax if maximize else np.argmin
    best_col = arg_ext(work, axis=1)
    best = work[np.arange(work.shape[0]), best_col]
    removed = [int(u) for u in inactive]
    for _ in range(steps):
        row_vals = np.where(alive, best, fill)
        r = int(arg_ext(row_vals))
        extreme = row_vals[r]
        candidates = np.flatnonzero(
            alive & (np.abs(best - extreme) <= _ATOL + _RTOL * abs(extreme))
        ) if np.isfinite(extreme) else np.array([r])
        unit = int(candidates[0])
        if candidates.size > 1 and np.isfinite(extreme):
            # next most extreme coefficient of each candidate row, its extreme cell excluded
            rows = work[candidates].copy()
            rows[np.arange(candidates.size), best_col[candidates]] = fill
            second = rows.max(axis=1) if maximize else rows.min(axis=1)
            if np.isfinite(second).any():
                unit = int(candidates[int(arg_ext(second))])
        removed.append(unit)
        alive[unit] = False
        work[unit, :] = fill
        work[:, unit] = fill
        stale = np.flatnonzero(alive & (best_col == unit))
        if stale.size:
            cols = arg_ext(work[stale], axis=1)
            best_col[stale] = cols
            best[stale] = work[stale, cols]
        best[unit] = fill
    return np.asarray(removed, dtype=np.int64)


@dataclass(frozen=True)
class _DirectionalStrategy:
    """Removes units by a directional criterion on the absolute correlation matrix."""

    distance: ClassVar[Callable[..., np.ndarray]]
    maximize: ClassVar[bool]

    def __call__(self, covariances: PFACovariancesResult, *, num_units_to_keep: int) -> np.ndarray:
        """Indices of the units to remove (inactive first)."""
        owner = f"PFA.UnitSelectionStrategy.{type(self).__name__}"
        n_units = covariances.original_output_count
        keep = check_int(num_units_to_keep, name="num_units_to_keep", owner=owner, min_value=1)
        if keep > n_units:
            raise InvalidParameterError(f"{owner}: 'num_units_to_keep' must be <= the layer's "
                                        f"{n_units} units; got {keep}.")
        inactive = np.asarray(covariances.inactive_units, dtype=np.int64)
        alive = np.ones(n_units, dtype=bool)
        alive[inactive] = False
        steps = int(alive.sum()) - keep
        if steps < 0:  # fewer active units than asked for: remove inactive ones, never all
            return inactive[1:].copy() if len(inactive) >= n_units else inactive.copy()
        if steps == 0:
            return inactive.copy()
        return type(self).distance(covariances, inactive, alive, steps, self.maximize)


@dataclass(frozen=True)
class AbsMax(_DirectionalStrategy):
    """Remove one unit of the most correlated pair at a time: the one next most correlated."""

    distance = staticmethod(_select_abs)
    maximize = True


@dataclass(frozen=True)
class AbsMin(_DirectionalStrategy):
    """Remove one unit of the least correlated pair at a time: the one next least correlated."""

    distance = staticmethod(_select_abs)
    maximize = False


@dataclass(frozen=True)
class L1Max(_DirectionalStrategy):
    """Remove the unit with the greatest L1 norm of correlations to the others, one at a time."""

    distance = staticmethod(_select_l1)
    maximize = True


@dataclass(frozen=True)
class L1Min(_DirectionalStrategy):
    """Remove the unit with the lowest L1 norm of correlations to the others, one at a time."""

    distance = staticmethod(_select_l1)
    maximize = False


def all_unit_strategies() -> Iterator[PFAUnitSelectionStrategyType]:
    """One instance of each bundled unit-selection strategy."""
    return iter([AbsMax(), AbsMin(), L1Max(), L1Min()])
