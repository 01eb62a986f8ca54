"""The :class:`Processor` base stage and shared field-selection helpers."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from deepview.base import Batch, PipelineStage
from deepview.exceptions import InvalidDataError, InvalidTypeError, MissingFieldError
from deepview.typing import OneManyOrNone, resolve_one_many_or_none

__all__ = ["EditStage", "Processor", "resolve_fields", "select_fields"]


def resolve_fields(fields: OneManyOrNone[str], *, owner: str) -> frozenset[str] | None:
    """Normalise a ``fields`` argument: ``None`` or empty means every field."""
    try:
        resolved = resolve_one_many_or_none(fields, str)
    except InvalidTypeError as exc:
        raise InvalidTypeError(
            f"{owner}: 'fields' must be a field name or a collection of names; {exc}") from None
    return frozenset(resolved) if resolved else None


def select_fields(fields: Mapping[str, Any], selected: Collection[str] | None, *,
                  owner: str) -> list[str]:
    """Names of the selected fields in batch order (:class:`MissingFieldError` if absent)."""
    if selected is None:
        return list(fields)
    missing = [name for name in selected if name not in fields]
    if missing:
        raise MissingFieldError(
            f"{owner}: field(s) {sorted(missing)} not in the batch; available fields: "
            f"{sorted(fields)}. Check the names passed as 'fields' (or rename fields with "
            "FieldRenamer earlier in the pipeline).")
    return [name for name in fields if name in selected]


class EditStage(PipelineStage):
    """A stage that changes a copy of each batch in :meth:`_edit`."""

    def _edit(self, builder: Batch.Builder, batch: Batch) -> None:
        raise NotImplementedError

    def _get_batch_processor(self) -> Callable[[Batch], Batch]:
        def process(batch: Batch) -> Batch:
            builder = Batch.Builder(base=batch)
            self._edit(builder, batch)
            return builder.make_batch()

        return process


class Processor(EditStage):
    """Replace each selected field ``x`` of every batch with ``func(x)`` (base of most stages).

    Parameters
    ----------
    func : Callable[[numpy.ndarray], numpy.ndarray]
        Maps a field's array to one with the same length along dimension 0.
    fields : str or Collection[str], optional
        Fields to transform (a missing one raises ``MissingFieldError``); default all.
    """

    def __init__(self, func: Callable[[np.ndarray], np.ndarray], *,
                 fields: OneManyOrNone[str] = None) -> None:
        owner = type(self).__name__
        if not callable(func):
            raise InvalidTypeError(
                f"{owner}: 'func' must be callable as func(array) -> array; "
                f"got {type(func).__name__}.")
        self._func = func
        self.fields = resolve_fields(fields, owner=owner)

    def __repr__(self) -> str:
        fields = None if self.fields is None else sorted(self.fields)
        return f"{type(self).__name__}(fields={fields})"

    def _edit(self, builder: Batch.Builder, batch: Batch) -> None:
        owner = type(self).__name__
        for name in select_fields(batch.fields, self.fields, owner=owner):
            out = self._func(batch.fields[name])
            if not isinstance(out, np.ndarray) or out.ndim == 0:
                raise InvalidTypeError(
                    f"{owner}: the function must return a numpy array with a batch "
                    f"dimension for field '{name}'; got {type(out).__name__}"
                    f"{' of shape ()' if isinstance(out, np.ndarray) else ''}.")
            if len(out) != batch.batch_size:
                raise InvalidDataError(
                    f"{owner}: the function changed the number of elements of field "
                    f"'{name}' from {batch.batch_size} to {len(out)}; processors must keep "
                    "dimension 0 (use Composer to drop elements).")
            builder.fields[name] = out
