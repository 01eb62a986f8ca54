"""RayDatasetProducer: a deepview producer over a Ray Dataset; Parquet shards in."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from deepview._parquet import parquet_shards
from deepview._validation import check_batch_size
from deepview.base import Batch, rebatch
from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidTypeError,
    MissingFieldError,
)

__all__ = ["BatchSpec", "RayDatasetProducer", "read_parquet"]

_OWNER = "RayDatasetProducer"

FieldSpec = str | Sequence[str]


def deepview_cause(exc: BaseException) -> DeepViewException | None:
    """The deepview error a worker raised, from the chain or text of the Ray error wrapping it."""
    import deepview.exceptions as errors

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DeepViewException):
            return current
        todo.extend([getattr(current, "cause", None), current.__cause__, current.__context__])
    found = re.findall(r"deepview\.exceptions\.(\w+): ([^\n]+)", str(exc))
    cls = getattr(errors, found[-1][0], None) if found else None
    if isinstance(cls, type) and issubclass(cls, DeepViewException):
        return cls(found[-1][1].strip())
    return None


@contextlib.contextmanager
def worker_errors() -> Iterator[None]:
    """Re-raise a deepview error raised on a worker as itself, not wrapped by Ray."""
    try:
        yield
    except DeepViewException:
        raise
    except Exception as exc:
        cause = deepview_cause(exc)
        if cause is None:
            raise
        raise type(cause)(cause.message) from exc


def batch_column(batch: Mapping[str, Any], column: str) -> np.ndarray:
    """One column of a numpy batch as an ``(n, ...)`` array (vectors stacked)."""
    value = batch[column]
    array = np.asarray(value)
    if array.dtype == object and len(array) and not isinstance(array[0], (str, bytes)):
        try:
            array = np.stack([np.asarray(v) for v in value])
        except ValueError:
            lengths = sorted({len(v) for v in value})
            raise InvalidDataError(
                f"{_OWNER}: column '{column}' holds vectors of different lengths "
                f"{lengths[:5]}; every row needs a vector of the same size.") from None
    return array


@dataclasses.dataclass(eq=False)
class BatchSpec:
    """How a numpy batch of a Ray Dataset becomes a deepview :class:`Batch` (picklable); the
    parameters are those of :class:`RayDatasetProducer`."""

    fields: Mapping[str, FieldSpec] | None
    id_column: str | None
    label_columns: Sequence[str]
    path_column: str | None = None
    text_column: str | None = None

    def __post_init__(self) -> None:
        self.fields = None if self.fields is None else dict(self.fields)
        self.label_columns = tuple(self.label_columns)

    @property
    def metadata_columns(self) -> list[str]:
        single = [c for c in (self.id_column, self.path_column, self.text_column) if c]
        return [*single, *self.label_columns]

    def columns(self) -> list[str] | None:
        """Every column the batches need (None: all of them)."""
        if self.fields is None:
            return None
        wanted = [c for spec in self.fields.values()
                  for c in ([spec] if isinstance(spec, str) else spec)]
        return list(dict.fromkeys([*wanted, *self.metadata_columns]))

    def check_columns(self, available: Sequence[str]) -> None:
        missing = [c for c in self.columns() or self.metadata_columns if c not in available]
        if missing:
            raise MissingFieldError(f"{_OWNER}: the dataset has no column(s) {missing}; its "
                                    f"columns are {list(available)[:30]}.")

    def field_arrays(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if self.fields is None:
            skip = set(self.metadata_columns)
            names = [c for c in batch if c not in skip]
            if not names:
                raise InvalidDataError(
                    f"{_OWNER}: every column is an id or label column; the dataset needs at "
                    "least one response (embedding) column.")
            return {name: batch_column(batch, name) for name in names}
        out: dict[str, np.ndarray] = {}
        for name, spec in self.fields.items():
            if isinstance(spec, str):
                out[name] = batch_column(batch, spec)
                continue
            parts = [batch_column(batch, c) for c in spec]
            bad = [c for c, p in zip(spec, parts) if p.ndim != 1]
            if bad:
                raise InvalidDataError(
                    f"{_OWNER}: field '{name}' stacks columns {list(spec)}, but {bad} "
                    "hold vectors, not numbers; name one vector column instead.")
            out[name] = np.column_stack(parts)
        return out

    def to_batch(self, batch: Mapping[str, Any]) -> Batch:
        """The deepview Batch of one numpy batch."""
        self.check_columns(list(batch))
        builder = Batch.Builder(self.field_arrays(batch))
        keys = Batch.StdKeys
        if self.id_column is not None:
            builder.metadata[keys.IDENTIFIER] = np.asarray(batch[self.id_column]).tolist()
        if self.label_columns:
            builder.metadata[keys.LABELS] = {c: np.asarray(batch[c]).tolist()
                                             for c in self.label_columns}
        for key, column in ((keys.PATH, self.path_column), (keys.TEXT, self.text_column)):
            if column is not None:
                builder.metadata[key] = np.asarray(batch[column]).tolist()
        return builder.make_batch()


def _fields_arg(fields: Any) -> Mapping[str, FieldSpec] | None:
    if fields is None:
        return None
    if isinstance(fields, str):
        return {fields: fields}
    if isinstance(fields, Mapping):
        for name, spec in fields.items():
            ok = isinstance(spec, str) or (
                isinstance(spec, Sequence) and spec and all(isinstance(c, str) for c in spec))
            if not isinstance(name, str) or not ok:
                raise InvalidTypeError(
                    f"{_OWNER}: 'fields' maps a field name to a column name or a non-empty "
                    f"list of column names; got {name!r}: {spec!r}.")
        return dict(fields)
    if isinstance(fields, Sequence) and all(isinstance(c, str) for c in fields) and fields:
        return {c: c for c in fields}
    raise InvalidTypeError(
        f"{_OWNER}: 'fields' must be None, a column name, a list of column names or a mapping "
        f"{{field: column(s)}}; got {fields!r}.")


def is_ray_dataset(obj: Any) -> bool:
    """True for a ``ray.data.Dataset`` (checked without importing ray)."""
    return any(c.__module__.startswith("ray.data") and c.__name__ in (
        "Dataset", "MaterializedDataset") for c in type(obj).__mro__)


class RayDatasetProducer:
    """A deepview :class:`~deepview.base.Producer` over a ``ray.data.Dataset``: numpy batches
    of ``batch_size`` rows in the same order on every pass (see docs/scale-out.md).

    Parameters
    ----------
    dataset : ray.data.Dataset
        The rows, e.g. from ``ray.data.read_parquet`` or :func:`map_responses`.
    fields : str, Sequence[str] or Mapping[str, str | Sequence[str]], optional
        Response columns (a field each), or ``{field: column or [scalar columns]}``; default
        every column but the id and label columns.
    id_column : str, optional
        Column of sample ids (``Batch.StdKeys.IDENTIFIER``).
    label_columns : Sequence[str], default=()
        Label columns (``Batch.StdKeys.LABELS``).
    path_column, text_column : str, optional
        Columns of file paths (``Batch.StdKeys.PATH``) and texts (``Batch.StdKeys.TEXT``).
    after_read : callable, optional
        Called once a :class:`~deepview.report.DatasetReport` has every row on the driver.

    Raises
    ------
    InvalidTypeError
        ``dataset`` is not a Ray Dataset, or ``fields`` is malformed.
    MissingFieldError
        (on the first pass) a named column does not exist.
    InvalidDataError
        (on a pass) the dataset has no rows, or fewer / more rows than on an earlier pass.
    """

    def __init__(self, dataset: Any, *, fields: Any = None, id_column: str | None = None,
                 label_columns: Sequence[str] = (), path_column: str | None = None,
                 text_column: str | None = None,
                 after_read: Callable[[], Any] | None = None) -> None:
        if not is_ray_dataset(dataset):
            raise InvalidTypeError(
                f"{_OWNER}: 'dataset' must be a ray.data.Dataset; got {type(dataset).__name__}.")
        if isinstance(label_columns, str):
            label_columns = [label_columns]
        for name, value in (("id_column", id_column), ("path_column", path_column),
                            ("text_column", text_column)):
            if value is not None and not isinstance(value, str):
                raise InvalidTypeError(f"{_OWNER}: '{name}' must be a column name (str); got "
                                       f"{value!r}.")
        self.dataset = dataset
        self.spec = BatchSpec(_fields_arg(fields), id_column, list(label_columns),
                              path_column, text_column)
        self.rows: int | None = None  # rows of the first complete pass
        if after_read is not None and not callable(after_read):
            raise InvalidTypeError(f"{_OWNER}: 'after_read' must be callable; got "
                                   f"{type(after_read).__name__}.")
        self.after_read = after_read
        dataset.context.execution_options.preserve_order = True

    def __repr__(self) -> str:
        return (f"RayDatasetProducer(fields={self.spec.fields}, id_column="
                f"{self.spec.id_column!r}, label_columns={list(self.spec.label_columns)})")

    def selected(self) -> Any:
        """The dataset restricted to the columns this producer reads (all if unnamed)."""
        columns = self.spec.columns()
        if columns is None:
            return self.dataset
        try:  # known without running the pipeline (read metadata, materialized blocks)
            schema = self.dataset.schema(fetch_if_missing=False)
        except Exception:  # noqa: BLE001 - any failure: check the columns per batch instead
            schema = None
        if schema is None:
            return self.dataset  # every column travels; to_batch checks the names
        self.spec.check_columns(list(schema.names))
        selected = self.dataset.select_columns(columns)
        selected.context.execution_options.preserve_order = True
        return selected

    def numpy_batches(self, batch_size: int | None) -> Iterator[dict[str, np.ndarray]]:
        """The raw numpy batches of one ordered pass (rows counted and checked)."""
        rows = 0
        with worker_errors():
            for batch in self.selected().iter_batches(batch_size=batch_size,
                                                      batch_format="numpy", prefetch_batches=1):
                rows += len(next(iter(batch.values()))) if batch else 0
                yield batch
        if rows == 0:
            raise InvalidDataError(f"{_OWNER}: the dataset has no rows; give at least one sample.")
        if self.rows is not None and rows != self.rows:
            raise InvalidDataError(
                f"{_OWNER}: this pass over the dataset yielded {rows} rows but an earlier "
                f"pass yielded {self.rows}; rows were lost or added between passes (a failed "
                "worker or a non-deterministic pipeline). Materialize the dataset first.")
        self.rows = rows

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner=_OWNER)
        yield from rebatch((self.spec.to_batch(b) for b in self.numpy_batches(batch_size)),
                           batch_size)


def read_parquet(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """The ``ray.data.Dataset`` of a file or folder of Parquet shards, in path order, schemas
    checked.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.parquet`` file or a folder of shards that every node sees at the same path; a
        URI (``s3://...``) goes to ``ray.data.read_parquet`` unchecked.
    **kwargs
        Passed to ``ray.data.read_parquet``.

    Raises
    ------
    InvalidDataError
        No Parquet file, an unreadable file, or a shard whose schema differs (named).
    """
    import ray.data

    if "://" in str(path):
        return ray.data.read_parquet(str(path), **kwargs)
    files = parquet_shards(path, owner="read_parquet")
    # the v1 Parquet reader keeps the order of the files given; v2 reorders them by size
    context = ray.data.DataContext.get_current()
    before = context.use_datasource_v2
    context.use_datasource_v2 = False
    try:
        dataset = ray.data.read_parquet([str(f) for f in files], **kwargs)
    finally:
        context.use_datasource_v2 = before
    dataset.context.execution_options.preserve_order = True
    return dataset
