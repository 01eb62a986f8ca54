"""The versioned on-disk format of a DatasetReport: ``report.json``, ``data.parquet`` and the
neighbour lists as ``.npy`` files; never pickle."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from deepview._compute.spill import save_npy
from deepview.exceptions import InvalidDataError, InvalidTypeError
from deepview.report.files import META_FILE, SITE_SUBDIR, write_directory

FORMAT_NAME = "deepview.DatasetReport"
FORMAT_VERSION = 1
DATA_FILE = "data.parquet"
#: rows per block (and Parquet row group) when writing
WRITE_ROWS = 1 << 18

_OWNER = "DatasetReport"


def _is_dict_column(series: pd.Series) -> bool:
    return series.dtype == object and len(series) > 0 and all(isinstance(v, dict) for v in series)


def _is_struct_column(series: pd.Series) -> bool:
    """An Arrow struct column (``pandas.ArrowDtype``), e.g. split familiarity."""
    dtype = series.dtype
    return isinstance(dtype, pd.ArrowDtype) and pa.types.is_struct(dtype.pyarrow_dtype)


def _is_float_struct(series: pd.Series) -> bool:
    """Whether every dict has the str keys of the first (in order) and float values."""
    keys = list(series.iloc[0])
    return bool(keys) and all(isinstance(k, str) for k in keys) and all(
        list(value) == keys and all(type(v) is float for v in value.values()) for value in series)


def _encode_dict_column(series: pd.Series, encoding: str) -> Any:
    """Arrow array of a dict column: a float64 struct (``encoding`` "struct": every row has the
    keys of the first), else JSON text per row."""
    if encoding == "struct":
        matrix = np.array([list(v.values()) for v in series], dtype=np.float64)
        fields = [pa.array(column, type=pa.float64()) for column in matrix.T]
        return pa.StructArray.from_arrays(fields, names=list(series.iloc[0]))
    # json.dumps writes floats with repr(), which round-trips a float64 exactly
    text = [json.dumps(v, allow_nan=True, separators=(",", ":")) for v in series]
    return pa.array(text, type=pa.string())


def _decode_dict_column(column: Any, encoding: str, name: str, *, arrow: bool = False) -> Any:
    """The dicts of a stored dict column (``arrow``: an Arrow-backed struct array)."""
    if encoding == "struct":
        if not pa.types.is_struct(column.type):
            raise InvalidDataError(
                f"{_OWNER}.from_disk: column '{name}' should be a struct column; the report "
                "directory is damaged. Rebuild it.")
        if arrow:
            return pd.arrays.ArrowExtensionArray(column)
        names = [column.type.field(i).name for i in range(column.type.num_fields)]
        parts = [column.field(i).to_numpy(zero_copy_only=False).tolist()
                 for i in range(len(names))]
        return [dict(zip(names, row)) for row in zip(*parts)]
    out: list[dict[str, Any]] = []
    for text in column.to_pylist():
        if not isinstance(text, str):
            raise InvalidDataError(
                f"{_OWNER}.from_disk: column '{name}' should hold JSON objects; got "
                f"{type(text).__name__}. The report directory is damaged; rebuild it.")
        value = json.loads(text)
        if not isinstance(value, dict):
            raise InvalidDataError(
                f"{_OWNER}.from_disk: column '{name}' should hold JSON objects; got {text!r}.")
        out.append(value)
    return out


def _neighbour_files(response: str) -> dict[str, str]:
    return {"rows": f"neighbours-{response}-rows.npy",
            "distances": f"neighbours-{response}-distances.npy"}


def write_report(data: pd.DataFrame, directory: Path, *, overwrite: bool,
                 neighbours: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 notes: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write ``data`` (and the neighbour lists, if any) as a report directory, atomically."""
    import pyarrow.parquet as pq

    import deepview

    dict_columns = [str(c) for c in data.columns if _is_dict_column(data[c])]
    encodings = {c: "struct" if _is_float_struct(data[c]) else "json" for c in dict_columns}
    arrow_structs = [str(c) for c in data.columns if _is_struct_column(data[c])]
    encodings.update({c: "struct" for c in arrow_structs})
    default_index = isinstance(data.index, pd.RangeIndex) and data.index.start == 0 \
        and data.index.step == 1
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "deepview_version": deepview.__version__, "rows": int(len(data)),
            "columns": [str(c) for c in data.columns], "dict_columns": encodings,
            "dtypes": {str(c): str(t) for c, t in data.dtypes.items()}}
    if notes:
        meta["audit_notes"] = {str(c): dict(v) for c, v in notes.items()}
    kept = {str(r): v for r, v in (neighbours or {}).items() if v is not None}
    if kept:
        meta["neighbours"] = {r: _neighbour_files(r) for r in kept}

    def block(rows: pd.DataFrame) -> Any:
        table = pa.Table.from_pandas(rows.drop(columns=[*dict_columns, *arrow_structs]),
                                     preserve_index=not default_index)
        for column in dict_columns:
            table = table.append_column(column, _encode_dict_column(rows[column],
                                                                    encodings[column]))
        for column in arrow_structs:  # as they are (the pandas metadata cannot name them)
            table = table.append_column(column, pa.array(rows[column].array))
        return table

    def build(tmp: Path) -> None:
        step = WRITE_ROWS if default_index else max(len(data), 1)
        writer = None
        try:
            for start in range(0, max(len(data), 1), step):
                table = block(data.iloc[start:start + step])
                if writer is None:
                    writer = pq.ParquetWriter(tmp / DATA_FILE, table.schema)
                writer.write_table(table, row_group_size=step)
        finally:
            if writer is not None:
                writer.close()
        for r, (rows, distances) in kept.items():
            names = _neighbour_files(r)
            save_npy(tmp / names["rows"], rows, np.int32)  # block by block: they may be spilled
            save_npy(tmp / names["distances"], distances, np.float32)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        pa.default_memory_pool().release_unused()  # the blocks' buffers, kept by the allocator

    return write_directory(build, directory, overwrite=overwrite, owner=f"{_OWNER}.to_disk")


