"""Composer and PipelineDebugger."""

from __future__ import annotations

import io

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch, pipeline
from deepview.exceptions import InvalidTypeError
from deepview.processors import Composer, PipelineDebugger, SnapshotSaver

ID = Batch.StdKeys.IDENTIFIER
LABELS = Batch.StdKeys.LABELS


def producer(n: int = 6) -> ArrayProducer:
    return ArrayProducer(np.arange(float(n)).reshape(n, 1), labels={"c": list("abcabc")[:n]})


def test_element_filter_keeps_order_and_skips_empty_batches() -> None:
    keep_big = Composer.from_element_filter(lambda e: e.fields["responses"][0] >= 4)
    batches = list(pipeline(producer(), keep_big)(2))
    assert [b.metadata[ID] for b in batches] == [[4, 5]]  # first two batches: skipped


def test_element_filter_whole_batch_is_passed_through_unchanged() -> None:
    everything = Composer.from_element_filter(lambda e: True)
    source = next(iter(producer()(6)))
    assert everything.filter(source) is source


def test_batch_filter_none_and_empty_are_skipped() -> None:
    def odd_batches(batch: Batch) -> Batch | None:
        first = batch.metadata[ID][0]
        if first == 0:
            return None
        if first == 2:
            return batch.elements[[]]
        return batch

    batches = list(pipeline(producer(), Composer(odd_batches))(2))
    assert [b.metadata[ID] for b in batches] == [[4, 5]]


def test_from_dict_metadata() -> None:
    only_a = Composer.from_dict_metadata(LABELS, "c", "a")
    assert [b.metadata[ID] for b in pipeline(producer(), only_a)(4)] == [[0, 3]]
    assert [b.metadata[ID] for b in pipeline(producer(), only_a)(2)] == [[0], [3]]
    missing_dim = Composer.from_dict_metadata(LABELS, "nope", "a")
    assert list(pipeline(producer(), missing_dim)(4)) == []
    no_labels = Composer.from_dict_metadata(LABELS, "c", "a")
    assert list(pipeline(ArrayProducer(np.zeros((2, 1))), no_labels)(2)) == []
    with pytest.raises(InvalidTypeError, match="DictMetaKey"):
        Composer.from_dict_metadata(ID, "c", "a")


def test_composer_errors() -> None:
    with pytest.raises(InvalidTypeError, match="callable"):
        Composer(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="callable"):
        Composer.from_element_filter(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="Batch or None"):
        list(pipeline(producer(), Composer(lambda b: 3))(2))  # type: ignore[arg-type,return-value]
    assert "Composer" in repr(Composer(lambda b: b))


def test_debugger_dump_format() -> None:
    builder = Batch.Builder({"b": np.zeros((2, 3)), "a": np.arange(2)})
    builder.metadata[ID] = [0, 1]
    builder.metadata[LABELS] = {"z": [1, 2], "y": [3, 4]}
    builder.snapshots["snap"] = Batch({"q": np.zeros(2)})
    text = PipelineDebugger.dump(builder, label="L", dump_fields=True, fields="a")
    lines = text.splitlines()
    assert lines[0] == "L Batch(batch_size=2) {"
    assert lines[1:4] == ["a: (2,)", "[0 1]", "b: (2, 3)"]  # only 'a' values dumped
    assert "snap: ['q']" in lines
    assert "DictMetaKey('deepview.base.Batch.StdKeys.labels'): ['y', 'z']" in lines
    assert "MetaKey('deepview.base.Batch.StdKeys.identifier')" in lines
    assert lines[-1] == "}"


def test_debugger_prints_first_only_and_passes_batches_through() -> None:
    stream = io.StringIO()
    stage = PipelineDebugger(label="first", stream=stream)
    batches = list(pipeline(producer(), stage)(2))
    assert len(batches) == 3
    assert stream.getvalue().count("first Batch(batch_size=2)") == 1
    every = io.StringIO()
    list(pipeline(producer(), SnapshotSaver(), PipelineDebugger(first_only=False, stream=every))(4))
    assert every.getvalue().count("Batch(") == 2 and "Snapshots:" in every.getvalue()
    assert "first_only=True" in repr(stage)


def test_debugger_defaults_to_stdout(capsys) -> None:
    list(pipeline(producer(), PipelineDebugger(dump_fields=True))(6))
    assert "responses: (6, 1)" in capsys.readouterr().out
