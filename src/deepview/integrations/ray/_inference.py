"""map_responses: a deepview Model in a pool of Ray actors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from deepview._validation import check_batch_size, check_float, check_int
from deepview.base import Batch, Model, pipeline
from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError
from deepview.integrations.ray._producer import batch_column, is_ray_dataset

__all__ = ["map_responses"]

_OWNER = "map_responses"


class _ResponseMapper:
    """The callable class of ``map_batches``: one per actor, the model built once."""

    def __init__(self, model_factory: Callable[[], Model], response_names: Sequence[str],
                 input_column: str) -> None:
        model = model_factory()
        if not isinstance(model, Model):
            raise InvalidTypeError(
                f"{_OWNER}: 'model_factory' must return a deepview Model (e.g. a TorchModel); "
                f"it returned {type(model).__name__}.")
        self.stage = model(list(response_names))
        self.names = list(response_names)
        self.input_column = input_column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.input_column not in batch:
            raise InvalidDataError(
                f"{_OWNER}: the dataset has no input column '{self.input_column}'; its "
                f"columns are {sorted(batch)}.")
        x = batch_column(batch, self.input_column)
        n = len(x)
        data = Batch.Builder({self.input_column: x}).make_batch()
        out = next(iter(pipeline(lambda _size: iter([data]), self.stage)(max(n, 1))))
        result = {k: v for k, v in batch.items() if k != self.input_column}
        for name in self.names:
            if name in result:
                raise InvalidDataError(
                    f"{_OWNER}: response '{name}' has the name of a column of the dataset; "
                    "rename that column first (Dataset.rename_columns).")
            values = np.asarray(out.fields[name])
            if len(values) != n:
                raise InvalidDataError(
                    f"{_OWNER}: the model returned {len(values)} rows of '{name}' for a batch "
                    f"of {n}; it must return one response per input row.")
            result[name] = values
        return result


def map_responses(dataset: Any, model_factory: Callable[[], Model],
                  response_names: str | Sequence[str], *, input_column: str,
                  batch_size: int = 256, concurrency: int = 1, num_gpus: float = 0,
                  num_cpus: float = 1) -> Any:
    """Run a deepview :class:`~deepview.base.Model` over a Ray Dataset in a pool of actors (lazy).

    Parameters
    ----------
    dataset : ray.data.Dataset
        Rows with an input column (e.g. images as a tensor column).
    model_factory : Callable[[], Model]
        Builds the model on an actor, e.g. ``functools.partial(load_my_net, "weights.pt")``.
    response_names : str or Sequence[str]
        Layers (responses) to read, e.g. ``["relu3"]``.
    input_column : str
        Column fed to the model's input.
    batch_size, concurrency : int, default=256, 1
        Rows per model call; number of actors (model replicas).
    num_gpus, num_cpus : float, default=0, 1
        GPUs and CPUs each actor holds for the whole pass (leave CPUs for reading the input).

    Returns
    -------
    ray.data.Dataset
        One column per response plus every input column but ``input_column``, in row order.

    Raises
    ------
    InvalidTypeError, InvalidParameterError
        Bad arguments (checked before any work).
    InvalidDataError
        (when read) a missing input column, a response named like a column, or a wrong row count.
    """
    if not is_ray_dataset(dataset):
        raise InvalidTypeError(
            f"{_OWNER}: 'dataset' must be a ray.data.Dataset; got {type(dataset).__name__}.")
    if not callable(model_factory):
        raise InvalidTypeError(
            f"{_OWNER}: 'model_factory' must be callable with no arguments and return a "
            f"deepview Model; got {type(model_factory).__name__}.")
    names = [response_names] if isinstance(response_names, str) else list(response_names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidParameterError(
            f"{_OWNER}: 'response_names' must name at least one response; got "
            f"{response_names!r}.")
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"{_OWNER}: 'response_names' repeats a name: {names}.")
    if not isinstance(input_column, str) or not input_column:
        raise InvalidTypeError(f"{_OWNER}: 'input_column' must be a column name; got "
                               f"{input_column!r}.")
    if input_column in names:
        raise InvalidParameterError(
            f"{_OWNER}: response '{input_column}' has the name of the input column; the "
            "input column is replaced by the responses, so name them differently.")
    batch_size = check_batch_size(batch_size, owner=_OWNER)
    concurrency = check_int(concurrency, name="concurrency", owner=_OWNER, min_value=1)
    num_gpus = check_float(num_gpus, name="num_gpus", owner=_OWNER, min_value=0.0)
    num_cpus = check_float(num_cpus, name="num_cpus", owner=_OWNER, min_value=0.0)
    dataset.context.execution_options.preserve_order = True
    try:
        columns = list(dataset.schema(fetch_if_missing=False).names)
    except Exception:  # an unknown schema (not executed yet): checked per batch instead
        columns = []
    clash = sorted(set(names) & (set(columns) - {input_column}))
    if clash:
        raise InvalidParameterError(
            f"{_OWNER}: response name(s) {clash} are also columns of the dataset; rename "
            "those columns first (Dataset.rename_columns).")
    remote: dict[str, Any] = {"num_gpus": num_gpus} if num_gpus else {}
    mapped = dataset.map_batches(
        _ResponseMapper, fn_constructor_kwargs={"model_factory": model_factory,
                                                "response_names": names,
                                                "input_column": input_column},
        batch_size=batch_size, batch_format="numpy", concurrency=concurrency, num_cpus=num_cpus,
        **remote)
    mapped.context.execution_options.preserve_order = True
    return mapped
