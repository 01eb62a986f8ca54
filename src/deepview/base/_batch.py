"""The immutable :class:`Batch`: named arrays sharing dimension 0, plus metadata and snapshots."""

from __future__ import annotations

import dataclasses
from collections.abc import (
    Callable,
    Hashable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    MutableSequence,
    Sequence,
)
from types import MappingProxyType
from typing import Any, ClassVar, Generic, NoReturn, TypeVar, Union, overload

import numpy as np

from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)

T = TypeVar("T")

__all__ = ["Batch", "DictMetaKey", "MetaKey"]


@dataclasses.dataclass(frozen=True)
class MetaKey(Generic[T]):
    """Flat metadata key: one value per element (``batch.metadata[key]`` is a read-only list)."""

    name: str


@dataclasses.dataclass(frozen=True)
class DictMetaKey(Generic[T]):
    """Dict metadata key: maps a string (field or label dimension) to one value per element."""

    name: str


_AnyKey = Union[MetaKey[Any], DictMetaKey[Any]]


class _FrozenList(list):  # type: ignore[type-arg]
    """A list that refuses changes (:class:`InvalidTypeError`)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise InvalidTypeError(
            "Batch metadata is read-only. Build a changed batch with "
            "batch.with_metadata(key, values) or Batch.Builder(base=batch).")

    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and copy would otherwise rebuild the list with the refused ``extend``
        return (_FrozenList, (list(self),))


def _freeze_seq(seq: Any) -> Sequence[Any]:
    """``seq`` if it is already a read-only sequence (lazy results), else a frozen copy."""
    if isinstance(seq, _FrozenList) or (isinstance(seq, Sequence) and not isinstance(
            seq, (MutableSequence, tuple, range, str, bytes))):
        return seq
    return _FrozenList(seq)


def each_seq(key: _AnyKey, value: Any, func: Callable[[Any], Any]) -> Any:
    """``func`` of a ``MetaKey`` entry, or of each sequence of a ``DictMetaKey`` entry."""
    if isinstance(key, DictMetaKey):
        return {str(k): func(v) for k, v in value.items()}
    return func(value)


def _convert_metadata(key: Any, value: Any, owner: str,
                      convert: Callable[[Any], Sequence[Any]]) -> Any:
    """Check ``value``'s type for ``key`` and apply ``convert`` to each of its sequences."""
    _check_key(key)
    if isinstance(key, DictMetaKey) and not isinstance(value, Mapping):
        raise InvalidTypeError(
            f"{owner}: metadata for DictMetaKey '{key.name}' must be a mapping "
            f"{{name: values}}; got {type(value).__name__}.")
    return each_seq(key, value, lambda seq: convert(_check_seq(key, seq, owner)))


def _check_seq(key: _AnyKey, value: Any, owner: str) -> Any:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise InvalidTypeError(
            f"{owner}: metadata for {type(key).__name__} '{key.name}' must be a "
            f"sequence with one value per element; got {type(value).__name__}.")
    return value


def _frozen_view(name: str, array: Any) -> np.ndarray:
    """A read-only view of ``array`` (the caller's own array stays writable)."""
    if not isinstance(array, np.ndarray):
        raise InvalidTypeError(
            f"Batch: field '{name}' must be a numpy array; got {type(array).__name__}. "
            "Convert it with np.asarray().")
    if array.ndim == 0:
        raise InvalidDataError(
            f"Batch: field '{name}' is a 0-d array; fields need a batch dimension first "
            "(shape (batch, ...)). Use array.reshape(1) or np.atleast_1d().")
    view = array.view()
    view.flags.writeable = False
    return view


def _check_key(key: Any) -> None:
    if not isinstance(key, (MetaKey, DictMetaKey)):
        raise InvalidTypeError(
            f"Batch metadata keys must be Batch.MetaKey or Batch.DictMetaKey; got {key!r}.")


def _elements_equal(a: Any, b: Any) -> bool:
    """``a == b`` as one bool: arrays by ``numpy.array_equal``, mappings key by key."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_elements_equal(v, b[k]) for k, v in a.items())
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return False


def _entries_equal(a: Any, b: Any) -> bool:
    """Two metadata entries (a sequence, or a mapping of sequences), element by element."""
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_entries_equal(v, b[k]) for k, v in a.items())
    return len(a) == len(b) and all(_elements_equal(x, y) for x, y in zip(a, b))


class _Fields(Mapping[str, np.ndarray]):
    """Read-only mapping of field name to array, compared with ``numpy.array_equal``."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return _elements_equal(self._data, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{{{', '.join(f'{k!r}: {v!r}' for k, v in self._data.items())}}}"


