"""DatasetReport: one-pass dataset summary (duplicates, familiarity, projection) and its site."""

from __future__ import annotations

__all__ = ["DatasetReport", "ReportConfig"]


def __getattr__(name: str) -> object:
    # The implementation lives in ``_report._core``; imported lazily so that ``_site`` (owned by
    # the site writer) can be imported on its own without pulling in the analysis code.
    if name in __all__:
        from deepview.introspectors._report import _core

        value = getattr(_core, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deepview.introspectors._report' has no attribute '{name}'")
