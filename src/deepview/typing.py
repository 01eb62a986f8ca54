"""Type aliases used across the deepview API, and helpers that normalise them."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Collection
from typing import AbstractSet, Any, TypeVar, Union

import numpy as np

from deepview.exceptions import InvalidTypeError

__all__ = ["OneManyOrNone", "OneOrMany", "PathOrStr", "StringLike", "TrainTestSplitType",
           "resolve_one_many_or_none", "resolve_one_or_many", "resolve_one_or_many_to_list",
           "resolve_path_or_str"]

_T = TypeVar("_T")

#: A single value or a collection of them.
OneOrMany = Union[_T, Collection[_T]]
#: A single value, a collection of them, or ``None``.
OneManyOrNone = Union[None, _T, Collection[_T]]
#: A filesystem path given as ``str`` or ``os.PathLike`` (e.g. :class:`pathlib.Path`).
PathOrStr = Union[str, "os.PathLike[str]"]
#: Anything that behaves as a string (``str`` or ``numpy.str_``).
StringLike = Union[str, np.str_]
#: The usual ``((x_train, y_train), (x_test, y_test))`` split.
TrainTestSplitType = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _as_collection(x: Any, cls: type[Any] | tuple[type[Any], ...]) -> Collection[Any]:
    if isinstance(x, cls):
        return (x,)
    names = cls.__name__ if isinstance(cls, type) else "/".join(c.__name__ for c in cls)
    if isinstance(x, (str, bytes)) or not isinstance(x, Collection):
        raise InvalidTypeError(
            f"expected a {names} or a collection of them; got {x!r} of type {type(x).__name__}.")
    bad = [v for v in x if not isinstance(v, cls)]
    if bad:
        raise InvalidTypeError(
            f"expected every item to be a {names}; got {bad[0]!r} of type {type(bad[0]).__name__}.")
    return x


def resolve_one_or_many(x: OneOrMany[_T], cls: type[_T] | tuple[type[Any], ...]
                        ) -> AbstractSet[_T]:
    """Normalise a single value or a collection of ``cls`` to a frozenset.

    Raises
    ------
    InvalidTypeError
        If ``x`` is neither a ``cls`` nor a collection of ``cls`` (a str is not one).
    """
    return frozenset(_as_collection(x, cls))


def resolve_one_many_or_none(x: OneManyOrNone[_T], cls: type[_T] | tuple[type[Any], ...]
                             ) -> AbstractSet[_T] | None:
    """Like :func:`resolve_one_or_many`, but ``None`` stays ``None``."""
    if x is None:
        return None
    return resolve_one_or_many(x, cls)


def resolve_one_or_many_to_list(x: OneOrMany[_T], cls: type[_T] | tuple[type[Any], ...]
                                ) -> list[_T]:
    """Normalise a single value or a collection of ``cls`` to a list, keeping order."""
    return list(_as_collection(x, cls))


def resolve_path_or_str(x: PathOrStr) -> pathlib.Path:
    """Return ``x`` as a :class:`pathlib.Path` (``InvalidTypeError`` if not path-like)."""
    if isinstance(x, pathlib.Path):
        return x
    if isinstance(x, (str, os.PathLike)):
        return pathlib.Path(x)
    raise InvalidTypeError(
        f"expected a path as str or pathlib.Path; got {x!r} of type {type(x).__name__}.")
