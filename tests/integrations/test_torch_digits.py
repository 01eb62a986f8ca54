"""The load_digits CNN helpers used by the PFA example and ``deepview demo``."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepview.exceptions import InvalidDataError, InvalidParameterError  # noqa: E402
from deepview.integrations.torch import (  # noqa: E402
    DigitsCNN,
    TorchModel,
    count_parameters,
    evaluate_accuracy,
    load_digits_split,
    train_digits_cnn,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models train faster on one thread (no OpenMP hand-offs on a busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_split_is_stratified_scaled_and_seeded():
    split = load_digits_split()
    assert split.x_train.shape == (1347, 1, 8, 8) and split.x_test.shape == (450, 1, 8, 8)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    counts = np.bincount(split.y_test, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 47  # stratified: ~45 per class
    again = load_digits_split()
    np.testing.assert_array_equal(again.y_test, split.y_test)
    assert not np.array_equal(load_digits_split(seed=1).y_test, split.y_test)


def test_short_training_learns_and_is_reproducible():
    split = load_digits_split()
    small = load_digits_split(test_size=0.5)
    nets = []
    for _ in range(2):
        torch.manual_seed(7)
        nets.append(DigitsCNN(channels=(8, 8), hidden=16))
    a = train_digits_cnn(nets[0], split=small, epochs=2, seed=3)
    b = train_digits_cnn(nets[1], split=small, epochs=2, seed=3)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    assert not a.training
    assert evaluate_accuracy(a, split.x_test, split.y_test) > 0.3  # chance is 0.1
    assert count_parameters(DigitsCNN()) == 151_498


def test_penultimate_layer_through_torch_model():
    net = DigitsCNN(channels=(4, 4), hidden=6)
    model = TorchModel(net, device="cpu", input_shape=(1, 8, 8))
    assert model.response_infos["relu3"].shape == (None, 6)


def test_bad_arguments():
    with pytest.raises(InvalidParameterError, match="channels"):
        DigitsCNN(channels=(4,))
    with pytest.raises(InvalidParameterError, match="hidden"):
        DigitsCNN(hidden=0)
    with pytest.raises(InvalidParameterError, match="test_size"):
        load_digits_split(test_size=1.5)
    with pytest.raises(InvalidDataError, match="same, non-zero length"):
        evaluate_accuracy(DigitsCNN(), np.zeros((2, 1, 8, 8), np.float32), np.zeros(3))
