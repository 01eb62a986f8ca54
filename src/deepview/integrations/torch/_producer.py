"""Torch data to producers and back: :class:`TorchProducer`, :class:`ProducerTorchDataset`."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler, get_worker_info

from deepview._validation import check_batch_size
from deepview.base import Batch, Producer, rebatch
from deepview.exceptions import (
    DeepViewWarning,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)

__all__ = ["ProducerTorchDataset", "TorchProducer"]


def _to_list(value: Any) -> list[Any]:
    if isinstance(value, torch.Tensor):
        return list(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return list(value.tolist())
    if isinstance(value, (str, bytes)):
        raise InvalidTypeError(
            f"TorchProducer: metadata must hold one value per sample; got a single "
            f"{type(value).__name__} {value!r}.")
    return list(value)


def _to_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    raise InvalidTypeError(
        f"TorchProducer: field '{name}' got a {type(value).__name__}; a field needs a tensor, "
        "numpy array or list. Map this entry to metadata (Batch.MetaKey) or None instead.")


def _normalise_mapping(mapping: Any, owner: str) -> tuple[Any, ...]:
    single = (str, Batch.MetaKey, Batch.DictMetaKey)
    if isinstance(mapping, single) or (mapping is not None and callable(mapping)):
        return (mapping,)
    if isinstance(mapping, Mapping) or not isinstance(mapping, Sequence) or not mapping:
        raise InvalidTypeError(
            f"{owner}: 'mapping' must be a non-empty sequence with one entry per item of a "
            "sample: a field name (str), a Batch.MetaKey, a Batch.DictMetaKey, a callable or "
            f"None; got {mapping!r}. Example: ['images', Batch.MetaKey('label')].")
    for entry in mapping:
        if not (entry is None or isinstance(entry, single) or callable(entry)):
            raise InvalidTypeError(
                f"{owner}: mapping entry {entry!r} must be a field name (str), a "
                "Batch.MetaKey, a Batch.DictMetaKey, a callable or None.")
    fields = [e for e in mapping if isinstance(e, str)]
    if len(set(fields)) != len(fields):
        raise InvalidParameterError(f"{owner}: field names in 'mapping' repeat: {fields}.")
    return tuple(mapping)


@dataclasses.dataclass(frozen=True)
class TorchProducer:
    """A deepview producer over a torch ``DataLoader`` or ``Dataset``, re-batched to any size.

    Parameters
    ----------
    data_loader : torch.utils.data.DataLoader or torch.utils.data.Dataset
        Where the samples come from; it must not shuffle (introspectors read it repeatedly).
    mapping : sequence of str, Batch.MetaKey, Batch.DictMetaKey, callable or None
        Per part of a loader item: a field name, flat metadata, dict metadata, a callable
        ``f(value, builder)`` or None to drop it; one entry may be given bare.
    anonymous_field_name : str, default="_"
        Key used for ``DictMetaKey`` entries whose item is not a dict.
    """

    data_loader: Any
    mapping: Any
    anonymous_field_name: str = "_"

    def __post_init__(self) -> None:
        if not isinstance(self.data_loader, (DataLoader, Dataset)):
            raise InvalidTypeError(
                "TorchProducer: 'data_loader' must be a torch DataLoader or Dataset; got "
                f"{type(self.data_loader).__name__}. For numpy data use "
                "deepview.base.ArrayProducer.")
        object.__setattr__(self, "mapping", _normalise_mapping(self.mapping, "TorchProducer"))
        if isinstance(getattr(self.data_loader, "sampler", None), RandomSampler):
            warnings.warn(
                "TorchProducer: the DataLoader shuffles, so every call yields the samples in a "
                "different order (and position identifiers follow the order); introspectors "
                "read their producer several times. Use shuffle=False.", DeepViewWarning,
                stacklevel=3)
        if not isinstance(self.anonymous_field_name, str) or not self.anonymous_field_name:
            raise InvalidParameterError(
                "TorchProducer: 'anonymous_field_name' must be a non-empty str; got "
                f"{self.anonymous_field_name!r}.")

    @property
    def batch_size(self) -> int:
        """The loader's batch size (100 for a Dataset or a loader without batching)."""
        size = getattr(self.data_loader, "batch_size", None)
        return int(size) if isinstance(self.data_loader, DataLoader) and size else 100

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner="TorchProducer")
        loader = self.data_loader
        if not isinstance(loader, DataLoader):
            loader = DataLoader(loader, batch_size=batch_size, shuffle=False)
        elif loader.batch_size is None and loader.batch_sampler is None:  # one sample per item
            loader = DataLoader(_Unbatched(loader), batch_size=batch_size)
        batches = self._batches(loader)
        if loader.batch_size == batch_size:
            return (b for b in batches if b.batch_size)
        return rebatch(batches, batch_size)

    def _batches(self, loader: Any) -> Iterator[Batch]:
        position = 0
        for index, item in enumerate(loader):
            batch = self._to_batch(item, index, position)
            position += batch.batch_size
            yield batch

    def _to_batch(self, item: Any, index: int, position: int) -> Batch:
        values = list(item) if isinstance(item, (list, tuple)) else [item]
        if len(values) != len(self.mapping):
            raise InvalidDataError(
                f"TorchProducer: loader item {index} has {len(values)} parts but 'mapping' has "
                f"{len(self.mapping)} entries {list(self.mapping)}; give one entry per part "
                "(None for parts to drop).")
        builder = Batch.Builder()
        for entry, value in zip(self.mapping, values):
            if entry is None:
                continue
            if isinstance(entry, str):
                builder.fields[entry] = _to_array(entry, value)
            elif isinstance(entry, Batch.DictMetaKey):
                items = value.items() if isinstance(value, Mapping) else [
                    (self.anonymous_field_name, value)]
                builder.metadata[entry] = {str(k): _to_list(v) for k, v in items}
            elif isinstance(entry, Batch.MetaKey):
                builder.metadata[entry] = _to_list(value)
            else:
                entry(value, builder)
        if not builder.fields and not builder.metadata:
            raise InvalidDataError(
                f"TorchProducer: loader item {index} produced neither fields nor metadata; map "
                "at least one part to a field name.")
        first: Any = next(iter(builder.fields.values()), None)
        if first is None:
            meta = builder.metadata[next(iter(builder.metadata))]
            first = next(iter(meta.values()), []) if isinstance(meta, dict) else meta
        size = len(first)
        if Batch.StdKeys.IDENTIFIER not in builder.metadata:
            builder.metadata[Batch.StdKeys.IDENTIFIER] = list(range(position, position + size))
        try:
            return builder.make_batch()
        except InvalidDataError:
            raise
        except Exception as exc:
            raise InvalidDataError(
                f"TorchProducer: loader item {index} does not form a batch: {exc}") from exc


