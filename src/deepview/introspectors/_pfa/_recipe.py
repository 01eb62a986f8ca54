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
        KL divergence between the normalised eigenvalue distribution of the layer's
        covariance and the uniform distribution (0 = all directions equally used).
    units_ratio : float
        Share of the layer's units the KL interpolation function recommends to keep, in [0, 1].
    """

    kl_divergence: float
    units_ratio: float


@dataclass(frozen=True)
class PFAEnergyDiagnostics:
    """Diagnostic information of :class:`PFA.Strategy.Energy` (and ``Size``) for one layer.

    Parameters
    ----------
    total_kept_energy : float
        Sum of the largest ``recommended_output_count`` eigenvalues of the layer's covariance
        (absolute, not a ratio), i.e. the spectral energy that the recommendation keeps.
    """

    total_kept_energy: float


PFADiagnostics = Union[PFAKLDiagnostics, PFAEnergyDiagnostics, None]


@dataclass(frozen=True)
class PFARecipe:
    """Recommendation for one layer (response): how many units to keep and which to remove.

    Returned by :meth:`PFA.get_recipe`; there is rarely a reason to build one by hand.

    Parameters
    ----------
    original_output_count : int
        Number of units of the layer.
    recommended_output_count : int
        Number of units to keep. Always ``original_output_count -
        len(maximally_correlated_units)`` and at least 1.
    maximally_correlated_units : Sequence[int]
        Indices of the units to remove: first the layer's inactive units, then the correlated
        units in the order the unit-selection strategy removed them. Stored as a ``list`` of
        ``int`` whatever sequence is given, so it compares equal to a list.
    number_inactive_units : int
        Number of inactive (zero-variance) units of the layer. When a recipe keeps fewer units
        than are active, the first ``number_inactive_units`` entries of
        ``maximally_correlated_units`` are exactly those units.
    diagnostics : PFAKLDiagnostics or PFAEnergyDiagnostics or None
        What the strategy computed on the way (``None`` for custom strategies without any).

    Examples
    --------
    >>> r = PFARecipe(original_output_count=4, recommended_output_count=2,
    ...               maximally_correlated_units=(3, 0), number_inactive_units=1,
    ...               diagnostics=None)
    >>> r.units_to_keep
    (1, 2)
    >>> r.maximally_correlated_units
    [3, 0]
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
        """Sorted indices of the units the recipe keeps (all units minus the removed ones)."""
        removed = {int(u) for u in self.maximally_correlated_units}
        return tuple(u for u in range(self.original_output_count) if u not in removed)
