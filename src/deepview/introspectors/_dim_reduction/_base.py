"""Helpers shared by the bundled dimension reduction strategies."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from deepview._validation import check_batch_size
from deepview.exceptions import DeepViewException, InvalidDataError, InvalidTypeError

__all__ = ["Collected", "StrategyBase", "as_matrix", "check_target", "not_fitted", "quiet"]


def as_matrix(data: Any, owner: str) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise InvalidTypeError(f"{owner}: data must be a numpy array; got {type(data).__name__}.")
    if data.ndim != 2:
        raise InvalidDataError(f"{owner}: data has shape {data.shape} but needs 2 dims (batch, "
                               "features); add Flattener() (deepview.processors) to the pipeline.")
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_):
        raise InvalidTypeError(f"{owner}: data must hold numbers; got dtype {data.dtype}.")
    return data


def check_target(target: int, n_features: int, owner: str) -> None:
    if target > n_features:
        raise InvalidDataError(f"{owner}: target_dimensions={target} exceeds the {n_features} "
                               f"feature(s) of the data. Use target_dimensions <= {n_features}.")


class Collected:
    """Batches collected by an accumulating strategy, plus the fitted result."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.n_features: int | None = None
        self.fitted: Any = None
        self.reservoir: Any = None  # a sampling strategy's sample while fitting

    def add(self, data: np.ndarray, owner: str) -> None:
        d = int(data.shape[1])
        if self.fitted is not None:
            raise DeepViewException(f"{owner}: already fitted; use _clone() for a fresh copy to "
                                    "fit new data.")
        if self.n_features is None:
            self.n_features = d
        elif d != self.n_features:
            raise InvalidDataError(f"{owner}: batches have different feature counts "
                                   f"({self.n_features} then {d}); every batch of a field needs "
                                   "the same shape.")
        if len(data):
            self.chunks.append(data)

    def take_all(self, owner: str, dtype: type = np.float32) -> np.ndarray:
        if not self.chunks:
            raise InvalidDataError(f"{owner}: no data to fit; give at least one sample.")
        parts, self.chunks = self.chunks, []
        return np.ascontiguousarray(np.concatenate(parts) if len(parts) > 1 else parts[0],
                                    dtype=dtype)


def not_fitted(owner: str) -> DeepViewException:
    return DeepViewException(f"{owner}: not fitted yet; call fit_incremental() and fit_complete() "
                             "first (or use DimensionReduction.introspect).")


class StrategyBase:
    """Defaults of the bundled strategies; each overrides the transform it supports."""

    _owner: ClassVar[str] = "DimensionReduction.Strategy"
    _one_shot: ClassVar[bool] = False

    def default_batch_size(self) -> int:
        return 1024

    def check_batch_size(self, batch_size: int) -> None:
        check_batch_size(batch_size, owner=self._owner)

    @property
    def is_one_shot(self) -> bool:
        return self._one_shot

    def transform(self, data: np.ndarray) -> np.ndarray:
        raise DeepViewException(f"{self._owner}: transform() is not available for a one-shot "
                                "strategy; call transform_one_shot() to get the embedding of the "
                                "fitted samples.")

    def transform_one_shot(self) -> np.ndarray:
        raise DeepViewException(f"{self._owner}: transform_one_shot() is not available; call "
                                "transform(data).")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence library chatter written to stdout (progress prints of umap/pacmap)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield
