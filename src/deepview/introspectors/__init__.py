"""Introspectors: what is inside a dataset (Familiarity, Duplicates, DimensionReduction,
DatasetReport) and a network (PFA, IUA).

Names are imported lazily on first access, so ``import deepview.introspectors`` stays
cheap and one introspector's optional dependencies never burden another.

``DatasetReport`` and ``ReportConfig`` live one layer up, in :mod:`deepview.report`; they are
re-exported here (lazily, through ``__getattr__``, the one import that points up a layer) for
the published API.  The report imports each introspector from its own module, never through
this package, so no import circle forms.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> module it lives in (relative to this package, or absolute)
_EXPORTS: dict[str, str] = {
    # data introspectors
    "Familiarity": "_familiarity",
    "FamiliarityDistribution": "_familiarity",
    "FamiliarityResult": "_familiarity",
    "FamiliarityStrategyType": "_familiarity",
    "GMMCovarianceType": "_familiarity",
    "DimensionReduction": "_dim_reduction",
    "DimensionReductionStrategyType": "_dim_reduction",
    "OneOrManyDimStrategies": "_dim_reduction",
    "Duplicates": "_duplicates",
    "DuplicatesStrategyType": "_duplicates",
    "DuplicatesThresholdStrategyType": "_duplicates",
    "DatasetReport": "deepview.report",  # the layer above: lazy re-export
    "ReportConfig": "deepview.report",
    "DuplicatesConfig": "deepview.report",
    # model introspectors
    "PFA": "_pfa",
    "PFARecipe": "_pfa",
    "PFAKLDiagnostics": "_pfa",
    "PFAEnergyDiagnostics": "_pfa",
    "PFACovariancesResult": "_pfa",
    "PFAStrategyType": "_pfa",
    "PFAUnitSelectionStrategyType": "_pfa",
    "IUA": "_iua",
}

__all__ = [
    "DatasetReport",
    "DimensionReduction",
    "DimensionReductionStrategyType",
    "Duplicates",
    "DuplicatesConfig",
    "DuplicatesStrategyType",
    "DuplicatesThresholdStrategyType",
    "Familiarity",
    "FamiliarityDistribution",
    "FamiliarityResult",
    "FamiliarityStrategyType",
    "GMMCovarianceType",
    "IUA",
    "OneOrManyDimStrategies",
    "PFA",
    "PFACovariancesResult",
    "PFAEnergyDiagnostics",
    "PFAKLDiagnostics",
    "PFARecipe",
    "PFAStrategyType",
    "PFAUnitSelectionStrategyType",
    "ReportConfig",
]

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
