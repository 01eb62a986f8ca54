"""The dataset report: one table describing every sample, saved as Parquet + JSON and shown as
an interactive static site (also importable from ``deepview.introspectors``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["DatasetReport", "DuplicatesConfig", "ReportConfig"]

# imported on first access: the light modules (columns, files) load without pandas
_EXPORTS = {"DatasetReport": "deepview.report._core", "DuplicatesConfig": "deepview.report._config",
            "ReportConfig": "deepview.report._config"}

if TYPE_CHECKING:  # pragma: no cover - static imports for type checkers and IDEs
    from deepview.report._config import DuplicatesConfig, ReportConfig
    from deepview.report._core import DatasetReport


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deepview.report' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
