"""The :class:`Cacher` stage and :class:`CachedProducer`: a pipeline's output cached on disk as
``.npy`` fields and JSON metadata (no pickle); ``.cache.done`` marks a complete pass."""

from __future__ import annotations

import functools
import json
import logging
import pathlib
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from deepview._files import atomic_write
from deepview._validation import check_batch_size
from deepview.base._batch import Batch, concatenate_batches, each_seq
from deepview.base._pipeline import PipelineStage
from deepview.base._producer import Producer, rebatch
from deepview.exceptions import DeepViewException, InvalidDataError, InvalidTypeError
from deepview.typing import PathOrStr, resolve_path_or_str

__all__ = ["CachedProducer", "Cacher"]

logger = logging.getLogger(__name__)

_MARKER = ".dni_cache_dir"
_DONE = ".cache.done"
_FORMAT = "deepview-cache"
_FORMAT_VERSION = 1
_PATH_TAG = "$path"
_CHUNK_BYTES = 8 * 2**20  # consecutive batches are written together in files of this size
_JSON_SCALARS = frozenset({type(None), bool, int, float, str})


# ----------------------------------------------------------------------------- encoding
def _encode_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and not isinstance(value, np.void):
        return _encode_value(value.item(), where)
    if isinstance(value, pathlib.PurePath):
        return {_PATH_TAG: str(value)}
    raise InvalidDataError(
        f"Cacher: metadata {where} holds a value of type {type(value).__name__} "
        f"({value!r:.60}); the cache stores metadata as JSON, so only None, bool, int, float, "
        "str and pathlib paths are supported. Convert the values (e.g. to str) or drop that "
        "metadata with MetadataRemover before the Cacher.")


def _encode_seq(seq: Any, where: str) -> tuple[list[Any], bool]:
    """JSON-ready values, and whether any of them is a tagged path."""
    if all(type(v) in _JSON_SCALARS for v in seq):  # fast path: nothing to convert
        return list(seq), False
    values = [_encode_value(v, where) for v in seq]
    return values, any(isinstance(v, dict) for v in values)


def _decode_seq(seq: list[Any], tagged: bool) -> list[Any]:
    if not tagged:
        return seq
    return [pathlib.Path(v[_PATH_TAG]) if isinstance(v, dict) else v for v in seq]


def _encode(directory: pathlib.Path, stem: str, batch: Batch) -> dict[str, Any]:
    """Save the fields of a batch (or snapshot) as ``.npy`` files; its JSON record."""
    entries: list[dict[str, Any]] = []
    for key in batch.metadata.keys():
        is_dict = isinstance(key, Batch.DictMetaKey)
        seqs = batch.metadata[key] if is_dict else {"": batch.metadata[key]}
        encoded = {str(sub): _encode_seq(seq, f"'{key.name}'" + (f"['{sub}']" if is_dict else ""))
                   for sub, seq in seqs.items()}
        values = {s: v for s, (v, _) in encoded.items()} if is_dict else encoded[""][0]
        entries.append({"kind": "dict" if is_dict else "flat", "name": key.name,
                        "tagged": any(t for _, t in encoded.values()), "values": values})
    names: list[list[str]] = []
    for j, (name, array) in enumerate(batch.fields.items()):
        if array.dtype.hasobject:
            raise InvalidDataError(
                f"Cacher: field '{name}' has dtype {array.dtype}, which cannot be cached without "
                "pickle; convert it to a numeric or string array first.")
        file = f"{stem}.f{j}.npy"
        np.save(directory / file, np.ascontiguousarray(array), allow_pickle=False)
        names.append([name, file])
    return {"metadata": entries, "fields": names}


def _decode(directory: pathlib.Path, record: dict[str, Any]) -> Batch.Builder:
    builder = Batch.Builder({name: np.load(directory / file, allow_pickle=False)
                             for name, file in record["fields"]})
    for entry in record["metadata"]:
        decode = functools.partial(_decode_seq, tagged=bool(entry.get("tagged", True)))
        key: Any = (Batch.DictMetaKey if entry["kind"] == "dict" else Batch.MetaKey)(entry["name"])
        builder.metadata[key] = each_seq(key, entry["values"], decode)
    return builder


