"""Partial states: statistics computed per block of rows and merged exactly.

A *partial state* summarises some rows of a data set so that the summaries of separate
blocks, e.g. blocks processed by different workers of a cluster, combine into the summary of
all the rows without seeing them again.  Every partial state of deepview follows the same
three-step protocol, :class:`PartialState`:

``update(data)``
    Add rows (a :class:`~deepview.base.Batch`, or an array for the low-level accumulators).
``merge(other)``
    Add the rows summarised by ``other``, a state of the same kind built with the same
    parameters, *after* this state's rows, and return ``self``.  Merging is exact (up to
    float64 rounding) and associative; states whose result depends on row order (per-sample
    counts and scores) must be merged in row order.
``finish()``
    The result, the same as the single-process introspector gives for the same rows.

States pickle compactly (no row buffers), so they can be computed on workers and sent to a
driver.  The bundled states:

- ``deepview._compute.covariance.CovarianceAccumulator``: mean and covariance of an
  ``(N, D)`` array (what PCA and PFA accumulate); ``finish()`` gives ``(n, mean, cov)``.
- :mod:`deepview.introspectors.states`: ``PCAState`` (a fitted
  :class:`~deepview.introspectors.DimensionReduction` with PCA), ``PFAState`` (a
  :class:`~deepview.introspectors.PFA`), ``IUAState`` (an
  :class:`~deepview.introspectors.IUA`) and ``FamiliarityScores`` (the scores of a fitted
  :class:`~deepview.introspectors.Familiarity`, per field).

:func:`deepview.integrations.ray.reduce_dataset` computes one state per block of a Ray
Dataset on the cluster and merges them on the driver with :func:`merge_states`.

Examples
--------
>>> import numpy as np
>>> from deepview._compute.covariance import CovarianceAccumulator
>>> x = np.random.default_rng(0).normal(size=(90, 3))
>>> states = []
>>> for block in np.array_split(x, 3):
...     state = CovarianceAccumulator()
...     state.update(block)
...     states.append(state)
>>> n, mean, cov = merge_states(states).finish()
>>> n, bool(np.allclose(cov, np.cov(x.T)))
(90, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from deepview.exceptions import InvalidDataError, InvalidTypeError

__all__ = ["PartialState", "batch_fields", "merge_states"]

S = TypeVar("S", bound="PartialState")


@runtime_checkable
class PartialState(Protocol):
    """The update / merge / finish protocol of a statistic that merges exactly (see the
    module documentation)."""

    def update(self, data: Any) -> None:
        """Add rows."""
        ...

    def merge(self, other: Any) -> Any:
        """Add the rows of ``other`` (same kind, same parameters) after this state's rows;
        return ``self``."""
        ...

    def finish(self) -> Any:
        """The result for every row added or merged so far."""
        ...


def merge_states(states: Iterable[S]) -> S:
    """Merge partial states in the given order (the first one receives the others).

    Parameters
    ----------
    states : Iterable[PartialState]
        At least one state, in row order.  Read lazily: a stream of states is merged
        one at a time, so only two are held at once.

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
    """The fields of ``batch`` for a partial state's ``update``: ``None`` for an empty batch;
    a clear error for anything but a deepview Batch, and for fields that differ from the
    ``seen`` ones of earlier batches (when there were any)."""
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
