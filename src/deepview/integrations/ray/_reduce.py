"""reduce_dataset: one partial state per block on the cluster, merged on the driver."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from deepview.exceptions import InvalidDataError, InvalidTypeError
from deepview.integrations.ray._producer import (
    BatchSpec,
    RayDatasetProducer,
    is_ray_dataset,
    worker_errors,
)

__all__ = ["reduce_dataset"]

_OWNER = "reduce_dataset"
_STATE = "__deepview_state__"
_ROWS = "__deepview_rows__"


@dataclasses.dataclass
class _BlockState:
    """``map_batches`` function: the pickled partial state of one batch of rows."""

    spec: BatchSpec
    make_state: Callable[[], Any]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        state = self.make_state()
        rows = len(next(iter(batch.values()))) if batch else 0
        if rows:
            state.update(self.spec.to_batch(batch))
        payload = np.empty(1, dtype=object)
        payload[0] = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        return {_STATE: payload, _ROWS: np.array([rows], dtype=np.int64)}


def reduce_dataset(source: Any, make_state: Callable[[], Any], *, batch_size: int | None = None,
                   expected_rows: int | None = None) -> Any:
    """A partial state per block of a Ray Dataset on the cluster, merged on the driver in row order.

    Parameters
    ----------
    source : RayDatasetProducer or ray.data.Dataset
        The rows and how they become batches (a bare Dataset: every column a field).
    make_state : Callable[[], PartialState]
        Builds an empty state, e.g. ``PFAState`` or ``IUA.partial``; pickled to the workers.
    batch_size : int, optional
        Rows per state; default one state per block of the dataset.
    expected_rows : int, optional
        The rows the pass must cover (default: the producer's count from an earlier pass).

    Returns
    -------
    PartialState
        The merged state; call ``finish()`` for the result.

    Raises
    ------
    InvalidDataError
        The dataset has no rows, or the states cover another number of rows than expected.
    """
    if not isinstance(source, RayDatasetProducer) and not is_ray_dataset(source):
        raise InvalidTypeError(
            f"{_OWNER}: 'source' must be a RayDatasetProducer or a ray.data.Dataset; got "
            f"{type(source).__name__}.")
    producer = source if isinstance(source, RayDatasetProducer) else RayDatasetProducer(source)
    if not callable(make_state):
        raise InvalidTypeError(
            f"{_OWNER}: 'make_state' must build an empty partial state; got "
            f"{type(make_state).__name__}.")
    states = producer.selected().map_batches(_BlockState(producer.spec, make_state),
                                             batch_size=batch_size, batch_format="numpy")
    states.context.execution_options.preserve_order = True
    merged: Any = None
    rows = 0
    with worker_errors():
        for batch in states.iter_batches(batch_size=None, batch_format="numpy"):
            for payload, count in zip(batch[_STATE], batch[_ROWS]):
                if count:
                    state = pickle.loads(payload)
                    rows += int(count)
                    merged = state if merged is None else merged.merge(state)
    if merged is None:
        raise InvalidDataError(f"{_OWNER}: the dataset has no rows; give at least one sample.")
    expected = expected_rows if expected_rows is not None else producer.rows
    if expected is not None and rows != expected:
        raise InvalidDataError(
            f"{_OWNER}: the partial states cover {rows} rows but the dataset has {expected}; "
            "a block was lost (a failed worker without retry?).")
    if producer.rows is None:
        producer.rows = rows
    return merged
