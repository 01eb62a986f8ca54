"""DatasetReport: one-pass dataset summary (duplicates, familiarity, projection) and its site.

- :mod:`._config`: :class:`ReportConfig`.
- :mod:`._collect`: the single pass over the producer (ids, labels, responses to a disk cache).
- :mod:`._analysis`: the components, run on one in-memory array of reduced responses.
- :mod:`._persist`: Parquet + JSON persistence (no pickle) and atomic directory writes.
- :mod:`._core`: :class:`DatasetReport`.
- :mod:`._site`: the static site writer (``write_site``, ``notebook_html``).
"""

from __future__ import annotations

from deepview.introspectors._report._config import ReportConfig
from deepview.introspectors._report._core import DatasetReport

__all__ = ["DatasetReport", "ReportConfig"]
