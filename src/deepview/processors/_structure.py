"""Stages that reshape a batch's structure: fields, metadata and snapshots."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from deepview.base import Batch, PipelineStage
from deepview.exceptions import InvalidParameterError, InvalidTypeError
from deepview.processors._base import EditStage, resolve_fields, select_fields
from deepview.typing import OneManyOrNone, OneOrMany, resolve_one_or_many

__all__ = ["FieldRemover", "FieldRenamer", "MetadataRemover", "MetadataRenamer",
           "SnapshotRemover", "SnapshotSaver"]

_MetaKeyTypes = (Batch.MetaKey, Batch.DictMetaKey)


def _check_mapping(mapping: Any, *, owner: str) -> dict[str, str]:
    if not isinstance(mapping, Mapping):
        raise InvalidTypeError(
            f"{owner}: 'mapping' must be a mapping {{old_name: new_name}}; "
            f"got {type(mapping).__name__}.")
    bad = [(k, v) for k, v in mapping.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise InvalidTypeError(f"{owner}: 'mapping' must map str to str; got {bad[0]!r}.")
    targets = list(mapping.values())
    if len(set(targets)) != len(targets):
        raise InvalidParameterError(
            f"{owner}: two names are renamed to the same target in {dict(mapping)}; "
            "each target may appear once.")
    return dict(mapping)


def _sorted(names: Collection[Any] | None) -> list[Any] | None:
    return None if names is None else sorted(getattr(n, "name", n) for n in names)


def _rename(values: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """Rename keys; an existing key that is a target but not itself renamed is dropped."""
    targets = set(mapping.values())
    return {mapping.get(name, name): value for name, value in values.items()
            if name in mapping or name not in targets}


class FieldRemover(EditStage):
    """Remove the named fields (missing ones are ignored), or with ``keep=True`` keep only them.

    Parameters
    ----------
    fields : str or Collection[str]
        Field names.
    keep : bool, default=False
        Keep the named fields and remove the others instead.
    """

    def __init__(self, *, fields: OneOrMany[str], keep: bool = False) -> None:
        resolved = resolve_fields(fields, owner="FieldRemover")
        if resolved is None:
            raise InvalidParameterError(
                "FieldRemover: 'fields' must name at least one field; got an empty selection.")
        self.fields = resolved
        self.keep = bool(keep)

    def __repr__(self) -> str:
        return f"FieldRemover(fields={sorted(self.fields)}, keep={self.keep})"

    def _edit(self, builder: Batch.Builder, batch: Batch) -> None:
        builder.fields = {k: v for k, v in batch.fields.items() if (k in self.fields) == self.keep}


class FieldRenamer(EditStage):
    """Rename fields ``{old: new}`` (swaps work); a field named like an unrenamed target is dropped.

    Parameters
    ----------
    mapping : Mapping[str, str]
        ``{old: new}``.
    """

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = _check_mapping(mapping, owner="FieldRenamer")

    def __repr__(self) -> str:
        return f"FieldRenamer({self.mapping})"

    def _edit(self, builder: Batch.Builder, batch: Batch) -> None:
        builder.fields = _rename(batch.fields, self.mapping)


def _resolve_meta_keys(meta_keys: Any, *, owner: str) -> frozenset[Any] | None:
    if meta_keys is None:
        return None
    try:
        keys = resolve_one_or_many(meta_keys, _MetaKeyTypes)
    except InvalidTypeError:
        raise InvalidTypeError(
            f"{owner}: 'meta_keys' must be Batch.MetaKey / Batch.DictMetaKey objects (or a "
            f"collection of them); got {meta_keys!r}.") from None
    return frozenset(keys) or None


class MetadataRemover(PipelineStage):
    """Remove (or, with ``keep=True``, keep only) selected metadata; nothing selected removes
    (or keeps) all of it.

    Parameters
    ----------
    meta_keys : MetaKey, DictMetaKey or a collection of them, optional
        Metadata keys to select.
    keys : str or Collection[str], optional
        Sub-keys of dict metadata to select (in the selected DictMetaKeys, else in all).
    keep : bool, default=False
        Keep the selection and remove the rest (with ``keep=True`` a dict-only selection
        removes all flat metadata, a flat-only one all dict metadata).
    """

    def __init__(self, *, meta_keys: Any = None, keys: OneManyOrNone[str] = None,
                 keep: bool = False) -> None:
        owner = "MetadataRemover"
        selected = _resolve_meta_keys(meta_keys, owner=owner)
        if keys is not None and (isinstance(keys, _MetaKeyTypes) or (
                not isinstance(keys, str) and any(isinstance(k, _MetaKeyTypes) for k in keys))):
            raise InvalidParameterError(
                "MetadataRemover: 'keys' takes string sub-keys of dict metadata; pass "
                "MetaKey/DictMetaKey objects as 'meta_keys' instead.")
        self.meta_keys = selected
        self.keys = resolve_fields(keys, owner=owner)
        self.keep = bool(keep)

    def __repr__(self) -> str:
        return (f"MetadataRemover(meta_keys={_sorted(self.meta_keys)}, keys={_sorted(self.keys)}, "
                f"keep={self.keep})")

    def _get_batch_processor(self) -> Callable[[Batch], Batch]:
        selected = self.meta_keys or frozenset()
        flat = frozenset(k for k in selected if isinstance(k, Batch.MetaKey))
        dicts = frozenset(k for k in selected if isinstance(k, Batch.DictMetaKey))
        subkeys, keep = self.keys, self.keep
        dict_rule = bool(dicts) or subkeys is not None
        nothing = not flat and not dict_rule

        def select(key: Any, value: Any) -> Any:
            """The part of one metadata entry that stays, or None."""
            if isinstance(key, Batch.MetaKey):
                return value if (key in flat) == keep else None
            if not dict_rule or (dicts and key not in dicts):  # the entry is not selected
                return None if keep else dict(value)
            if subkeys is None:
                return dict(value) if keep else None
            return {s: v for s, v in value.items() if (s in subkeys) == keep}

        def process(batch: Batch) -> Batch:
            builder = Batch.Builder(base=batch)
            for key in list(builder.metadata.keys()) if not (nothing and keep) else []:
                part = None if nothing else select(key, batch.metadata[key])
                if part is None:
                    del builder.metadata[key]
                else:
                    builder.metadata[key] = part
            return builder.make_batch()

        return process


class MetadataRenamer(EditStage):
    """Rename the string sub-keys inside dict metadata (e.g. label dimensions).

    Parameters
    ----------
    mapping : Mapping[str, str]
        ``{old: new}``; same rules as :class:`FieldRenamer`.
    meta_keys : DictMetaKey or a collection of them, optional
        Dict metadata to rename in; default every DictMetaKey.
    """

    def __init__(self, mapping: Mapping[str, str], *, meta_keys: Any = None) -> None:
        self.mapping = _check_mapping(mapping, owner="MetadataRenamer")
        keys = _resolve_meta_keys(meta_keys, owner="MetadataRenamer")
        if keys is not None and any(not isinstance(k, Batch.DictMetaKey) for k in keys):
            raise InvalidTypeError(
                "MetadataRenamer: 'meta_keys' must be Batch.DictMetaKey objects (flat MetaKey "
                "values have no sub-keys to rename).")
        self.meta_keys = keys

    def __repr__(self) -> str:
        return f"MetadataRenamer({self.mapping})"

    def _edit(self, builder: Batch.Builder, batch: Batch) -> None:
        for key in batch.metadata.keys():
            if isinstance(key, Batch.DictMetaKey) and key in (self.meta_keys or [key]):
                builder.metadata[key] = _rename(batch.metadata[key], self.mapping)


class SnapshotSaver(EditStage):
    """Save the current batch (fields and metadata) as snapshot ``save`` (replacing one).

    Parameters
    ----------
    save : str, default="snapshot"
        Snapshot name.
    fields : str or Collection[str], optional
        Fields to keep (``keep=True``) or drop in the snapshot; default all.
    keep : bool, default=True
        See ``fields``.
    """

    def __init__(self, save: str = "snapshot", fields: OneManyOrNone[str] = None,
                 keep: bool = True) -> None:
        if not isinstance(save, str) or not save:
            raise InvalidTypeError(f"SnapshotSaver: 'save' must be a non-empty str; got {save!r}.")
        self.save = save
        self.fields = resolve_fields(fields, owner="SnapshotSaver")
        self.keep = bool(keep)

    def __repr__(self) -> str:
        return f"SnapshotSaver(save={self.save!r}, fields={_sorted(self.fields)}, keep={self.keep})"

    def _edit(self, builder: Batch.Builder, batch: Batch) -> None:
        snap = Batch.Builder(base=batch)
        snap.snapshots = {}
        if self.fields is not None and self.keep:
            names = select_fields(batch.fields, self.fields, owner="SnapshotSaver")
            snap.fields = {n: batch.fields[n] for n in names}
        elif self.fields is not None:
            snap.fields = {k: v for k, v in batch.fields.items() if k not in self.fields}
        builder.snapshots[self.save] = snap.make_batch()


class SnapshotRemover(EditStage):
    """Remove snapshots: all, the named ones, or (``keep=True``) all but the named ones.

    Parameters
    ----------
    snapshots : str or Collection[str], optional
        Snapshot names; default all.
    keep : bool, default=False
        Keep the named snapshots and remove the others instead.
    """

    def __init__(self, snapshots: OneManyOrNone[str] = None, keep: bool = False) -> None:
        self.snapshots: frozenset[str] | None = resolve_fields(snapshots, owner="SnapshotRemover")
        self.keep = bool(keep)

    def __repr__(self) -> str:
        return f"SnapshotRemover(snapshots={_sorted(self.snapshots)}, keep={self.keep})"

    def _edit(self, builder: Batch.Builder, batch: Batch) -> None:
        names = self.snapshots
        builder.snapshots = {} if names is None else {
            k: v for k, v in batch.snapshots.items() if (k in names) == self.keep}
