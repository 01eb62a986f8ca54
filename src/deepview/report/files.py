"""A report's files: rows read from disk on demand, folders written in one step, and the layout
of a site folder written by ``deepview report --out DIR``."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deepview._compute.spill import FileRows

__all__ = ["META_FILE", "SITE_INDEX", "SITE_SUBDIR", "RowFile", "is_report_folder",
           "write_directory"]

#: the page of a site
SITE_INDEX = "index.html"
#: the metadata file of a saved report (``DatasetReport.to_disk``)
META_FILE = "report.json"
#: subfolder of a site folder (``deepview report --out DIR``) holding the saved report
SITE_SUBDIR = "report"


def is_report_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a site or a site folder's saved report."""
    return (folder / SITE_INDEX).is_file() or (folder / SITE_SUBDIR / META_FILE).is_file()


class RowFile(FileRows):
    """Read-only rows of a C-ordered 2-D array in a file (``path``, ``shape``, ``dtype``,
    header ``offset``), read with plain file reads; nothing is kept between reads.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
    >>> np.save(path, np.arange(6.0).reshape(3, 2))
    >>> header = np.load(path, mmap_mode="r")
    >>> RowFile(path, header.shape, header.dtype, header.offset).rows_at([2, 0])
    array([[4., 5.],
           [0., 1.]])
    """


def write_directory(build: Callable[[Path], Any], directory: str | os.PathLike[str], *,
                    overwrite: bool, owner: str, entries: Sequence[str] | None = None) -> Path:
    """Create or replace ``directory`` (parents too) in one step: ``build(tmp)`` fills a new
    hidden sibling folder (mode ``0o777`` less the umask), which then takes its place; a
    failed ``build`` leaves ``directory`` as it was.  Returns ``directory``.

    ``overwrite`` allows replacing a non-empty folder; ``owner`` names the caller in errors;
    ``entries`` replaces only these entries of an existing folder, the last one leaving first
    and arriving last (``None``: the whole folder).

    Raises
    ------
    FileExistsError
        ``directory`` is not a folder, or is a non-empty folder and ``overwrite`` is False.
    """
    directory = Path(directory).expanduser()
    _check_target(directory, overwrite=overwrite, owner=owner)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_sibling(directory, "partial")
    try:
        build(tmp)
        _check_target(directory, overwrite=overwrite, owner=owner)  # it may have appeared
        if not _rename_if_absent(tmp, directory):
            if entries is None:
                _swap(tmp, directory)
            else:
                _merge(tmp, directory, list(entries))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _check_target(directory: Path, *, overwrite: bool, owner: str) -> None:
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(
            f"{owner}: '{directory}' exists and is not a directory; choose another directory.")
    if not overwrite and directory.is_dir() and any(directory.iterdir()):
        raise FileExistsError(
            f"{owner}: directory '{directory}' exists and is not empty; pass overwrite=True "
            "(CLI: --overwrite) to replace it, or choose another directory.")


def _new_sibling(directory: Path, kind: str) -> Path:
    """A new empty hidden folder next to ``directory``, mode ``0o777`` less the umask."""
    while True:
        path = directory.parent / f".{directory.name}.{kind}-{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return path


def _rename_if_absent(tmp: Path, directory: Path) -> bool:
    """Rename ``tmp`` to ``directory`` if that does not exist; False if it does."""
    if directory.exists():
        return False
    try:
        os.replace(tmp, directory)
    except OSError:
        if not directory.is_dir():
            raise
        return False  # it appeared meanwhile
    return True


def _swap(tmp: Path, directory: Path) -> None:
    """Put ``tmp`` in the place of ``directory``; the old one is put back if that fails."""
    old = _new_sibling(directory, "old")
    try:
        os.replace(directory, old / "content")
        try:
            os.replace(tmp, directory)
        except BaseException:
            if not directory.exists():
                os.replace(old / "content", directory)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _merge(tmp: Path, directory: Path, entries: list[str]) -> None:
    """Move ``entries`` from ``tmp`` into ``directory``, the last one leaving first."""
    last = entries[-1]
    trash = _new_sibling(directory, "old")
    try:
        for name in [last, *entries[:-1]]:  # the old last entry leaves first
            if (directory / name).exists() or (directory / name).is_symlink():
                os.replace(directory / name, trash / name)
            if name != last and (tmp / name).exists():
                os.replace(tmp / name, directory / name)
        if (tmp / last).exists():
            os.replace(tmp / last, directory / last)  # the new one arrives last
    finally:
        shutil.rmtree(trash, ignore_errors=True)