def _write_batch(directory: pathlib.Path, index: int, batch: Batch) -> None:
    stem = f"batch-{index:06d}"
    record = {"size": batch.batch_size, **_encode(directory, stem, batch), "snapshots": [
        {"name": name, **_encode(directory, f"{stem}.s{i}", snap)}
        for i, (name, snap) in enumerate(batch.snapshots.items())]}
    _write_json(directory / f"{stem}.json", record)


def _read_batch(directory: pathlib.Path, index: int) -> Batch:
    path = directory / f"batch-{index:06d}.json"
    try:
        record = json.loads(path.read_text())
        builder = _decode(directory, record)
        for snap in record["snapshots"]:
            builder.snapshots[snap["name"]] = _decode(directory, snap).make_batch()
    except (OSError, ValueError, KeyError) as exc:
        raise DeepViewException(
            f"CachedProducer: cannot read cached batch {index} in {directory} ({exc}); the "
            "cache was changed or deleted. Re-run the pipeline with a new Cacher.") from exc
    return builder.make_batch()


def _write_json(path: pathlib.Path, obj: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj)))


def _holds_cache(directory: pathlib.Path) -> bool:
    return directory.is_dir() and (
        (directory / _MARKER).exists() or (directory / _DONE).exists()
        or any(directory.glob("batch-*.json")) or any(directory.glob("*.pkl")))


def _remove_cache_files(directory: pathlib.Path) -> None:
    (directory / _DONE).unlink(missing_ok=True)
    for file in directory.glob("batch-*"):
        file.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- producer
class CachedProducer:
    """A producer over a finished cache written by :class:`Cacher`.

    Parameters
    ----------
    storage_path : str or pathlib.Path
        The cache directory.

    Raises
    ------
    DeepViewException
        If the directory holds no finished cache.
    """

    def __init__(self, storage_path: PathOrStr, *, _owner: Any = None) -> None:
        self._path = resolve_path_or_str(storage_path)
        self._owner = _owner  # keeps a temporary Cacher (and so its directory) alive
        self._info = self._read_info()

    def _read_info(self) -> dict[str, Any]:
        done = self._path / _DONE
        try:
            info = json.loads(done.read_text())
        except FileNotFoundError:
            raise DeepViewException(
                f"CachedProducer: {self._path} holds no finished cache ({_DONE} is missing); "
                "the pass that filled it was interrupted or it was deleted. Run the pipeline "
                "with a Cacher to completion first.") from None
        except (OSError, ValueError) as exc:
            raise DeepViewException(
                f"CachedProducer: cannot read {done} ({exc}); the cache is damaged.") from exc
        if not isinstance(info, dict) or info.get("format_version") != _FORMAT_VERSION:
            raise DeepViewException(
                f"CachedProducer: {self._path} was written in an unsupported format "
                f"({info!r:.80}); expected {_FORMAT} version {_FORMAT_VERSION}. Re-create it.")
        return info

    @property
    def storage_path(self) -> pathlib.Path:
        """The cache directory."""
        return self._path

    def __len__(self) -> int:
        return int(self._info["elements"])

    def __repr__(self) -> str:
        return f"CachedProducer({str(self._path)!r}, n={len(self)})"

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner="CachedProducer")
        if not (self._path / _DONE).exists():
            raise DeepViewException(
                f"CachedProducer: the cache at {self._path} was deleted or is no longer "
                "complete; re-create it by running the pipeline with a Cacher.")
        return rebatch(self._batches(), batch_size)

    def _batches(self) -> Iterator[Batch]:
        return (_read_batch(self._path, i) for i in range(int(self._info["batches"])))

    def copy_to(self, new_path: PathOrStr, *, overwrite: bool = False) -> CachedProducer:
        """Copy the cache to ``new_path`` and return a producer over the copy.

        Raises
        ------
        DeepViewException
            If ``new_path`` already holds a cache and ``overwrite`` is False.
        """
        target = resolve_path_or_str(new_path)
        if target.resolve() == self._path.resolve():
            raise DeepViewException(
                f"CachedProducer.copy_to: {target} is the cache itself; pick another directory.")
        if _holds_cache(target):
            if not overwrite:
                raise DeepViewException(
                    f"CachedProducer.copy_to: {target} already holds a cache; pass "
                    "overwrite=True to replace it or pick another directory.")
            _remove_cache_files(target)
        target.mkdir(parents=True, exist_ok=True)
        # the done file last: it marks the copy complete
        for file in [*sorted(self._path.glob("batch-*")), self._path / _MARKER, self._path / _DONE]:
            shutil.copy2(file, target / file.name)
        return CachedProducer(target)


