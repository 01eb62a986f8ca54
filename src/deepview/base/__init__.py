"""Core data model: :class:`Batch`, producers, pipelines, models and introspection helpers."""

from deepview.base._batch import Batch, concatenate_batches
from deepview.base._model import Model, ModelDetails, ResponseInfo
from deepview.base._pipeline import PipelineStage, pipeline
from deepview.base._producer import (
    ArrayProducer,
    Producer,
    accumulate_batches,
    iter_batches,
    peek_first_batch,
    rebatch,
)

__all__ = [
    "ArrayProducer",
    "Batch",
    "Model",
    "ModelDetails",
    "PipelineStage",
    "Producer",
    "ResponseInfo",
    "accumulate_batches",
    "concatenate_batches",
    "iter_batches",
    "peek_first_batch",
    "pipeline",
    "rebatch",
]
