"""PipelineStage and pipeline()."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch, PipelineStage, pipeline
from deepview.exceptions import InvalidTypeError


class AddOne(PipelineStage):
    def __init__(self, log: list[str] | None = None, name: str = "add") -> None:
        self.log = log if log is not None else []
        self.name = name

    def _get_batch_processor(self) -> Callable[[Batch], Batch]:
        def process(batch: Batch) -> Batch:
            self.log.append(self.name)
            builder = Batch.Builder(base=batch)
            builder.fields["responses"] = batch.fields["responses"] + 1
            return builder.make_batch()

        return process


def test_stages_apply_in_order_lazily_and_flatten_lists() -> None:
    log: list[str] = []
    producer = pipeline(
        ArrayProducer(np.zeros((4, 1))), AddOne(log, "a"), [AddOne(log, "b"), AddOne(log, "c")]
    )
    assert log == []  # lazy
    batches = list(producer(2))
    assert log == ["a", "b", "c", "a", "b", "c"]
    assert batches[0].fields["responses"].ravel().tolist() == [3.0, 3.0]
    assert batches[0].metadata[Batch.StdKeys.IDENTIFIER] == [0, 1]
    assert "AddOne" in repr(producer)
    assert pipeline(producer) is producer


def test_bad_stage_and_bad_producer() -> None:
    with pytest.raises(InvalidTypeError, match="stage 1 must be a PipelineStage"):
        pipeline(ArrayProducer(np.zeros((2, 1))), AddOne(), lambda b: b)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="producer"):
        pipeline(np.zeros(3), AddOne())  # type: ignore[arg-type]


def test_stage_without_processor_says_what_to_implement() -> None:
    class Empty(PipelineStage):
        pass

    producer = pipeline(ArrayProducer(np.zeros((2, 1))), Empty())
    with pytest.raises(NotImplementedError, match="_get_batch_processor"):
        list(producer(2))