# ----------------------------------------------------------------------------- stage
class _ClearDescriptor:
    """``Cacher.clear(path)`` on the class; ``cacher.clear()`` removes that cacher's cache."""

    def __init__(self, func: Callable[..., None]) -> None:
        self._func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __get__(self, obj: Any, owner: Any = None) -> Callable[..., None]:
        if obj is None:
            return self._func
        return functools.partial(self._func, obj.storage_path)


class Cacher(PipelineStage):
    """Cache the pipeline's output on disk during its first complete pass (adding integer ids
    to batches without); later calls read from disk, re-batched, not from upstream.

    Parameters
    ----------
    storage_path : str or pathlib.Path, optional
        A new or empty directory; default a temporary one, deleted with the Cacher.

    Raises
    ------
    DeepViewException
        If ``storage_path`` already holds a cache (read it with :class:`CachedProducer`).
    NotADirectoryError
        If ``storage_path`` is a file.
    """

    def __init__(self, storage_path: PathOrStr | None = None) -> None:
        if storage_path is None:  # a finalizer lives until it runs: no reference is kept
            path = pathlib.Path(tempfile.mkdtemp(prefix="deepview-cacher-"))
            weakref.finalize(self, shutil.rmtree, str(path), True)
        else:
            path = resolve_path_or_str(storage_path)
            if path.exists() and not path.is_dir():
                raise NotADirectoryError(
                    f"Cacher: storage_path {path} is a file; give a new or empty directory.")
            if _holds_cache(path):
                raise DeepViewException(
                    f"Cacher: {path} already holds a cache. Read it with CachedProducer(path), "
                    "remove it with Cacher.clear(path), or pick another directory.")
        self._path = path
        self._ensure_dir()
        self._lock = threading.Lock()
        self._generation = 0
        self._used = False

    def _ensure_dir(self) -> None:
        self._path.mkdir(parents=True, exist_ok=True)
        marker = self._path / _MARKER
        if not marker.exists():
            _write_json(marker, {"format": _FORMAT, "format_version": _FORMAT_VERSION})

    @property
    def storage_path(self) -> pathlib.Path:
        """The cache directory."""
        return self._path

    @property
    def cached(self) -> bool:
        """True once a complete pass has been stored."""
        return (self._path / _DONE).exists()

    def __repr__(self) -> str:
        return f"Cacher({str(self._path)!r}, cached={self.cached})"

    def as_producer(self) -> CachedProducer:
        """A :class:`CachedProducer` over the finished cache.

        Raises
        ------
        DeepViewException
            If no complete pass has been stored yet.
        """
        if not self.cached:
            raise DeepViewException(
                "Cacher.as_producer: the cache is not finished; consume the pipeline "
                "completely once (e.g. run an introspector over it) first.")
        return CachedProducer(self._path, _owner=self)

    @_ClearDescriptor
    def clear(storage_path: PathOrStr | None = None) -> None:  # noqa: N805
        """Delete the cache ``path``, else its cache subfolders; ``cacher.clear()``: that cache.

        Raises
        ------
        NotADirectoryError
            If ``path`` is not a directory.
        """
        root = (pathlib.Path(tempfile.gettempdir()) if storage_path is None
                else resolve_path_or_str(storage_path))
        if not root.is_dir():
            raise NotADirectoryError(f"Cacher.clear: {root} is not a directory.")
        if (root / _MARKER).exists():
            shutil.rmtree(root, ignore_errors=True)
            return
        for child in root.iterdir():
            if child.is_dir() and (child / _MARKER).exists():
                shutil.rmtree(child, ignore_errors=True)

    def _pipeline(self, producer: Producer) -> Producer:
        with self._lock:
            if self._used:
                raise DeepViewException(
                    "Cacher: this Cacher is already part of a pipeline; create one Cacher per "
                    "pipeline (or read the finished cache with cacher.as_producer()).")
            self._used = True
        return _CachingProducer(self, producer)

    def _start_pass(self) -> int:
        with self._lock:
            self._generation += 1
            self._ensure_dir()
            _remove_cache_files(self._path)
            return self._generation

    def _store(self, generation: int, index: int, batch: Batch) -> bool:
        with self._lock:
            if generation != self._generation:
                return False  # a newer pass took over
            _write_batch(self._path, index, batch)
            return True

    def _finish(self, generation: int, batches: int, elements: int) -> None:
        with self._lock:
            if generation != self._generation or batches == 0:
                return
            _write_json(self._path / _DONE, {"format": _FORMAT, "format_version": _FORMAT_VERSION,
                                             "batches": batches, "elements": elements})
        logger.debug("Cacher: stored %d elements in %d batches at %s", elements, batches,
                     self._path)


