"""A Hugging Face dataset (saved locally or in the ``datasets`` cache) as a producer."""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from deepview._optional import require
from deepview._validation import check_choice
from deepview.base import Record, RecordProducer, decode_image, decode_text, resize_image
from deepview.exceptions import InvalidParameterError

__all__ = ["HFDatasetProducer"]

_READ_BATCH = 256  # rows read at a time (Arrow batches)


class HFDatasetProducer(RecordProducer):
    """A producer over a Hugging Face ``datasets`` dataset (images or texts, with labels),
    read in row batches; unreadable images and blank texts are skipped with a warning.

    Parameters
    ----------
    source : str or pathlib.Path
        A folder saved with ``save_to_disk``, a folder of data files, or a dataset name
        (``"user/name"``) in the ``datasets`` cache.
    split : str, optional
        The split to read; default the only split, else ``"train"``.
    image_column, text_column : str, optional
        The sample column; default the only ``Image`` column, else ``"text"``.
    label_columns : Sequence[str], optional
        Label columns (class labels are shown by name).
    id_column : str, optional
        A column of unique ids; default ``"id"`` if present, else the row number.
    mode : {"RGB", "L"}, default="RGB"
        Colour or grey images.
    name : str, optional
        The dataset configuration (``load_dataset(source, name)``).

    Raises
    ------
    MissingDependencyError
        ``datasets`` is not installed (``pip install "deepview[hf]"``).
    InvalidParameterError
        The dataset cannot be opened, or a split or column is missing (the message lists them).

    Examples
    --------
    >>> import tempfile, datasets
    >>> folder = tempfile.mkdtemp()
    >>> datasets.Dataset.from_dict({"text": ["a cat", "a dog"]}).save_to_disk(folder)
    ...
    >>> [batch] = HFDatasetProducer(folder)(8)
    >>> batch.fields["texts"].tolist()
    ['a cat', 'a dog']
    """

    def __init__(self, source: str | pathlib.Path, *, split: str | None = None,
                 image_column: str | None = None, text_column: str | None = None,
                 label_columns: Sequence[str] = (), id_column: str | None = None,
                 mode: str = "RGB", name: str | None = None) -> None:
        super().__init__()
        datasets = require("datasets", feature="HFDatasetProducer (hf: inputs)", extra="hf")
        if image_column is not None and text_column is not None:
            raise InvalidParameterError(
                "HFDatasetProducer: pass image_column or text_column, not both (one model "
                "embeds one kind of sample).")
        check_choice(mode, name="mode", owner="HFDatasetProducer", choices=("RGB", "L"))
        self.source = str(source)
        self.mode = mode
        path = pathlib.Path(source).expanduser()
        self._dataset, self.split = self._open(datasets, path, split, name)
        if self._dataset.features is None:  # a streamed dataset of unknown features: read one row
            self._dataset = self._dataset._resolve_features()
        features = self._dataset.features
        self.columns = list(features)
        image_feature = datasets.Image
        images = [c for c, f in features.items() if isinstance(f, image_feature)]
        if image_column is None and text_column is None:
            if len(images) == 1:
                image_column = images[0]
            elif "text" in features:
                text_column = "text"
            else:
                raise InvalidParameterError(
                    f"HFDatasetProducer: cannot tell which column of '{self.source}' holds "
                    f"the samples (image columns: {images}); pass image_column= "
                    f"(--image-column) or text_column= (--text-column). Columns: "
                    f"{self.columns}.")
        column = image_column or text_column
        if id_column is None and "id" in features and "id" not in (column, *label_columns):
            id_column = "id"
        self.modality = "image" if image_column else "text"
        self.field = "images" if image_column else "texts"
        for value, option in [(column, f"--{self.modality}-column / {self.modality}_column"),
                              *[(c, "--label-column / label_columns") for c in label_columns],
                              *([(id_column, "--id-column / id_column")] if id_column else [])]:
            if value not in features:
                raise InvalidParameterError(
                    f"HFDatasetProducer: '{self.source}' (split '{self.split}') has no column "
                    f"'{value}' ({option}); its columns: {self.columns}.")
        self.column = str(column)
        if image_column is not None:
            if not isinstance(features[image_column], image_feature):
                raise InvalidParameterError(
                    f"HFDatasetProducer: column '{image_column}' of '{self.source}' is "
                    f"{features[image_column]}, not an Image; pass its image column.")
            # keep the images encoded: the decoder reads them (in DataLoader workers)
            self._dataset = self._dataset.cast_column(image_column,
                                                      datasets.Image(decode=False))
        self.label_columns = [str(c) for c in label_columns]
        self.id_column = id_column
        self._names: dict[str, Callable[[Any], str]] = {
            c: functools.partial(_class_name, features[c]) for c in self.label_columns
            if isinstance(features[c], datasets.ClassLabel)}
        self._size: tuple[int, int] | None = None

    @staticmethod
    def _open(datasets: Any, path: pathlib.Path, split: str | None,
              name: str | None) -> tuple[Any, str]:
        try:
            if path.is_dir() and any((path / f).is_file()  # written by save_to_disk
                                     for f in ("state.json", "dataset_dict.json")):
                loaded = datasets.load_from_disk(str(path))
            else:
                loaded = datasets.load_dataset(str(path), name, streaming=True)
        except Exception as exc:  # also datasets' own classes (DatasetNotFoundError, ...)
            raise InvalidParameterError(
                f"HFDatasetProducer: cannot open the Hugging Face dataset '{path}' "
                f"({type(exc).__name__}: {exc}). Pass a folder written by Dataset.save_to_disk, "
                "a folder of data files, or the name of a dataset already in the datasets cache "
                "(nothing is downloaded where there is no network: load it once where there "
                "is, and save_to_disk).") from None
        if isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict)):
            splits = list(loaded)
            if split is None and len(splits) != 1 and "train" not in splits:
                raise InvalidParameterError(f"HFDatasetProducer: '{path}' has the splits "
                                            f"{splits}; pass split= (--split) to choose one.")
            if split is None:
                split = splits[0] if len(splits) == 1 else "train"
            if split not in loaded:
                raise InvalidParameterError(
                    f"HFDatasetProducer: '{path}' has no split '{split}' (--split); its "
                    f"splits: {splits}.")
            return loaded[split], split
        own = getattr(loaded, "split", None)
        if split is not None and (own is None or str(own) != split):
            raise InvalidParameterError(
                f"HFDatasetProducer: '{path}' holds one dataset"
                + (f" (split '{own}')" if own is not None else " without splits")
                + f", so it has no split '{split}'; drop --split.")
        return loaded, split or str(getattr(loaded, "split", None) or "train")

    @property
    def num_records(self) -> int | None:
        try:
            return len(self._dataset)
        except TypeError:  # streaming: the split's size if the dataset info has it
            info = getattr(self._dataset, "info", None)
            splits = getattr(info, "splits", None) or {}
            split = splits.get(self.split) if hasattr(splits, "get") else None
            count = getattr(split, "num_examples", None)
            return int(count) if count else None

    def __repr__(self) -> str:
        return f"HFDatasetProducer({self.source!r}, split={self.split!r}, column={self.column!r})"

    def records(self) -> Iterator[Record]:
        columns = list(dict.fromkeys([self.column, *self.label_columns,
                                      *([self.id_column] if self.id_column else [])]))
        dataset = self._dataset.select_columns(columns)
        row = 0
        for chunk in dataset.iter(batch_size=_READ_BATCH):
            for i, raw in enumerate(chunk[self.column]):
                labels = {c: "" if chunk[c][i] is None else self._names.get(c, str)(chunk[c][i])
                          for c in self.label_columns}
                sample_id = str(chunk[self.id_column][i]) if self.id_column else str(row)
                text = raw if self.modality == "text" and isinstance(raw, str) else None
                yield Record(sample_id, raw, labels, text=text)
                row += 1

    @property
    def decoder(self) -> Callable[[Any], Any]:
        if self.modality == "image":
            return functools.partial(decode_image, mode=self.mode)
        return decode_text

    def _field(self, samples: list[Any]) -> np.ndarray:
        if self.modality == "text":
            return np.asarray(samples, dtype=str)
        if self._size is None:
            self._size = (int(samples[0].shape[0]), int(samples[0].shape[1]))
        return np.stack([resize_image(s, self._size) for s in samples])


def _class_name(feature: Any, value: Any) -> str:
    try:
        return str(feature.int2str(int(value)))
    except (ValueError, TypeError, IndexError):  # -1 (no label) or out of range: as given
        return str(value)
