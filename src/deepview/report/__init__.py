"""The dataset report: one table describing every sample, saved as Parquet + JSON and shown as
an interactive static site.

:class:`DatasetReport` builds on the introspectors (duplicates, familiarity, dimension
reduction) and sits one layer above them: ``base -> processors / _compute -> introspectors ->
report -> cli``.  It is also importable as ``deepview.introspectors.DatasetReport`` (a lazy
re-export, for the published API).

- :mod:`._config`: :class:`ReportConfig`, :class:`DuplicatesConfig`.
- :mod:`._collect`: the single pass over the producer (ids, labels, responses to a disk cache).
- :mod:`._analysis`: the components, run on one in-memory array of reduced responses.
- :mod:`._persist`: Parquet + JSON persistence (no pickle).
- :mod:`._core`: :class:`DatasetReport`.
- :mod:`._site`: the static site writer (``write_site``, ``notebook_html``).
- :mod:`.columns`: the column names of ``DatasetReport.data``, built and parsed.
- :mod:`.files`: rows read from disk on demand, folders written atomically, the site layout.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["DatasetReport", "DuplicatesConfig", "ReportConfig"]

# imported on first access, so that the light modules (columns, files) load without the
# introspectors, scikit-learn and pandas (``deepview --help`` stays fast)
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
