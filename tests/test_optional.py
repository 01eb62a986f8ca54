"""deepview._optional: every extra it names exists, and the hint installs something real."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from deepview._optional import _KNOWN, require
from deepview.exceptions import MissingDependencyError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _extras() -> set[str]:
    with PYPROJECT.open("rb") as fh:
        return set(tomllib.load(fh)["project"]["optional-dependencies"])


def test_every_named_extra_exists_in_pyproject():
    extras = _extras()
    named = {extra for _dist, extra in _KNOWN.values() if extra is not None}
    assert named <= extras, f"extras named in _optional but not in pyproject: {named - extras}"


def test_missing_core_dependency_hint_names_no_extra(monkeypatch):
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "typer":
            raise ImportError("No module named 'typer'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(MissingDependencyError) as info:
        require("typer", feature="the deepview command")
    message = str(info.value)
    assert "deepview[" not in message
    assert "pip install typer" in message
