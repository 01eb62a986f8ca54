"""FieldRemover, FieldRenamer, MetadataRemover, MetadataRenamer, SnapshotSaver/Remover."""

from __future__ import annotations

import numpy as np
import pytest

from deepview.base import Batch
from deepview.exceptions import InvalidParameterError, InvalidTypeError, MissingFieldError
from deepview.processors import (
    FieldRemover,
    FieldRenamer,
    Flattener,
    MetadataRemover,
    MetadataRenamer,
    SnapshotRemover,
    SnapshotSaver,
)

ID = Batch.StdKeys.IDENTIFIER
LABELS = Batch.StdKeys.LABELS
FLAT = Batch.MetaKey("flat")
OTHER = Batch.DictMetaKey("other")


def batch() -> Batch:
    builder = Batch.Builder({"a": np.zeros((2, 2, 2)), "b": np.ones(2), "c": np.full(2, 2.0)})
    builder.metadata[ID] = [0, 1]
    builder.metadata[FLAT] = ["x", "y"]
    builder.metadata[LABELS] = {"color": ["r", "g"], "size": [1, 2]}
    builder.metadata[OTHER] = {"color": [5, 6], "shape": ["o", "x"]}
    builder.snapshots["s1"] = Batch({"a": np.zeros(2)})
    builder.snapshots["s2"] = Batch({"a": np.ones(2)})
    return builder.make_batch()


def apply(stage, b: Batch | None = None) -> Batch:
    return stage._get_batch_processor()(b or batch())


def test_field_remover() -> None:
    assert list(apply(FieldRemover(fields=["a", "missing"])).fields) == ["b", "c"]
    assert list(apply(FieldRemover(fields="a", keep=True)).fields) == ["a"]
    with pytest.raises(InvalidParameterError, match="at least one"):
        FieldRemover(fields=[])
    assert "keep=True" in repr(FieldRemover(fields="a", keep=True))


def test_field_renamer_swaps_and_drops_shadowed() -> None:
    original = batch()
    out = apply(FieldRenamer({"a": "b", "b": "a"}), original)
    assert out.fields["a"].shape == (2,) and out.fields["b"].shape == (2, 2, 2)
    out = apply(FieldRenamer({"b": "c", "zzz": "q"}))
    assert sorted(out.fields) == ["a", "c"] and out.fields["c"].tolist() == [1.0, 1.0]
    assert out.metadata[ID] == [0, 1]
    with pytest.raises(InvalidTypeError, match="mapping"):
        FieldRenamer(["a"])  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="str to str"):
        FieldRenamer({"a": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidParameterError, match="same target"):
        FieldRenamer({"a": "x", "b": "x"})
    assert "FieldRenamer" in repr(FieldRenamer({"a": "b"}))


def keys(b: Batch) -> set[str]:
    return {k.name for k in b.metadata.keys()}


def test_metadata_remover_nothing_selected() -> None:
    assert not apply(MetadataRemover()).metadata
    assert apply(MetadataRemover(keep=True)) == batch()


def test_metadata_remover_flat_keys() -> None:
    out = apply(MetadataRemover(meta_keys=FLAT))
    assert keys(out) == {ID.name, LABELS.name, OTHER.name}
    out = apply(MetadataRemover(meta_keys=[FLAT], keep=True))
    assert keys(out) == {FLAT.name}


def test_metadata_remover_dict_keys_and_subkeys() -> None:
    out = apply(MetadataRemover(meta_keys=LABELS))
    assert keys(out) == {ID.name, FLAT.name, OTHER.name}
    out = apply(MetadataRemover(keys="color"))
    assert dict(out.metadata[LABELS]) == {"size": [1, 2]}
    assert dict(out.metadata[OTHER]) == {"shape": ["o", "x"]}
    out = apply(MetadataRemover(meta_keys=OTHER, keys="color"))
    assert set(out.metadata[LABELS]) == {"color", "size"}
    assert set(out.metadata[OTHER]) == {"shape"}
    out = apply(MetadataRemover(keys="color", keep=True))
    assert keys(out) == {LABELS.name, OTHER.name}
    assert set(out.metadata[LABELS]) == {"color"} and set(out.metadata[OTHER]) == {"color"}
    out = apply(MetadataRemover(meta_keys=LABELS, keep=True))
    assert keys(out) == {LABELS.name} and set(out.metadata[LABELS]) == {"color", "size"}


def test_metadata_remover_mixed() -> None:
    out = apply(MetadataRemover(meta_keys=[FLAT, LABELS]))
    assert keys(out) == {ID.name, OTHER.name}
    out = apply(MetadataRemover(meta_keys=[FLAT, LABELS], keep=True))
    assert keys(out) == {FLAT.name, LABELS.name}


def test_metadata_remover_errors() -> None:
    with pytest.raises(InvalidParameterError, match="'keys' takes string"):
        MetadataRemover(keys=[FLAT])  # type: ignore[list-item]
    with pytest.raises(InvalidParameterError, match="'keys' takes string"):
        MetadataRemover(keys=FLAT)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="meta_keys"):
        MetadataRemover(meta_keys="flat")
    assert "keep=False" in repr(MetadataRemover(meta_keys=FLAT))


def test_metadata_renamer() -> None:
    out = apply(MetadataRenamer({"color": "colour"}))
    assert set(out.metadata[LABELS]) == {"colour", "size"}
    assert set(out.metadata[OTHER]) == {"colour", "shape"}
    out = apply(MetadataRenamer({"color": "size", "size": "color"}, meta_keys=LABELS))
    assert out.metadata[LABELS]["color"] == [1, 2] and out.metadata[LABELS]["size"] == ["r", "g"]
    assert out.metadata[OTHER]["color"] == [5, 6]
    out = apply(MetadataRenamer({"color": "shape"}, meta_keys=[OTHER]))
    assert dict(out.metadata[OTHER]) == {"shape": [5, 6]}
    with pytest.raises(InvalidTypeError, match="DictMetaKey"):
        MetadataRenamer({"a": "b"}, meta_keys=FLAT)
    assert "MetadataRenamer" in repr(MetadataRenamer({"a": "b"}))


def test_snapshot_saver() -> None:
    out = apply(SnapshotSaver())
    snap = out.snapshots["snapshot"]
    assert sorted(snap.fields) == ["a", "b", "c"] and snap.metadata[ID] == [0, 1]
    assert snap.snapshots == {}  # nested snapshots dropped
    assert set(out.snapshots) == {"s1", "s2", "snapshot"}
    assert list(apply(SnapshotSaver("k", fields="a")).snapshots["k"].fields) == ["a"]
    dropped = apply(SnapshotSaver("d", fields=["a"], keep=False)).snapshots["d"]
    assert sorted(dropped.fields) == ["b", "c"]
    with pytest.raises(MissingFieldError, match="'z'"):
        apply(SnapshotSaver(fields="z"))
    with pytest.raises(InvalidTypeError, match="'save'"):
        SnapshotSaver(save="")
    after = Flattener()._get_batch_processor()(apply(SnapshotSaver("pre")))
    assert after.snapshots["pre"].fields["a"].shape == (2, 2, 2)
    assert after.fields["a"].shape == (2, 4)
    assert "save='x'" in repr(SnapshotSaver("x"))


def test_snapshot_remover() -> None:
    assert apply(SnapshotRemover()).snapshots == {}
    assert set(apply(SnapshotRemover("s1")).snapshots) == {"s2"}
    assert set(apply(SnapshotRemover(["s1", "zz"], keep=True)).snapshots) == {"s1"}
    assert "keep=True" in repr(SnapshotRemover("s1", keep=True))
