"""Producers over raw samples (image files, texts, dataset rows): :class:`Record`,
:class:`RecordProducer` and the warning about skipped samples."""

from __future__ import annotations

import abc
import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from deepview._validation import check_batch_size
from deepview.base._batch import Batch
from deepview.exceptions import DeepViewWarning, InvalidDataError

__all__ = ["Record", "RecordProducer", "SkippedSample", "warn_skipped"]

_LISTED = 20  # skipped samples named in a warning


@dataclasses.dataclass(frozen=True)
class Record:
    """One raw sample.

    Parameters
    ----------
    id : str
        Unique id of the sample.
    raw : Any
        What :attr:`RecordProducer.decoder` turns into the sample (a path, bytes, a str).
    labels : Mapping[str, str]
        Label dimension -> value.
    path, text : str, optional
        Image file and text of the sample, shown in a report.
    """

    id: str
    raw: Any
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    path: str | None = None
    text: str | None = None


@dataclasses.dataclass(frozen=True)
class SkippedSample:
    """A sample that could not be read: its id and why."""

    id: str
    reason: str


def warn_skipped(skipped: Sequence[SkippedSample], *, owner: str, stacklevel: int = 2) -> None:
    """Warn once, naming the skipped samples (the first 20) and how many there are."""
    if not skipped:
        return
    listed = "; ".join(f"{s.id} ({s.reason})" for s in skipped[:_LISTED])
    more = f"; ... and {len(skipped) - _LISTED} more" if len(skipped) > _LISTED else ""
    warnings.warn(f"{owner}: skipped {len(skipped)} unreadable sample(s): {listed}{more}.",
                  DeepViewWarning, stacklevel=stacklevel + 1)


class RecordProducer(abc.ABC):
    """Base of producers over raw samples: cheap :meth:`records`, a picklable :attr:`decoder`."""

    modality: str = ""
    field: str = ""

    def __init__(self) -> None:
        self.skipped: list[SkippedSample] = []  # by the last completed pass

    @abc.abstractmethod
    def records(self) -> Iterator[Record]:
        """The samples in a fixed order, without decoding them."""

    @property
    @abc.abstractmethod
    def decoder(self) -> Callable[[Any], Any]:
        """A picklable ``f(raw) -> sample``; raises ``InvalidDataError`` for a bad sample."""

    @abc.abstractmethod
    def _field(self, samples: list[Any]) -> np.ndarray:
        """The batch field of decoded ``samples``."""

    @property
    def num_records(self) -> int | None:
        """How many records :meth:`records` yields, when known without reading them."""
        return None

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner=type(self).__name__)
        decode = self.decoder
        skipped: list[SkippedSample] = []
        pending: list[tuple[Record, Any]] = []
        for record in self.records():
            try:
                pending.append((record, decode(record.raw)))
            except InvalidDataError as exc:
                skipped.append(SkippedSample(record.id, str(exc)))
                continue
            if len(pending) == batch_size:
                yield self._batch(pending)
                pending = []
        if pending:
            yield self._batch(pending)
        self.skipped = skipped
        warn_skipped(skipped, owner=type(self).__name__)

    def _batch(self, pending: list[tuple[Record, Any]]) -> Batch:
        records = [r for r, _ in pending]
        builder = Batch.Builder({self.field: self._field([s for _, s in pending])})
        builder.metadata[Batch.StdKeys.IDENTIFIER] = [r.id for r in records]
        dims = sorted({d for r in records for d in r.labels})
        if dims:
            builder.metadata[Batch.StdKeys.LABELS] = {d: [r.labels.get(d, "") for r in records]
                                                      for d in dims}
        if any(r.path is not None for r in records):
            builder.metadata[Batch.StdKeys.PATH] = [r.path or "" for r in records]
        if any(r.text is not None for r in records):
            builder.metadata[Batch.StdKeys.TEXT] = [r.text or "" for r in records]
        return builder.make_batch()
