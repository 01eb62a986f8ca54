"""A small CNN on scikit-learn's ``load_digits``, trained in seconds on a CPU."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from deepview._validation import check_float, check_int
from deepview.exceptions import InvalidDataError, InvalidParameterError
from deepview.integrations.torch._blocks import eval_mode

__all__ = ["DigitsCNN", "DigitsSplit", "count_parameters", "digits_cnn_factory",
           "evaluate_accuracy", "load_digits_split", "train_digits_cnn"]

logger = logging.getLogger(__name__)


class DigitsSplit(NamedTuple):
    """Train/test split of ``load_digits``: ``(n, 1, 8, 8)`` float32 images, int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(*, test_size: float = 0.25, seed: int = 0) -> DigitsSplit:
    """Load scikit-learn's 1,797 8x8 digit images (scaled to [0, 1]) as a stratified split.

    Parameters
    ----------
    test_size, seed : float, int, default=0.25, 0
        Fraction of the samples held out for testing; seed of the split.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    check_float(test_size, name="test_size", owner="load_digits_split", min_value=0.0,
                max_value=1.0, min_inclusive=False, max_inclusive=False)
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size,
                                                        random_state=seed, stratify=y)
    return DigitsSplit(x_train, y_train, x_test, y_test)


class DigitsCNN(nn.Module):
    """Two conv blocks and a hidden dense layer for 1x8x8 digit images: ``conv1 -> bn1 ->
    relu1 -> conv2 -> bn2 -> relu2 -> pool -> flatten -> fc1 -> relu3 -> dropout -> fc2``.

    Parameters
    ----------
    channels : tuple of two int, default=(32, 64)
        Output channels of ``conv1`` and ``conv2``.
    hidden, num_classes : int, default=128, 10
        Units of ``fc1`` and ``fc2``.
    dropout : float, default=0.2
    """

    def __init__(self, channels: Sequence[int] = (32, 64), hidden: int = 128,
                 num_classes: int = 10, dropout: float = 0.2) -> None:
        super().__init__()
        if len(channels) != 2:
            raise InvalidParameterError(
                f"DigitsCNN: 'channels' must hold two ints (conv1, conv2); got {channels!r}.")
        c1 = check_int(channels[0], name="channels[0]", owner="DigitsCNN", min_value=1)
        c2 = check_int(channels[1], name="channels[1]", owner="DigitsCNN", min_value=1)
        hidden = check_int(hidden, name="hidden", owner="DigitsCNN", min_value=1)
        num_classes = check_int(num_classes, name="num_classes", owner="DigitsCNN", min_value=2)
        dropout = check_float(dropout, name="dropout", owner="DigitsCNN", min_value=0.0,
                              max_value=1.0, max_inclusive=False)
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(c1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(c2)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(c2 * 4 * 4, hidden)
        self.relu3 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.pool(self.relu2(self.bn2(self.conv2(x))))
        x = self.dropout(self.relu3(self.fc1(self.flatten(x))))
        return self.fc2(x)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (weights and biases; buffers such as running stats excluded)."""
    return int(sum(p.numel() for p in module.parameters()))


def evaluate_accuracy(module: nn.Module, x: np.ndarray, y: np.ndarray, *,
                      batch_size: int = 512) -> float:
    """Top-1 accuracy of ``module`` on ``(x, y)`` in eval mode (train flags restored)."""
    if len(x) != len(y) or len(x) == 0:
        raise InvalidDataError(
            f"evaluate_accuracy: x and y need the same, non-zero length; got {len(x)} and "
            f"{len(y)}.")
    device = next(module.parameters()).device
    correct = 0
    with eval_mode(module), torch.inference_mode():
        for start in range(0, len(x), batch_size):
            xb = torch.as_tensor(x[start : start + batch_size], device=device)
            pred = module(xb).argmax(dim=1).cpu().numpy()
            correct += int((pred == np.asarray(y[start : start + batch_size])).sum())
    return correct / len(x)


def train_digits_cnn(model: nn.Module | None = None, *, split: DigitsSplit | None = None,
                     epochs: int = 12, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                     device: str | torch.device = "cpu") -> nn.Module:
    """Train (or fine-tune) a digits CNN with Adam, seeded, and return it in eval mode.

    Parameters
    ----------
    model : torch.nn.Module, optional
        The network to train in place; default a new ``DigitsCNN()``.
    split : DigitsSplit, optional
        Data (its training part); default ``load_digits_split()``.
    epochs, batch_size, lr, seed : int, int, float, int
        Training schedule (defaults reach about 97-98% test accuracy).
    device : str or torch.device, default="cpu"
    """
    epochs = check_int(epochs, name="epochs", owner="train_digits_cnn", min_value=0)
    batch_size = check_int(batch_size, name="batch_size", owner="train_digits_cnn", min_value=1)
    lr = check_float(lr, name="lr", owner="train_digits_cnn", min_value=0.0, min_inclusive=False)
    torch.manual_seed(seed)
    model = DigitsCNN() if model is None else model
    split = load_digits_split() if split is None else split
    model.to(device)
    x = torch.as_tensor(split.x_train, device=device)
    y = torch.as_tensor(split.y_train, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:  # BatchNorm needs more than one sample per batch
                continue
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        logger.debug("train_digits_cnn: epoch %d loss %.4f", epoch, total / len(x))
    model.eval()
    return model


def digits_cnn_factory(*, epochs: int = 8, seed: int = 0) -> tuple[nn.Module, Any]:
    """``(DigitsCNN, ImageTransform)``: a trained digits CNN and the transform reading digit
    images (``deepview demo``'s model)."""
    from deepview.integrations.torch._transforms import ImageTransform

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: one thread is fastest
    try:
        torch.manual_seed(seed)
        net = train_digits_cnn(DigitsCNN(channels=(8, 16), hidden=48),
                               split=load_digits_split(seed=seed), epochs=epochs, seed=seed)
    finally:
        torch.set_num_threads(threads)
    transform = ImageTransform(size=8, mode="L", resize="stretch", resample="box", invert=True)
    return net, transform
