"""Principal Filter Analysis (PFA): correlated units of network layers, for compression."""

from deepview.introspectors._pfa._core import PFA
from deepview.introspectors._pfa._covariances import PFACovariancesResult
from deepview.introspectors._pfa._recipe import PFAEnergyDiagnostics, PFAKLDiagnostics, PFARecipe
from deepview.introspectors._pfa._strategies import PFAStrategyType
from deepview.introspectors._pfa._units import PFAUnitSelectionStrategyType

__all__ = ["PFA", "PFACovariancesResult", "PFAEnergyDiagnostics", "PFAKLDiagnostics", "PFARecipe",
           "PFAStrategyType", "PFAUnitSelectionStrategyType"]