def read_report(directory: Path
                ) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]],
                           dict[str, dict[str, Any]]]:
    """The table, neighbour lists and audit notes of a report directory (no pickle)."""
    import pyarrow.parquet as pq

    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"{_OWNER}.from_disk: '{directory}' is not a directory.")
    if not (directory / META_FILE).is_file() and (directory / SITE_SUBDIR / META_FILE).is_file():
        directory = directory / SITE_SUBDIR  # a site folder (`deepview report --out DIR`)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{_OWNER}.from_disk: '{directory}' has no {META_FILE} (nor {SITE_SUBDIR}/"
            f"{META_FILE}); pass the folder given to DatasetReport.to_disk, or the site folder "
            "written by `deepview report --out DIR` (reports pickled by the reference "
            "implementation are not loaded, for safety).")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDataError(f"{_OWNER}.from_disk: {meta_path} is not valid JSON: {exc}.") \
            from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise InvalidDataError(
            f"{_OWNER}.from_disk: {meta_path} does not describe a deepview report "
            f"(expected format {FORMAT_NAME!r}).")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:
        raise InvalidDataError(
            f"{_OWNER}.from_disk: unsupported format_version {version!r} in {meta_path} "
            f"(written by deepview {meta.get('deepview_version')!r}); this deepview reads "
            f"format_version {FORMAT_VERSION}. Rebuild the report or upgrade deepview.")
    dict_columns = meta.get("dict_columns", {})
    if not isinstance(dict_columns, dict) or not all(
            isinstance(c, str) and e in ("struct", "json") for c, e in dict_columns.items()):
        raise InvalidTypeError(f"{_OWNER}.from_disk: 'dict_columns' in {meta_path} is damaged.")
    columns = meta.get("columns")
    data_path = directory / DATA_FILE
    if not data_path.is_file():
        raise FileNotFoundError(f"{_OWNER}.from_disk: '{directory}' has no {DATA_FILE}.")
    table = pq.read_table(data_path)
    missing = [c for c in dict_columns if c not in table.column_names]
    if missing:
        raise InvalidDataError(
            f"{_OWNER}.from_disk: {DATA_FILE} lacks column(s) {missing} listed in {META_FILE}.")
    stored = meta.get("dtypes")
    dtypes: dict[str, Any] = stored if isinstance(stored, dict) else {}
    decoded = {c: _decode_dict_column(table.column(c).combine_chunks(), e, c,
                                      arrow=str(dtypes.get(c, "")).endswith("[pyarrow]"))
               for c, e in dict_columns.items()}
    frame = table.drop_columns(list(dict_columns)).to_pandas()
    for column, values in decoded.items():
        arrow = isinstance(values, pd.arrays.ArrowExtensionArray)
        frame[column] = pd.Series(values, index=frame.index, dtype=None if arrow else object)
    if isinstance(columns, list) and sorted(columns) == sorted(map(str, frame.columns)):
        frame = frame[columns]  # the saved column order
    rows = meta.get("rows")
    if rows is not None and rows != len(frame):
        raise InvalidDataError(
            f"{_OWNER}.from_disk: {DATA_FILE} has {len(frame)} rows but {META_FILE} says {rows}.")
    notes = meta.get("audit_notes") or {}
    if not isinstance(notes, dict) or not all(isinstance(v, dict) for v in notes.values()):
        raise InvalidTypeError(f"{_OWNER}.from_disk: 'audit_notes' in {META_FILE} is damaged.")
    return frame, _read_neighbours(directory, meta, len(frame)), notes


def _read_neighbours(directory: Path, meta: Mapping[str, Any], rows: int
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The neighbour lists listed in ``meta``, checked against ``rows``."""
    listed = meta.get("neighbours") or {}
    if not isinstance(listed, dict):
        raise InvalidTypeError(f"{_OWNER}.from_disk: 'neighbours' in {META_FILE} is damaged.")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for response, files in listed.items():
        expected = _neighbour_files(str(response))
        if files != expected or not re.fullmatch(r"[A-Za-z0-9_-]+", str(response)):
            raise InvalidDataError(
                f"{_OWNER}.from_disk: unexpected neighbour files {files!r} in {META_FILE}.")
        try:
            found = np.load(directory / expected["rows"], allow_pickle=False)
            distances = np.load(directory / expected["distances"], allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidDataError(
                f"{_OWNER}.from_disk: neighbour lists of '{response}' could not be read "
                f"({exc}); the report directory is damaged. Rebuild it.") from exc
        if (found.dtype != np.int32 or distances.dtype != np.float32 or found.ndim != 2
                or found.shape != distances.shape or len(found) != rows):
            raise InvalidDataError(
                f"{_OWNER}.from_disk: neighbour lists of '{response}' should be two ({rows}, k)"
                f" arrays (int32, float32); got {found.dtype}{found.shape} and "
                f"{distances.dtype}{distances.shape}.")
        out[str(response)] = (found, distances)
    return out
