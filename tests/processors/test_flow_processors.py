"""Composer and PipelineDebugger."""

from __future__ import annotations

import io

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch, peek_first_batch, pipeline, rebatch
from deepview.exceptions import InvalidTypeError
from deepview.introspectors import IUA
from deepview.processors import (
    Composer,
    Flattener,
    MeanStdNormalizer,
    PipelineDebugger,
    Pooler,
    SnapshotSaver,
    Transposer,
)

ID = Batch.StdKeys.IDENTIFIER
LABELS = Batch.StdKeys.LABELS


def producer(n: int = 6) -> ArrayProducer:
    return ArrayProducer(np.arange(float(n)).reshape(n, 1), labels={"c": list("abcabc")[:n]})


def test_element_filter_keeps_order_and_yields_empty_batches() -> None:
    keep_big = Composer.from_element_filter(lambda e: e.fields["responses"][0] >= 4)
    batches = list(pipeline(producer(), keep_big)(2))
    assert [b.metadata[ID] for b in batches] == [[], [], [4, 5]]
    assert [b.fields["responses"].shape for b in batches] == [(0, 1), (0, 1), (2, 1)]


def test_element_filter_whole_batch_is_passed_through_unchanged() -> None:
    everything = Composer.from_element_filter(lambda e: True)
    source = next(iter(producer()(6)))
    assert everything.filter(source) is source


def test_batch_filter_none_becomes_an_empty_batch() -> None:
    def odd_batches(batch: Batch) -> Batch | None:
        first = batch.metadata[ID][0]
        if first == 0:
            return None
        if first == 2:
            return batch.elements[[]]
        return batch

    batches = list(pipeline(producer(), Composer(odd_batches))(2))
    assert [b.batch_size for b in batches] == [0, 0, 2]
    assert [b.metadata[ID] for b in batches] == [[], [], [4, 5]]
    # the empty batch keeps the structure of the batch it replaces
    assert batches[0].fields["responses"].shape == (0, 1)
    assert batches[0].metadata[LABELS]["c"] == []


def test_composer_returning_none_still_gives_a_first_batch() -> None:
    first = peek_first_batch(pipeline(producer(), Composer(lambda batch: None)), 5)
    assert first.batch_size == 0 and list(first.fields) == ["responses"]


def test_empty_batches_from_composer_are_skipped_downstream() -> None:
    keep_odd = Composer.from_element_filter(lambda e: e.metadata[ID] % 2 == 1)
    drop_first = Composer(lambda b: None if b.metadata[ID][0] == 0 else b)
    filtered = pipeline(producer(), drop_first, keep_odd)
    assert [b.batch_size for b in filtered(2)] == [0, 1, 1]
    assert [b.metadata[ID] for b in rebatch(filtered(2), 4)] == [[3, 5]]
    iua = IUA.introspect(filtered, batch_size=2).results["responses"]
    assert iua.inactive.tolist() == [0, 0]  # samples 3 and 5 only


@pytest.mark.parametrize("order", ["C", "F"])
def test_stages_after_composer_accept_empty_batches(order: str) -> None:
    images = np.arange(4 * 2 * 3 * 2, dtype=np.float32).reshape(4, 2, 3, 2)
    drop_first = Composer(lambda b: None if b.metadata[ID][0] == 0 else b)
    stages = [
        Flattener(order=order, fields="a"),
        Pooler(dim=(1, 2), method=Pooler.Method.MAX, fields="b"),
        Transposer(dim=[0, 3, 1, 2], fields="c"),
        MeanStdNormalizer(mean=1.0, std=2.0, fields="d"),
    ]
    source = ArrayProducer({"a": images, "b": images, "c": images, "d": images})
    empty, full = list(pipeline(source, drop_first, *stages)(2))
    shapes = {name: (2, *shape) for name, shape in
              {"a": (12,), "b": (2,), "c": (2, 2, 3), "d": (2, 3, 2)}.items()}
    assert {k: v.shape for k, v in full.fields.items()} == shapes
    assert {k: v.shape for k, v in empty.fields.items()} == {
        k: (0, *shape[1:]) for k, shape in shapes.items()}


def test_from_dict_metadata() -> None:
    only_a = Composer.from_dict_metadata(LABELS, "c", "a")
    assert [b.metadata[ID] for b in pipeline(producer(), only_a)(4)] == [[0, 3], []]
    assert [b.metadata[ID] for b in pipeline(producer(), only_a)(2)] == [[0], [3], []]
    missing_dim = Composer.from_dict_metadata(LABELS, "nope", "a")
    assert [b.batch_size for b in pipeline(producer(), missing_dim)(4)] == [0, 0]
    no_labels = Composer.from_dict_metadata(LABELS, "c", "a")
    assert [b.batch_size for b in pipeline(ArrayProducer(np.zeros((2, 1))), no_labels)(2)] == [0]
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
