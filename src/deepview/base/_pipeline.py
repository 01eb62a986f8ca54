"""Pipeline stages and :func:`pipeline`."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from deepview.base._batch import Batch
from deepview.base._producer import Producer
from deepview.exceptions import InvalidTypeError

__all__ = ["PipelineStage", "pipeline"]


class PipelineStage(abc.ABC):  # noqa: B024 - either of two methods may be overridden
    """A :func:`pipeline` step: implement :meth:`_get_batch_processor` or :meth:`_pipeline`."""

    def _get_batch_processor(self) -> Callable[[Batch], Batch]:
        raise NotImplementedError(
            f"{type(self).__name__} must implement _get_batch_processor() or _pipeline().")

    def _pipeline(self, producer: Producer) -> Producer:
        return _MappedProducer(producer, self)


class _MappedProducer:
    """Lazily applies a stage's batch processor to every batch of ``producer``."""

    def __init__(self, producer: Producer, stage: PipelineStage) -> None:
        self._producer = producer
        self._stage = stage

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        process = self._stage._get_batch_processor()
        for batch in self._producer(batch_size):
            yield process(batch)

    def __repr__(self) -> str:
        return f"{self._producer!r} -> {type(self._stage).__name__}"


def _flatten_stages(stages: Iterable[Any]) -> list[PipelineStage]:
    flat: list[PipelineStage] = []
    for position, item in enumerate(stages):
        items = item if isinstance(item, (list, tuple)) else [item]
        for stage in items:
            if not isinstance(stage, PipelineStage):
                raise InvalidTypeError(
                    f"pipeline: stage {position} must be a PipelineStage (or a list/tuple of "
                    f"them); got {type(stage).__name__}. Did you pass a producer as a stage?")
            flat.append(stage)
    return flat


def pipeline(producer: Producer, *stages: PipelineStage | Iterable[PipelineStage]) -> Producer:
    """Chain ``stages`` after ``producer``, left to right; lazy until called."""
    if not callable(producer):
        raise InvalidTypeError(
            f"pipeline: the first argument must be a producer (callable as producer(batch_size));"
            f" got {type(producer).__name__}.")
    result = producer
    for stage in _flatten_stages(stages):
        result = stage._pipeline(result)
    return result
