"""RayDatasetProducer: a deepview producer over a Ray Dataset; Parquet shards in."""

from __future__ import annotations

import contextlib
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
    """The deepview error a worker raised, from the Ray error that wraps it (or None).

    Ray hands the driver a ``RayTaskError`` whose text holds the worker's traceback (the
    original exception object does not travel), so the error is rebuilt from its last
    ``deepview.exceptions.<Class>: <message>`` line."""
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
    if found:
        name, message = found[-1]
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, DeepViewException):
            return cls(message.strip())
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
                f"{lengths[:5]}; every row needs a vector of the same size."
            ) from None
    return array


class BatchSpec:
    """How a numpy batch of a Ray Dataset becomes a deepview :class:`Batch` (picklable: it
    travels to the workers).

    Parameters
    ----------
    fields : Mapping[str, str | Sequence[str]] or None
        Field name -> the column holding it, or several scalar columns stacked side by side
        (in that order) into one ``(n, k)`` field; None: every column that is not an id or
        label column, each a field of its own name.
    id_column : str, optional
        Column of sample identifiers (``Batch.StdKeys.IDENTIFIER``).
    label_columns : Sequence[str]
        Columns of labels (``Batch.StdKeys.LABELS``, one dimension per column).
    path_column, text_column : str, optional
        Columns of file paths (``Batch.StdKeys.PATH``) and texts (``Batch.StdKeys.TEXT``).
    """

    def __init__(self, fields: Mapping[str, FieldSpec] | None, id_column: str | None,
                 label_columns: Sequence[str], path_column: str | None = None,
                 text_column: str | None = None) -> None:
        self.fields = None if fields is None else dict(fields)
        self.id_column = id_column
        self.label_columns = tuple(label_columns)
        self.path_column = path_column
        self.text_column = text_column

    @property
    def metadata_columns(self) -> list[str]:
        single = [c for c in (self.id_column, self.path_column, self.text_column) if c]
        return [*single, *self.label_columns]

    def columns(self) -> list[str] | None:
        """Every column the batches need (None: all of them)."""
        if self.fields is None:
            return None
        wanted: list[str] = []
        for spec in self.fields.values():
            wanted.extend([spec] if isinstance(spec, str) else spec)
        return list(dict.fromkeys([*wanted, *self.metadata_columns]))

    def check_columns(self, available: Sequence[str]) -> None:
        wanted = self.columns() or self.metadata_columns
        missing = [c for c in wanted if c not in available]
        if missing:
            raise MissingFieldError(
                f"{_OWNER}: the dataset has no column(s) {missing}; its columns are "
                f"{list(available)[:30]}."
            )

    def field_arrays(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if self.fields is None:
            skip = set(self.metadata_columns)
            names = [c for c in batch if c not in skip]
            if not names:
                raise InvalidDataError(
                    f"{_OWNER}: every column is an id or label column; the dataset needs at "
                    "least one response (embedding) column."
                )
            return {name: batch_column(batch, name) for name in names}
        out: dict[str, np.ndarray] = {}
        for name, spec in self.fields.items():
            if isinstance(spec, str):
                out[name] = batch_column(batch, spec)
            else:
                parts = [batch_column(batch, c) for c in spec]
                bad = [c for c, p in zip(spec, parts) if p.ndim != 1]
                if bad:
                    raise InvalidDataError(
                        f"{_OWNER}: field '{name}' stacks columns {list(spec)}, but {bad} "
                        "hold vectors, not numbers; name one vector column instead."
                    )
                out[name] = np.column_stack(parts)
        return out

    def to_batch(self, batch: Mapping[str, Any]) -> Batch:
        """The deepview Batch of one numpy batch."""
        self.check_columns(list(batch))
        builder = Batch.Builder(self.field_arrays(batch))
        if self.id_column is not None:
            builder.metadata[Batch.StdKeys.IDENTIFIER] = np.asarray(
                batch[self.id_column]).tolist()
        if self.label_columns:
            builder.metadata[Batch.StdKeys.LABELS] = {
                c: np.asarray(batch[c]).tolist() for c in self.label_columns
            }
        if self.path_column is not None:
            builder.metadata[Batch.StdKeys.PATH] = np.asarray(batch[self.path_column]).tolist()
        if self.text_column is not None:
            builder.metadata[Batch.StdKeys.TEXT] = np.asarray(batch[self.text_column]).tolist()
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
                    f"list of column names; got {name!r}: {spec!r}."
                )
        return dict(fields)
    if isinstance(fields, Sequence) and all(isinstance(c, str) for c in fields) and fields:
        return {c: c for c in fields}
    raise InvalidTypeError(
        f"{_OWNER}: 'fields' must be None, a column name, a list of column names or a mapping "
        f"{{field: column(s)}}; got {fields!r}."
    )


def is_ray_dataset(obj: Any) -> bool:
    """True for a ``ray.data.Dataset`` (checked without importing ray)."""
    return any(c.__module__.startswith("ray.data") and c.__name__ in (
        "Dataset", "MaterializedDataset") for c in type(obj).__mro__)


