"""Run the docstring examples of every deepview module (``pytest --doctest-modules``).

``pyproject.toml`` adds ``src/deepview`` to the test paths and turns ``--doctest-modules``
on, so every ``>>>`` example in the package runs with the test suite; no module list to keep.

An example that needs an optional dependency is skipped when it is missing, the way
:func:`pytest.importorskip` skips a test module: a package that imports the dependency at
import time (``deepview.integrations.torch``) is skipped as a whole when it is collected,
and a module whose examples only call into the dependency is skipped example by example.
Add a module here when its examples start to need an optional dependency.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_PACKAGE = Path(__file__).resolve().parent / "src" / "deepview"

#: optional dependency -> the modules or packages (relative to src/deepview) whose
#: docstring examples need it
OPTIONAL_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "torch": ("integrations/torch",),
    "PIL": ("base/_image.py", "processors/_image.py"),
}


def _needed(path: Path) -> list[str]:
    """Optional dependencies that the examples in ``path`` (a file or folder) need."""
    try:
        rel = path.resolve().relative_to(_PACKAGE).as_posix()
    except ValueError:  # outside the package: the tests themselves
        return []
    return [
        dep
        for dep, places in OPTIONAL_DEPENDENCIES.items()
        if any(rel == place or rel.startswith(place + "/") for place in places)
    ]


def _import_or_skip(path: Path) -> None:
    for dep in _needed(path):
        pytest.importorskip(dep, reason=f"the docstring examples in {path.name} need '{dep}'")


class _OptionalPackage(pytest.Package):
    """A package of deepview that imports an optional dependency: skipped without it."""

    def collect(self):  # type: ignore[no-untyped-def]
        _import_or_skip(self.path)
        return super().collect()


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if (path / "__init__.py").is_file() and any(
        (_PACKAGE / place).resolve() == path.resolve()
        for places in OPTIONAL_DEPENDENCIES.values()
        for place in places
    ):
        return _OptionalPackage.from_parent(parent, path=path)
    return None


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    # conftest files are loaded as plugins, never collected: several share the basename
    # ``conftest``, which --doctest-modules would otherwise import as one module
    return True if collection_path.name == "conftest.py" else None


def pytest_runtest_setup(item: pytest.Item) -> None:
    # only docstring examples are collected under src/deepview; tests/ needs nothing here
    _import_or_skip(item.path)
