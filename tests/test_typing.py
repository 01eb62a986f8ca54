"""deepview.typing helpers."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from deepview.exceptions import InvalidTypeError
from deepview.typing import (
    OneManyOrNone,
    OneOrMany,
    PathOrStr,
    StringLike,
    TrainTestSplitType,
    resolve_one_many_or_none,
    resolve_one_or_many,
    resolve_one_or_many_to_list,
    resolve_path_or_str,
)


def test_resolve_one_or_many() -> None:
    assert resolve_one_or_many("abc", str) == frozenset({"abc"})  # not split into chars
    assert resolve_one_or_many(["b", "a", "b"], str) == frozenset({"a", "b"})
    assert resolve_one_or_many((1, 2), int) == frozenset({1, 2})
    assert resolve_one_or_many(3, (int, float)) == frozenset({3})
    assert resolve_one_or_many([], str) == frozenset()
    with pytest.raises(InvalidTypeError, match="every item"):
        resolve_one_or_many(["a", 1], str)
    with pytest.raises(InvalidTypeError, match="collection"):
        resolve_one_or_many(3, str)
    with pytest.raises(InvalidTypeError, match="int/float"):
        resolve_one_or_many("x", (int, float))


def test_resolve_one_many_or_none_and_list() -> None:
    assert resolve_one_many_or_none(None, str) is None
    assert resolve_one_many_or_none("a", str) == frozenset({"a"})
    assert resolve_one_or_many_to_list(["c", "a", "c"], str) == ["c", "a", "c"]
    assert resolve_one_or_many_to_list("a", str) == ["a"]


def test_resolve_path_or_str(tmp_path: pathlib.Path) -> None:
    assert resolve_path_or_str(tmp_path) is tmp_path
    assert resolve_path_or_str(str(tmp_path)) == tmp_path
    with pytest.raises(InvalidTypeError, match="path"):
        resolve_path_or_str(3)  # type: ignore[arg-type]


def test_aliases_are_usable_in_annotations() -> None:
    def f(a: OneOrMany[int], b: OneManyOrNone[str], p: PathOrStr, s: StringLike,
          split: TrainTestSplitType) -> None: ...

    assert f.__annotations__["split"] == "TrainTestSplitType"
    assert StringLike.__args__ == (str, np.str_)  # type: ignore[attr-defined]
