"""Safe, versioned on-disk format of a DatasetReport: Parquet + JSON, never pickle.

Layout of a report directory::

    report.json    {"format": "deepview.DatasetReport", "format_version": 1,
                    "deepview_version": "...", "rows": n, "dict_columns": [...], ...}
    data.parquet   report.data; dict columns (splitFamiliarity_*) as JSON strings

Loading reads only these two files, with pyarrow and ``json``; nothing in the directory is
ever executed or unpickled.  Writing goes to a hidden sibling directory that is renamed into
place at the end, so an interrupted save never looks like a complete report.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from deepview.exceptions import InvalidDataError, InvalidTypeError

FORMAT_NAME = "deepview.DatasetReport"
FORMAT_VERSION = 1
META_FILE = "report.json"
DATA_FILE = "data.parquet"

_OWNER = "DatasetReport"


def _is_dict_column(series: pd.Series) -> bool:
    return series.dtype == object and len(series) > 0 and all(
        isinstance(v, dict) for v in series
    )


def _encode_dicts(series: pd.Series) -> list[str]:
    # json.dumps writes floats with repr(), which round-trips a float64 exactly
    return [json.dumps(v, allow_nan=True, separators=(",", ":")) for v in series]


def _decode_dicts(values: Any, column: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for text in values:
        if not isinstance(text, str):
            raise InvalidDataError(
                f"{_OWNER}.from_disk: column '{column}' should hold JSON objects; got "
                f"{type(text).__name__}. The report directory is damaged; rebuild it."
            )
        value = json.loads(text)
        if not isinstance(value, dict):
            raise InvalidDataError(
                f"{_OWNER}.from_disk: column '{column}' should hold JSON objects; got {text!r}."
            )
        out.append(value)
    return out


def replace_directory(build: Any, directory: Path, *, overwrite: bool, owner: str) -> Path:
    """Create ``directory`` by calling ``build(tmp_dir)`` on a hidden sibling, then renaming.

    An existing ``directory`` raises FileExistsError unless ``overwrite``; then it is replaced
    only after the new content is complete.  On any error the partial output is removed.
    """
    directory = Path(directory).expanduser()
    if directory.exists() and not overwrite:
        raise FileExistsError(
            f"{owner}: '{directory}' already exists; pass overwrite=True (CLI: --overwrite) "
            "or choose another directory."
        )
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{owner}: '{directory}' exists and is not a directory.")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.partial-", dir=directory.parent))
    old: Path | None = None
    try:
        build(tmp)
        if directory.exists():
            if not overwrite:
                raise FileExistsError(
                    f"{owner}: '{directory}' appeared while writing; pass overwrite=True."
                )
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
            os.replace(directory, old / "content")
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not directory.exists():
            os.replace(old / "content", directory)  # put the previous report back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return directory


def write_report(data: pd.DataFrame, directory: Path, *, overwrite: bool) -> Path:
    """Write ``data`` as a report directory (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import deepview

    frame = data.copy(deep=False)
    dict_columns = [str(c) for c in frame.columns if _is_dict_column(frame[c])]
    for column in dict_columns:
        frame[column] = pd.Series(_encode_dicts(frame[column]), index=frame.index, dtype=object)
    table = pa.Table.from_pandas(frame, preserve_index=True)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "deepview_version": deepview.__version__,
        "rows": int(len(data)),
        "columns": [str(c) for c in data.columns],
        "dict_columns": dict_columns,
        "dtypes": {str(c): str(t) for c, t in data.dtypes.items()},
    }

    def build(tmp: Path) -> None:
        pq.write_table(table, tmp / DATA_FILE)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    return replace_directory(build, Path(directory), overwrite=overwrite,
                             owner=f"{_OWNER}.to_disk")


def read_report(directory: Path) -> pd.DataFrame:
    """Read a report directory written by :func:`write_report` (no pickle, no code run)."""
    import pyarrow.parquet as pq

    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"{_OWNER}.from_disk: '{directory}' is not a directory.")
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{_OWNER}.from_disk: '{directory}' has no {META_FILE}; it is not a report saved "
            "with DatasetReport.to_disk (reports pickled by the reference implementation are "
            "not loaded, for safety)."
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDataError(f"{_OWNER}.from_disk: {meta_path} is not valid JSON: {exc}.") \
            from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise InvalidDataError(
            f"{_OWNER}.from_disk: {meta_path} does not describe a deepview report "
            f"(expected format {FORMAT_NAME!r})."
        )
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:
        raise InvalidDataError(
            f"{_OWNER}.from_disk: unsupported format_version {version!r} in {meta_path} "
            f"(written by deepview {meta.get('deepview_version')!r}); this deepview reads "
            f"format_version {FORMAT_VERSION}. Rebuild the report or upgrade deepview."
        )
    dict_columns = meta.get("dict_columns", [])
    if not isinstance(dict_columns, list) or not all(isinstance(c, str) for c in dict_columns):
        raise InvalidTypeError(f"{_OWNER}.from_disk: 'dict_columns' in {meta_path} is damaged.")
    data_path = directory / DATA_FILE
    if not data_path.is_file():
        raise FileNotFoundError(f"{_OWNER}.from_disk: '{directory}' has no {DATA_FILE}.")
    frame = pq.read_table(data_path).to_pandas()
    for column in dict_columns:
        if column not in frame.columns:
            raise InvalidDataError(
                f"{_OWNER}.from_disk: {DATA_FILE} lacks column '{column}' listed in {META_FILE}."
            )
        frame[column] = pd.Series(_decode_dicts(frame[column], column), index=frame.index,
                                  dtype=object)
    rows = meta.get("rows")
    if rows is not None and rows != len(frame):
        raise InvalidDataError(
            f"{_OWNER}.from_disk: {DATA_FILE} has {len(frame)} rows but {META_FILE} says {rows}."
        )
    return frame
