"""TorchProducer and ProducerTorchDataset: mapping entries, batch sizes, round trips."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from deepview.base import ArrayProducer, Batch  # noqa: E402
from deepview.exceptions import DeepViewWarning, InvalidDataError, InvalidTypeError  # noqa: E402
from deepview.integrations.torch import ProducerTorchDataset, TorchProducer  # noqa: E402

LABELS = Batch.StdKeys.LABELS
IDS = Batch.StdKeys.IDENTIFIER
NOTE = Batch.MetaKey("note")


def _dataset(n: int = 10) -> TensorDataset:
    x = torch.arange(n * 3, dtype=torch.float32).reshape(n, 3)
    return TensorDataset(x, torch.arange(n) % 3)


def test_loader_items_map_to_fields_and_metadata():
    loader = DataLoader(_dataset(), batch_size=4)
    producer = TorchProducer(loader, ["x", LABELS], anonymous_field_name="cls")
    assert producer.batch_size == 4
    batches = list(producer(4))
    assert [b.batch_size for b in batches] == [4, 4, 2]
    x = np.concatenate([b.fields["x"] for b in batches])
    np.testing.assert_array_equal(x, np.arange(30, dtype=np.float32).reshape(10, 3))
    labels = [v for b in batches for v in b.metadata[LABELS]["cls"]]
    assert labels == [i % 3 for i in range(10)]
    assert [i for b in batches for i in b.metadata[IDS]] == list(range(10))


@pytest.mark.parametrize("batch_size", [1, 3, 4, 7, 25])
def test_any_batch_size_works_and_keeps_order(batch_size):
    producer = TorchProducer(DataLoader(_dataset(), batch_size=4), ["x", None])
    batches = list(producer(batch_size))
    expected = [min(batch_size, 10 - s) for s in range(0, 10, batch_size)]
    assert [b.batch_size for b in batches] == expected
    x = np.concatenate([b.fields["x"] for b in batches])
    np.testing.assert_array_equal(x[:, 0], np.arange(0, 30, 3))
    assert list(batches[0].fields) == ["x"]
    assert [i for b in batches for i in b.metadata[IDS]] == list(range(10))


def test_dataset_and_unbatched_loader_are_batched_on_request():
    for source in (_dataset(), DataLoader(_dataset(), batch_size=None)):
        producer = TorchProducer(source, ["x", NOTE])
        batches = list(producer(6))
        assert [b.batch_size for b in batches] == [6, 4]
        assert batches[1].metadata[NOTE] == [6 % 3, 7 % 3, 8 % 3, 0]
        assert producer.batch_size == 100


def test_dict_items_callables_and_explicit_identifiers():
    class Named(torch.utils.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return torch.full((2,), float(i)), {"digit": i, "parity": i % 2}, f"id{i}"

    seen = []

    def custom(value, builder):
        seen.append(list(value))
        builder.metadata[IDS] = [v.upper() for v in value]

    producer = TorchProducer(Named(), ("v", LABELS, custom))
    (batch,) = list(producer(5))
    assert batch.metadata[LABELS]["digit"] == [0, 1, 2, 3, 4]
    assert batch.metadata[LABELS]["parity"] == [0, 1, 0, 1, 0]
    assert batch.metadata[IDS] == ["ID0", "ID1", "ID2", "ID3", "ID4"]
    assert seen == [["id0", "id1", "id2", "id3", "id4"]]


def test_bad_mappings_and_items_are_clear_errors():
    with pytest.raises(InvalidTypeError, match="DataLoader or Dataset"):
        TorchProducer(np.zeros((3, 2)), ["x"])
    with pytest.raises(InvalidTypeError, match="mapping"):
        TorchProducer(_dataset(), [])
    with pytest.raises(InvalidTypeError, match="mapping entry 3"):
        TorchProducer(_dataset(), ["x", 3])
    with pytest.raises(InvalidDataError, match="2 parts but 'mapping' has 1"):
        list(TorchProducer(_dataset(), ["x"])(4))

    class Dicts(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {"a": i}

    with pytest.raises(InvalidTypeError, match="field 'y' got a dict"):
        list(TorchProducer(Dicts(), "y")(2))
    # a dict item goes to dict metadata instead
    (batch,) = TorchProducer(Dicts(), LABELS)(2)
    assert batch.metadata[LABELS]["a"] == [0, 1]


def test_round_trip_producer_to_dataset_to_producer(rng):
    x = rng.normal(size=(11, 2, 3)).astype(np.float32)
    labels = {"digit": list(range(11))}
    source = ArrayProducer(x, labels=labels, identifiers=[f"s{i}" for i in range(11)])
    dataset = ProducerTorchDataset(source, ["responses", LABELS, IDS], batch_size=4)
    loader = DataLoader(dataset, batch_size=5)
    back = TorchProducer(loader, ["responses", LABELS, IDS], anonymous_field_name="digit")
    batches = list(back(3))
    assert [b.batch_size for b in batches] == [3, 3, 3, 2]
    np.testing.assert_array_equal(np.concatenate([b.fields["responses"] for b in batches]), x)
    assert [v for b in batches for v in b.metadata[LABELS]["digit"]] == labels["digit"]
    assert [v for b in batches for v in b.metadata[IDS]] == [f"s{i}" for i in range(11)]


def test_dataset_transforms_callables_and_workers_share(rng):
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    source = ArrayProducer(x, labels={"a": list("abcdef"), "b": list(range(6))})
    ds = ProducerTorchDataset(
        source,
        ["responses", LABELS, lambda e: e.metadata[IDS] * 10],
        batch_size=2,
        transforms={"responses": lambda t: t * 2},
    )
    items = list(ds)
    assert len(items) == 6
    np.testing.assert_array_equal(items[1][0], x[1] * 2)
    assert isinstance(items[1][0], np.ndarray)
    assert items[1][1] == {"a": "b", "b": 1}  # several label dimensions -> the dict
    assert items[5][2] == 50
    # two workers: each takes every other batch, together all samples exactly once
    loader = DataLoader(
        ProducerTorchDataset(source, "responses", batch_size=2), batch_size=None, num_workers=2
    )
    got = sorted(float(t[0][0]) for t in loader)
    assert got == sorted(x[:, 0].tolist())
    with pytest.raises(ValueError, match="not fields"):
        ProducerTorchDataset(source, ["responses"], transforms={"other": lambda t: t})
    with pytest.raises(InvalidDataError, match="no field 'missing'"):
        list(ProducerTorchDataset(source, ["missing"]))


def test_shuffling_loader_warns():
    with pytest.warns(DeepViewWarning, match="shuffle=False"):
        TorchProducer(DataLoader(_dataset(), batch_size=2, shuffle=True), ["x", None])
