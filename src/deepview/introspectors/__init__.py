"""Introspectors: what is inside a dataset (Familiarity, Duplicates, DimensionReduction,
DatasetReport) and a network (PFA, IUA); names are imported on first access."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> its module (relative to this package, or absolute: the one re-export from
#: the layer above, deepview.report, which imports each introspector from its own module)
_EXPORTS: dict[str, str] = {
    name: module
    for module, names in {
        "_familiarity": ("Familiarity", "FamiliarityDistribution", "FamiliarityResult",
                         "FamiliarityStrategyType", "GMMCovarianceType"),
        "_dim_reduction": ("DimensionReduction", "DimensionReductionStrategyType",
                           "OneOrManyDimStrategies"),
        "_duplicates": ("Duplicates", "DuplicatesStrategyType",
                        "DuplicatesThresholdStrategyType"),
        "deepview.report": ("DatasetReport", "ReportConfig", "DuplicatesConfig"),
        "_pfa": ("PFA", "PFARecipe", "PFAKLDiagnostics", "PFAEnergyDiagnostics",
                 "PFACovariancesResult", "PFAStrategyType", "PFAUnitSelectionStrategyType"),
        "_iua": ("IUA",),
    }.items()
    for name in names
}

__all__ = ["DatasetReport", "DimensionReduction", "DimensionReductionStrategyType", "Duplicates",
           "DuplicatesConfig", "DuplicatesStrategyType", "DuplicatesThresholdStrategyType",
           "Familiarity", "FamiliarityDistribution", "FamiliarityResult", "FamiliarityStrategyType",
           "GMMCovarianceType", "IUA", "OneOrManyDimStrategies", "PFA", "PFACovariancesResult",
           "PFAEnergyDiagnostics", "PFAKLDiagnostics", "PFARecipe", "PFAStrategyType",
           "PFAUnitSelectionStrategyType", "ReportConfig"]

if TYPE_CHECKING:  # pragma: no cover - static imports for type checkers and IDEs
    from deepview.introspectors._dim_reduction import (
        DimensionReduction,
        DimensionReductionStrategyType,
        OneOrManyDimStrategies,
    )
    from deepview.introspectors._duplicates import (
        Duplicates,
        DuplicatesStrategyType,
        DuplicatesThresholdStrategyType,
    )
    from deepview.introspectors._familiarity import (
        Familiarity,
        FamiliarityDistribution,
        FamiliarityResult,
        FamiliarityStrategyType,
        GMMCovarianceType,
    )
    from deepview.introspectors._iua import IUA
    from deepview.introspectors._pfa import (
        PFA,
        PFACovariancesResult,
        PFAEnergyDiagnostics,
        PFAKLDiagnostics,
        PFARecipe,
        PFAStrategyType,
        PFAUnitSelectionStrategyType,
    )
    from deepview.report import DatasetReport, DuplicatesConfig, ReportConfig


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deepview.introspectors' has no attribute '{name}'")
    if not module.startswith("deepview."):
        module = f"deepview.introspectors.{module}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
