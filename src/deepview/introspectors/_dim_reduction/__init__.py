"""Dimension reduction of batch fields: PCA (exact, streaming), StandardPCA, t-SNE, UMAP, PaCMAP."""

from deepview.introspectors._dim_reduction._introspector import DimensionReduction
from deepview.introspectors._dim_reduction._protocols import (
    DimensionReductionStrategyType,
    OneOrManyDimStrategies,
)

__all__ = ["DimensionReduction", "DimensionReductionStrategyType", "OneOrManyDimStrategies"]
