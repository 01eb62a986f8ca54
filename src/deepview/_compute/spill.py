"""The memory of large work: a :class:`Workspace` of arrays in memory-mapped files of a
temporary folder, whose pages :func:`release` drops, and rows read back with plain file reads
(:class:`FileRows`).

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> x = mapped(folder / "x.f32", (4, 2), np.float32)
>>> x[:] = 1.0
>>> release(x)
>>> float(x.sum())
8.0
>>> take(x, [3, 0]).shape
(2, 2)
>>> rows = FileRows(folder / "x.f32", (4, 2), np.float32)
>>> rows.rows_at([3, 1, 2]).tolist()
[[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy

__all__ = ["TAKE_PIECE", "FileRows", "Pages", "Workspace", "is_mapped", "mapped", "release",
           "save_npy", "take", "trim_heap"]

#: rows gathered from a mapped array between two releases (a touched row can map a whole large
#: page-cache folio, so up to this many folios per thread stay resident between releases)
TAKE_PIECE = 128


def mapped(path: Path, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A new zero-filled read-write memory-mapped array in ``path`` (empty shape: in memory)."""
    dtype = np.dtype(dtype)
    if int(np.prod(shape)) * dtype.itemsize == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="w+", shape=shape)


def save_npy(path: Path, array: Any, dtype: Any, *, block_rows: int = 1 << 16) -> None:
    """``np.save(path, array.astype(dtype))`` block by block, releasing a mapped array's pages."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in np.shape(array))
    with open(path, "wb") as handle:
        npy.write_array_header_1_0(handle, {"descr": npy.dtype_to_descr(dtype),
                                            "fortran_order": False, "shape": shape})
        for start in range(0, shape[0] if shape else 0, block_rows):
            np.ascontiguousarray(array[start:start + block_rows], dtype=dtype).tofile(handle)
            release(array)
        if not shape:  # a 0-d array
            np.asarray(array, dtype=dtype).tofile(handle)


class FileRows:
    """Read-only rows of a C-ordered 2-D array (``shape`` ``(rows, width)``, ``dtype``, header
    ``offset``) in the file ``path``: ``rows[start:stop]``, :meth:`rows_at` and
    ``np.asarray(rows)``, each with plain file reads; nothing is kept between reads."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: Any = np.float32,
                 offset: int = 0) -> None:
        if len(shape) != 2:
            raise ValueError(f"{type(self).__name__}: shape must be (rows, width); got {shape}.")
        self.path = Path(path)
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.offset = int(offset)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    @property
    def row_bytes(self) -> int:
        return self.shape[1] * self.dtype.itemsize

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError(f"{type(self).__name__} supports contiguous slices rows[start:stop] "
                            "only; use rows_at(indices) for scattered rows.")
        start, stop, _ = index.indices(self.shape[0])
        count = max(0, stop - start)
        data = np.fromfile(self.path, dtype=self.dtype, count=count * self.shape[1],
                           offset=self.offset + start * self.row_bytes)
        return data.reshape(count, self.shape[1])

    def rows_at(self, indices: Any) -> np.ndarray:
        """The rows at ``indices`` (any order, repeats allowed), as a new array."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        width = self.shape[1]
        if not len(indices):
            return np.empty((0, width), dtype=self.dtype)
        if indices.min() < 0 or indices.max() >= self.shape[0]:
            raise IndexError(f"{type(self).__name__}: row index out of range [0, {len(self)}).")
        unique, inverse = np.unique(indices, return_inverse=True)
        runs = np.flatnonzero(np.diff(unique, prepend=-2) != 1)  # first row of each run
        offsets = (self.offset + unique[runs] * self.row_bytes).tolist()
        sizes = (np.diff(runs, append=len(unique)) * self.row_bytes).tolist()
        with open(self.path, "rb") as f:
            data = b"".join([os.pread(f.fileno(), size, offset)
                             for offset, size in zip(offsets, sizes)])
        if len(data) != len(unique) * self.row_bytes:
            raise OSError(f"{type(self).__name__}: '{self.path}' is shorter than its "
                          f"{self.shape[0]} rows.")
        rows: np.ndarray = np.frombuffer(data, dtype=self.dtype).reshape(-1, width)[inverse]
        return rows

    def mapped(self) -> np.ndarray:
        """The rows as a read-only memory map: for many scattered reads (through :func:`take`,
        which drops its pages as it goes) instead of a file read per run of rows."""
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset,
                         shape=self.shape)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[:]
        return data if dtype is None else data.astype(dtype, copy=False)


def is_mapped(array: Any) -> bool:
    """Whether ``array`` is (a view of) a memory-mapped file."""
    return isinstance(getattr(array, "_mmap", None), mmap.mmap)


def take(array: Any, indices: Any) -> np.ndarray:
    """``array[indices]`` as a copy, from a file or (releasing its pages) a mapped array."""
    indices = np.asarray(indices)
    if isinstance(array, FileRows):
        return array.rows_at(indices)
    if not is_mapped(array):
        return np.asarray(array[indices])
    out = np.empty((len(indices), *array.shape[1:]), dtype=array.dtype)
    for start in range(0, len(indices), TAKE_PIECE):
        out[start:start + TAKE_PIECE] = array[indices[start:start + TAKE_PIECE]]
        release(array)
    return out


def release(*arrays: Any) -> None:
    """Drop the resident pages of memory-mapped arrays (others are left alone)."""
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None:  # pragma: no cover - platforms without madvise
        return
    for array in arrays:
        handle = getattr(array, "_mmap", None)
        if isinstance(handle, mmap.mmap) and not handle.closed:
            with contextlib.suppress(OSError, ValueError):  # best effort
                handle.madvise(advice)


def trim_heap() -> None:
    """Give the C heap's (glibc) and pyarrow's free memory back to the OS."""
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


class Pages:
    """Counts the rows a loop reads from or writes to mapped ``arrays`` and drops their resident
    pages every ``rows`` rows (:meth:`add`) and on :meth:`drop` (for loops that are not a
    :meth:`Workspace.blocks` walk)."""

    def __init__(self, *arrays: Any, rows: int = 1) -> None:
        self.arrays = arrays
        self.rows = rows
        self.count = 0

    def add(self, rows: int) -> None:
        self.count += rows
        if self.count >= self.rows:
            self.drop()

    def drop(self) -> None:
        self.count = 0
        release(*self.arrays)


class Workspace:
    """Where a piece of work keeps its large arrays, and how it gives their memory back.

    Arrays from :meth:`array` are memory-mapped files in ``folder`` (None: in memory).  Loops
    over rows go through :meth:`blocks` (or count their rows with :class:`Pages`), which drop the
    resident pages of the mapped arrays they are given as they go; :meth:`steps` gives the
    heap's free memory back between steps and :meth:`trim` between stages.  Algorithms take a
    workspace and leave releasing and trimming to it.

    Examples
    --------
    >>> import tempfile
    >>> with Workspace(tempfile.mkdtemp()).scratch("demo-") as work:
    ...     x = work.array("x.f32", (4, 2), np.float32)
    ...     for start, stop in work.blocks(4, 3, x):
    ...         x[start:stop] = start
    ...     work.file_rows(x).rows_at([3, 0]).tolist()
    [[3.0, 3.0], [0.0, 0.0]]
    """

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = None if folder is None else Path(folder)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({None if self.folder is None else str(self.folder)!r})"

    def array(self, name: str, shape: tuple[int, ...], dtype: Any, *,
              detached: bool = False) -> np.ndarray:
        """A new array: memory-mapped in the file ``name`` of the folder (zero-filled), else in
        memory.  ``detached``: the file is unlinked at once, so the array outlives the folder
        (POSIX; elsewhere it is made in memory)."""
        if self.folder is None or (detached and os.name != "posix"):
            return np.empty(shape, dtype=dtype)
        path = self.folder / name
        array = mapped(path, shape, dtype)
        if detached:
            path.unlink(missing_ok=True)
        return array

    def blocks(self, n: int, size: int, *arrays: Any, every: int = 1
               ) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of the blocks of ``size`` of ``n`` rows; the mapped pages of
        ``arrays`` are dropped after every ``every`` blocks and at the end."""
        for number, start in enumerate(range(0, n, size)):
            yield start, min(n, start + size)
            if number % every == every - 1:
                release(*arrays)
        release(*arrays)

    def steps(self, items: Iterable[Any]) -> Iterator[Any]:
        """``items`` one by one, the heap trimmed after each (steps that each build and drop a
        large model)."""
        for item in items:
            yield item
            trim_heap()

    def file_rows(self, array: np.ndarray) -> Any:
        """A written memory-mapped array as :class:`FileRows` (plain file reads, no pages kept);
        others as they are."""
        if not (isinstance(array, np.memmap) and is_mapped(array) and array.filename):
            return array
        array.flush()
        rows = FileRows(Path(array.filename), array.shape, array.dtype, array.offset)
        release(array)
        return rows

    def park(self, name: str, array: Any, dtype: Any) -> Callable[[], np.ndarray]:
        """Keep ``array`` as ``dtype`` in the ``.npy`` file ``name`` of the folder until the
        returned function loads it back (without a folder, a copy waits in memory)."""
        if self.folder is None:
            kept = np.array(array, dtype=dtype)
            return lambda: kept
        path = self.folder / name
        save_npy(path, array, dtype)
        return lambda: np.load(path, allow_pickle=False)

    @staticmethod
    def trim() -> None:
        """Give the heap's free memory back to the system (between stages)."""
        trim_heap()

    @contextlib.contextmanager
    def scratch(self, prefix: str) -> Iterator[Workspace]:
        """A workspace in a new sub-folder (``prefix``), removed with everything in it after
        the block; in memory without a folder."""
        if self.folder is None:
            yield Workspace(None)
            return
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=self.folder))
        try:
            yield Workspace(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@functools.cache
def _libc() -> Any:
    """glibc (``ctypes.CDLL``) when this process uses it, else None."""
    import ctypes

    with contextlib.suppress(OSError, ValueError, AttributeError):  # not glibc, or no confstr
        candidate = ctypes.CDLL(None)
        if hasattr(candidate, "malloc_trim") and os.confstr("CS_GNU_LIBC_VERSION"):
            return candidate
    return None