class _Unbatched(IterableDataset):  # type: ignore[type-arg]
    """Re-exposes a loader without automatic batching as a dataset of its single samples."""

    def __init__(self, loader: DataLoader) -> None:  # type: ignore[type-arg]
        self._loader = loader

    def __iter__(self) -> Iterator[Any]:
        return iter(self._loader)


class ProducerTorchDataset(IterableDataset):  # type: ignore[type-arg]
    """A torch ``IterableDataset`` of one tuple per sample of a deepview producer.

    Parameters
    ----------
    producer : Producer
        The deepview producer to read.
    mapping : sequence
        Per tuple item: a field name, a ``MetaKey`` / ``DictMetaKey`` or ``f(element)``.
    batch_size : int, default=100
        Batch size used to read the producer.
    transforms : Mapping[str, callable], optional
        ``{field: f(tensor) -> tensor}`` applied per sample.
    """

    def __init__(self, producer: Producer, mapping: Any, batch_size: int = 100,
                 transforms: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None
                 ) -> None:
        super().__init__()
        if not callable(producer):
            raise InvalidTypeError(
                "ProducerTorchDataset: 'producer' must be callable as producer(batch_size); "
                f"got {type(producer).__name__}.")
        self.producer = producer
        self.mapping = _normalise_mapping(mapping, "ProducerTorchDataset")
        self.batch_size = check_batch_size(batch_size, owner="ProducerTorchDataset")
        transforms = dict(transforms or {})
        fields = {e for e in self.mapping if isinstance(e, str)}
        unknown = sorted(set(transforms) - fields)
        if unknown:
            raise InvalidParameterError(
                f"ProducerTorchDataset: 'transforms' names {unknown}, which are not fields in "
                f"'mapping' {sorted(fields)}.")
        for name, fn in transforms.items():
            if not callable(fn):
                raise InvalidTypeError(
                    f"ProducerTorchDataset: transforms['{name}'] must be callable; got "
                    f"{type(fn).__name__}.")
        self.transforms = transforms

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        for index, batch in enumerate(self.producer(self.batch_size)):
            if index % workers != worker:
                continue
            for element in batch.elements:
                yield tuple(self._item(entry, element, batch) for entry in self.mapping)

    def _item(self, entry: Any, element: Any, batch: Batch) -> Any:
        if entry is None:
            return None
        if isinstance(entry, str):
            if entry not in element.fields:
                raise InvalidDataError(
                    f"ProducerTorchDataset: the producer's batches have no field '{entry}'; "
                    f"fields: {sorted(batch.fields)}.")
            value = np.array(element.fields[entry])  # a writable copy
            transform = self.transforms.get(entry)
            if transform is not None:
                out = transform(torch.from_numpy(value))
                value = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else out
            return value
        if isinstance(entry, (Batch.MetaKey, Batch.DictMetaKey)):
            if entry not in element.metadata:
                raise InvalidDataError(
                    f"ProducerTorchDataset: the producer's batches have no metadata "
                    f"'{entry.name}'.")
            value = element.metadata[entry]
            if isinstance(entry, Batch.DictMetaKey) and len(value) == 1:
                return next(iter(value.values()))
            return value
        return entry(element)
