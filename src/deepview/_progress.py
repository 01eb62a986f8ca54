"""One switch for every progress bar: hidden when ``DEEPVIEW_QUIET`` is set (``--quiet``)."""

from __future__ import annotations

import os

__all__ = ["progress_disabled"]


def progress_disabled() -> bool | None:
    """The ``disable`` argument for ``tqdm``: ``True`` when quiet, else ``None`` (auto)."""
    return True if os.environ.get("DEEPVIEW_QUIET") else None
