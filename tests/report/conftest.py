"""Fixtures for the report site tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _sitehelpers import load_payload, planted_frame


@pytest.fixture
def planted(tmp_path: Path) -> pd.DataFrame:
    """Planted report table with absolute image paths as the first ids."""
    image_dir = tmp_path / "images"
    image_dir.mkdir()
    return planted_frame(image_dir)


@pytest.fixture(scope="module")
def planted_module(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    image_dir = tmp_path_factory.mktemp("images")
    return planted_frame(image_dir)


@pytest.fixture
def site_payload() -> Callable[[Path], dict[str, Any]]:
    return load_payload
