"""The examples in the docstrings of base, processors, samples and typing run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "deepview.base._batch",
    "deepview.base._cache",
    "deepview.base._image",
    "deepview.base._introspector",
    "deepview.base._pipeline",
    "deepview.base._producer",
    "deepview.base._traintest",
    "deepview.processors._arrays",
    "deepview.processors._base",
    "deepview.processors._flow",
    "deepview.processors._image",
    "deepview.processors._structure",
    "deepview.samples",
    "deepview.typing",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    if name.endswith("_image"):
        pytest.importorskip("PIL")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
