"""Producers: callables ``producer(batch_size) -> Iterable[Batch]``, plus helpers."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from deepview._validation import check_batch_size
from deepview.base._batch import Batch, concatenate_batches
from deepview.exceptions import InvalidDataError, InvalidTypeError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ArrayProducer", "Producer", "accumulate_batches", "iter_batches", "peek_first_batch",
           "rebatch"]


@runtime_checkable
class Producer(Protocol):
    """Anything called as ``producer(batch_size)`` that yields :class:`Batch` objects of
    ``batch_size`` elements (the last may be shorter), restarting at each call."""

    def __call__(self, batch_size: int) -> Iterable[Batch]: ...


def peek_first_batch(producer: Producer, batch_size: int = 1) -> Batch:
    """Return the first batch of a fresh call to ``producer`` (``StopIteration`` if empty)."""
    iterator = iter(producer(batch_size))
    try:
        return next(iterator)
    finally:
        getattr(iterator, "close", lambda: None)()


def iter_batches(producer: Producer, batch_size: int, *, owner: str) -> Iterator[Batch]:
    """Iterate ``producer(batch_size)``, skipping empty batches; raise if none is left."""
    batch_size = check_batch_size(batch_size, owner=owner)
    if not callable(producer):
        raise InvalidTypeError(
            f"{owner}: 'producer' must be callable as producer(batch_size); "
            f"got {type(producer).__name__}.")
    seen = False
    for batch in producer(batch_size):
        if not isinstance(batch, Batch):
            raise InvalidTypeError(
                f"{owner}: the producer must yield deepview.base.Batch objects; "
                f"got {type(batch).__name__}.")
        if batch.batch_size == 0:
            continue
        seen = True
        yield batch
    if not seen:
        raise InvalidDataError(
            f"{owner}: the producer yielded no batches; check that it yields at least one "
            f"non-empty Batch for batch_size={batch_size}.")


def iter_response_batches(producer: Producer, batch_size: int, *, owner: str,
                          analysis: str) -> Iterator[Batch]:
    """:func:`iter_batches`, checking that every batch has the same, non-empty fields."""
    names: frozenset[str] | None = None
    for batch in iter_batches(producer, batch_size, owner=owner):
        fields = batch.fields
        if names is None:
            names = frozenset(fields)
            if not names:
                raise InvalidDataError(
                    f"{owner}: the batches have no fields; {analysis} analyses the response "
                    "fields of a batch (e.g. from a Model in the pipeline).")
        elif names != frozenset(fields):
            raise InvalidDataError(
                f"{owner}: a batch has fields {sorted(fields)} but the first batch had "
                f"{sorted(names)}; every batch must carry the same responses.")
        yield batch


def accumulate_batches(producer: Producer, batch_size: int, *, owner: str = "deepview") -> Batch:
    """Read every batch of ``producer`` and concatenate them into one batch."""
    return concatenate_batches(list(iter_batches(producer, batch_size, owner=owner)))


def rebatch(batches: Iterable[Batch], batch_size: int) -> Iterator[Batch]:
    """Re-cut batches into batches of ``batch_size`` elements (the last may be smaller)."""
    batch_size = check_batch_size(batch_size, owner="rebatch")
    pending: list[Batch] = []
    count = 0
    for batch in batches:
        start = 0
        while start < batch.batch_size:  # fill the pending batch from this one
            take = min(batch_size - count, batch.batch_size - start)
            whole = take == batch.batch_size
            pending.append(batch if whole else batch.elements[start : start + take])
            count += take
            start += take
            if count == batch_size:
                yield concatenate_batches(pending)
                pending, count = [], 0
    if count:
        yield concatenate_batches(pending)


def _is_row_source(obj: Any) -> bool:
    """Not an array, but with a numpy ``dtype``, a ``shape`` and row slicing (``RowFile``)."""
    return (
        not isinstance(obj, np.ndarray)
        and isinstance(getattr(obj, "dtype", None), np.dtype)
        and isinstance(getattr(obj, "shape", None), tuple)
        and hasattr(obj, "__getitem__")
        and not hasattr(obj, "__array_ufunc__")  # pandas, array libraries: converted
    )


def _as_2d_float(name: str, array: Any) -> Any:
    arr = array if _is_row_source(array) else np.asarray(array)
    if len(arr.shape) == 0:
        raise InvalidDataError(
            f"ArrayProducer: field '{name}' is a scalar; give an array of shape (n_samples, ...).")
    if arr.dtype == object:
        raise InvalidTypeError(
            f"ArrayProducer: field '{name}' has dtype object; give a numeric array.")
    return arr


class ArrayProducer:
    """A producer over in-memory arrays (numpy, a mapping of arrays, or pandas).

    Parameters
    ----------
    data : numpy.ndarray, Mapping[str, numpy.ndarray] or pandas.DataFrame
        One field ``field``, one per entry, or a DataFrame's numeric columns as one; not
        copied (a lazy row source is read one batch at a time).
    identifiers : Sequence[Hashable], optional
        ``Batch.StdKeys.IDENTIFIER`` per sample; default ``0..n-1`` (or ``id_column``).
    labels : Mapping[str, Sequence] or pandas.DataFrame, optional
        Label dimensions (``Batch.StdKeys.LABELS``), e.g. ``{"class": y}``.
    field : str, default="responses"
        Field name for a single array or a DataFrame.
    id_column, label_columns : str, Sequence[str], optional
        DataFrame columns holding ids and labels.
    paths, texts : Sequence[str], optional
        File path and text per sample (``Batch.StdKeys.PATH``, ``Batch.StdKeys.TEXT``).
    """

    def __init__(self, data: np.ndarray | Mapping[str, np.ndarray] | pd.DataFrame, *,
                 identifiers: Sequence[Hashable] | None = None,
                 labels: Mapping[str, Sequence[Any]] | pd.DataFrame | None = None,
                 field: str = "responses", id_column: str | None = None,
                 label_columns: Sequence[str] = (), paths: Sequence[Any] | None = None,
                 texts: Sequence[str] | None = None) -> None:
        fields: dict[str, np.ndarray]
        label_map: dict[str, list[Any]] = {}
        if _is_dataframe(data):
            frame: Any = data
            excluded = [*label_columns, *([id_column] if id_column else [])]
            missing = [c for c in excluded if c not in frame.columns]
            if missing:
                raise InvalidDataError(
                    f"ArrayProducer: DataFrame has no column(s) {missing}; "
                    f"available: {list(frame.columns)[:20]}.")
            numeric = [c for c in frame.columns
                       if c not in excluded and np.issubdtype(frame[c].dtype, np.number)]
            if not numeric:
                raise InvalidDataError("ArrayProducer: the DataFrame has no numeric columns.")
            fields = {field: frame[numeric].to_numpy()}
            label_map = {str(c): frame[c].tolist() for c in label_columns}
            if id_column is not None:
                if identifiers is not None:
                    raise ValueError("ArrayProducer: give 'identifiers' or 'id_column', not both.")
                identifiers = frame[id_column].tolist()
        elif isinstance(data, Mapping):
            if not data:
                raise InvalidDataError("ArrayProducer: 'data' is an empty mapping; give a field.")
            fields = {str(k): _as_2d_float(str(k), v) for k, v in data.items()}
        else:
            fields = {field: _as_2d_float(field, data)}
        if label_columns and not _is_dataframe(data):
            raise ValueError("ArrayProducer: 'label_columns' only applies to a DataFrame.")

        lengths = {k: len(v) for k, v in fields.items()}
        n = next(iter(lengths.values()))
        if len(set(lengths.values())) != 1:
            raise InvalidDataError(
                f"ArrayProducer: all fields need the same number of rows; got {lengths}.")
        if n == 0:
            raise InvalidDataError("ArrayProducer: 'data' has 0 rows; give at least one sample.")
        if labels is not None:
            if _is_dataframe(labels):
                label_frame: Any = labels
                label_map.update({str(c): label_frame[c].tolist() for c in label_frame.columns})
            elif isinstance(labels, Mapping):
                label_map.update({str(k): list(v) for k, v in labels.items()})
            else:
                raise InvalidTypeError(
                    "ArrayProducer: 'labels' must be a mapping {dimension: values} or a "
                    f"DataFrame; got {type(labels).__name__}. For one label use "
                    "labels={'label': y}.")
        if isinstance(texts, (str, bytes)) or (texts is not None and not hasattr(texts, "__len__")):
            raise InvalidTypeError(
                "ArrayProducer: 'texts' must be a sequence with one str per sample; got "
                f"{type(texts).__name__}. Wrap a single text as [text].")
        # a range: a list of 10M ints would hold 380 MB
        ids: Sequence[Any] = range(n) if identifiers is None else list(identifiers)
        named = {**{f"labels['{dim}']": v for dim, v in label_map.items()},
                 "'identifiers'": ids, "'paths'": paths, "'texts'": texts}
        for name, values in named.items():
            if values is not None and len(values) != n:
                raise InvalidDataError(
                    f"ArrayProducer: {name} has {len(values)} values but data has {n} rows.")
        self._fields = fields
        self._ids = ids
        self._labels = label_map
        self._paths = list(paths) if paths is not None else None
        self._texts = list(texts) if texts is not None else None
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        shapes = {k: v.shape for k, v in self._fields.items()}
        return f"ArrayProducer(n={self._n}, fields={shapes}, labels={list(self._labels)})"

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner="ArrayProducer")
        for start in range(0, self._n, batch_size):
            stop = min(start + batch_size, self._n)
            builder = Batch.Builder({k: v[start:stop] for k, v in self._fields.items()})
            builder.metadata[Batch.StdKeys.IDENTIFIER] = list(self._ids[start:stop])
            if self._labels:
                builder.metadata[Batch.StdKeys.LABELS] = {k: v[start:stop]
                                                          for k, v in self._labels.items()}
            if self._paths is not None:
                builder.metadata[Batch.StdKeys.PATH] = self._paths[start:stop]
            if self._texts is not None:
                builder.metadata[Batch.StdKeys.TEXT] = self._texts[start:stop]
            yield builder.make_batch()


def _is_dataframe(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas")

