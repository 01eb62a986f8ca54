"""Framework-neutral :class:`Model` and :class:`ResponseInfo`."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import AbstractSet, Any, Protocol

import numpy as np

from deepview.base._batch import Batch
from deepview.base._pipeline import PipelineStage
from deepview.exceptions import DeepViewException

__all__ = ["Model", "ModelDetails", "ResponseInfo"]


@dataclasses.dataclass(frozen=True)
class ResponseInfo:
    """Describes one response (layer output) of a model."""

    class LayerKind(enum.Enum):
        UNKNOWN = "unknown"
        LINEAR = "linear"
        DENSE = "linear"
        PLACEHOLDER = "placeholder"
        CONV_1D = "conv_1d"
        CONV_2D = "conv_2d"
        CONV_3D = "conv_3d"
        CONV_TRANSPOSE_1D = "conv_transpose_1d"
        CONV_TRANSPOSE_2D = "conv_transpose_2d"
        CONV_TRANSPOSE_3D = "conv_transpose_3d"
        MAX_POOLING_1D = "max_pooling_1d"
        MAX_POOLING_2D = "max_pooling_2d"
        MAX_POOLING_3D = "max_pooling_3d"
        AVERAGE_POOLING_1D = "average_pooling_1d"
        AVERAGE_POOLING_2D = "average_pooling_2d"
        AVERAGE_POOLING_3D = "average_pooling_3d"
        RNN = "rnn"
        LSTM = "lstm"
        GRU = "gru"
        BATCH_NORM = "batch_norm"
        BATCH_NORM_2D = "batch_norm_2d"
        BATCH_NORM_3D = "batch_norm_3d"
        LAYER_NORM = "layer_norm"
        DROPOUT = "dropout"
        DROPOUT_2D = "dropout_2d"
        DROPOUT_3D = "dropout_3d"
        SIGMOID = "sigmoid"
        TANH = "tanh"
        RELU = "relu"
        LEAKY_RELU = "leaky_relu"
        PRELU = "prelu"
        ELU = "elu"
        SOFTMAX = "softmax"
        ATTENTION = "attention"
        RELU6 = "relu6"

    @dataclasses.dataclass(frozen=True)
    class Layer:
        """The layer that produces a response."""

        name: str
        kind: ResponseInfo.LayerKind
        typename: str

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int | None, ...]
    layer: ResponseInfo.Layer


class ModelDetails(Protocol):
    """What a framework adapter implements so that :class:`Model` can run it."""

    def run_inference(self, inputs: Mapping[str, np.ndarray],
                      outputs: AbstractSet[str]) -> Mapping[str, np.ndarray]: ...

    def get_response_infos(self) -> Iterable[ResponseInfo]: ...

    def get_input_layer_responses(self) -> Sequence[ResponseInfo]: ...


@dataclasses.dataclass(frozen=True)
class Model:
    """A model whose layer responses a :func:`pipeline` produces: ``model(["fc1"])`` is a stage."""

    _details: ModelDetails

    @property
    def response_infos(self) -> Mapping[str, ResponseInfo]:
        """All responses (layers) of the model, by name."""
        return {info.name: info for info in self._details.get_response_infos()}

    @property
    def input_layers(self) -> Mapping[str, ResponseInfo]:
        """The model's inputs, by name."""
        return {info.name: info for info in self._details.get_input_layer_responses()}

    def __call__(self, requested_responses: str | Iterable[str] | None = None) -> PipelineStage:
        if requested_responses is None:
            names = frozenset(self.response_infos)
        elif isinstance(requested_responses, str):
            names = frozenset([requested_responses])
        else:
            names = frozenset(requested_responses) or frozenset(self.response_infos)
        unknown = sorted(names - set(self.response_infos))
        if unknown:
            available = sorted(self.response_infos)
            raise DeepViewException(
                f"Model: unknown response(s) {unknown}; available responses: {available[:30]}"
                + (" ..." if len(available) > 30 else ""))
        return _ModelStage(self, names)


class _ModelStage(PipelineStage):
    def __init__(self, model: Model, responses: frozenset[str]) -> None:
        self._model = model
        self._responses = responses

    def _get_batch_processor(self) -> Callable[[Batch], Batch]:
        details = self._model._details
        inputs = list(self._model.input_layers)
        responses = self._responses

        def process(batch: Batch) -> Batch:
            feed = _bind_inputs(inputs, batch)
            outputs = details.run_inference(feed, responses)
            missing = sorted(responses - set(outputs))
            if missing:
                raise DeepViewException(
                    f"Model: the model details returned no output for {missing} (got "
                    f"{sorted(outputs)}); run_inference must return every requested response.")
            builder = Batch.Builder(base=batch)
            builder.fields = {name: np.asarray(outputs[name]) for name in sorted(responses)}
            return builder.make_batch()

        return process


def _bind_inputs(inputs: Sequence[str], batch: Batch) -> dict[str, np.ndarray]:
    fields = dict(batch.fields)
    if set(inputs) <= set(fields):
        return {name: fields[name] for name in inputs}
    if len(inputs) == 1 and len(fields) == 1:
        return {inputs[0]: next(iter(fields.values()))}
    raise DeepViewException(
        f"Model: cannot match batch fields {sorted(fields)} to model inputs {list(inputs)}; "
        "rename the fields with deepview.processors.FieldRenamer({'field': 'input'}).")
