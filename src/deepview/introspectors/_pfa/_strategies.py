"""PFA strategies: how many units of each layer to keep (KL, Energy, Size)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from deepview._validation import check_float, check_int
from deepview.exceptions import DeepViewException, InvalidTypeError
from deepview.introspectors._pfa._covariances import PFACovariancesResult
from deepview.introspectors._pfa._recipe import (
    PFADiagnostics,
    PFAEnergyDiagnostics,
    PFAKLDiagnostics,
    PFARecipe,
)

logger = logging.getLogger(__name__)


@runtime_checkable
class PFAStrategyType(Protocol):
    """Maps each layer's :class:`PFACovariancesResult` to a :class:`PFARecipe` with the number
    of units to keep (1..C) and ``diagnostics`` set."""

    def __call__(self, covariances: Mapping[str, PFACovariancesResult]) -> Mapping[str, PFARecipe]:
        """Return one recipe per layer of ``covariances``."""


class _PerLayer:
    """A strategy that decides every layer on its own."""

    def _layer(self, name: str, cov: PFACovariancesResult) -> tuple[int, PFADiagnostics]:
        raise NotImplementedError

    def __call__(self, covariances: Mapping[str, PFACovariancesResult]) -> Mapping[str, PFARecipe]:
        result: dict[str, PFARecipe] = {}
        for name, cov in covariances.items():
            count, diagnostics = self._layer(name, cov)
            result[name] = PFARecipe(cov.original_output_count, int(count), [],
                                     int(cov.inactive_units.shape[0]), diagnostics)
        return result


class _KLInterpolationFunction(Protocol):
    """Maps ``(kl_divergence, max_kl_divergence = ln C)`` to the ratio of units to keep."""

    def __call__(self, kl_divergence: float, max_kl_divergence: float) -> float: ...


_KLInterpolationFunction.__name__ = "KLInterpolationFunction"
_KLInterpolationFunction.__qualname__ = "KLInterpolationFunction"


@dataclass(frozen=True)
class LinearInterpolation:
    """Linear map of ``[0, max_kl_divergence]`` onto ``[1, 0]``: ``1 - kl / max_kl``."""

    def __call__(self, kl_divergence: float, max_kl_divergence: float) -> float:
        if max_kl_divergence <= 0:
            return 1.0
        return 1.0 - float(kl_divergence) / float(max_kl_divergence)


@dataclass(frozen=True)
class KL(_PerLayer):
    """Keep ``ceil(C · ratio)`` units, the ratio falling as the eigenvalue spectrum gets less
    uniform (KL divergence from the uniform distribution).

    Parameters
    ----------
    interpolation_function : KLInterpolationFunction, optional
        Maps ``(kl, max_kl)`` to the ratio; default :class:`KL.LinearInterpolation`.
    """

    KLInterpolationFunction = _KLInterpolationFunction
    LinearInterpolation = LinearInterpolation

    interpolation_function: _KLInterpolationFunction | None = None

    def __post_init__(self) -> None:
        if self.interpolation_function is None:
            object.__setattr__(self, "interpolation_function", LinearInterpolation())
        elif not callable(self.interpolation_function):
            raise InvalidTypeError("PFA.Strategy.KL: 'interpolation_function' must be callable as "
                                   "f(kl_divergence, max_kl_divergence) -> float; got "
                                   f"{type(self.interpolation_function).__name__}. Use "
                                   "KL.LinearInterpolation().")

    def _layer(self, name: str, cov: PFACovariancesResult) -> tuple[int, PFAKLDiagnostics]:
        n_units = cov.original_output_count
        eigenvalues = np.asarray(cov.eigenvalues, dtype=np.float64)
        total = float(np.abs(eigenvalues).sum())
        if n_units == 1:
            return 1, PFAKLDiagnostics(kl_divergence=0.0, units_ratio=1.0)
        if total == 0.0:  # every unit is inactive: keep one
            return 1, PFAKLDiagnostics(kl_divergence=0.0, units_ratio=1.0 / n_units)
        p = eigenvalues / total + np.finfo(np.float64).eps
        p /= p.sum()
        kl = float(np.sum(p * np.log(p * n_units)))
        max_kl = math.log(n_units)
        ratio = self.interpolation_function(kl, max_kl)  # type: ignore[misc]
        try:
            ratio = float(ratio)
        except (TypeError, ValueError):
            ratio = float("nan")
        if not math.isfinite(ratio) or ratio < -1e-12 or ratio > 1 + 1e-12:
            raise DeepViewException("PFA.Strategy.KL: the interpolation function returned "
                                    f"{ratio!r} for layer '{name}' (kl={kl:.6g}, "
                                    f"max_kl={max_kl:.6g}) but must return a ratio in [0, 1]; fix "
                                    "the function or use KL.LinearInterpolation().")
        ratio = min(max(ratio, 0.0), 1.0)
        count = min(max(int(math.ceil(n_units * ratio)), 1), n_units)
        return count, PFAKLDiagnostics(kl_divergence=kl, units_ratio=ratio)


@dataclass(frozen=True)
class Energy(_PerLayer):
    """Keep the fewest units whose eigenvalues hold ``energy_threshold`` of the energy.

    Parameters
    ----------
    energy_threshold : float
        Share of the spectral energy to keep, in [0, 1].
    min_kept_count : int, default=0
        Minimum number of units to keep per layer.
    """

    energy_threshold: float
    min_kept_count: int = 0

    def __post_init__(self) -> None:
        owner = "PFA.Strategy.Energy"
        object.__setattr__(self, "energy_threshold", check_float(
            self.energy_threshold, name="energy_threshold", owner=owner,
            min_value=0.0, max_value=1.0))
        object.__setattr__(self, "min_kept_count", check_int(
            self.min_kept_count, name="min_kept_count", owner=owner, min_value=0))

    def _layer(self, name: str, cov: PFACovariancesResult) -> tuple[int, PFAEnergyDiagnostics]:
        eigenvalues = np.asarray(cov.eigenvalues, dtype=np.float64)
        n_units = eigenvalues.shape[0]
        cumulative = np.cumsum(eigenvalues)
        total = float(cumulative[-1])  # the running sum's order: a threshold of 1.0 is reached
        if total > 0:
            reached = np.flatnonzero(cumulative / total >= self.energy_threshold)
            count = int(reached[0]) + 1 if reached.size else n_units
        else:
            count = 1
        if count < self.min_kept_count:
            logger.warning("PFA.Strategy.Energy: layer '%s' reaches energy %s with %d units; "
                           "keeping min_kept_count=%d instead (set min_kept_count=%d to follow "
                           "the threshold).", name, self.energy_threshold, count,
                           self.min_kept_count, count)
            count = self.min_kept_count
        count = min(max(count, 1), n_units)
        return count, PFAEnergyDiagnostics(total_kept_energy=float(cumulative[count - 1]))


@dataclass(frozen=True)
class Size:
    """Keep about ``relative_size`` of all units, with one :class:`Energy` threshold for all
    layers.

    Parameters
    ----------
    relative_size : float
        Share of the units (over all layers) to keep, in [0, 1].
    min_kept_count : int, default=0
        Minimum number of units to keep per layer.
    epsilon_energy : float, default=1e-8
        Bounds of the derived threshold, in [0, 0.5).
    """

    relative_size: float
    min_kept_count: int = 0
    epsilon_energy: float = 1e-8

    def __post_init__(self) -> None:
        owner = "PFA.Strategy.Size"
        object.__setattr__(self, "relative_size", check_float(
            self.relative_size, name="relative_size", owner=owner, min_value=0.0, max_value=1.0))
        object.__setattr__(self, "min_kept_count", check_int(
            self.min_kept_count, name="min_kept_count", owner=owner, min_value=0))
        object.__setattr__(self, "epsilon_energy", check_float(
            self.epsilon_energy, name="epsilon_energy", owner=owner, min_value=0.0,
            max_value=0.5, max_inclusive=False))

    def energy_threshold(self, covariances: Mapping[str, PFACovariancesResult]) -> float:
        """The cross-layer energy threshold this strategy hands to :class:`Energy`."""
        pooled = []
        for cov in covariances.values():
            eigenvalues = np.sort(np.abs(np.asarray(cov.eigenvalues, dtype=np.float64)))[::-1]
            cumulative = np.cumsum(eigenvalues)
            total = cumulative[-1]
            pooled.append(np.concatenate(([0.0], cumulative[:-1])) / total if total > 0
                          else np.ones_like(cumulative))
        threshold = float(np.percentile(np.concatenate(pooled), 100.0 * self.relative_size))
        return min(max(threshold, self.epsilon_energy), 1.0 - self.epsilon_energy)

    def __call__(self, covariances: Mapping[str, PFACovariancesResult]) -> Mapping[str, PFARecipe]:
        if not covariances:
            return {}
        threshold = self.energy_threshold(covariances)
        return Energy(threshold, self.min_kept_count)(covariances)