class _KeyedStorage:
    """The container protocol of the metadata types, over their ``_storage`` dict."""

    _storage: Mapping[_AnyKey, Any]

    def __contains__(self, key: object) -> bool:
        return key in self._storage

    def __len__(self) -> int:
        return len(self._storage)

    def keys(self) -> KeysView[_AnyKey]:
        return self._storage.keys()

    def __iter__(self) -> Iterator[_AnyKey]:
        return iter(self._storage)


class _MetadataType(_KeyedStorage):
    """Read-only metadata (``batch.metadata``); ``Batch.MetadataType(metadata)`` copies a
    ``MutableMetadataType`` or a mapping ``{MetaKey: values, DictMetaKey: {name: values}}``."""

    def __init__(self, metadata: Mapping[Any, Any] | _MutableMetadataType | None = None) -> None:
        source = metadata._storage if isinstance(metadata, _MutableMetadataType) else metadata
        if source is None:
            source = {}
        if not isinstance(source, Mapping):
            raise InvalidTypeError(
                "Batch.MetadataType: 'metadata' must be a Batch.Builder.MutableMetadataType or "
                f"a mapping of metadata key to values; got {type(metadata).__name__}.")
        converted = {k: _convert_metadata(k, v, "Batch.MetadataType", _freeze_seq)
                     for k, v in source.items()}  # an empty DictMetaKey entry is left out
        self._storage = {k: v for k, v in converted.items()
                         if not isinstance(k, DictMetaKey) or v}

    @classmethod
    def _view(cls, storage: Mapping[_AnyKey, Any]) -> _MetadataType:
        """A view of a batch's own (already frozen) metadata, without copying it."""
        view = cls.__new__(cls)
        view._storage = storage
        return view

    def __getitem__(self, key: Any) -> Any:
        _check_key(key)
        value = self._storage[key]  # KeyError for a missing key
        return MappingProxyType(value) if isinstance(key, DictMetaKey) else value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _MetadataType):
            return NotImplemented
        return _entries_equal(self._storage, other._storage)

    def __repr__(self) -> str:
        return f"Batch.MetadataType({[k.name for k in self._storage]})"

    class ElementType(_KeyedStorage):
        """Metadata of one element: ``[MetaKey]`` -> value, ``[DictMetaKey]`` -> dict."""

        def __init__(self, storage: Mapping[_AnyKey, Any], index: int) -> None:
            self._storage = storage
            self._index = index

        def __getitem__(self, key: Any) -> Any:
            _check_key(key)
            return each_seq(key, self._storage[key], lambda seq: seq[self._index])

        def __eq__(self, other: object) -> bool:
            if not isinstance(other, _MetadataType.ElementType):
                return NotImplemented
            return self.keys() == other.keys() and all(
                _elements_equal(self[key], other[key]) for key in self._storage)

        __hash__ = None  # type: ignore[assignment]


