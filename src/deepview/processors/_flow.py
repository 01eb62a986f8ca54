"""Stages that control the flow of batches: :class:`Composer` and :class:`PipelineDebugger`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import numpy as np

from deepview.base import Batch, PipelineStage, Producer
from deepview.exceptions import InvalidTypeError
from deepview.processors._base import resolve_fields
from deepview.typing import OneManyOrNone

__all__ = ["Composer", "PipelineDebugger"]


class Composer(PipelineStage):
    """Replace each batch with ``filter(batch)``; ``None`` becomes a 0-element batch, which
    introspectors, the cache and :func:`~deepview.base.rebatch` skip.

    Parameters
    ----------
    filter : Callable[[Batch], Batch | None]
        Returns a (usually smaller) batch, or ``None``.
    """

    def __init__(self, filter: Callable[[Batch], Batch | None]) -> None:  # noqa: A002
        if not callable(filter):
            raise InvalidTypeError(
                f"Composer: 'filter' must be callable as filter(batch) -> Batch | None; "
                f"got {type(filter).__name__}.")
        self.filter = filter

    def __repr__(self) -> str:
        return f"Composer({getattr(self.filter, '__name__', self.filter)!r})"

    @classmethod
    def from_element_filter(cls, elem_filter: Callable[[Batch.ElementType], bool]) -> Composer:
        """Keep the elements for which ``elem_filter(element)`` is true."""
        if not callable(elem_filter):
            raise InvalidTypeError(
                "Composer.from_element_filter: 'elem_filter' must be callable as "
                f"elem_filter(element) -> bool; got {type(elem_filter).__name__}.")

        def batch_filter(batch: Batch) -> Batch | None:
            keep = [i for i, element in enumerate(batch.elements) if elem_filter(element)]
            if len(keep) == batch.batch_size:
                return batch
            return batch.elements[np.asarray(keep, dtype=np.intp)]

        return cls(batch_filter)

    @classmethod
    def from_dict_metadata(cls, metadata_key: Any, label_dimension: str, label: Any) -> Composer:
        """Keep the elements whose ``metadata[metadata_key][label_dimension] == label``."""
        if not isinstance(metadata_key, Batch.DictMetaKey):
            raise InvalidTypeError(
                "Composer.from_dict_metadata: 'metadata_key' must be a Batch.DictMetaKey "
                f"(e.g. Batch.StdKeys.LABELS); got {metadata_key!r}.")

        def batch_filter(batch: Batch) -> Batch | None:
            if metadata_key not in batch.metadata:
                return None
            values = batch.metadata[metadata_key].get(label_dimension)
            if values is None:
                return None
            keep = [i for i, v in enumerate(values) if v == label]
            return batch.elements[np.asarray(keep, dtype=np.intp)]

        return cls(batch_filter)

    def _pipeline(self, producer: Producer) -> Producer:
        def composed(batch_size: int) -> Iterator[Batch]:
            for batch in producer(batch_size):
                out = self.filter(batch)
                if out is None:
                    out = batch.elements[[]]
                elif not isinstance(out, Batch):
                    raise InvalidTypeError(
                        "Composer: the filter must return a Batch or None; got "
                        f"{type(out).__name__}.")
                yield out

        return composed


class PipelineDebugger(PipelineStage):
    """Print a dump of batches passing through (the first one only by default).

    Parameters
    ----------
    label : str, default=""
        Printed before each dump.
    first_only : bool, default=True
        Dump only the first batch of each pass.
    dump_fields : bool, default=False
        Print field values (of ``fields``, default all), not only shapes.
    fields : str or Collection[str], optional
    stream : TextIO, optional
        Where to write; default ``sys.stdout`` at the time of writing.
    """

    def __init__(self, label: str = "", first_only: bool = True, dump_fields: bool = False,
                 fields: OneManyOrNone[str] = None, *, stream: TextIO | None = None) -> None:
        self.label = str(label)
        self.first_only = bool(first_only)
        self.dump_fields = bool(dump_fields)
        self.fields = resolve_fields(fields, owner="PipelineDebugger")
        self.stream = stream

    def __repr__(self) -> str:
        return f"PipelineDebugger(label={self.label!r}, first_only={self.first_only})"

    @staticmethod
    def dump(batch: Batch | Batch.Builder, label: str = "", dump_fields: bool = False,
             fields: OneManyOrNone[str] = None) -> str:
        """Describe a batch or builder: size, fields (shapes, values), snapshots, metadata."""
        selected = resolve_fields(fields, owner="PipelineDebugger.dump")
        prefix = f"{label} " if label else ""
        size = f"batch_size={len(next(iter(batch.fields.values())))}" if batch.fields else ""
        lines = [f"{prefix}Batch({size}) {{"]
        for name in sorted(batch.fields):
            data = batch.fields[name]
            lines.append(f"{name}: {data.shape}")
            if dump_fields and (selected is None or name in selected):
                lines.append(f"{data}")
        if batch.snapshots:
            lines += ["", "Snapshots:"]
            lines += [f"{key}: {sorted(batch.snapshots[key].fields)}"
                      for key in sorted(batch.snapshots)]
        keys = list(batch.metadata.keys())
        if keys:
            lines += ["", "Metadata:"]
            for meta_key in sorted(keys, key=lambda k: k.name):
                line = f"{type(meta_key).__name__}({meta_key.name!r})"
                if isinstance(meta_key, Batch.DictMetaKey):
                    line += f": {sorted(batch.metadata[meta_key].keys())}"
                lines.append(line)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _pipeline(self, producer: Producer) -> Producer:
        def debugged(batch_size: int) -> Iterator[Batch]:
            for index, batch in enumerate(producer(batch_size)):
                if index == 0 or not self.first_only:
                    text = PipelineDebugger.dump(batch, label=self.label,
                                                 dump_fields=self.dump_fields, fields=self.fields)
                    print(text, file=self.stream or sys.stdout)
                yield batch

        return debugged
