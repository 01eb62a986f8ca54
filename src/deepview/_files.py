""":func:`atomic_write`: readers see the old file or the whole new one, never a part."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[pathlib.Path], Any]
                 ) -> pathlib.Path:
    """Write ``path`` by ``write(tmp)`` on a temporary file beside it, then a rename."""
    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
