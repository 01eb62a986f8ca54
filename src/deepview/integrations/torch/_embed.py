"""Embed raw samples through a model into a resumable cache of Parquet shards:
:func:`embed` and :class:`Embeddings`."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import os
import pathlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from deepview._files import atomic_write
from deepview._progress import progress_disabled
from deepview.base import ArrayProducer, Record, RecordProducer, SkippedSample
from deepview.base._records import warn_skipped
from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)
from deepview.integrations.torch._embedder import Embedder

__all__ = ["Embeddings", "embed"]

logger = logging.getLogger(__name__)

_META_KEY = b"deepview.embeddings"  # Parquet schema metadata of a shard / embeddings file
_FORMAT = 1


@dataclasses.dataclass
class Embeddings:
    """The embeddings of a set of raw samples, with their ids and metadata.

    Attributes
    ----------
    ids : list of str
        One id per embedded sample, in the producer's order.
    vectors : numpy.ndarray
        ``(n, features)`` ``float32``.
    labels : dict of str to list of str
        Label dimensions.
    texts, paths : list of str, optional
        The samples' texts / image files, when the producer has them.
    skipped : list of SkippedSample
        Samples that could not be read, with the reason.
    model, layer, spec_hash : str
        What made the embeddings.
    computed, reused, seconds : int, int, float
        Samples embedded by this run / read back from the cache; wall time.
    """

    ids: list[str]
    vectors: np.ndarray
    labels: dict[str, list[str]]
    texts: list[str] | None
    paths: list[str] | None
    skipped: list[SkippedSample]
    model: str
    layer: str
    spec_hash: str
    computed: int = 0
    reused: int = 0
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def samples_per_second(self) -> float:
        """Samples embedded per second by this run (0 when all came from the cache)."""
        return self.computed / self.seconds if self.computed and self.seconds > 0 else 0.0

    def producer(self, field: str = "embedding") -> ArrayProducer:
        """An :class:`~deepview.base.ArrayProducer` of the embeddings with their metadata."""
        return ArrayProducer({field: self.vectors}, identifiers=self.ids,
                             labels=self.labels or None, paths=self.paths, texts=self.texts)

    def to_parquet(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write ids, paths / texts, labels and ``embedding`` to a Parquet file, atomically."""
        import pyarrow as pa

        out = pathlib.Path(path)
        columns: dict[str, Any] = {
            name: pa.array(values, pa.string()) for name, values in
            (("id", self.ids), ("path", self.paths), ("text", self.texts)) if values is not None}
        for name, values in self.labels.items():
            if name in columns or name == "embedding":
                raise InvalidParameterError(
                    f"Embeddings.to_parquet: label '{name}' has the name of another column; "
                    "rename it.")
            columns[name] = pa.array(values, pa.string())
        columns["embedding"] = _vector_column(self.vectors)
        meta = {"model": self.model, "layer": self.layer, "spec_hash": self.spec_hash,
                "skipped": len(self.skipped), "format": _FORMAT}
        _write_table(columns, meta, out)
        return out


def _vector_column(vectors: np.ndarray) -> Any:
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, int(vectors.shape[1]))


def _write_table(columns: dict[str, Any], meta: dict[str, Any], out: pathlib.Path) -> None:
    """Write ``columns`` with ``meta`` as the schema metadata to ``out``, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(columns).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    atomic_write(out, lambda tmp: pq.write_table(table, tmp))


# ------------------------------------------------------------------------------ the cache
def _ids_hash(ids: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for sample_id in ids:
        digest.update(sample_id.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _read_shard(path: pathlib.Path, *, spec_hash: str, ids: Sequence[str]
                ) -> tuple[np.ndarray, list[str | None]] | None:
    """A finished shard's ``(vectors, errors)`` as :func:`_embed_shard` returns them, or None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    try:
        meta = json.loads(pq.read_schema(path).metadata[_META_KEY])
        if (meta.get("spec_hash") != spec_hash or meta.get("ids_hash") != _ids_hash(ids)
                or meta.get("count") != len(ids) or meta.get("format") != _FORMAT):
            logger.info("embedding cache: %s is for other samples or another model; "
                        "embedding again", path.name)
            return None
        table = pq.read_table(path)
        if table.num_rows != len(ids) or table.column("id").to_pylist() != list(ids):
            raise InvalidDataError("rows do not match")
        errors = table.column("error").to_pylist()
        column = table.column("embedding").combine_chunks()
        width = int(meta["dim"])
        vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(len(ids), width)
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException, DeepViewException) as exc:
        logger.warning("embedding cache: ignoring damaged shard %s (%s)", path.name, exc)
        return None
    return vectors.astype(np.float32, copy=False), errors


