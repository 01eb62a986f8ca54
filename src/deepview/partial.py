"""Partial states: statistics computed per block of rows and merged exactly (the protocol
:class:`PartialState` and :func:`merge_states`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from deepview.exceptions import InvalidDataError, InvalidTypeError

__all__ = ["PartialState", "batch_fields", "merge_states"]

S = TypeVar("S", bound="PartialState")


@runtime_checkable
class PartialState(Protocol):
    """The update / merge / finish protocol of a statistic that merges exactly."""

    def update(self, data: Any) -> None:
        """Add rows."""
        ...

    def merge(self, other: Any) -> Any:
        """Add the rows of ``other`` (same kind and parameters) after this state's; return it."""
        ...

    def finish(self) -> Any:
        """The result for every row added or merged so far."""
        ...


def merge_states(states: Iterable[S]) -> S:
    """Merge partial states in the given order (the first one receives the others).

    Parameters
    ----------
    states : Iterable[PartialState]
        At least one state, in row order; read lazily (two held at once).

    Returns
    -------
    PartialState
        The first state, now holding the rows of all of them.

    Raises
    ------
    InvalidDataError
        ``states`` is empty.
    InvalidTypeError
        An item does not implement :class:`PartialState`.
    """
    merged: S | None = None
    for state in states:
        if not isinstance(state, PartialState):
            raise InvalidTypeError(
                "merge_states: every item must be a partial state with update(), merge() and "
                f"finish(); got {type(state).__name__}.")
        merged = state if merged is None else merged.merge(state)
    if merged is None:
        raise InvalidDataError("merge_states: no states to merge; give at least one.")
    return merged


def batch_fields(batch: Any, seen: Iterable[str], owner: str) -> Mapping[str, Any] | None:
    """The fields of ``batch`` for a state's ``update`` (None if empty), checked to be those
    ``seen`` in earlier batches."""
    fields = getattr(batch, "fields", None)
    if not isinstance(fields, Mapping):
        raise InvalidTypeError(
            f"{owner}.update: expected a deepview Batch; got {type(batch).__name__}.")
    if getattr(batch, "batch_size", 1) == 0:
        return None
    known = sorted(seen)
    if known and sorted(fields) != known:
        raise InvalidDataError(
            f"{owner}.update: a batch has fields {sorted(fields)} but earlier ones had "
            f"{known}; every batch needs the same fields.")
    return fields
