"""One switch for every progress bar: tqdm's own rule (shown on a terminal, hidden when the
output is redirected), or always hidden when ``DEEPVIEW_QUIET`` is set to a non-empty value
(``deepview report --quiet`` sets it)."""

from __future__ import annotations

import os

__all__ = ["progress_disabled"]


def progress_disabled() -> bool | None:
    """The ``disable`` argument for ``tqdm``: ``True`` when quiet, else ``None`` (auto)."""
    return True if os.environ.get("DEEPVIEW_QUIET") else None