def _write_shard(path: pathlib.Path, *, embedder: Embedder, spec_hash: str, ids: list[str],
                 vectors: np.ndarray, errors: list[str | None]) -> None:
    import pyarrow as pa

    meta = {"model": embedder.name, "layer": embedder.layer, "spec_hash": spec_hash,
            "ids_hash": _ids_hash(ids), "count": len(ids), "dim": int(vectors.shape[1]),
            "format": _FORMAT}
    _write_table({"id": pa.array(ids, pa.string()), "error": pa.array(errors, pa.string()),
                  "embedding": _vector_column(vectors)}, meta, path)


def _remove_stale_temporaries(folder: pathlib.Path) -> None:
    """Delete temporary shard files whose writer process is gone (an interrupted run)."""
    for tmp in folder.glob(".shard-*.tmp"):
        try:
            pid = int(tmp.name.rsplit(".", 2)[-2])
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, PermissionError, OSError):
            continue


# --------------------------------------------------------------------------- data loading
@dataclasses.dataclass
class _Failed:
    reason: str


@dataclasses.dataclass
class _Decoded(Dataset):  # type: ignore[type-arg]
    """The raw values of one shard, decoded on access (in DataLoader workers)."""

    raws: list[Any]
    decode: Callable[[Any], Any]

    def __len__(self) -> int:
        return len(self.raws)

    def __getitem__(self, index: int) -> tuple[int, Any]:
        try:
            return index, self.decode(self.raws[index])
        except InvalidDataError as exc:
            return index, _Failed(str(exc))
        except (OSError, ValueError) as exc:  # a file that vanished, an odd value
            return index, _Failed(f"{type(exc).__name__}: {exc}")


@dataclasses.dataclass
class _Collate:
    """Batch of ``(index, sample)`` -> ``(good indices, failures, model input)``."""

    transform: Callable[[list[Any]], Any]

    def __call__(self, items: list[tuple[int, Any]]
                 ) -> tuple[list[int], list[tuple[int, str]], Any]:
        good = [(i, s) for i, s in items if not isinstance(s, _Failed)]
        failed = [(i, s.reason) for i, s in items if isinstance(s, _Failed)]
        model_input = self.transform([s for _, s in good]) if good else None
        return [i for i, _ in good], failed, model_input


def _length_order(raws: list[Any], batch_size: int) -> list[list[int]]:
    """Batches of indices of texts of similar length (less padding), longest first."""
    order = sorted(range(len(raws)), key=lambda i: -len(raws[i]) if isinstance(raws[i], str) else 0)
    return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]