class RayDatasetProducer:
    """A deepview :class:`~deepview.base.Producer` over a ``ray.data.Dataset``.

    Every call streams the dataset's rows as numpy batches of exactly ``batch_size`` rows
    (the last one shorter), in the same order on every pass: the producer turns on
    ``preserve_order`` in the dataset's ``DataContext``, so blocks come out in the order of
    the input (e.g. Parquet files in path order), whatever the number of workers.  Passes
    run the dataset's pipeline again (or read its materialized blocks): wrap an expensive
    model pass in ``dataset.materialize()`` when an introspector reads the data twice.

    Each pass counts its rows; a pass that yields a different number of rows than an earlier
    one (a lost block, a worker that died without retry) raises instead of giving a silently
    short result.

    Parameters
    ----------
    dataset : ray.data.Dataset
        The rows, e.g. from ``ray.data.read_parquet`` or :func:`map_responses`.
    fields : str, Sequence[str] or Mapping[str, str | Sequence[str]], optional
        Response columns: a column name, a list of them (each a field of its own name), or
        ``{field: column}`` / ``{field: [scalar columns]}`` (stacked into one ``(n, k)``
        field).  Default: every column other than ``id_column`` and ``label_columns``.
        A tensor or list column becomes an ``(n, ...)`` field.
    id_column : str, optional
        Column of sample ids, attached as ``Batch.StdKeys.IDENTIFIER``.
    label_columns : Sequence[str], default=()
        Label columns, attached as ``Batch.StdKeys.LABELS`` (one dimension per column).
    path_column, text_column : str, optional
        Columns attached as ``Batch.StdKeys.PATH`` (the samples' files) and
        ``Batch.StdKeys.TEXT`` (their texts), e.g. for :class:`~deepview.report.DatasetReport`.
    after_read : callable, optional
        Called with no arguments once :class:`~deepview.report.DatasetReport` has every row
        it needs on the driver (files and arrays of its own), before its driver-side stages:
        e.g. ``ray.shutdown`` for a cluster started only for the report.  The driver then no
        longer maps the object store's pages (they count in its resident memory, up to the
        store's size) and the cluster's processes end.

    Raises
    ------
    InvalidTypeError
        ``dataset`` is not a Ray Dataset, or ``fields`` is malformed.
    MissingFieldError
        (on the first pass) a named column does not exist.
    InvalidDataError
        (on a pass) the dataset has no rows, or fewer / more rows than on an earlier pass.

    Examples
    --------
    >>> import ray, numpy as np  # doctest: +SKIP
    >>> ds = ray.data.from_items([{"emb": np.ones(4), "id": i, "y": i % 2}
    ...                           for i in range(10)])  # doctest: +SKIP
    >>> producer = RayDatasetProducer(ds, fields="emb", id_column="id",
    ...                               label_columns=["y"])  # doctest: +SKIP
    >>> [b.batch_size for b in producer(4)]  # doctest: +SKIP
    [4, 4, 2]
    """

    def __init__(self, dataset: Any, *, fields: Any = None, id_column: str | None = None,
                 label_columns: Sequence[str] = (), path_column: str | None = None,
                 text_column: str | None = None,
                 after_read: Callable[[], Any] | None = None) -> None:
        if not is_ray_dataset(dataset):
            raise InvalidTypeError(
                f"{_OWNER}: 'dataset' must be a ray.data.Dataset; got "
                f"{type(dataset).__name__}."
            )
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
                                                      batch_format="numpy",
                                                      prefetch_batches=1):
                n = len(next(iter(batch.values()))) if batch else 0
                rows += n
                yield batch
        self._check_rows(rows)

    def _check_rows(self, rows: int) -> None:
        if rows == 0:
            raise InvalidDataError(
                f"{_OWNER}: the dataset has no rows; give at least one sample."
            )
        if self.rows is None:
            self.rows = rows
        elif rows != self.rows:
            raise InvalidDataError(
                f"{_OWNER}: this pass over the dataset yielded {rows} rows but an earlier "
                f"pass yielded {self.rows}; rows were lost or added between passes (a failed "
                "worker or a non-deterministic pipeline). Materialize the dataset first."
            )

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner=_OWNER)
        spec = self.spec
        batches = (spec.to_batch(b) for b in self.numpy_batches(batch_size))
        yield from rebatch(batches, batch_size)


def read_parquet(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """``ray.data.read_parquet`` of a file or a folder of Parquet shards, after checking
    that every shard has the same schema.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.parquet`` file or a folder holding ``*.parquet`` / ``*.pq`` shards (read in
        sorted path order), on a file system every node sees at the same path.  A URI
        (``s3://...``, ``gs://...``) goes to ``ray.data.read_parquet`` as it is (Ray reads
        the schemas; no per-file check here).
    **kwargs
        Passed to ``ray.data.read_parquet``.

    Returns
    -------
    ray.data.Dataset
        Rows in path order, file after file (also with more files than workers), on
        every pass.

    Raises
    ------
    InvalidDataError
        The folder holds no Parquet file, a file cannot be read as Parquet, or a shard's
        schema (column names and types) differs from the first shard's; the message names
        the file.
    """
    import ray.data

    if "://" in str(path):
        return ray.data.read_parquet(str(path), **kwargs)
    files = parquet_shards(path, owner="read_parquet")
    # Ray 2.60's default (v2) Parquet reader hands out files in its own order (by size, for
    # packing reads), not in path order; the v1 reader keeps the order of the list given
    context = ray.data.DataContext.get_current()
    before = context.use_datasource_v2
    context.use_datasource_v2 = False
    try:
        dataset = ray.data.read_parquet([str(f) for f in files], **kwargs)
    finally:
        context.use_datasource_v2 = before
    dataset.context.execution_options.preserve_order = True
    return dataset
