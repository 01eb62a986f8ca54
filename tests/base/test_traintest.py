"""TrainTestSplitProducer."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

from deepview.base import Batch, TrainTestSplitProducer, accumulate_batches
from deepview.exceptions import DeepViewException, InvalidDataError, InvalidParameterError

ID = Batch.StdKeys.IDENTIFIER
LABELS = Batch.StdKeys.LABELS


def split(n_train: int = 6, n_test: int = 4) -> tuple:
    x_train = np.arange(n_train * 4, dtype=np.uint8).reshape(n_train, 2, 2, 1)
    x_test = 100 + np.arange(n_test * 4, dtype=np.uint8).reshape(n_test, 2, 2, 1)
    y_train = np.arange(n_train) % 2
    y_test = (np.arange(n_test) % 2).reshape(n_test, 1)  # (n, 1) labels are flattened
    return (x_train, y_train), (x_test, y_test)


def test_samples_metadata_and_squeeze() -> None:
    producer = TrainTestSplitProducer(split())
    batch = accumulate_batches(producer, 3)
    assert batch.fields["samples"].shape == (10, 2, 2)  # trailing 1 squeezed
    assert batch.metadata[ID] == list(range(10))
    assert batch.metadata[LABELS]["label"] == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    assert batch.metadata[LABELS]["dataset"] == ["train"] * 6 + ["test"] * 4
    assert batch.fields["samples"][6, 0, 0] == 100
    assert len(producer) == 10


def test_single_sample_keeps_batch_axis() -> None:
    one = ((np.zeros((1, 3)), np.array([5])), (np.zeros((0, 3)), np.array([])))
    batch = next(iter(TrainTestSplitProducer(one)(4)))
    assert batch.fields["samples"].shape == (1, 3)


def test_no_metadata_and_max_samples() -> None:
    producer = TrainTestSplitProducer(split(), attach_metadata=False, max_samples=3)
    batch = accumulate_batches(producer, 2)
    assert batch.batch_size == 3 and not batch.metadata
    assert len(TrainTestSplitProducer(split(), max_samples=100)) == 10


def test_shuffle_is_seeded_and_keeps_ids() -> None:
    producer = TrainTestSplitProducer(split())
    producer.shuffle(random_state=0)
    ids = accumulate_batches(producer, 4).metadata[ID]
    assert sorted(ids) == list(range(10)) and ids != list(range(10))
    other = TrainTestSplitProducer(split())
    other.shuffle(random_state=0)
    assert accumulate_batches(other, 3).metadata[ID] == ids
    samples = accumulate_batches(producer, 4).fields["samples"]
    assert samples[ids.index(6), 0, 0] == 100  # id stays attached to its sample


def test_subset() -> None:
    producer = TrainTestSplitProducer(split())
    test_ones = producer.subset(labels=1, datasets="test")
    batch = accumulate_batches(test_ones, 10)
    assert batch.metadata[ID] == [7, 9]
    assert producer.subset(labels=[0, 1], datasets=["train"], max_samples=2).__len__() == 2
    for name in ("labels", "datasets"):
        with pytest.raises(InvalidParameterError) as empty:
            producer.subset(**{name: []})
        assert str(empty.value) == f"'{name}' field is of length 0. Maybe it should be None?"
        assert "TrainTestSplitProducer.subset" in empty.value.__notes__[0]
    # nothing matches: refused as the constructor refuses an empty split (DeepView's words,
    # and a note naming what matched nothing)
    for labels, datasets in ((999, None), ("elephant", None), (7, "train")):
        with pytest.raises(InvalidDataError) as caught:
            producer.subset(labels=labels, datasets=datasets)
        assert str(caught.value) == "Only one of x_train or x_test can be empty."
        assert repr(labels) in caught.value.__notes__[0]
    with pytest.raises(InvalidParameterError, match="'train' and/or 'test'"):
        producer.subset(datasets="validation")


@pytest.mark.parametrize(
    ("data", "error", "text"),
    [
        ("nope", TypeError, "must be"),
        (((np.zeros((2, 1)), [0, 1]), (np.zeros((1, 1)), np.zeros(1))), TypeError, "y_train"),
        (((np.zeros((0, 1)), np.zeros(0)), (np.zeros((0, 1)), np.zeros(0))), DeepViewException,
         "both x_train and x_test are empty"),
        (((np.zeros((2, 1)), np.zeros(3)), (np.zeros((1, 1)), np.zeros(1))), DeepViewException,
         "y_train has 3"),
        (((np.zeros((2, 1)), np.zeros(2)), (np.zeros((1, 2)), np.zeros(1))), DeepViewException,
         "differ in shape"),
        (((np.zeros((2, 1)), np.zeros((2, 2))), (np.zeros((1, 1)), np.zeros(1))),
         DeepViewException, "1-D"),
    ],
)
def test_bad_split(data: object, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        TrainTestSplitProducer(data)  # type: ignore[arg-type]


def test_write_to_folder_once_and_cleanup(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("PIL")
    from PIL import Image

    folder = tmp_path / "export"
    producer = TrainTestSplitProducer(split(), write_to_folder=folder)
    ids = accumulate_batches(producer, 4).metadata[ID]
    assert ids[0] == str(folder.resolve() / "train" / "0" / "image0.png")
    assert ids[7] == str(folder.resolve() / "test" / "1" / "image7.png")
    image = np.asarray(Image.open(ids[7]))
    np.testing.assert_array_equal(image, split()[1][0][1, :, :, 0])
    mtime = os.stat(ids[0]).st_mtime_ns
    os.utime(ids[0], ns=(1, 1))
    accumulate_batches(producer, 5)  # second call: nothing rewritten
    assert os.stat(ids[0]).st_mtime_ns == 1 != mtime
    subset = producer.subset(datasets="test")
    assert accumulate_batches(subset, 5).metadata[ID] == ids[6:]
    assert producer.folder == folder.resolve()
    assert producer.cleanup() is True and not folder.exists()
    assert producer.cleanup() is True  # nothing left to remove: done, as in DeepView 3.x
    assert TrainTestSplitProducer(split()).cleanup() is True


def test_write_to_folder_true_uses_cwd(tmp_path: pathlib.Path, monkeypatch) -> None:
    pytest.importorskip("PIL")
    monkeypatch.chdir(tmp_path)
    floats = ((np.full((2, 2, 2), 0.5), np.zeros(2)), (np.zeros((0, 2, 2)), np.zeros(0)))
    producer = TrainTestSplitProducer(floats, write_to_folder=True)
    ids = accumulate_batches(producer, 2).metadata[ID]
    assert producer.folder is not None and producer.folder.parent == tmp_path.resolve()
    assert producer.folder.name.startswith("deepview-dataset-")
    assert all(pathlib.Path(p).exists() for p in ids)
    producer.cleanup()


def test_write_to_folder_rejects_non_images(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("PIL")
    bad = ((np.full((2, 3), -5.0), np.zeros(2)), (np.zeros((0, 3)), np.zeros(0)))
    producer = TrainTestSplitProducer(bad, write_to_folder=tmp_path / "x")
    with pytest.raises(DeepViewException, match="not an image"):
        list(producer(2))
    wide = ((np.full((2, 2, 2), 300.0), np.zeros(2)), (np.zeros((0, 2, 2)), np.zeros(0)))
    with pytest.raises(DeepViewException, match="Rescale"):
        list(TrainTestSplitProducer(wide, write_to_folder=tmp_path / "y")(2))


def test_subset_split_dataset_is_the_subset() -> None:
    (x_train, y_train), (x_test, y_test) = split()
    producer = TrainTestSplitProducer(split())
    ones = producer.subset(labels=1)
    (sx_train, sy_train), (sx_test, sy_test) = ones.split_dataset
    np.testing.assert_array_equal(sx_train, x_train[y_train == 1])
    np.testing.assert_array_equal(sy_train, y_train[y_train == 1])
    np.testing.assert_array_equal(sx_test, x_test[y_test[:, 0] == 1])
    assert sy_test.shape == (2, 1)  # the caller's shapes, not the squeezed ones
    # the parent is unchanged; a subset of a subset narrows further
    assert len(producer.split_dataset[0][0]) == 6 and len(producer.split_dataset[1][0]) == 4
    test_ones = ones.subset(datasets="test")
    (tx_train, _), (tx_test, ty_test) = test_ones.split_dataset
    assert len(tx_train) == 0
    np.testing.assert_array_equal(tx_test, x_test[[1, 3]])
    assert accumulate_batches(test_ones, 10).metadata[ID] == [7, 9]
    # a new producer over the subset's split gives the same samples (fresh ids)
    again = accumulate_batches(TrainTestSplitProducer(test_ones.split_dataset), 10)
    np.testing.assert_array_equal(
        again.fields["samples"], accumulate_batches(test_ones, 10).fields["samples"]
    )


def test_subset_of_shuffled_producer_keeps_order_and_split() -> None:
    producer = TrainTestSplitProducer(split())
    producer.shuffle(random_state=1)
    order = accumulate_batches(producer, 10).metadata[ID]
    train = producer.subset(datasets="train")
    assert accumulate_batches(train, 10).metadata[ID] == [i for i in order if i < 6]
    (x, y), (xt, _) = train.split_dataset
    np.testing.assert_array_equal(x, split()[0][0])
    assert len(xt) == 0
