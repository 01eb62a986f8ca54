"""The single pass over the user's producer: ids, labels, paths and texts (as Arrow strings and
categorical codes), and the responses appended to one float32 file per field."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deepview._validation import check_field
from deepview.base import Batch, Producer, iter_batches
from deepview.exceptions import InvalidDataError
from deepview.report import columns
from deepview.report.files import RowFile

logger = logging.getLogger(__name__)

_OWNER = "DatasetReport"
#: values buffered as Python objects before they become one Arrow block
_BLOCK = 65536
#: the flat metadata every batch has or none has, and how to attach it
_ATTACH = {"IDENTIFIER": "ids to every batch or to none (then sequential ids 0..n-1 are used)",
           "PATH": "paths to every batch or to none", "TEXT": "texts to every batch or to none"}


@dataclasses.dataclass
class Collected:
    """What the single pass gathered: on-disk ``(n, d)`` float32 ``fields``, pandas ``str``
    arrays of ids, paths and texts, ``pandas.Categorical`` labels (sorted categories)."""

    n: int
    ids: Any  # pandas str array
    ids_generated: bool
    labels: dict[str, Any]  # pandas.Categorical per label dimension
    filenames: Any  # pandas str array or None
    paths: Any  # pandas str array or None
    fields: dict[str, RowFile]
    column_names: dict[str, str]
    texts: Any = None  # pandas str array or None


class _Strings:
    """Str values appended batch by batch, kept as Arrow string blocks."""

    def __init__(self, *, dictionary: bool = False) -> None:
        self.dictionary = dictionary
        self.buffer: list[str] = []
        self.blocks: list[Any] = []

    def extend(self, values: Any) -> None:
        self.buffer.extend(values)
        if len(self.buffer) >= _BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            block = pa.array(self.buffer, type=pa.large_string())
            self.blocks.append(block.dictionary_encode() if self.dictionary else block)
            self.buffer = []

    def chunked(self) -> Any:
        self._flush()
        kind = (pa.dictionary(pa.int32(), pa.large_string()) if self.dictionary
                else pa.large_string())
        return pa.chunked_array(self.blocks, type=kind)

    def strings(self) -> Any:
        """A pandas ``str`` array (Arrow-backed)."""
        return _str_array(self.chunked())

    def categorical(self) -> pd.Categorical:
        """A ``pandas.Categorical`` whose categories are the sorted distinct values."""
        values = self.chunked().to_pandas().array
        return values.reorder_categories(sorted(values.categories))


def _str_array(chunked: Any) -> Any:
    """A pandas ``str`` array over an Arrow (chunked) string array."""
    return pd.array(chunked.cast(pa.large_string()).to_pandas(), dtype="str")


class _FieldWriter:
    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self.rows = 0
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in finish()/close()

    def write(self, array: np.ndarray) -> None:
        np.ascontiguousarray(array, dtype=np.float32).tofile(self.file)
        self.rows += len(array)

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()

    def finish(self) -> RowFile:
        self.close()
        return RowFile(self.path, (self.rows, self.dim), np.float32)


def collect(producer: Producer, *, batch_size: int, cache_dir: Path,
            progress: Any) -> Collected:
    """Read ``producer`` once, validating every batch; the responses go to ``cache_dir``."""
    writers: dict[str, _FieldWriter] = {}
    labels: dict[str, _Strings] | None = None
    flat: dict[str, _Strings | None] = dict.fromkeys(_ATTACH)
    n = 0
    try:
        for index, batch in enumerate(iter_batches(producer, batch_size, owner=_OWNER)):
            _check_fields(batch, writers, index)
            if not writers:
                for number, (name, array) in enumerate(sorted(batch.fields.items())):
                    writers[name] = _FieldWriter(cache_dir / f"field{number}.f32", array.shape[1])
            for name, array in batch.fields.items():
                writers[name].write(array)
            _extend_flat(flat, "IDENTIFIER", batch, index)
            batch_labels = ({str(k): v for k, v in batch.metadata[Batch.StdKeys.LABELS].items()}
                            if Batch.StdKeys.LABELS in batch.metadata else {})
            if labels is None:
                labels = {dim: _Strings(dictionary=True) for dim in batch_labels}
            elif set(batch_labels) != set(labels):
                raise InvalidDataError(
                    f"{_OWNER}: batch {index} has label dimensions {sorted(batch_labels)} but "
                    f"earlier batches have {sorted(labels)}; every batch needs the same "
                    "Batch.StdKeys.LABELS dimensions.")
            for dim, values in batch_labels.items():
                labels[dim].extend([str(v) for v in values])
            _extend_flat(flat, "PATH", batch, index)
            _extend_flat(flat, "TEXT", batch, index)
            n += batch.batch_size
            progress.update(batch.batch_size)
    except BaseException:
        for writer in writers.values():
            writer.close()
        raise
    fields = {name: writer.finish() for name, writer in writers.items()}
    paths, texts = (None if v is None else v.strings() for v in (flat["PATH"], flat["TEXT"]))
    # the caller trims the heap (pyarrow's pool too) right after
    return _finish(n, flat["IDENTIFIER"],
                   {dim: values.categorical() for dim, values in (labels or {}).items()},
                   fields, paths, texts)


def _extend_flat(flat: dict[str, _Strings | None], key: str, batch: Batch, index: int) -> None:
    """Append a batch's ``Batch.StdKeys.<key>`` values (every batch has them or none)."""
    meta_key = getattr(Batch.StdKeys, key)
    has = meta_key in batch.metadata
    if index == 0 and has:
        flat[key] = _Strings()
    values = flat[key]
    if (values is not None) != has:
        raise InvalidDataError(
            f"{_OWNER}: batch {index} {'has' if has else 'lacks'} Batch.StdKeys.{key} "
            f"metadata unlike earlier batches; attach {_ATTACH[key]}.")
    if values is not None:  # a missing text is ""
        text = key == "TEXT"
        values.extend(["" if text and _missing(v) else str(v) for v in batch.metadata[meta_key]])


