"""Batch, Builder, metadata, elements and concatenate_batches."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from deepview.base import Batch, concatenate_batches
from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)

ID = Batch.StdKeys.IDENTIFIER
LABELS = Batch.StdKeys.LABELS


def make(n: int = 4) -> Batch:
    builder = Batch.Builder({"x": np.arange(n * 2.0).reshape(n, 2), "y": np.arange(n)})
    builder.metadata[ID] = [f"id{i}" for i in range(n)]
    builder.metadata[LABELS] = {"color": ["r", "g"] * (n // 2), "size": list(range(n))}
    builder.snapshots["orig"] = Batch({"raw": np.arange(n * 3).reshape(n, 3)})
    return builder.make_batch()


def test_fields_are_read_only_views_and_caller_array_stays_writable() -> None:
    x = np.zeros((3, 2))
    batch = Batch({"x": x})
    assert batch.batch_size == len(batch) == 3
    with pytest.raises(ValueError):
        batch.fields["x"][0, 0] = 1
    x[0, 0] = 5  # the caller's array is not frozen
    assert batch.fields["x"][0, 0] == 5


@pytest.mark.parametrize(
    ("fields", "error", "text"),
    [
        ({}, InvalidParameterError, "non-empty"),
        (None, InvalidParameterError, "non-empty"),
        (np.zeros(3), InvalidTypeError, "mapping"),
        ({"x": [1, 2]}, InvalidTypeError, "'x' must be a numpy array"),
        ({"x": np.array(1.0)}, InvalidDataError, "0-d"),
        ({"x": np.zeros(3), "y": np.zeros(4)}, DeepViewException, "same length"),
        ({1: np.zeros(3)}, InvalidTypeError, "field names must be str"),
    ],
)
def test_bad_construction(fields: object, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        Batch(fields)  # type: ignore[arg-type]


def test_batch_positional_batch_is_rejected() -> None:
    batch = make()
    with pytest.raises(ValueError, match="Builder"):
        Batch(batch)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="base=batch"):
        Batch.Builder(batch)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        Batch.Builder({"x": np.zeros(2)}, base=batch)


def test_metadata_access_and_keys() -> None:
    batch = make()
    assert batch.metadata[ID] == ["id0", "id1", "id2", "id3"]
    assert batch.metadata[LABELS]["color"] == ["r", "g", "r", "g"]
    assert ID in batch.metadata and bool(batch.metadata) and len(batch.metadata) == 2
    assert set(batch.metadata.keys()) == {ID, LABELS}
    with pytest.raises(KeyError):
        batch.metadata[Batch.MetaKey("missing")]
    with pytest.raises(InvalidTypeError):
        batch.metadata["not a key"]
    with pytest.raises(TypeError):
        batch.metadata[LABELS]["color"] = []  # type: ignore[index]
    assert Batch.MetaKey("a") == Batch.MetaKey("a") != Batch.DictMetaKey("a")
    assert not Batch({"x": np.zeros(1)}).metadata


def test_std_keys_cannot_be_instantiated() -> None:
    with pytest.raises(DeepViewException):
        Batch.StdKeys()


def test_metadata_length_mismatch() -> None:
    builder = Batch.Builder({"x": np.zeros(3)})
    builder.metadata[ID] = [1, 2]
    with pytest.raises(DeepViewException, match="2 values but the batch has 3"):
        builder.make_batch()
    builder = Batch.Builder({"x": np.zeros(3)})
    builder.metadata[LABELS] = {"a": [1]}
    with pytest.raises(DeepViewException, match=r"\['a'\]"):
        builder.make_batch()


def test_builder_metadata_validation_and_defaults() -> None:
    builder = Batch.Builder({"x": np.zeros(2)})
    with pytest.raises(InvalidTypeError, match="one value per element"):
        builder.metadata[ID] = "ab"
    with pytest.raises(InvalidTypeError, match="mapping"):
        builder.metadata[LABELS] = [1, 2]
    builder.metadata[ID].append(7)  # auto-created list
    builder.metadata[ID].append(8)
    builder.metadata[LABELS]  # auto-created, empty: dropped by make_batch
    batch = builder.make_batch()
    assert batch.metadata[ID] == [7, 8]
    assert LABELS not in batch.metadata
    del builder.metadata[ID]
    assert ID not in builder.metadata
    with pytest.raises(DeepViewException, match="at least one field"):
        Batch.Builder().make_batch()


def test_builder_copies_and_strips_nested_snapshots() -> None:
    batch = make()
    builder = Batch.Builder(base=batch)
    builder.metadata[ID][0] = "changed"
    builder.fields["z"] = np.ones(4)
    builder.snapshots["nested"] = batch  # has its own snapshot: stripped
    new = builder.make_batch()
    assert batch.metadata[ID][0] == "id0"
    assert "z" not in batch.fields and "z" in new.fields
    assert new.snapshots["nested"].snapshots == {}
    with pytest.raises(DeepViewException, match="may not have snapshots"):
        Batch._from_parts({"x": np.zeros(4)}, {}, {"s": batch})


def test_snapshot_size_checked() -> None:
    builder = Batch.Builder({"x": np.zeros(3)})
    builder.snapshots["s"] = Batch({"x": np.zeros(2)})
    with pytest.raises(DeepViewException, match="snapshot 's' has 2"):
        builder.make_batch()


def test_metadata_only_batch() -> None:
    builder = Batch.Builder()
    builder.metadata[ID] = [1, 2, 3]
    batch = builder.make_batch()
    assert batch.batch_size == 3 and dict(batch.fields) == {}
    assert batch.elements[[2]].metadata[ID] == [3]
    assert batch.elements[[]].batch_size == 0


def test_equality_and_pickle_round_trip() -> None:
    a, b = make(), make()
    assert a == b
    assert a != Batch({"x": np.zeros(4)})
    assert (a == 3) is False
    assert pickle.loads(pickle.dumps(a)) == a
    builder = Batch.Builder(base=a)
    builder.metadata[LABELS] = {"color": ["r"] * 4, "size": list(range(4))}
    assert builder.make_batch() != a
    with pytest.raises(TypeError):
        hash(a)
    assert "batch_size=4" in repr(a)


def test_fields_compare_by_names_and_array_values() -> None:
    a, b = make(), make()
    assert a.fields is not b.fields
    assert a.fields == b.fields  # a bool, not numpy's ambiguous truth value
    assert not (a.fields != b.fields)
    other = Batch({"x": np.ones((4, 2)), "y": np.arange(4)})
    assert a.fields != other.fields
    assert a.fields != Batch({"x": np.arange(8.0).reshape(4, 2)}).fields  # a field fewer
    # a plain dict of equal arrays compares equal too, in either order
    plain = {"x": np.arange(8.0).reshape(4, 2), "y": np.arange(4)}
    assert a.fields == plain and plain == a.fields
    assert a.fields != {"x": 1, "y": 2}
    assert (a.fields == 3) is False
    assert a.snapshots != a.fields
    with pytest.raises(TypeError):
        hash(a.fields)
    assert list(a.fields) == ["x", "y"] and len(a.fields) == 2 and "x" in a.fields


def test_fields_with_nan_are_not_equal_to_themselves_like_array_equal() -> None:
    batch = Batch({"x": np.array([np.nan, 1.0])})
    assert batch.fields != Batch({"x": np.array([np.nan, 1.0])}).fields


def test_elements_compare_by_index_fields_metadata_and_snapshots() -> None:
    a, b = make(), make()
    for i, element in enumerate(a.elements):
        assert element == a.elements[i] == b.elements[i]
        assert element.fields == b.elements[i].fields
        assert element.metadata == b.elements[i].metadata
    assert a.elements[0] != a.elements[1]
    # same values at another index: a different element
    twice = Batch({"x": np.zeros((2, 3))})
    assert twice.elements[0] != twice.elements[1]
    # the snapshot's element has the same index but other fields
    assert a.elements[0] != a.elements[0].snapshots["orig"]
    # one differing metadata value, or snapshot value, makes elements differ
    relabelled = a.with_metadata(ID, ["id0", "other", "id2", "id3"])
    assert relabelled.elements[0] == a.elements[0]
    assert relabelled.elements[1] != a.elements[1]
    builder = Batch.Builder(base=a)
    builder.snapshots["orig"] = Batch({"raw": np.zeros((4, 3), dtype=int)})
    assert builder.make_batch().elements[2] != a.elements[2]
    assert (a.elements[0] == "id0") is False
    with pytest.raises(TypeError):
        hash(a.elements[0])


def test_element_metadata_with_array_values_compares_as_a_bool() -> None:
    key = Batch.DictMetaKey[np.ndarray]("boxes")
    builder = Batch.Builder({"x": np.zeros(2)})
    builder.metadata[key] = {"img": [np.ones(4), np.zeros(4)]}
    batch = builder.make_batch()
    assert batch.elements[0].metadata == batch.elements[0].metadata
    builder.metadata[key] = {"img": [np.ones(4), np.ones(4)]}
    assert builder.make_batch().elements[1].metadata != batch.elements[1].metadata


def test_metadata_types_are_constructible_on_their_own() -> None:
    flat = Batch.MetaKey[int]("flat")
    nested = Batch.DictMetaKey[str]("nested")
    empty = Batch.MetadataType()
    assert not empty and len(empty) == 0 and list(empty.keys()) == []
    with pytest.raises(KeyError):
        empty[flat]
    assert not Batch.MetadataType.ElementType(empty._storage, 0)

    mutable = Batch.Builder.MutableMetadataType()
    assert not mutable
    mutable[flat] = (3, 1, 2)  # any sequence is copied into a list
    mutable[flat][0] = 4
    mutable[nested]["a"] = ["p", "q", "r"]  # reading a missing key creates it
    mutable[Batch.DictMetaKey[int]("unused")] = {}
    assert mutable and mutable[flat] == [4, 1, 2] and mutable[nested] == {"a": ["p", "q", "r"]}

    frozen = Batch.MetadataType(mutable)
    assert frozen.keys() == {flat, nested}  # the empty dict entry is dropped
    assert frozen[flat] == [4, 1, 2] and frozen[nested]["a"] == ["p", "q", "r"]
    mutable[flat][1] = 9  # a copy: later changes to the builder do not show
    assert frozen[flat] == [4, 1, 2]
    with pytest.raises(InvalidTypeError):
        frozen[flat].append(5)
    element = Batch.MetadataType.ElementType(frozen._storage, 2)
    assert element[flat] == 2 and element[nested] == {"a": "r"}
    assert Batch.MetadataType({flat: [4, 1, 2], nested: {"a": ["p", "q", "r"]}}) == frozen
    assert Batch.MetadataType({flat: [1, 2]}) != frozen
    with pytest.raises(InvalidTypeError):
        Batch.MetadataType([1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError):
        Batch.MetadataType({"flat": [1, 2]})


def test_builder_metadata_matches_the_standalone_type() -> None:
    builder = Batch.Builder({"x": np.zeros(2)})
    assert isinstance(builder.metadata, Batch.Builder.MutableMetadataType)
    assert isinstance(make().metadata, Batch.MetadataType)


def test_elements_int_negative_and_out_of_range() -> None:
    batch = make()
    element = batch.elements[1]
    assert element.fields["x"].tolist() == [2.0, 3.0]
    assert element.metadata[ID] == "id1"
    assert element.metadata[LABELS] == {"color": "g", "size": 1}
    assert ID in element.metadata and bool(element.metadata)
    assert element.snapshots["orig"].fields["raw"].tolist() == [3, 4, 5]
    assert batch.elements[-4].metadata[ID] == "id0"
    with pytest.raises(IndexError):
        batch.elements[4]
    with pytest.raises(IndexError):
        batch.elements[-5]
    assert [e.metadata[ID] for e in batch.elements] == batch.metadata[ID]
    assert len(batch.elements) == 4


def test_elements_subsets() -> None:
    batch = make()
    sub = batch.elements[[3, 0, 3]]
    assert sub.metadata[ID] == ["id3", "id0", "id3"]
    assert sub.fields["y"].tolist() == [3, 0, 3]
    assert sub.snapshots["orig"].fields["raw"][:, 0].tolist() == [9, 0, 9]
    assert batch.elements[1:3].metadata[LABELS]["size"] == [1, 2]
    assert batch.elements[::-2].metadata[ID] == ["id3", "id1"]
    assert batch.elements[[-4]].metadata[ID] == ["id0"]
    mask = np.array([True, False, False, True])
    assert batch.elements[mask].metadata[ID] == ["id0", "id3"]
    assert batch.elements[[]].batch_size == 0
    with pytest.raises(IndexError):
        batch.elements[[4]]
    with pytest.raises(IndexError):
        batch.elements[np.array([True])]
    with pytest.raises(IndexError):
        batch.elements[[0.5]]


def test_concatenate_batches() -> None:
    a, b = make(2), make(4)
    merged = concatenate_batches([a, b])
    assert merged.batch_size == 6
    assert merged.metadata[ID] == ["id0", "id1", "id0", "id1", "id2", "id3"]
    assert merged.metadata[LABELS]["size"] == [0, 1, 0, 1, 2, 3]
    assert merged.snapshots["orig"].batch_size == 6
    assert concatenate_batches([a]) is a
    with pytest.raises(InvalidDataError, match="did not produce any batches"):
        concatenate_batches([])
    with pytest.raises(ValueError, match="different fields"):
        concatenate_batches([a, Batch({"x": np.zeros((1, 2))})])
    no_meta = Batch.Builder(base=a)
    del no_meta.metadata[ID]
    with pytest.raises(ValueError, match="metadata keys"):
        concatenate_batches([a, no_meta.make_batch()])
    no_snap = Batch.Builder(base=a)
    no_snap.snapshots = {}
    with pytest.raises(ValueError, match="snapshots"):
        concatenate_batches([a, no_snap.make_batch()])
    other_labels = Batch.Builder(base=a)
    other_labels.metadata[LABELS] = {"color": ["x", "y"]}
    with pytest.raises(ValueError, match="different entries"):
        concatenate_batches([a, other_labels.make_batch()])


# ---------------------------------------------------------------- read-only metadata (issue 9)
def test_metadata_sequences_cannot_be_changed_in_place() -> None:
    batch = make()
    ids = batch.metadata[ID]
    colors = batch.metadata[LABELS]["color"]
    for seq in (ids, colors):
        with pytest.raises(InvalidTypeError, match="read-only"):
            seq.append("x")
        with pytest.raises(TypeError):
            seq.extend(["x"])
        with pytest.raises(TypeError):
            seq[0] = "x"
        with pytest.raises(TypeError):
            del seq[0]
        with pytest.raises(TypeError):
            seq.sort()
        with pytest.raises(TypeError):
            seq += ["x"]
    assert batch.metadata[ID] == ["id0", "id1", "id2", "id3"]
    assert batch.metadata[LABELS]["color"] == ["r", "g", "r", "g"]
    # the same holds for subsets, concatenations and one element's dict entries
    sub = batch.elements[[0, 1]]
    with pytest.raises(TypeError):
        sub.metadata[ID].append("x")
    with pytest.raises(TypeError):
        concatenate_batches([sub, sub]).metadata[ID].append("x")
    with pytest.raises(TypeError):
        batch.elements[1:].metadata[LABELS]["size"].pop()


def test_read_only_metadata_still_reads_like_a_list() -> None:
    batch = make()
    ids = batch.metadata[ID]
    assert isinstance(ids, list) and ids == ["id0", "id1", "id2", "id3"]
    assert repr(ids) == "['id0', 'id1', 'id2', 'id3']"
    assert ids + ["x"] == ["id0", "id1", "id2", "id3", "x"]
    assert list(ids) == ids and ids[1:3] == ["id1", "id2"]
    copy_ = list(ids)
    copy_.append("x")  # a plain copy is the caller's own list
    assert len(batch.metadata[ID]) == 4


def test_builder_from_a_batch_gives_mutable_lists_and_leaves_the_batch_alone() -> None:
    batch = make()
    builder = Batch.Builder(base=batch)
    builder.metadata[ID].append("id4")
    builder.metadata[LABELS]["color"].append("b")
    assert batch.metadata[ID] == ["id0", "id1", "id2", "id3"]
    assert batch.metadata[LABELS]["color"] == ["r", "g", "r", "g"]


def test_read_only_metadata_survives_pickle() -> None:
    import copy

    batch = make()
    for clone in (pickle.loads(pickle.dumps(batch)), copy.deepcopy(batch)):
        assert clone == batch
        with pytest.raises(TypeError):
            clone.metadata[ID].append("x")


@pytest.mark.parametrize(
    ("key", "values", "where"),
    [(ID, [1, 2], "'deepview.base.Batch.StdKeys.identifier'"), (LABELS, {"a": [1]}, r"\['a'\]")],
)
def test_metadata_length_mismatch_is_invalid_data(key, values, where) -> None:
    builder = Batch.Builder({"x": np.zeros(3)})
    builder.metadata[key] = values
    with pytest.raises(InvalidDataError, match=f"{where} has .* values but the batch has 3"):
        builder.make_batch()
    with pytest.raises(InvalidDataError, match="one value per element"):
        Batch({"x": np.zeros(3)}).with_metadata(key, values)


def test_structural_mismatches_are_invalid_data() -> None:
    with pytest.raises(InvalidDataError, match="same length"):
        Batch({"x": np.zeros(3), "y": np.zeros(4)})
    builder = Batch.Builder({"x": np.zeros(3)})
    builder.snapshots["s"] = Batch({"x": np.zeros(2)})
    with pytest.raises(InvalidDataError, match="snapshot 's' has 2"):
        builder.make_batch()
    with pytest.raises(InvalidDataError, match="at least one field"):
        Batch.Builder().make_batch()


# ---------------------------------------------------------------- Batch.with_metadata
def test_with_metadata_returns_a_new_batch_sharing_fields() -> None:
    batch = make()
    note = Batch.MetaKey("note")
    values = ["a", "b", "c", "d"]
    new = batch.with_metadata(note, values)
    assert note not in batch.metadata
    assert new.metadata[note] == values
    values.append("e")  # the caller's list is copied
    assert new.metadata[note] == ["a", "b", "c", "d"]
    assert new.metadata[ID] == batch.metadata[ID]
    assert new.fields["x"] is not None and np.shares_memory(new.fields["x"], batch.fields["x"])
    assert new.snapshots["orig"] is batch.snapshots["orig"]
    with pytest.raises(TypeError):
        new.metadata[note].append("x")


def test_with_metadata_replaces_an_entry_and_takes_dict_keys() -> None:
    batch = make()
    new = batch.with_metadata(LABELS, {"shape": ("o", "x", "o", "x")})
    assert dict(new.metadata[LABELS]) == {"shape": ["o", "x", "o", "x"]}
    assert set(batch.metadata[LABELS]) == {"color", "size"}
    assert new.with_metadata(ID, range(4)).metadata[ID] == [0, 1, 2, 3]


def test_with_metadata_keeps_a_read_only_sequence_without_copying() -> None:
    from deepview.introspectors._familiarity import FamiliarityResults

    results = FamiliarityResults(np.arange(4.0), np.linspace(0, 1, 4))
    key = Batch.DictMetaKey("familiarity")
    new = make().with_metadata(key, {"x": results})
    assert new.metadata[key]["x"] is results


def test_with_metadata_bad_input() -> None:
    batch = make()
    with pytest.raises(InvalidTypeError, match="Batch.MetaKey or Batch.DictMetaKey"):
        batch.with_metadata("note", [1, 2, 3, 4])  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="mapping"):
        batch.with_metadata(LABELS, [1, 2, 3, 4])
    with pytest.raises(InvalidTypeError, match="one value per element"):
        batch.with_metadata(ID, "abcd")
    with pytest.raises(InvalidDataError, match="4 elements"):
        batch.with_metadata(ID, [1, 2, 3])
