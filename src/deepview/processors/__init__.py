"""Stock pipeline stages: reshape, normalise, filter, rename, cache and debug batches."""

from deepview.base import Cacher
from deepview.processors._arrays import (
    Concatenator,
    Flattener,
    MeanStdNormalizer,
    Pooler,
    Transposer,
)
from deepview.processors._base import Processor
from deepview.processors._flow import Composer, PipelineDebugger
from deepview.processors._image import (
    ImageGammaContrastProcessor,
    ImageGaussianBlurProcessor,
    ImageResizer,
    ImageRotationProcessor,
)
from deepview.processors._structure import (
    FieldRemover,
    FieldRenamer,
    MetadataRemover,
    MetadataRenamer,
    SnapshotRemover,
    SnapshotSaver,
)

__all__ = [
    "Cacher", "Composer", "Concatenator", "FieldRemover", "FieldRenamer", "Flattener",
    "ImageGammaContrastProcessor", "ImageGaussianBlurProcessor", "ImageResizer",
    "ImageRotationProcessor", "MeanStdNormalizer", "MetadataRemover", "MetadataRenamer",
    "PipelineDebugger", "Pooler", "Processor", "SnapshotRemover", "SnapshotSaver", "Transposer",
]
