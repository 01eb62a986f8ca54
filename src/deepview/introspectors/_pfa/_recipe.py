"""PFA result types: per-layer recipes and the diagnostics of the strategy that made them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class PFAKLDiagnostics:
    """Diagnostic information of :class:`PFA.Strategy.KL` for one layer.

    Parameters
    ----------
    kl_divergence : float
        KL divergence of the normalised eigenvalues from the uniform distribution.
    units_ratio : float
        Share of the layer's units to keep, in [0, 1].
    """

    kl_divergence: float
    units_ratio: float


@dataclass(frozen=True)
class PFAEnergyDiagnostics:
    """Diagnostic information of :class:`PFA.Strategy.Energy` (and ``Size``) for one layer.

    Parameters
    ----------
    total_kept_energy : float
        Sum of the largest ``recommended_output_count`` eigenvalues (absolute, not a ratio).
    """

    total_kept_energy: float


PFADiagnostics = Union[PFAKLDiagnostics, PFAEnergyDiagnostics, None]


@dataclass(frozen=True)
class PFARecipe:
    """Recommendation for one layer (response): how many units to keep and which to remove.

    Parameters
    ----------
    original_output_count : int
        Number of units of the layer.
    recommended_output_count : int
        Number of units to keep (at least 1).
    maximally_correlated_units : Sequence[int]
        Indices of the units to remove (inactive units first), stored as a list of ints.
    number_inactive_units : int
        Number of inactive (zero-variance) units of the layer.
    diagnostics : PFAKLDiagnostics or PFAEnergyDiagnostics or None
        What the strategy computed on the way.
    """

    original_output_count: int
    recommended_output_count: int
    maximally_correlated_units: Sequence[int] = field(default_factory=list)
    number_inactive_units: int = 0
    diagnostics: PFADiagnostics = None

    def __post_init__(self) -> None:
        units = [int(u) for u in self.maximally_correlated_units]
        object.__setattr__(self, "maximally_correlated_units", units)

    @property
    def units_to_keep(self) -> tuple[int, ...]:
        """Sorted indices of the units the recipe keeps."""
        removed = {int(u) for u in self.maximally_correlated_units}
        return tuple(u for u in range(self.original_output_count) if u not in removed)
