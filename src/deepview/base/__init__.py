"""Core data model: :class:`Batch`, producers, pipelines, models and introspection helpers."""

from deepview.base._batch import Batch, concatenate_batches
from deepview.base._cache import CachedProducer, Cacher
from deepview.base._image import ImageFormat, ImageProducer, PixelFormat
from deepview.base._introspector import Introspector, multi_introspect
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
from deepview.base._traintest import TrainTestSplitProducer

__all__ = [
    "ArrayProducer",
    "Batch",
    "CachedProducer",
    "Cacher",
    "ImageFormat",
    "ImageProducer",
    "Introspector",
    "Model",
    "ModelDetails",
    "PipelineStage",
    "PixelFormat",
    "Producer",
    "ResponseInfo",
    "TrainTestSplitProducer",
    "accumulate_batches",
    "concatenate_batches",
    "iter_batches",
    "multi_introspect",
    "peek_first_batch",
    "pipeline",
    "rebatch",
]
