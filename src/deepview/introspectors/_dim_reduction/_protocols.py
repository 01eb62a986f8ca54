"""The strategy protocol of :class:`DimensionReduction`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, Union, runtime_checkable

import numpy as np

__all__ = ["DimensionReductionStrategyType", "OneOrManyDimStrategies"]


@runtime_checkable
class DimensionReductionStrategyType(Protocol):
    """Strategy for reducing the dimension of one field: ``fit_incremental`` per batch, then
    ``fit_complete``; then ``transform`` (streaming) or ``transform_one_shot`` (one-shot)."""

    def default_batch_size(self) -> int:
        """Batch size used when ``introspect`` is given none."""

    def check_batch_size(self, batch_size: int) -> None:
        """Raise :class:`DeepViewException` if ``batch_size`` cannot be used."""

    @property
    def target_dimensions(self) -> int:
        """Number of dimensions of the output."""

    def fit_incremental(self, data: np.ndarray) -> None:
        """Fit (or collect) one batch of ``(batch, features)`` data."""

    def fit_complete(self) -> None:
        """Called once after the last batch."""

    @property
    def is_one_shot(self) -> bool:
        """True if only ``transform_one_shot`` works (the fitted samples' embedding)."""

    def transform(self, data: np.ndarray) -> np.ndarray:
        """Project ``(batch, features)`` data to ``(batch, target_dimensions)``."""

    def transform_one_shot(self) -> np.ndarray:
        """The embedding of all fitted samples, in fit order."""

    def _clone(self) -> DimensionReductionStrategyType:
        """A fresh, unfitted copy with the same parameters."""


OneOrManyDimStrategies = Union[DimensionReductionStrategyType,
                               Mapping[str, DimensionReductionStrategyType]]
"""One strategy for every field, or a mapping from field name to strategy."""
