"""Small synthetic producers for examples and tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from deepview._validation import check_batch_size, check_int
from deepview.base import Batch, rebatch
from deepview.exceptions import InvalidParameterError, InvalidTypeError

__all__ = ["StubGatedAdditionDataset", "StubImageDataset", "StubProducer"]


class StubProducer:
    """A producer over fixed in-memory fields and metadata, validated once as one batch.

    Parameters
    ----------
    data : Mapping[str, numpy.ndarray]
        Fields, all with the same length.
    metadata : Mapping[Batch.MetaKey | Batch.DictMetaKey, payload], optional
        A list per ``MetaKey``, a ``{name: list}`` per ``DictMetaKey``.
    """

    __slots__ = ("_batch",)
    _batch: Batch

    def __init__(self, data: Mapping[str, np.ndarray],
                 metadata: Mapping[Any, Any] | None = None) -> None:
        if not isinstance(data, Mapping):
            raise InvalidTypeError(
                f"StubProducer: 'data' must be a mapping of name -> array; got "
                f"{type(data).__name__}.")
        builder = Batch.Builder(dict(data))
        for key, payload in (metadata or {}).items():
            builder.metadata[key] = payload
        object.__setattr__(self, "_batch", builder.make_batch())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("StubProducer is immutable.")

    @property
    def batch(self) -> Batch:
        """All the data as one batch."""
        return self._batch

    def __len__(self) -> int:
        return self._batch.batch_size

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner="StubProducer")
        return rebatch([self._batch], batch_size)


class StubImageDataset:
    """Random images: field ``"images"`` of shape ``(batch, height, width, channels)``.

    Parameters
    ----------
    dataset_size : int
        Number of images (>= 1).
    image_width, image_height, channel_count : int, default=640, 480, 3
        Image shape (each >= 1).
    random_state : int or numpy.random.Generator, optional
        Seed; with None each call draws fresh noise.
    """

    def __init__(self, dataset_size: int, image_width: int = 640, image_height: int = 480,
                 channel_count: int = 3, *,
                 random_state: int | np.random.Generator | None = None) -> None:
        owner = "StubImageDataset"
        self.dataset_size = check_int(dataset_size, name="dataset_size", owner=owner, min_value=1)
        self.image_width = check_int(image_width, name="image_width", owner=owner, min_value=1)
        self.image_height = check_int(image_height, name="image_height", owner=owner,
                                      min_value=1)
        self.channel_count = check_int(channel_count, name="channel_count", owner=owner,
                                       min_value=1)
        self.random_state = random_state

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner="StubImageDataset")
        rng = np.random.default_rng(self.random_state)
        shape = (self.image_height, self.image_width, self.channel_count)
        for start in range(0, self.dataset_size, batch_size):
            n = min(batch_size, self.dataset_size - start)
            yield Batch({"images": rng.standard_normal((n, *shape))})


class StubGatedAdditionDataset:
    """The "gated addition" sequence task (deterministic): channel 0 of ``x`` holds values in
    [-1, 1], channel 1 marks two of them; ``target = 0.5 + (their sum) / 4``.

    Parameters
    ----------
    dataset_size : int
        Number of sequences (>= 1).
    minimum_sequence_length, maximum_sequence_length : int, default=100
        Range of sequence lengths (2 <= minimum <= maximum).
    """

    SEED = 751994

    def __init__(self, dataset_size: int, minimum_sequence_length: int = 100,
                 maximum_sequence_length: int = 100) -> None:
        owner = "StubGatedAdditionDataset"
        self.dataset_size = check_int(dataset_size, name="dataset_size", owner=owner, min_value=1)
        self.minimum_sequence_length = check_int(
            minimum_sequence_length, name="minimum_sequence_length", owner=owner, min_value=2)
        self.maximum_sequence_length = check_int(
            maximum_sequence_length, name="maximum_sequence_length", owner=owner, min_value=2)
        if self.maximum_sequence_length < self.minimum_sequence_length:
            raise InvalidParameterError(
                f"{owner}: 'maximum_sequence_length' ({maximum_sequence_length}) must be >= "
                f"'minimum_sequence_length' ({minimum_sequence_length}).")

    def _make(self) -> Batch:
        rng = np.random.default_rng(self.SEED)
        n, max_len = self.dataset_size, self.maximum_sequence_length
        lengths = rng.integers(self.minimum_sequence_length, max_len + 1, size=n)
        x = np.zeros((n, max_len, 2), dtype=np.float32)
        target = np.empty(n, dtype=np.float32)
        for i, length in enumerate(lengths):
            x[i, :length, 0] = rng.uniform(-1.0, 1.0, size=length)
            marks = rng.choice(length, size=2, replace=False)
            x[i, marks, 1] = 1.0
            target[i] = 0.5 + x[i, marks, 0].sum() / 4.0
        return Batch({"x": x, "target": target, "sequence_length": lengths.astype(np.int64)})

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner="StubGatedAdditionDataset")
        return rebatch([self._make()], batch_size)
