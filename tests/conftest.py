"""Shared fixtures: a seeded random generator and a pass-counting producer factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch


class CountingProducer:
    """Wraps an ArrayProducer and counts how often it is called (passes over the data)."""

    def __init__(self, inner: ArrayProducer) -> None:
        self.inner = inner
        self.calls = 0

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        self.calls += 1
        yield from self.inner(batch_size)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def make_producer() -> Callable[..., CountingProducer]:
    def factory(fields: Mapping[str, np.ndarray] | np.ndarray, **kwargs: Any) -> CountingProducer:
        return CountingProducer(ArrayProducer(fields, **kwargs))

    return factory