def _missing(value: Any) -> bool:
    """None, NaN or pandas' NA (a missing text)."""
    return (value is None or type(value).__name__ == "NAType"
            or (isinstance(value, (float, np.floating)) and bool(np.isnan(value))))


def _check_fields(batch: Batch, writers: dict[str, _FieldWriter], index: int) -> None:
    if not batch.fields:
        raise InvalidDataError(
            f"{_OWNER}: batch {index} has no fields; the producer must yield model responses "
            "(e.g. pipeline(producer, model(['penultimate']))).")
    for name, array in batch.fields.items():
        check_field(
            name, array, owner=_OWNER, ndim=2,
            fix=("reshape each response to a vector, e.g. add Flattener() or a Pooler to the "
                 "pipeline" if np.ndim(array) > 2 else
                 "each sample needs a response vector: use array.reshape(-1, 1) for one "
                 "feature per sample"))
    if writers:
        if set(batch.fields) != set(writers):
            raise InvalidDataError(
                f"{_OWNER}: batch {index} has fields {sorted(batch.fields)} but earlier "
                f"batches have {sorted(writers)}; every batch needs the same fields.")
        for name, array in batch.fields.items():
            if array.shape[1] != writers[name].dim:
                raise InvalidDataError(
                    f"{_OWNER}: field '{name}' has {array.shape[1]} features in batch {index} "
                    f"but {writers[name].dim} in earlier batches; responses must keep one size.")


def _finish(n: int, ids: _Strings | None, labels: dict[str, pd.Categorical],
            fields: dict[str, RowFile], paths: Any, texts: Any) -> Collected:
    if n < 3:
        raise InvalidDataError(
            f"{_OWNER}: the producer yielded {n} sample(s); a report needs at least 3.")
    if ids is None:  # sequential ids "0", "1", ...
        id_values = pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.large_string())
    else:
        id_values = ids.chunked()
        if pc.count_distinct(id_values).as_py() != n:
            counts = pc.value_counts(id_values)
            repeated = counts.filter(pc.greater(counts.field("counts"), 1))
            dupes = sorted(repeated.field("values").to_pylist())
            total = int(pc.sum(repeated.field("counts")).as_py()) - len(dupes)
            raise InvalidDataError(
                f"{_OWNER}: identifiers must be unique (as strings); {total} repeat, e.g. "
                f"{dupes[:5]}. Give every sample its own Batch.StdKeys.IDENTIFIER.")
    filenames = labels.pop(columns.FILENAME, None)
    filename_values = None if filenames is None else _str_array(
        pa.array(np.asarray(filenames, dtype=object), type=pa.large_string()))
    column_names: dict[str, str] = {}
    for name in fields:
        column = columns.response_part(name)
        if not column:
            raise InvalidDataError(
                f"{_OWNER}: field name {name!r} has no characters usable in a column name "
                "([A-Za-z0-9_-]); rename it with FieldRenamer.")
        clash = [other for other, col in column_names.items() if col == column]
        if clash:
            raise InvalidDataError(
                f"{_OWNER}: fields {clash[0]!r} and {name!r} both become column name "
                f"{column!r}; rename one with FieldRenamer.")
        column_names[name] = column
    own = set(column_names.values())  # labels named like a column the report writes
    bad = sorted((columns.RESERVED & set(labels)) | {
        d for d in labels if (c := columns.parse(str(d))) is not None and c.response in own})
    if bad:
        raise InvalidDataError(
            f"{_OWNER}: label dimension(s) {bad} clash with the report's own columns; rename "
            "them (MetadataRenamer) before building the report.")
    return Collected(n=n, ids=_str_array(id_values), ids_generated=ids is None, labels=labels,
                     filenames=filename_values, paths=paths, fields=fields,
                     column_names=column_names, texts=texts)
