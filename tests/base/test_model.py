"""Model, ResponseInfo and input binding with a tiny numpy ModelDetails."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import AbstractSet

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch, Model, ResponseInfo, pipeline
from deepview.exceptions import DeepViewException

KIND = ResponseInfo.LayerKind


def info(name: str, shape: tuple[int | None, ...], kind: ResponseInfo.LayerKind) -> ResponseInfo:
    return ResponseInfo(
        name=name,
        dtype=np.dtype(np.float64),
        shape=shape,
        layer=ResponseInfo.Layer(name=name, kind=kind, typename=kind.name.title()),
    )


class TinyMLP:
    """input (3) -> dense (2) -> relu."""

    def __init__(self) -> None:
        self.weights = np.array([[1.0, -1.0], [2.0, 0.0], [0.0, 1.0]])
        self.calls: list[frozenset[str]] = []

    def run_inference(
        self, inputs: Mapping[str, np.ndarray], outputs: AbstractSet[str]
    ) -> Mapping[str, np.ndarray]:
        self.calls.append(frozenset(outputs))
        dense = inputs["input"] @ self.weights
        everything = {"dense": dense, "relu": np.maximum(dense, 0)}
        return {k: everything[k] for k in outputs}

    def get_response_infos(self) -> Iterable[ResponseInfo]:
        return [
            info("input", (None, 3), KIND.PLACEHOLDER),
            info("dense", (None, 2), KIND.LINEAR),
            info("relu", (None, 2), KIND.RELU),
        ]

    def get_input_layer_responses(self) -> Sequence[ResponseInfo]:
        return [info("input", (None, 3), KIND.PLACEHOLDER)]


X = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])


def test_model_replaces_fields_and_keeps_metadata() -> None:
    details = TinyMLP()
    model = Model(details)
    assert set(model.response_infos) == {"input", "dense", "relu"}
    assert list(model.input_layers) == ["input"]
    assert model.response_infos["dense"].layer.kind is KIND.DENSE  # alias
    producer = pipeline(ArrayProducer(X, field="input", labels={"c": [0, 1, 0]}), model("relu"))
    batch = next(iter(producer(3)))
    assert list(batch.fields) == ["relu"]
    np.testing.assert_array_equal(batch.fields["relu"], np.maximum(X @ details.weights, 0))
    assert batch.metadata[Batch.StdKeys.LABELS]["c"] == [0, 1, 0]
    assert details.calls == [frozenset({"relu"})]


@pytest.mark.parametrize("requested", [None, [], ("dense", "relu", "input")])
def test_model_all_responses(requested: object) -> None:
    details = TinyMLP()
    details.run_inference = lambda inputs, outputs: {  # type: ignore[method-assign]
        k: inputs["input"][:, :2] for k in outputs
    }
    stage = Model(details)(requested)  # type: ignore[arg-type]
    batch = next(iter(pipeline(ArrayProducer(X, field="input"), stage)(3)))
    assert sorted(batch.fields) == ["dense", "input", "relu"]


def test_single_field_is_bound_to_single_input_whatever_its_name() -> None:
    producer = pipeline(ArrayProducer(X, field="pixels"), Model(TinyMLP())(["dense"]))
    np.testing.assert_array_equal(next(iter(producer(3))).fields["dense"][:, 0], [1.0, 2.0, 3.0])


def test_unknown_response_lists_available() -> None:
    with pytest.raises(DeepViewException, match=r"unknown response\(s\) \['conv9'\].*dense"):
        Model(TinyMLP())("conv9")


def test_unmatched_inputs_suggest_field_renamer() -> None:
    producer = pipeline(
        ArrayProducer({"a": X, "b": X}), Model(TinyMLP())("dense")
    )
    with pytest.raises(DeepViewException, match="FieldRenamer"):
        list(producer(3))


def test_response_info_is_frozen() -> None:
    r = info("dense", (None, 2), KIND.LINEAR)
    with pytest.raises(AttributeError):
        r.name = "x"  # type: ignore[misc]
    assert r == info("dense", (None, 2), KIND.LINEAR)


def test_missing_output_from_details_is_reported() -> None:
    details = TinyMLP()
    details.run_inference = lambda inputs, outputs: {}  # type: ignore[method-assign]
    producer = pipeline(ArrayProducer(X, field="input"), Model(details)("relu"))
    with pytest.raises(DeepViewException, match=r"no output for \['relu'\]"):
        list(producer(3))
