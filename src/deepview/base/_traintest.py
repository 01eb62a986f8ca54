""":class:`TrainTestSplitProducer`: a producer over a ``((x_train, y_train), (x_test, y_test))``
split."""

from __future__ import annotations

import copy
import dataclasses
import pathlib
import shutil
import tempfile
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

from deepview._optional import require
from deepview._validation import check_batch_size, check_int
from deepview.base._batch import Batch
from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)
from deepview.typing import OneManyOrNone, PathOrStr, TrainTestSplitType

__all__ = ["TrainTestSplitProducer"]

_OWNER = "TrainTestSplitProducer"


def _check_split(split: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the split; return (samples, labels, is_test)."""
    try:
        (x_train, y_train), (x_test, y_test) = split
    except (TypeError, ValueError):
        raise InvalidTypeError(
            f"{_OWNER}: 'split_dataset' must be ((x_train, y_train), (x_test, y_test)); "
            f"got {type(split).__name__}.") from None
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray):
            raise InvalidTypeError(
                f"{_OWNER}: '{name}' must be a numpy array; got {type(arr).__name__}. "
                "Convert it with np.asarray().")
        if arr.ndim == 0:
            raise InvalidDataError(f"{_OWNER}: '{name}' is 0-d; give one entry per sample.")
    if len(x_train) == 0 and len(x_test) == 0:
        raise InvalidDataError(f"{_OWNER}: both x_train and x_test are empty; give samples.")
    for x, y, side in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(x) != len(y):
            raise InvalidDataError(
                f"{_OWNER}: x_{side} has {len(x)} samples but y_{side} has {len(y)} labels.")
    if len(x_train) and len(x_test) and x_train.shape[1:] != x_test.shape[1:]:
        raise InvalidDataError(
            f"{_OWNER}: train and test samples differ in shape: {x_train.shape[1:]} vs "
            f"{x_test.shape[1:]}.")
    labels = [y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y
              for y in (y_train, y_test)]
    if any(y.ndim != 1 for y in labels):
        raise InvalidDataError(
            f"{_OWNER}: labels must be 1-D (or (n, 1)); got shapes {[y.shape for y in labels]}.")
    parts = [x for x in (x_train, x_test) if len(x)]
    samples = np.concatenate(parts) if len(parts) > 1 else parts[0]
    singleton = tuple(i for i in range(1, samples.ndim) if samples.shape[i] == 1)
    if singleton:
        samples = np.squeeze(samples, axis=singleton)
    is_test = np.r_[np.zeros(len(x_train), dtype=bool), np.ones(len(x_test), dtype=bool)]
    return samples, np.concatenate(labels), is_test


@dataclasses.dataclass(eq=False)
class TrainTestSplitProducer:
    """Produce the samples of a train/test split: train first, then test.

    Parameters
    ----------
    split_dataset : ((x_train, y_train), (x_test, y_test))
        numpy arrays; one side may be empty.  Singleton sample axes are squeezed.
    attach_metadata : bool, default=True
        Attach the index (or PNG path) as id and labels ``{"label", "dataset"}``.
    max_samples : int, default=-1
        Use at most this many samples (of the current order); negative means all.
    write_to_folder : bool or str or pathlib.Path, default=False
        Write each sample as ``<folder>/<train|test>/<label>/image<i>.png`` (``True``: a new
        ``deepview-dataset-*`` folder here), kept until :meth:`cleanup`; the path is its id.
    """

    split_dataset: TrainTestSplitType
    attach_metadata: bool = True
    max_samples: int = -1
    write_to_folder: bool | PathOrStr = False

    _samples: np.ndarray = dataclasses.field(init=False, repr=False)
    _labels: np.ndarray = dataclasses.field(init=False, repr=False)
    _is_test: np.ndarray = dataclasses.field(init=False, repr=False)
    _order: np.ndarray = dataclasses.field(init=False, repr=False)
    _export: _Export | None = dataclasses.field(init=False, repr=False, default=None)
    _root: TrainTestSplitType = dataclasses.field(init=False, repr=False)  # the full split

    def __post_init__(self) -> None:
        self._samples, self._labels, self._is_test = _check_split(self.split_dataset)
        self._root = self.split_dataset
        self.max_samples = check_int(self.max_samples, name="max_samples", owner=_OWNER)
        self._order = np.arange(len(self._samples))
        if self.write_to_folder is not False:
            require("PIL", feature=f"{_OWNER}(write_to_folder=...)", extra="image")
            folder = (tempfile.mkdtemp(prefix="deepview-dataset-", dir=".")
                      if self.write_to_folder is True else self.write_to_folder)
            self._export = _Export(pathlib.Path(folder).resolve())  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._selected())

    def _selected(self) -> np.ndarray:
        if 0 <= self.max_samples < len(self._order):
            return self._order[: self.max_samples]
        return self._order

    @property
    def folder(self) -> pathlib.Path | None:
        """Folder the PNGs are written to, or None without ``write_to_folder``."""
        return None if self._export is None else self._export.folder

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner=_OWNER)
        indices = self._selected()
        paths = None
        if self.attach_metadata and self._export is not None:
            paths = self._export.paths(self._samples, self._labels, self._is_test, indices)
        for start in range(0, len(indices), batch_size):
            idx = indices[start : start + batch_size]
            builder = Batch.Builder({"samples": self._samples[idx]})
            if self.attach_metadata:
                builder.metadata[Batch.StdKeys.IDENTIFIER] = (
                    idx.tolist() if paths is None else paths[start : start + len(idx)])
                builder.metadata[Batch.StdKeys.LABELS] = {
                    "label": self._labels[idx].tolist(),
                    "dataset": ["test" if t else "train" for t in self._is_test[idx]]}
            yield builder.make_batch()

    def shuffle(self, random_state: int | np.random.Generator | None = None) -> None:
        """Use a random order of the samples for subsequent calls."""
        rng = np.random.default_rng(random_state)
        self._order = rng.permutation(self._order)

    def subset(self, labels: OneManyOrNone[Any] = None, datasets: OneManyOrNone[str] = None,
               max_samples: int | None = None) -> TrainTestSplitProducer:
        """A producer over the given labels and/or datasets, with this producer's ids and order.

        Raises
        ------
        InvalidParameterError
            ``labels`` or ``datasets`` is empty, or a dataset is not ``"train"``/``"test"``.
        InvalidDataError
            No sample matches.
        """
        mask = np.ones(len(self._samples), dtype=bool)
        if labels is not None:
            wanted = _one_or_many(labels, "labels")
            mask &= np.array([lab in wanted for lab in self._labels.tolist()], dtype=bool)
        if datasets is not None:
            names = _one_or_many(datasets, "datasets")
            unknown = set(names) - {"train", "test"}
            if unknown:
                raise InvalidParameterError(
                    f"{_OWNER}.subset: 'datasets' must be 'train' and/or 'test'; got "
                    f"{sorted(map(str, unknown))}.")
            mask &= np.where(self._is_test, "test" in names, "train" in names)
        if not mask.any():
            error = InvalidDataError("Only one of x_train or x_test can be empty.")
            error.add_note(
                f"{_OWNER}.subset: no sample has labels={labels!r} and datasets={datasets!r}; "
                f"the label values are {sorted(set(self._labels.tolist()), key=str)[:20]}.")
            raise error
        new = copy.copy(self)  # shares the (read-only) arrays and the PNG export
        new._order = self._order[mask[self._order]]
        keep = np.zeros(len(self._samples), dtype=bool)
        keep[new._order] = True
        (x_train, y_train), (x_test, y_test) = self._root
        n_train = len(x_train)
        new.split_dataset = ((x_train[keep[:n_train]], y_train[keep[:n_train]]),
                             (x_test[keep[n_train:]], y_test[keep[n_train:]]))
        new.max_samples = self.max_samples if max_samples is None else check_int(
            max_samples, name="max_samples", owner=f"{_OWNER}.subset")
        return new

    def cleanup(self) -> bool:
        """Delete the folder written by ``write_to_folder``; False if it could not be removed."""
        return True if self._export is None else self._export.cleanup()


def _one_or_many(value: Any, name: str) -> frozenset[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Collection):
        return frozenset([value])
    if len(value) == 0:  # DeepView 3.x's words, and a note with the owner and the fix
        error = InvalidParameterError(f"'{name}' field is of length 0. Maybe it should be None?")
        error.add_note(f"{_OWNER}.subset: give at least one value for '{name}', or None for all.")
        raise error
    return frozenset(value)


class _Export:
    """The PNG folder of a TrainTestSplitProducer: written once, shared by subsets."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = folder
        self._written: dict[int, str] = {}

    def paths(self, samples: np.ndarray, labels: np.ndarray, is_test: np.ndarray,
              indices: np.ndarray) -> list[str]:
        todo = [int(i) for i in indices if int(i) not in self._written]
        if todo:
            image_mod = require("PIL.Image", feature=f"{_OWNER}(write_to_folder=...)",
                                extra="image")
            for i in todo:
                side = "test" if is_test[i] else "train"
                directory = self.folder / side / str(labels[i])
                directory.mkdir(parents=True, exist_ok=True)
                path = directory / f"image{i}.png"
                image_mod.fromarray(_to_uint8_image(samples[i], i)).save(path)
                self._written[i] = str(path)
        return [self._written[int(i)] for i in indices]

    def cleanup(self) -> bool:
        shutil.rmtree(self.folder, ignore_errors=True)
        self._written.clear()
        return not self.folder.exists()


def _to_uint8_image(sample: np.ndarray, index: int) -> np.ndarray:
    if sample.ndim == 3 and sample.shape[-1] == 1:
        sample = sample[..., 0]
    if not (sample.ndim == 2 or (sample.ndim == 3 and sample.shape[-1] in (3, 4))):
        raise DeepViewException(
            f"{_OWNER}: sample {index} has shape {sample.shape}, which is not an image "
            "(H, W), (H, W, 1), (H, W, 3) or (H, W, 4); use write_to_folder=False.")
    if sample.dtype == np.uint8:
        return sample
    values = sample.astype(np.float64)
    if not np.isfinite(values).all():
        raise InvalidDataError(f"{_OWNER}: sample {index} contains NaN or inf; cannot write it.")
    if np.issubdtype(sample.dtype, np.floating) and values.min() >= 0 and values.max() <= 1:
        values = values * 255.0
    if values.min() < 0 or values.max() > 255:
        raise InvalidDataError(
            f"{_OWNER}: sample {index} has values in [{values.min()}, {values.max()}]; PNG "
            "export needs [0, 1] floats or [0, 255] values. Rescale the data first.")
    return np.rint(values).astype(np.uint8)
