"""Shared fixtures: a seeded random generator, a pass-counting producer factory and a headless
Chromium browser."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright, one per test module; the module's tests are
    skipped, with the reason printed, where /usr/bin/chromium is absent."""
    if not CHROMIUM.exists():
        reason = f"browser tests need Chromium at {CHROMIUM} (apt install chromium)"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()