class _MutableMetadataType(_KeyedStorage):
    """Mutable metadata of a :class:`Batch.Builder` (missing keys are created on read)."""

    def __init__(self) -> None:
        self._storage: dict[_AnyKey, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        _check_key(key)
        if key not in self._storage:
            self._storage[key] = {} if isinstance(key, DictMetaKey) else []
        return self._storage[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._storage[key] = _convert_metadata(key, value, "Batch.Builder", list)

    def __delitem__(self, key: Any) -> None:
        del self._storage[key]


class _StdKeys:
    """Standard metadata keys.  Not instantiable."""

    IDENTIFIER: ClassVar[MetaKey[Hashable]] = MetaKey("deepview.base.Batch.StdKeys.identifier")
    PATH: ClassVar[MetaKey[Any]] = MetaKey("deepview.base.Batch.StdKeys.path")
    TEXT: ClassVar[MetaKey[Any]] = MetaKey("deepview.base.Batch.StdKeys.text")
    LABELS: ClassVar[DictMetaKey[Hashable]] = DictMetaKey("deepview.base.Batch.StdKeys.labels")

    def __init__(self) -> None:
        raise DeepViewException("Batch.StdKeys holds constants and cannot be instantiated.")


class Batch:
    """Named numpy arrays ("fields") sharing dimension 0, with per-element metadata; immutable.

    Parameters
    ----------
    fields : Mapping[str, numpy.ndarray]
        Non-empty mapping of field name to array; all arrays have the same length.
    """

    MetaKey = MetaKey
    DictMetaKey = DictMetaKey
    StdKeys = _StdKeys
    MetadataType = _MetadataType

    __slots__ = ("_fields", "_metadata", "_snapshots", "_batch_size")

    _fields: _Fields
    _metadata: dict[_AnyKey, Any]
    _snapshots: Mapping[str, Batch]
    _batch_size: int

    def __init__(self, fields: Mapping[str, np.ndarray] | None = None) -> None:
        if isinstance(fields, Batch):
            raise InvalidParameterError(
                "Batch: pass a mapping of fields; to copy a batch use Batch.Builder(base=batch).")
        if fields is not None and not isinstance(fields, Mapping):
            raise InvalidTypeError(
                f"Batch: 'fields' must be a mapping of name -> numpy array; "
                f"got {type(fields).__name__}. Wrap a single array as {{'name': array}}.")
        if not fields:
            raise InvalidParameterError(
                "Batch: 'fields' must be a non-empty mapping of name -> numpy array; got "
                f"{fields!r}. For metadata-only batches use Batch.Builder.")
        self._init(fields, {}, {})

    @classmethod
    def _from_parts(cls, fields: Mapping[str, np.ndarray], metadata: dict[_AnyKey, Any],
                    snapshots: dict[str, Batch]) -> Batch:
        obj = cls.__new__(cls)
        obj._init(fields, metadata, snapshots)
        return obj

    def _init(self, fields: Mapping[str, np.ndarray], metadata: dict[_AnyKey, Any],
              snapshots: dict[str, Batch]) -> None:
        """Freeze and validate the parts of a new batch."""
        fields = {k: _frozen_view(k, v) for k, v in fields.items()}
        for name in fields:
            if not isinstance(name, str):
                raise InvalidTypeError(f"Batch: field names must be str; got {name!r}.")
        if fields:
            size = len(next(iter(fields.values())))
        elif metadata:
            first = next(iter(metadata.values()))
            size = len(next(iter(first.values())) if isinstance(first, dict) and first else first)
        else:
            raise InvalidDataError("Batch: a batch needs at least one field or one metadata entry.")
        for name, array in fields.items():
            if len(array) != size:
                lengths = {k: len(v) for k, v in fields.items()}
                raise InvalidDataError(
                    f"Batch: all fields must have the same length (dimension 0); field "
                    f"'{name}' has {len(array)} but the batch has {size}: {lengths}.")
        metadata = {k: _convert_metadata(k, v, "Batch", _freeze_seq) for k, v in metadata.items()}
        for key, value in metadata.items():
            seqs = value.items() if isinstance(key, DictMetaKey) else [("", value)]
            for sub, seq in seqs:
                if len(seq) != size:
                    where = f"'{key.name}'" + (f"['{sub}']" if sub else "")
                    raise InvalidDataError(
                        f"Batch: metadata {where} has {len(seq)} values but the batch has "
                        f"{size} elements; give one value per element.")
        for name, snap in snapshots.items():
            if not isinstance(snap, Batch):
                raise InvalidTypeError(f"Batch: snapshot '{name}' must be a Batch.")
            if snap._snapshots:
                raise InvalidDataError(
                    f"Batch: snapshot '{name}' may not have snapshots itself; save the "
                    "snapshot's own fields without its snapshots.")
            if snap.batch_size != size:
                raise InvalidDataError(
                    f"Batch: snapshot '{name}' has {snap.batch_size} elements but the batch has "
                    f"{size}; a snapshot holds one element per element of the batch.")
        self._fields = _Fields(fields)
        self._metadata = metadata
        self._snapshots = MappingProxyType(snapshots)
        self._batch_size = size

    @property
    def fields(self) -> Mapping[str, np.ndarray]:
        """Read-only mapping of field name to read-only array (``==`` compares arrays)."""
        return self._fields

    @property
    def batch_size(self) -> int:
        """Number of elements."""
        return self._batch_size

    def __len__(self) -> int:
        return self._batch_size

    @property
    def metadata(self) -> _MetadataType:
        """Read-only metadata view: ``batch.metadata[key]``."""
        return _MetadataType._view(self._metadata)

    @property
    def snapshots(self) -> Mapping[str, Batch]:
        """Earlier states of this batch saved by :class:`~deepview.processors.SnapshotSaver`."""
        return self._snapshots

    @property
    def elements(self) -> Batch.ElementsView:
        """Per-element access: ``batch.elements[i]`` or a subset ``batch.elements[[0, 2]]``."""
        return Batch.ElementsView(self)

    def with_metadata(self, key: _AnyKey, values: Any) -> Batch:
        """Return a new batch (sharing fields and snapshots) with metadata ``key`` set.

        Parameters
        ----------
        key : Batch.MetaKey or Batch.DictMetaKey
            The metadata key to set (an existing entry is replaced).
        values : Sequence or Mapping[str, Sequence]
            One value per element; for a ``DictMetaKey``, a mapping ``{name: values}``.

        Returns
        -------
        Batch

        Raises
        ------
        InvalidTypeError
            ``key`` is not a metadata key, or ``values`` is not a sequence (mapping of them).
        InvalidDataError
            A sequence does not have one value per element.
        """
        metadata = dict(self._metadata)
        metadata[key] = _convert_metadata(key, values, "Batch.with_metadata", _freeze_seq)
        return Batch._from_parts(dict(self._fields), metadata, dict(self._snapshots))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Batch):
            return NotImplemented
        return (self._fields == other._fields and self.metadata == other.metadata
                and dict(self._snapshots) == dict(other._snapshots))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {v.shape} {v.dtype}" for k, v in self._fields.items())
        keys = ", ".join(k.name for k in self._metadata)
        return f"Batch(batch_size={self._batch_size}, fields={{{shapes}}}, metadata=[{keys}])"

    def __getstate__(self) -> dict[str, Any]:
        return {"fields": dict(self._fields), "metadata": self._metadata,
                "snapshots": dict(self._snapshots)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._init(state["fields"], state["metadata"], state["snapshots"])

    def _subset(self, indices: np.ndarray | slice) -> Batch:
        fields = {k: v[indices] for k, v in self._fields.items()}
        idx: slice | list[int] = indices if isinstance(indices, slice) else indices.tolist()

        def take(seq: Sequence[Any]) -> list[Any]:
            return _FrozenList(seq[idx] if isinstance(idx, slice) else (seq[i] for i in idx))

        metadata = {key: each_seq(key, value, take) for key, value in self._metadata.items()}
        snapshots = {k: s._subset(indices) for k, s in self._snapshots.items()}
        if not fields and not metadata:
            raise InvalidDataError("Batch: cannot take a subset of an empty batch.")
        return Batch._from_parts(fields, metadata, snapshots)

    class ElementType:
        """One element of a batch: ``.fields``, ``.metadata``, ``.snapshots``."""

        def __init__(self, batch: Batch, index: int) -> None:
            self._batch = batch
            self._index = index

        @property
        def fields(self) -> Mapping[str, np.ndarray]:
            """The element's value of each field (``array[i]``)."""
            return _Fields({k: v[self._index] for k, v in self._batch._fields.items()})

        @property
        def metadata(self) -> _MetadataType.ElementType:
            return _MetadataType.ElementType(self._batch._metadata, self._index)

        @property
        def snapshots(self) -> Mapping[str, Batch.ElementType]:
            return {k: Batch.ElementType(s, self._index)
                    for k, s in self._batch._snapshots.items()}

        def __eq__(self, other: object) -> bool:
            if not isinstance(other, Batch.ElementType):
                return NotImplemented
            return (self._index == other._index and self.fields == other.fields
                    and self.metadata == other.metadata and self.snapshots == other.snapshots)

        __hash__ = None  # type: ignore[assignment]

        def __repr__(self) -> str:
            return f"Batch.ElementType(index={self._index}, fields={list(self._batch._fields)})"

    class ElementsView:
        """Sequence-like view of a batch's elements."""

        def __init__(self, batch: Batch) -> None:
            self._batch = batch

        def __len__(self) -> int:
            return self._batch.batch_size

        def __iter__(self) -> Iterator[Batch.ElementType]:
            return (Batch.ElementType(self._batch, i) for i in range(len(self)))

        @overload
        def __getitem__(self, selector: int) -> Batch.ElementType: ...

        @overload
        def __getitem__(self, selector: slice | Sequence[int] | np.ndarray) -> Batch: ...

        def __getitem__(self, selector: Any) -> Any:
            n = len(self)
            if isinstance(selector, (int, np.integer)) and not isinstance(selector, bool):
                index = int(selector)
                if not -n <= index < n:
                    raise IndexError(
                        f"Batch.elements: index {index} out of range for a batch of {n} elements.")
                return Batch.ElementType(self._batch, index % n)
            if isinstance(selector, slice):
                return self._batch._subset(selector)
            indices = np.asarray(selector)
            if indices.size == 0:
                indices = indices.astype(np.intp)
            if indices.dtype == np.bool_:
                if len(indices) != n:
                    raise IndexError(
                        f"Batch.elements: boolean mask has {len(indices)} entries, batch has {n}.")
                indices = np.flatnonzero(indices)
            if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
                raise IndexError(
                    "Batch.elements: select with an int, a slice, a sequence of ints or a "
                    f"boolean mask; got {selector!r}.")
            if indices.size and (indices.max() >= n or indices.min() < -n):
                raise IndexError(
                    f"Batch.elements: indices must be in [-{n}, {n}); got min "
                    f"{indices.min()}, max {indices.max()}.")
            return self._batch._subset(np.where(indices < 0, indices + n, indices))

    class Builder:
        """Mutable builder of a :class:`Batch`.

        Parameters
        ----------
        fields : MutableMapping[str, numpy.ndarray], optional
            Initial fields.
        base : Batch, optional
            Copy fields, snapshots and metadata of this batch (shallow) instead.
        """

        MutableMetadataType = _MutableMetadataType

        def __init__(self, fields: MutableMapping[str, np.ndarray] | None = None, *,
                     base: Batch | None = None) -> None:
            if isinstance(fields, Batch):
                raise InvalidParameterError(
                    "Batch.Builder: to start from an existing batch use Batch.Builder(base=batch).")
            if fields is not None and base is not None:
                raise InvalidParameterError(
                    "Batch.Builder: give either 'fields' or 'base', not both.")
            self.fields: dict[str, np.ndarray] = dict(fields) if fields is not None else {}
            self.snapshots: dict[str, Batch] = {}
            self.metadata = _MutableMetadataType()
            if base is not None:
                self.fields = dict(base._fields)
                self.snapshots = dict(base._snapshots)
                for key, value in base._metadata.items():
                    self.metadata[key] = value

        def make_batch(self) -> Batch:
            """Validate and return an immutable :class:`Batch`."""
            n = len(next(iter(self.fields.values()))) if self.fields else None
            metadata: dict[_AnyKey, Any] = {}
            for key, value in self.metadata._storage.items():
                value = each_seq(key, value, _FrozenList)
                if value if isinstance(key, DictMetaKey) else (len(value) or n == 0):
                    metadata[key] = value
            if not self.fields and not metadata:
                raise InvalidDataError(
                    "Batch.Builder: a batch needs at least one field or one metadata entry.")
            snapshots = {name: Batch._from_parts(dict(s._fields), dict(s._metadata), {})
                         if s._snapshots else s for name, s in self.snapshots.items()}
            return Batch._from_parts(dict(self.fields), metadata, snapshots)


def concatenate_batches(batches: Sequence[Batch]) -> Batch:
    """Concatenate batches along the element axis (fields, metadata and snapshots).

    Raises
    ------
    InvalidDataError
        ``batches`` is empty or differ in fields, metadata, snapshots or per-sample shapes.
    """
    if not batches:
        raise InvalidDataError(
            "concatenate_batches: the producer did not produce any batches; give at least one.")
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    for b in batches[1:]:
        for what, ours, theirs in (("fields", first._fields, b._fields),
                                   ("metadata keys", first._metadata, b._metadata),
                                   ("snapshots", first._snapshots, b._snapshots)):
            if set(ours) != set(theirs):
                mine, other = ([str(getattr(k, "name", k)) for k in ks] for ks in (ours, theirs))
                raise InvalidDataError(
                    f"concatenate_batches: cannot concatenate batches with different {what}: "
                    f"{sorted(mine)} vs {sorted(other)}.")
    for k, array in first._fields.items():
        for b in batches[1:]:
            if b._fields[k].shape[1:] != array.shape[1:]:
                raise InvalidDataError(
                    f"concatenate_batches: field '{k}' has per-sample shape "
                    f"{b._fields[k].shape[1:]} in a later batch but {array.shape[1:]} in the "
                    "first; every batch must give a field the same shape (check the producer).")
    fields = {k: np.concatenate([b._fields[k] for b in batches]) for k in first._fields}
    metadata: dict[_AnyKey, Any] = {}
    for key, ours in first._metadata.items():
        values = [b._metadata[key] for b in batches]
        if not isinstance(key, DictMetaKey):
            metadata[key] = [x for value in values for x in value]
            continue
        for value in values:
            if set(value) != set(ours):
                raise InvalidDataError(
                    f"concatenate_batches: metadata '{key.name}' has different "
                    f"entries {sorted(ours)} vs {sorted(value)}.")
        metadata[key] = {k: [x for value in values for x in value[k]] for k in ours}
    snapshots = {k: concatenate_batches([b._snapshots[k] for b in batches])
                 for k in first._snapshots}
    return Batch._from_parts(fields, metadata, snapshots)
