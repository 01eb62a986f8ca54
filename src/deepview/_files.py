"""Writing a file atomically: readers see the old file or the whole new one, never a part."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[pathlib.Path], Any]
                 ) -> pathlib.Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it to ``path``.

    The temporary file, ``.<name>.<process id>.tmp`` in the same folder (made if missing),
    is removed when ``write`` fails.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    write : Callable[[pathlib.Path], Any]
        Writes the whole content to the path it is given.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
