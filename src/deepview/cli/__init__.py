"""The ``deepview`` command line: ``deepview report`` and ``deepview demo``.

``deepview report EMBEDDINGS --out DIR`` builds a :class:`~deepview.report.DatasetReport` from
an embeddings file (``.npy`` N x D, or Parquet) and an optional metadata CSV, and writes the
interactive site (``DIR/index.html``) plus the saved report (``DIR/report/``).
``deepview demo`` does the same for a small CNN trained on scikit-learn's digits.

The top layer of the package (``base -> processors / _compute -> introspectors -> report ->
cli``): it uses the report's public modules only.

- :mod:`._load`: the inputs (embeddings, metadata CSV, image folder).
- :mod:`._build`: the report's configuration, the output folder and the printed summary.
- :mod:`._demo`: ``deepview demo`` (:func:`run_demo`).
- :mod:`._app`: the typer commands and :func:`main`.
"""

from __future__ import annotations

from deepview.cli._app import app, main, run_report
from deepview.cli._demo import run_demo
from deepview.cli._load import CliError

__all__ = ["CliError", "app", "main", "run_demo", "run_report"]