def _with_identifiers(batch: Batch, start: int) -> Batch:
    if Batch.StdKeys.IDENTIFIER in batch.metadata:
        return batch
    builder = Batch.Builder(base=batch)
    builder.metadata[Batch.StdKeys.IDENTIFIER] = list(range(start, start + batch.batch_size))
    return builder.make_batch()


class _CachingProducer:
    def __init__(self, cacher: Cacher, upstream: Producer) -> None:
        self._cacher = cacher
        self._upstream = upstream

    def __repr__(self) -> str:
        return f"{self._upstream!r} -> {self._cacher!r}"

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner="Cacher")
        if self._cacher.cached:
            return self._cacher.as_producer()(batch_size)
        return self._first_pass(batch_size)

    def _first_pass(self, batch_size: int) -> Iterator[Batch]:
        cacher = self._cacher
        generation = cacher._start_pass()
        count = index = pending_bytes = 0
        pending: list[Batch] = []
        signature: tuple[Any, ...] | None = None
        storing = True
        for batch in self._upstream(batch_size):
            if not isinstance(batch, Batch):
                raise InvalidTypeError(
                    f"Cacher: the upstream producer must yield Batch objects; got "
                    f"{type(batch).__name__}.")
            if batch.batch_size == 0:
                continue
            batch = _with_identifiers(batch, count)
            count += batch.batch_size
            if storing:
                current = _signature(batch)
                if pending and (current != signature or pending_bytes >= _CHUNK_BYTES):
                    storing = cacher._store(generation, index, concatenate_batches(pending))
                    index += 1
                    pending, pending_bytes = [], 0
                signature = current
                pending.append(batch)
                pending_bytes += _nbytes(batch)
            yield batch
        if storing and pending:
            storing = cacher._store(generation, index, concatenate_batches(pending))
            index += 1
        if storing:
            cacher._finish(generation, index, count)


def _nbytes(batch: Batch) -> int:
    return (sum(a.nbytes for a in batch.fields.values())
            + sum(_nbytes(s) for s in batch.snapshots.values()))


def _signature(batch: Batch) -> tuple[Any, ...]:
    """What must match for two batches to be stored as one chunk."""
    fields = tuple((k, v.dtype.str, v.shape[1:]) for k, v in batch.fields.items())
    metadata = tuple(sorted(
        (k.name, isinstance(k, Batch.DictMetaKey),
         tuple(sorted(batch.metadata[k])) if isinstance(k, Batch.DictMetaKey) else ())
        for k in batch.metadata.keys()))
    snapshots = tuple(sorted((n, _signature(s)) for n, s in batch.snapshots.items()))
    return fields, metadata, snapshots
