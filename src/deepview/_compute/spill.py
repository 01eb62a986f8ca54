"""Arrays kept in files of a temporary folder and memory-mapped, with their pages dropped from
the resident set on request.

A large working array (a reduced matrix, neighbour lists) written to a file in a spill folder
costs page cache, which the kernel may write back and evict, instead of anonymous memory.
Reading it back through the mapping makes the pages resident again; :func:`release` gives them
back (``madvise(MADV_DONTNEED)``: the data stays in the file and the page cache, and the next
access faults it in again), so a pass over the array keeps only the pages it touches since the
last release resident.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> x = mapped(folder / "x.f32", (4, 2), np.float32)
>>> x[:] = 1.0
>>> release(x)
>>> float(x.sum())
8.0
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["mapped", "release"]


def mapped(path: Path, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A new zero-filled array of ``shape`` and ``dtype`` in the file ``path`` (created or
    truncated), memory-mapped read-write.  An empty shape gives an ordinary empty array."""
    dtype = np.dtype(dtype)
    if int(np.prod(shape)) * dtype.itemsize == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="w+", shape=shape)


def release(*arrays: Any) -> None:
    """Drop the resident pages of memory-mapped arrays (``np.memmap`` and views of one);
    other arrays are left alone.  The data stays in the file."""
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None:  # pragma: no cover - platforms without madvise
        return
    for array in arrays:
        handle = getattr(array, "_mmap", None)
        if isinstance(handle, mmap.mmap) and not handle.closed:
            try:
                handle.madvise(advice)
            except (OSError, ValueError):  # pragma: no cover - best effort
                pass
