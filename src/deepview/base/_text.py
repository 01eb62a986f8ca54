""":class:`TextProducer`: texts from a ``.txt`` file, a table or a list of strings."""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from deepview.base._records import Record, RecordProducer
from deepview.exceptions import InvalidDataError, InvalidParameterError
from deepview.typing import resolve_path_or_str

__all__ = ["TEXT_SUFFIXES", "TextProducer", "decode_text"]

TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq")


def decode_text(raw: Any) -> str:
    """``raw`` as a text; ``InvalidDataError`` for a missing, non-string or blank value."""
    if raw is None:
        raise InvalidDataError("no text")
    if not isinstance(raw, str):
        raise InvalidDataError(f"not a text: {type(raw).__name__} {str(raw)[:40]!r}")
    if not raw.strip():
        raise InvalidDataError("empty text")
    return raw


@dataclasses.dataclass(slots=True)
class _Row:
    """One row of a table: its values, or why it could not be read."""

    id: str
    values: dict[str, Any] | None
    error: str | None = None


class TextProducer(RecordProducer):
    """A producer over texts (field ``field`` and ``Batch.StdKeys.TEXT``); blank or
    unparsable rows are skipped with a warning (:attr:`skipped`).

    Parameters
    ----------
    source : str, pathlib.Path or Sequence[str]
        A ``.txt`` file (one text per line, id the line number), a ``.csv`` / ``.tsv`` /
        ``.jsonl`` / ``.parquet`` table (id the row number from 0) or the texts.
    text_column, id_column : str, optional
        The text column of a table (default ``"text"``) and a column of unique ids (default
        ``"id"`` if the table has one).
    label_columns : Sequence[str], optional
        Columns used as label dimensions.
    field : str, default="texts"
        Name of the batch field.

    Raises
    ------
    InvalidParameterError
        The file does not exist or has another suffix, a named column is missing, or a
        column option is given for a ``.txt`` file.
    InvalidDataError
        The source holds no row, or the ids repeat.
    """

    modality = "text"

    def __init__(self, source: str | pathlib.Path | Sequence[str], *,
                 text_column: str | None = None, id_column: str | None = None,
                 label_columns: Sequence[str] = (), field: str = "texts") -> None:
        super().__init__()
        self.field = field
        self.text_column = text_column or "text"
        self.id_column = id_column
        self.label_columns = [str(c) for c in label_columns]
        self.path: pathlib.Path | None = None
        if isinstance(source, (str, pathlib.Path)):
            path = resolve_path_or_str(source)
            if not path.is_file():
                raise InvalidParameterError(f"TextProducer: text file '{path}' does not exist.")
            suffix = path.suffix.lower()
            if suffix not in TEXT_SUFFIXES:
                raise InvalidParameterError(
                    f"TextProducer: '{path}' must be a .txt file (one text per line) or a "
                    f".csv, .tsv, .jsonl or .parquet table; got '{suffix or 'no suffix'}'.")
            if suffix == ".txt" and (text_column or id_column or label_columns):
                raise InvalidParameterError(
                    f"TextProducer: '{path}' is a .txt file, one text per line, without "
                    "columns; drop --text-column/--id-column/--label-column or use a .csv, "
                    ".jsonl or .parquet table.")
            self.path = path
            rows = self._read(path, suffix)
        else:
            if not all(t is None or isinstance(t, str) for t in source):
                raise InvalidParameterError(
                    "TextProducer: 'source' must be a file path or a sequence of str.")
            rows = [_Row(str(i), {"text": t}) for i, t in enumerate(source)]
            self.text_column = "text"
        if not rows:
            raise InvalidDataError(f"TextProducer: {self._where()} holds no text.")
        ids = [r.id for r in rows]
        if len(set(ids)) != len(ids):
            raise InvalidDataError(
                f"TextProducer: the ids in column '{self.id_column}' of {self._where()} "
                "repeat; they must be unique (name another column with --id-column / id_column).")
        self._rows = rows

    def _where(self) -> str:
        return f"'{self.path}'" if self.path is not None else "the texts"

    def _read(self, path: pathlib.Path, suffix: str) -> list[_Row]:
        if suffix == ".txt":
            with path.open(encoding="utf-8", errors="replace", newline=None) as handle:
                lines = handle.read().splitlines()
            return [_Row(str(i + 1), {"text": line}) for i, line in enumerate(lines)]
        if suffix in (".csv", ".tsv"):
            rows, columns = self._read_csv(path, "\t" if suffix == ".tsv" else ",")
        elif suffix in (".jsonl", ".ndjson"):
            rows, columns = self._read_jsonl(path)
        else:
            rows, columns = self._read_parquet(path)
        if self.id_column is None and "id" in columns and "id" not in (
                self.text_column, *self.label_columns):
            self.id_column = "id"
        for name, option in ([(self.text_column, "--text-column / text_column")]
                             + [(c, "--label-column / label_columns")
                                for c in self.label_columns]
                             + ([(self.id_column, "--id-column / id_column")]
                                if self.id_column else [])):
            if name not in columns:
                raise InvalidParameterError(
                    f"TextProducer: {self._where()} has no column '{name}' ({option}); its "
                    f"columns: {sorted(columns)[:30]}.")
        if self.id_column:
            for row in rows:
                if row.values is not None and row.values.get(self.id_column) is not None:
                    row.id = str(row.values[self.id_column])
        return rows

    def _read_csv(self, path: pathlib.Path, sep: str) -> tuple[list[_Row], set[str]]:
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            reader = csv.reader(handle, delimiter=sep)
            try:
                header = next(reader)
            except StopIteration:
                return [], set()
            except csv.Error as exc:
                raise InvalidDataError(f"TextProducer: cannot read '{path}' ({exc}).") from None
            rows: list[_Row] = []  # a row's id is its number
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    rows.append(_Row(str(len(rows)), None, f"unreadable CSV row: {exc}"))
                    continue
                if not fields:
                    continue  # a blank line is no row
                if len(fields) != len(header):
                    rows.append(_Row(str(len(rows)), None, f"{len(fields)} fields, the header "
                                                           f"has {len(header)}"))
                else:
                    rows.append(_Row(str(len(rows)), dict(zip(header, fields))))
        return rows, set(header)

    def _read_jsonl(self, path: pathlib.Path) -> tuple[list[_Row], set[str]]:
        rows: list[_Row] = []
        columns: set[str] = set()
        with path.open(encoding="utf-8", errors="replace") as handle:
            for index, line in enumerate(handle):
                if not line.strip():
                    rows.append(_Row(str(index), None, "empty line"))
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    rows.append(_Row(str(index), None, f"not JSON: {exc.msg}"))
                    continue
                if not isinstance(value, dict):
                    rows.append(_Row(str(index), None, "not a JSON object"))
                    continue
                columns.update(value)
                rows.append(_Row(str(index), value))
        return rows, columns

    def _read_parquet(self, path: pathlib.Path) -> tuple[list[_Row], set[str]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowException) as exc:
            raise InvalidDataError(f"TextProducer: cannot read '{path}' as Parquet ({exc})."
                                   ) from None
        columns = set(schema.names)
        wanted = [c for c in dict.fromkeys([self.text_column, *self.label_columns,
                                            self.id_column or "id"])
                  if c in columns]
        if self.text_column not in columns:
            return [], columns
        table = pq.read_table(path, columns=wanted)
        data = {c: table.column(c).to_pylist() for c in wanted}
        rows = [_Row(str(i), {c: data[c][i] for c in wanted}) for i in range(table.num_rows)]
        return rows, columns

    @property
    def num_records(self) -> int:
        return len(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"TextProducer({self._where()}, n={len(self)})"

    def records(self) -> Iterator[Record]:
        for row in self._rows:
            if row.values is None:
                yield Record(row.id, _Unreadable(row.error or "unreadable row"))
                continue
            raw = row.values.get(self.text_column)
            labels = {c: "" if row.values.get(c) is None else str(row.values[c])
                      for c in self.label_columns}
            yield Record(row.id, raw, labels, text=raw if isinstance(raw, str) else None)

    @property
    def decoder(self) -> Callable[[Any], str]:
        return _decode_row

    def _field(self, samples: list[Any]) -> np.ndarray:
        return np.asarray(samples, dtype=str)


@dataclasses.dataclass(frozen=True)
class _Unreadable:
    """The raw value of an unparsable row; decoding it fails with the reason."""

    reason: str


def _decode_row(raw: Any) -> str:
    if isinstance(raw, _Unreadable):
        raise InvalidDataError(raw.reason)
    return decode_text(raw)
