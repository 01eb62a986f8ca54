"""Processor base stage and the array processors (normalise, transpose, flatten, pool, concat)."""

from __future__ import annotations

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch, accumulate_batches, pipeline
from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
    MissingFieldError,
)
from deepview.processors import (
    Concatenator,
    Flattener,
    MeanStdNormalizer,
    Pooler,
    Processor,
    Transposer,
)


def run(data, *stages, batch_size: int = 3) -> Batch:
    return accumulate_batches(pipeline(ArrayProducer(data), *stages), batch_size)


def test_processor_applies_to_selected_fields_without_mutating_input() -> None:
    data = {"a": np.ones((4, 2)), "b": np.ones((4, 2))}
    source = Batch(data)
    stage = Processor(lambda x: x * 3, fields="a")
    out = stage._get_batch_processor()(source)
    assert out.fields["a"][0, 0] == 3 and out.fields["b"][0, 0] == 1
    assert source.fields["a"][0, 0] == 1
    assert run(data, Processor(lambda x: x + 1)).fields["b"][0, 0] == 2
    assert run(data, Processor(lambda x: x + 1, fields=[])).fields["b"][0, 0] == 2
    assert "fields=['a']" in repr(stage)


def test_processor_missing_field_lists_available() -> None:
    with pytest.raises(MissingFieldError, match=r"\['nope'\] not in the batch.*\['a'\]") as info:
        run({"a": np.ones((2, 1))}, Processor(lambda x: x, fields=["nope", "a"]))
    assert isinstance(info.value, KeyError) and isinstance(info.value, DeepViewException)


def test_processor_validates_func_and_output() -> None:
    with pytest.raises(InvalidTypeError, match="callable"):
        Processor(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="'fields'"):
        Processor(lambda x: x, fields=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="numpy array"):
        run(np.ones((2, 1)), Processor(lambda x: x.tolist()))
    with pytest.raises(InvalidTypeError, match="shape"):
        run(np.ones((2, 1)), Processor(lambda x: np.asarray(x.sum())))
    with pytest.raises(InvalidDataError, match="from 2 to 1"):
        run(np.ones((2, 1)), Processor(lambda x: x[:1]))


def test_mean_std_normalizer() -> None:
    out = run(np.array([[1.0, 2.0], [3.0, 6.0]]), MeanStdNormalizer(mean=1.0, std=2.0))
    assert out.fields["responses"].tolist() == [[0.0, 0.5], [1.0, 2.5]]
    per_feature = run(np.array([[1.0, 2.0]]), MeanStdNormalizer(mean=[1, 0], std=[1, 2]))
    assert per_feature.fields["responses"].tolist() == [[0.0, 1.0]]
    for std in (0, [1, 0], np.nan):
        with pytest.raises(InvalidParameterError, match="'std'"):
            MeanStdNormalizer(mean=0, std=std)
    with pytest.raises(InvalidParameterError, match="'mean'"):
        MeanStdNormalizer(mean=np.inf, std=1)
    with pytest.raises(InvalidTypeError):
        MeanStdNormalizer(mean="a", std=1)


def test_transposer() -> None:
    x = np.arange(24).reshape(2, 3, 4)
    out = run(x, Transposer(dim=[0, 2, 1]))
    np.testing.assert_array_equal(out.fields["responses"], x.transpose(0, 2, 1))
    with pytest.raises(InvalidParameterError, match=r"dim\[0\] == 0"):
        Transposer(dim=(1, 0, 2))
    with pytest.raises(InvalidParameterError, match="permutation"):
        Transposer(dim=(0, 0, 1))
    with pytest.raises(InvalidTypeError):
        Transposer(dim=[])
    with pytest.raises(InvalidDataError, match="has 2 axes but a field has shape"):
        run(x, Transposer(dim=(0, 1)))


@pytest.mark.parametrize("order", ["C", "F", "A", "K"])
def test_flattener_orders(order: str) -> None:
    x = np.arange(2 * 2 * 3).reshape(2, 2, 3)
    out = run(x, Flattener(order=order)).fields["responses"]
    expected = np.stack([e.flatten(order) for e in x])
    np.testing.assert_array_equal(out, expected)


def test_flattener_shapes_and_errors() -> None:
    assert run(np.zeros(4), Flattener()).fields["responses"].shape == (4, 1)
    with pytest.raises(InvalidParameterError, match="'order'"):
        Flattener(order="X")


@pytest.mark.parametrize(
    ("method", "expected"),
    [(Pooler.Method.MAX, [3.0, 7.0]), (Pooler.Method.SUM, [6.0, 22.0]),
     (Pooler.Method.AVERAGE, [1.5, 5.5])],
)
def test_pooler_methods(method: Pooler.Method, expected: list[float]) -> None:
    x = np.arange(8.0).reshape(2, 2, 2)
    assert run(x, Pooler(dim=(1, 2), method=method)).fields["responses"].tolist() == expected


def test_pooler_single_and_negative_axes() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    out = run(x, Pooler(dim=-1, method=Pooler.Method.MAX)).fields["responses"]
    np.testing.assert_array_equal(out, x.max(axis=2))
    assert "Pooler(dim=(-1,)" in repr(Pooler(dim=-1, method=Pooler.Method.MAX))


def test_pooler_errors() -> None:
    with pytest.raises(InvalidParameterError, match="batch axis"):
        Pooler(dim=0, method=Pooler.Method.MAX)
    with pytest.raises(InvalidParameterError, match="batch axis"):
        Pooler(dim=[1, 0], method=Pooler.Method.MAX)
    with pytest.raises(InvalidParameterError, match="at least one"):
        Pooler(dim=[], method=Pooler.Method.MAX)
    with pytest.raises(InvalidParameterError, match="repeated"):
        Pooler(dim=[1, 1], method=Pooler.Method.MAX)
    with pytest.raises(InvalidTypeError, match="Pooler.Method"):
        Pooler(dim=1, method="max")  # type: ignore[arg-type]
    with pytest.raises(InvalidDataError, match=r"cannot pool axes \(3,\) of a field with shape"):
        run(np.zeros((2, 3, 4)), Pooler(dim=3, method=Pooler.Method.SUM))
    with pytest.raises(InvalidDataError, match="valid axes"):
        run(np.zeros((2, 3)), Pooler(dim=-2, method=Pooler.Method.SUM))  # resolves to 0


def test_concatenator() -> None:
    data = {"a": np.zeros((3, 2)), "b": np.ones((3, 1))}
    out = run(data, Concatenator(dim=1, output_field="ab", fields=["b", "a"]))
    assert out.fields["ab"].tolist() == [[1.0, 0.0, 0.0]] * 3
    assert set(out.fields) == {"a", "b", "ab"}
    with pytest.raises(InvalidParameterError, match="batch axis"):
        Concatenator(dim=0, output_field="x", fields=["a"])
    with pytest.raises(InvalidParameterError, match="non-empty"):
        Concatenator(dim=1, output_field="x", fields=[])
    with pytest.raises(InvalidTypeError, match="output_field"):
        Concatenator(dim=1, output_field="", fields=["a"])
    with pytest.raises(MissingFieldError, match="'c'"):
        run(data, Concatenator(dim=1, output_field="x", fields=["a", "c"]))
    with pytest.raises(InvalidDataError, match="cannot concatenate fields"):
        run({"a": np.zeros((3, 2)), "b": np.ones((3, 1, 1))},
            Concatenator(dim=1, output_field="x", fields=["a", "b"]))
    assert "Concatenator(dim=1" in repr(Concatenator(dim=1, output_field="x", fields=["a"]))
