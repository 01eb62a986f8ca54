"""The ``deepview`` command line: ``deepview report``, ``embed``, ``compress`` and ``demo``.

``deepview report EMBEDDINGS --out DIR`` builds a :class:`~deepview.report.DatasetReport` from
an embeddings file (``.npy`` N x D, or Parquet) and an optional metadata CSV, and writes the
interactive site (``DIR/index.html``) plus the saved report (``DIR/report/``).
``deepview demo`` does the same for a small CNN trained on scikit-learn's digits.

The top layer of the package: it uses the report's public modules only.
"""

from __future__ import annotations

from deepview.cli._app import app, main, run_report
from deepview.cli._demo import run_demo
from deepview.cli._load import CliError

__all__ = ["CliError", "app", "main", "run_demo", "run_report"]
