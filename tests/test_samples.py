"""deepview.samples: StubProducer, StubImageDataset, StubGatedAdditionDataset."""

from __future__ import annotations

import numpy as np
import pytest

from deepview.base import Batch, accumulate_batches
from deepview.exceptions import DeepViewException, InvalidParameterError, InvalidTypeError
from deepview.samples import StubGatedAdditionDataset, StubImageDataset, StubProducer


def test_stub_producer_rebatches_fields_and_metadata() -> None:
    key = Batch.MetaKey("k")
    producer = StubProducer(
        {"x": np.arange(5.0)},
        {key: list("abcde"), Batch.StdKeys.LABELS: {"c": [0, 1, 0, 1, 0]}},
    )
    batches = list(producer(2))
    assert [b.batch_size for b in batches] == [2, 2, 1]
    assert batches[1].metadata[key] == ["c", "d"]
    assert batches[2].metadata[Batch.StdKeys.LABELS]["c"] == [0]
    assert accumulate_batches(producer, 5) == producer.batch and len(producer) == 5
    with pytest.raises(AttributeError):
        producer.x = 1  # type: ignore[attr-defined]


def test_stub_producer_validates_immediately() -> None:
    with pytest.raises(DeepViewException, match="same length"):
        StubProducer({"x": np.zeros(2), "y": np.zeros(3)})
    with pytest.raises(DeepViewException, match="values but the batch has"):
        StubProducer({"x": np.zeros(2)}, {Batch.MetaKey("k"): [1]})
    with pytest.raises(InvalidTypeError):
        StubProducer(np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        list(StubProducer({"x": np.zeros(2)})(0))


def test_stub_image_dataset() -> None:
    dataset = StubImageDataset(5, image_width=4, image_height=3, channel_count=2, random_state=0)
    batches = list(dataset(2))
    assert [b.fields["images"].shape for b in batches] == [(2, 3, 4, 2)] * 2 + [(1, 3, 4, 2)]
    assert not batches[0].metadata
    again = accumulate_batches(dataset, 5).fields["images"]
    np.testing.assert_array_equal(again, np.concatenate([b.fields["images"] for b in batches]))
    assert abs(float(again.mean())) < 0.5  # standard normal noise
    fresh = StubImageDataset(2, 2, 2, 1)
    assert not np.array_equal(next(iter(fresh(2))).fields["images"],
                              next(iter(fresh(2))).fields["images"])
    for kwargs in ({"dataset_size": 0}, {"dataset_size": 1, "image_width": 0},
                   {"dataset_size": 1, "channel_count": -1}):
        with pytest.raises(InvalidParameterError):
            StubImageDataset(**kwargs)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        list(dataset(0))


def test_stub_gated_addition_dataset() -> None:
    dataset = StubGatedAdditionDataset(20, minimum_sequence_length=5, maximum_sequence_length=9)
    batch = accumulate_batches(dataset, 6)
    x, target, length = batch.fields["x"], batch.fields["target"], batch.fields["sequence_length"]
    assert x.shape == (20, 9, 2) and x.dtype == np.float32 and target.dtype == np.float32
    assert ((length >= 5) & (length <= 9)).all()
    assert (x[:, :, 1].sum(axis=1) == 2).all()
    for i in range(20):
        assert (x[i, length[i]:] == 0).all()
        values = x[i, :, 0][x[i, :, 1] == 1]
        assert target[i] == pytest.approx(0.5 + values.sum() / 4)
        assert (np.abs(x[i, : length[i], 0]) <= 1).all()
    assert accumulate_batches(dataset, 7) == batch  # deterministic per call
    with pytest.raises(InvalidParameterError, match="maximum_sequence_length"):
        StubGatedAdditionDataset(3, 10, 5)
    assert StubGatedAdditionDataset(2)._make().fields["x"].shape == (2, 100, 2)
