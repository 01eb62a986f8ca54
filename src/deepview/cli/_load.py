"""Inputs of ``deepview report``: embeddings (``.npy`` or Parquet), the metadata CSV, images."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import typer

from deepview._parquet import parquet_columns, parquet_shards
from deepview.exceptions import DeepViewException
from deepview.report import columns
from deepview.report.files import RowFile

__all__ = ["CliError", "cli_errors", "image_paths", "load_embeddings", "load_metadata",
           "load_predictions", "quiet_env"]

# pyarrow's allocations through the system allocator, which returns freed blocks to the OS
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


class CliError(Exception):
    """A problem with the command's input; printed as ``Error: ...`` with exit code 1."""


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Print a CliError, DeepViewException or OSError as ``Error: ...`` and exit with 1."""
    try:
        yield
    except (CliError, DeepViewException, OSError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from None


def quiet_env(quiet: bool) -> None:
    """``--quiet``: no progress bars."""
    if quiet:
        os.environ["DEEPVIEW_QUIET"] = "1"


def load_embeddings(path: Path, id_column: str | None) -> tuple[Any, list[str] | None,
                                                               dict[str, list[str]]]:
    """Embeddings (N, D) from ``.npy`` (no pickle), a Parquet file or a folder of shards (sorted
    path order), with the Parquet data's ids and labels (its non-numeric columns)."""
    if path.is_dir():
        return _load_parquet(path, id_column)
    if not path.exists():
        raise CliError(f"embeddings file '{path}' does not exist.")
    if not path.is_file():
        raise CliError(f"embeddings '{path}' is neither a file nor a folder of Parquet shards.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise CliError(f"cannot read '{path}' as a numeric .npy array ({exc}).") from exc
        if (isinstance(mapped, np.memmap) and mapped.ndim == 2 and mapped.flags.c_contiguous
                and mapped.dtype != object):
            mapped = RowFile(path, mapped.shape, mapped.dtype, mapped.offset)  # the map closes
        return _check_matrix(mapped, path), None, {}
    if suffix in (".parquet", ".pq"):
        return _load_parquet(path, id_column)
    raise CliError(f"embeddings file '{path}' must be a .npy (N x D array) or a .parquet file "
                   f"(or a folder of .parquet shards); got '{suffix or 'no suffix'}'.")


def _check_matrix(array: Any, path: Path) -> Any:
    if not isinstance(array, (np.ndarray, RowFile)) or array.dtype == object:
        raise CliError(f"'{path}' must hold a numeric array.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise CliError(f"'{path}' must hold numbers; got dtype {array.dtype}.")
    if array.ndim != 2:
        raise CliError(f"'{path}' must be a 2-D array (samples x features); got shape "
                       f"{array.shape}.")
    if np.issubdtype(array.dtype, np.inexact):
        bad: list[int] = []
        for start in range(0, len(array), 65536):
            chunk = np.asarray(array[start:start + 65536])
            rows = np.flatnonzero(~np.isfinite(chunk).all(axis=1))
            bad.extend((rows + start).tolist())
        if bad:
            raise CliError(f"'{path}' has NaN or inf values in {len(bad)} row(s) (first rows: "
                           f"{bad[:5]}); remove or impute them first.")
    return array


def _load_parquet(path: Path, id_column: str | None
                  ) -> tuple[np.ndarray, list[str] | None, dict[str, list[str]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = parquet_shards(path, owner="deepview report")
    try:
        table = pa.concat_tables([pq.read_table(f) for f in files])
    except (OSError, pa.ArrowException) as exc:
        raise CliError(f"cannot read '{path}' as Parquet ({exc}).") from exc
    vectors, others, id_name = parquet_columns(table.schema, id_column, where=str(path))
    if isinstance(vectors, str):
        column = table.column(vectors).combine_chunks()
        lengths = np.asarray(column.value_lengths())
        if len(lengths) == 0 or lengths.min() != lengths.max():
            raise CliError(f"list column '{vectors}' of '{path}' needs equal-length vectors.")
        values = column.flatten().to_numpy(zero_copy_only=False)
        array = values.reshape(len(column), int(lengths[0]))
    else:
        array = np.column_stack([table.column(c).to_numpy(zero_copy_only=False)
                                 for c in vectors])
    array = _check_matrix(np.asarray(array), path)
    labels = {name: [str(v) for v in table.column(name).to_pylist()] for name in others}
    return array, labels.pop(id_name, None), labels


def _mangled(header: Sequence[str]) -> list[str]:
    """Column names with repeats renamed ``a``, ``a.1``, ``a.2`` ... (as pandas does)."""
    seen: dict[str, int] = {}
    names = []
    for name in header:
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}.{count}")
    return names


def read_csv_strings(path: Path, *, what: str) -> Any:
    """A CSV file as a ``pyarrow.Table`` of strings, every cell as written ("NA" stays "NA"),
    repeated column names renamed; ``what`` names the file in errors."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CliError(f"cannot read {what} '{path}' as CSV ({exc}).") from exc
    if not header:
        raise CliError(f"cannot read {what} '{path}' as CSV (no header line).")
    names = _mangled(header)
    try:
        return pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.large_string() for name in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False, null_values=[]))
    except (OSError, pa.ArrowException) as exc:
        raise CliError(f"cannot read {what} '{path}' as CSV ({exc}).") from exc


def _strings(column: Any) -> Any:
    """A string column as a pandas ``str`` array."""
    import pandas as pd

    return pd.array(column.to_pandas(), dtype="str")


def _categorical(column: Any) -> Any:
    """A string column as a ``pandas.Categorical`` (the sorted values as categories)."""
    import pyarrow.compute as pc

    values = pc.dictionary_encode(column.combine_chunks()).to_pandas().array
    return values.reorder_categories(sorted(values.categories))


def load_metadata(path: Path, *, n: int, id_column: str | None, embedding_ids: Any,
                  label_columns: Sequence[str], text_column: str | None = None
                  ) -> tuple[Any, dict[str, Any], Any, Any]:
    """Ids, labels, optional paths and texts (``text_column``, default ``text``) from the
    metadata CSV, in embedding row order, as pandas ``str`` arrays and Categoricals."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not path.is_file():
        raise CliError(f"metadata file '{path}' does not exist.")
    table = read_csv_strings(path, what="metadata")
    names = list(table.column_names)
    id_col = id_column or "id"
    if id_col not in names:
        raise CliError(f"metadata CSV '{path}' has no id column '{id_col}'; columns: "
                       f"{names[:20]}. Pass --id-column NAME.")
    missing = [c for c in label_columns if c not in names]
    if missing:
        raise CliError(f"metadata CSV '{path}' has no label column(s) {missing}; columns: "
                       f"{names[:20]}.")
    if text_column is not None and text_column not in names:
        raise CliError(f"metadata CSV '{path}' has no text column '{text_column}' "
                       f"(--text-column); columns: {names[:20]}.")
    text_col = text_column or (columns.TEXT if columns.TEXT in names else None)
    for column in label_columns:
        if column == text_col:
            raise CliError(f"column '{column}' of '{path}' is the samples' text (--text-column, "
                           f"default '{columns.TEXT}'), not a label; drop it from --label.")
        if column == columns.TEXT:
            raise CliError(f"column '{columns.TEXT}' of '{path}' cannot be a label: the report "
                           "keeps that name for the samples' text. Rename the column, or pass "
                           f"--text-column {columns.TEXT} to show it as text.")
    csv_ids = table.column(id_col)
    if pc.count_distinct(csv_ids).as_py() != len(csv_ids):
        counts = pc.value_counts(csv_ids)
        repeated = counts.filter(pc.greater(counts.field("counts"), 1))
        dupes = repeated.field("values").to_pylist()
        total = int(pc.sum(repeated.field("counts")).as_py()) - len(dupes)
        raise CliError(f"metadata CSV '{path}': ids in column '{id_col}' must be unique; "
                       f"{total} repeat (e.g. {dupes[:3]}).")
    if embedding_ids is not None:
        position = {value: row for row, value in enumerate(csv_ids.to_pylist())}
        absent = [str(i) for i in embedding_ids if i not in position]
        if absent:
            raise CliError(f"{len(absent)} of {n} embedding ids are not in the metadata CSV "
                           f"'{path}' (e.g. {absent[:3]}); the ids must match.")
        table = table.take(pa.array([position[i] for i in embedding_ids], type=pa.int64()))
        del position
    elif len(table) != n:
        raise CliError(f"metadata CSV '{path}' has {len(table)} rows but the embeddings have "
                       f"{n}; give one CSV row per embedding row, in the same order.")
    ids = _strings(table.column(id_col))
    chosen = list(label_columns) or [c for c in names
                                     if c not in (id_col, columns.PATH, text_col, columns.TEXT)]
    labels = {str(c): _categorical(table.column(c)) for c in chosen if c != id_col}
    paths = _strings(table.column(columns.PATH)) if columns.PATH in names else None
    texts = _strings(table.column(text_col)) if text_col is not None else None
    del table
    pa.default_memory_pool().release_unused()  # the parser's buffers, kept by the allocator
    return ids, labels, paths, texts


def _rows(values: Any, start: int, stop: int) -> list[Any]:
    """``values[start:stop]`` as a list."""
    part = values[start:stop]
    return part if isinstance(part, list) else list(part.tolist())


class SampleProducer:
    """The producer of ``deepview report``: the ``(n, d)`` embeddings (an array or a RowFile) as
    field ``embedding``, with ids (default ``0..n-1``), ``labels``, paths and texts made lists
    one batch at a time."""

    def __init__(self, array: Any, *, identifiers: Any = None,
                 labels: dict[str, Any] | None = None, paths: Any = None,
                 texts: Any = None) -> None:
        n = len(array)
        named = {"identifiers": identifiers, "paths": paths, "texts": texts,
                 **{f"labels['{k}']": v for k, v in (labels or {}).items()}}
        for name, values in named.items():
            if values is not None and len(values) != n:
                raise CliError(f"{name} has {len(values)} values but the embeddings have {n}.")
        self.array = array
        self.identifiers = identifiers
        self.labels = dict(labels or {})
        self.paths = paths
        self.texts = texts

    def __len__(self) -> int:
        return len(self.array)

    def __call__(self, batch_size: int) -> Any:
        from deepview.base import Batch

        n = len(self.array)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            builder = Batch.Builder({"embedding": np.asarray(self.array[start:stop])})
            builder.metadata[Batch.StdKeys.IDENTIFIER] = (
                list(range(start, stop)) if self.identifiers is None
                else _rows(self.identifiers, start, stop))
            if self.labels:
                builder.metadata[Batch.StdKeys.LABELS] = {
                    k: _rows(v, start, stop) for k, v in self.labels.items()}
            if self.paths is not None:
                builder.metadata[Batch.StdKeys.PATH] = _rows(self.paths, start, stop)
            if self.texts is not None:
                builder.metadata[Batch.StdKeys.TEXT] = _rows(self.texts, start, stop)
            yield builder.make_batch()


def image_paths(folder: Path, ids: list[str]) -> list[str]:
    """``folder/id`` for every id; all must be existing files."""
    if not folder.is_dir():
        raise CliError(f"--images '{folder}' is not a directory.")
    paths = [folder / i for i in ids]
    missing = [str(i) for i, p in zip(ids, paths) if not p.is_file()]
    if missing:
        raise CliError(f"{len(missing)} of {len(ids)} ids have no image file in '{folder}' "
                       f"(e.g. {missing[:3]}); --images expects the ids to be file names in "
                       "that folder.")
    return [str(p.resolve()) for p in paths]


def load_predictions(path: Path, *, n: int, ids: Sequence[str] | None,
                     id_column: str | None) -> Any:
    """The ``--predictions`` CSV as a float DataFrame, one row per sample (matched by the id
    column when the CSV has one, else in order) and one column per class."""
    import pandas as pd

    if not path.is_file():
        raise CliError(f"--predictions file '{path}' does not exist.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError) as exc:
        raise CliError(f"cannot read --predictions '{path}' as CSV ({exc}).") from exc
    id_col = id_column or columns.ID
    if id_col in frame.columns:
        keys = frame[id_col].astype(str)
        repeated = keys[keys.duplicated()].tolist()
        if repeated:
            raise CliError(f"--predictions '{path}': ids in column '{id_col}' must be unique; "
                           f"{len(repeated)} repeat (e.g. {repeated[:3]}).")
        wanted = list(ids) if ids is not None else [str(i) for i in range(n)]
        position = {value: row for row, value in enumerate(keys)}
        absent = [i for i in wanted if i not in position]
        if absent and ids is None:
            raise CliError(f"--predictions '{path}' has an id column '{id_col}' but the samples "
                           "have no ids; pass --metadata CSV with the ids, or drop that column "
                           "(the rows are then taken in sample order).")
        if absent:
            raise CliError(f"--predictions '{path}' has no row for {len(absent)} of {n} samples "
                           f"(e.g. {absent[:3]}); give one row per sample, matched by column "
                           f"'{id_col}'.")
        frame = frame.iloc[[position[i] for i in wanted]].drop(columns=id_col)
    elif len(frame) != n:
        raise CliError(f"--predictions '{path}' has {len(frame)} rows but there are {n} "
                       "samples; give one row per sample in the embeddings' order, or an id "
                       f"column '{id_col}' (--id-column).")
    if frame.shape[1] == 0:
        raise CliError(f"--predictions '{path}' has no class columns; give one column of "
                       "probabilities per label value.")
    frame = frame.reset_index(drop=True)
    numbers = frame.apply(lambda c: pd.to_numeric(c.str.strip(), errors="coerce"))
    bad = ~np.isfinite(numbers.to_numpy(dtype=np.float64)) | (numbers.to_numpy() < 0)
    if bad.any():
        row, col = (int(k[0]) for k in np.nonzero(bad))
        name, value = str(frame.columns[col]), str(frame.iat[row, col])
        raise CliError(f"--predictions '{path}': column '{name}' holds '{value}' (sample "
                       f"{row}); every class column needs finite, non-negative probabilities.")
    if (numbers.sum(axis=1) <= 0).any():
        row = int(np.flatnonzero(numbers.sum(axis=1).to_numpy() <= 0)[0])
        raise CliError(f"--predictions '{path}': the probabilities of sample {row} sum to 0; "
                       "every row needs a positive total.")
    numbers.columns = [str(c) for c in numbers.columns]
    return numbers.astype(np.float64)