def _shards(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while shard := list(itertools.islice(records, size)):
        yield shard


# ------------------------------------------------------------------------------- embed
def embed(producer: RecordProducer, embedder: Embedder, *,
          cache_dir: str | os.PathLike[str] | None = None, batch_size: int = 64,
          shard_size: int = 2048, num_workers: int | None = None) -> Embeddings:
    """Embed every sample of a record producer, shard by shard, reusing matching cache shards.

    Parameters
    ----------
    producer : RecordProducer
        ``ImageFolderProducer``, ``TextProducer``, ``HFDatasetProducer``, ...
    embedder : Embedder
        From :func:`load_embedder`.
    cache_dir : path, optional
        Where the shards go (``cache_dir/<spec hash>/shard-NNNNN.parquet``); default none.
    batch_size, shard_size : int, default=64, 2048
        Samples per forward pass and per cache shard.
    num_workers : int, optional
        DataLoader processes decoding the samples; default 0 for texts or two CPUs, else <= 4.

    Raises
    ------
    InvalidDataError
        No sample could be read (the message names the first reasons).
    """
    if not isinstance(producer, RecordProducer):
        raise InvalidTypeError(
            "embed: 'producer' must be a RecordProducer (ImageFolderProducer, TextProducer, "
            f"HFDatasetProducer); got {type(producer).__name__}.")
    for name, value in (("batch_size", batch_size), ("shard_size", shard_size)):
        if not isinstance(value, int) or value <= 0:
            raise InvalidParameterError(f"embed: '{name}' must be a positive int; got {value!r}.")
    if embedder.modality is not None and embedder.modality != producer.modality:
        raise InvalidParameterError(
            f"embed: the model '{embedder.name}' takes {embedder.modality}s but the input "
            f"holds {producer.modality}s.")
    if num_workers is None:  # decoding in the main process is faster on 2 cores or fewer
        cpus = os.cpu_count() or 1
        num_workers = 0 if producer.modality == "text" or cpus <= 2 else min(4, cpus - 1)
    start = time.perf_counter()
    decode = producer.decoder
    records = producer.records()
    first = _first_example(producer, records, embedder, decode)
    spec_hash = embedder.spec_hash()
    folder: pathlib.Path | None = None
    if cache_dir is not None:
        folder = pathlib.Path(cache_dir).expanduser() / spec_hash
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spec.json").write_text(json.dumps(embedder.key(), indent=1, default=str))
        _remove_stale_temporaries(folder)
    pin = embedder.model.device.type == "cuda"
    kept: list[Record] = []
    parts: list[np.ndarray] = []
    skipped: list[SkippedSample] = []
    computed = reused = 0
    bar = tqdm(total=producer.num_records, unit=" samples", unit_scale=True, desc="embedding",
               disable=progress_disabled(), smoothing=0.1)
    try:
        for number, shard in enumerate(_shards(first, shard_size)):
            shard_ids = [r.id for r in shard]
            path = folder / f"shard-{number:05d}.parquet" if folder is not None else None
            cached = (_read_shard(path, spec_hash=spec_hash, ids=shard_ids)
                      if path is not None else None)
            if cached is None:
                full, errors = _embed_shard(shard, embedder, decode, batch_size=batch_size,
                                            num_workers=num_workers, pin=pin, bar=bar)
                if path is not None and full is not None:
                    _write_shard(path, embedder=embedder, spec_hash=spec_hash,
                                 ids=shard_ids, vectors=full, errors=errors)
                computed += errors.count(None)
            else:
                full, errors = cached
                reused += errors.count(None)
                bar.update(len(shard))
                bar.set_postfix_str(f"{reused:,} from cache", refresh=False)
            good = np.array([e is None for e in errors], dtype=bool)
            skipped.extend(SkippedSample(i, e) for i, e in zip(shard_ids, errors) if e is not None)
            if full is not None and good.any():
                parts.append(full[good])
            kept.extend(record for record, ok in zip(shard, good) if ok)
    finally:
        bar.close()
    ids = [r.id for r in kept]
    if not ids:
        reasons = "; ".join(f"{s.id} ({s.reason})" for s in skipped[:5])
        raise InvalidDataError(
            f"embed: none of the {len(skipped)} samples could be read (e.g. {reasons}).")
    if len(set(ids)) != len(ids):
        raise InvalidDataError("embed: the sample ids repeat; they must be unique.")
    producer.skipped = skipped
    warn_skipped(skipped, owner="embed")
    seconds = time.perf_counter() - start
    dims = dict.fromkeys(d for r in kept for d in r.labels)
    result = Embeddings(
        ids=ids, vectors=np.concatenate(parts),
        labels={d: [r.labels.get(d, "") for r in kept] for d in dims},
        texts=[r.text or "" for r in kept] if any(r.text is not None for r in kept) else None,
        paths=[r.path or "" for r in kept] if any(r.path is not None for r in kept) else None,
        skipped=skipped, model=embedder.name, layer=str(embedder.layer), spec_hash=spec_hash,
        computed=computed, reused=reused, seconds=seconds)
    logger.info("embedded %d samples (%d from the cache, %d skipped) in %.1f s", len(ids),
                reused, len(skipped), seconds)
    return result


def _first_example(producer: RecordProducer, records: Iterator[Record], embedder: Embedder,
                   decode: Callable[[Any], Any]) -> Iterator[Record]:
    """Resolve the embedder's layer on the first readable sample; return all records."""
    seen: list[Record] = []
    example = None
    for record in records:
        seen.append(record)
        with contextlib.suppress(InvalidDataError):
            example = decode(record.raw)
            break
    if not seen:
        raise InvalidDataError(f"embed: {producer!r} has no sample.")
    if example is None:
        reasons = "; ".join(f"{r.id}" for r in seen[:5])
        raise InvalidDataError(
            f"embed: none of the {len(seen)} samples of {producer!r} could be read "
            f"(e.g. {reasons}).")
    embedder.resolve_layer(embedder.transform([example]))
    return itertools.chain(seen, records)


def _embed_shard(shard: list[Record], embedder: Embedder, decode: Callable[[Any], Any], *,
                 batch_size: int, num_workers: int, pin: bool, bar: Any
                 ) -> tuple[np.ndarray | None, list[str | None]]:
    """One vector per sample of ``shard`` (zeros if skipped; None if all were) and, per
    sample, why it was skipped (or None)."""
    raws = [r.raw for r in shard]
    dataset = _Decoded(raws, decode)
    workers = min(num_workers, max(0, len(shard) // batch_size))
    loader = DataLoader(dataset, batch_sampler=_length_order(raws, batch_size),
                        num_workers=workers, collate_fn=_Collate(embedder.transform),
                        pin_memory=pin, persistent_workers=False)
    errors: list[str | None] = [None] * len(shard)
    out: np.ndarray | None = None
    for indices, failed, model_input in loader:
        for index, reason in failed:
            errors[index] = reason
        if indices:
            vectors = embedder(model_input)
            if out is None:
                out = np.zeros((len(shard), vectors.shape[1]), dtype=np.float32)
            out[indices] = vectors
        bar.update(len(indices) + len(failed))
    return out, errors
