"""Core data model: :class:`Batch`, producers, pipelines, models and introspection helpers."""

from deepview.base._batch import Batch, concatenate_batches
from deepview.base._cache import CachedProducer, Cacher
from deepview.base._image import (
    ImageFolderProducer,
    ImageFormat,
    ImageProducer,
    PixelFormat,
    decode_image,
    resize_image,
)
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
from deepview.base._records import Record, RecordProducer, SkippedSample
from deepview.base._text import TextProducer, decode_text
from deepview.base._traintest import TrainTestSplitProducer

__all__ = [
    "ArrayProducer", "Batch", "CachedProducer", "Cacher", "ImageFolderProducer", "ImageFormat",
    "ImageProducer", "Introspector", "Model", "ModelDetails", "PipelineStage", "PixelFormat",
    "Producer", "Record", "RecordProducer", "ResponseInfo", "SkippedSample", "TextProducer",
    "TrainTestSplitProducer", "accumulate_batches", "concatenate_batches", "decode_image",
    "decode_text", "iter_batches", "multi_introspect", "peek_first_batch", "pipeline", "rebatch",
    "resize_image",
]
