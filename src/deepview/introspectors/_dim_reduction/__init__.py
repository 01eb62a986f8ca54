"""Dimension reduction of batch fields: PCA (exact, streaming), StandardPCA, t-SNE, UMAP, PaCMAP.

:meth:`DimensionReduction.introspect` fits one reducer per field in a single pass over a
producer; the returned :class:`DimensionReduction` is a :class:`~deepview.base.PipelineStage`
that replaces each reduced field by its ``(batch, target_dimensions)`` projection.

Strategies are configuration: ``introspect`` fits a fresh clone per field, so one strategy
object can serve any number of fields (or introspections) without sharing state, and the
fitted state lives in the returned result.
"""

from deepview.introspectors._dim_reduction._introspector import DimensionReduction
from deepview.introspectors._dim_reduction._protocols import (
    DimensionReductionStrategyType,
    OneOrManyDimStrategies,
)

__all__ = ["DimensionReduction", "DimensionReductionStrategyType", "OneOrManyDimStrategies"]
