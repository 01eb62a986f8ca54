"""The ``deepview`` command line: ``deepview report``, ``embed``, ``compress`` and ``demo``
(the package's top layer: it uses the report's public modules only)."""

from __future__ import annotations

from deepview.cli._app import app, main, run_report
from deepview.cli._demo import run_demo
from deepview.cli._load import CliError

__all__ = ["CliError", "app", "main", "run_demo", "run_report"]
