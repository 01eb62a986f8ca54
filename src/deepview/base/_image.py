"""Image producers (:class:`ImageProducer`, :class:`ImageFolderProducer`), :func:`decode_image`,
:func:`resize_image` and the layout enums :class:`ImageFormat` and :class:`PixelFormat`."""

from __future__ import annotations

import enum
import functools
import io
import pathlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from deepview._optional import require
from deepview._validation import check_batch_size, check_choice
from deepview.base._batch import Batch
from deepview.base._records import Record, RecordProducer
from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)
from deepview.typing import PathOrStr, resolve_path_or_str

__all__ = ["ImageFolderProducer", "ImageFormat", "ImageProducer", "PixelFormat", "decode_image",
           "resize_image"]

_DEFAULT_EXTENSIONS = frozenset({"png", "jpeg", "jpg", "tiff", "tif", "bmp", "gif", "webp"})


class ImageFormat(enum.Enum):
    """Axis layout of one image; the value is the permutation that turns it into HWC."""

    HWC = (0, 1, 2)
    CHW = (1, 2, 0)

    def to_hwc(self, image: np.ndarray, *, batched: bool = False) -> np.ndarray:
        """Transpose ``image`` (or a batch of images, ``batched=True``) to HWC."""
        axes = self.value if not batched else (0, *(a + 1 for a in self.value))
        return np.transpose(image, axes)

    def from_hwc(self, image: np.ndarray, *, batched: bool = False) -> np.ndarray:
        """Transpose an HWC ``image`` (or batch of them) back to this layout."""
        inverse = tuple(int(i) for i in np.argsort(self.value))
        axes = inverse if not batched else (0, *(a + 1 for a in inverse))
        return np.transpose(image, axes)


class PixelFormat(enum.Enum):
    """Channel order of an image."""

    BGRA = "BGRA"
    BGR = "BGR"
    RGBA = "RGBA"
    RGB = "RGB"
    GRAY = "GRAY"

    @property
    def to_opencv(self) -> int | None:
        """OpenCV ``cvtColor`` code converting this format to BGR(A), or None for BGR(A)."""
        return {"RGB": 4, "RGBA": 5, "GRAY": 8}.get(self.value)

    @property
    def alpha_channel(self) -> int | None:
        """Index of the alpha channel, or None."""
        return 3 if self in (PixelFormat.BGRA, PixelFormat.RGBA) else None

    @property
    def channels(self) -> int:
        """Number of channels."""
        return 1 if self is PixelFormat.GRAY else len(self.value)


def _load_image(path: pathlib.Path, image_mod: Any) -> np.ndarray:
    """Load ``path`` unchanged in depth; RGB/RGBA, grayscale gets a trailing channel axis."""
    try:
        with image_mod.open(path) as img:
            mode = img.mode
            if mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F"):
                array = np.asarray(img.convert("L") if mode == "1" else img)
                if mode == "I" and array.size and array.min() >= 0 and array.max() < 2**16:
                    array = array.astype(np.uint16)
                return array[..., np.newaxis]
            if mode in ("RGB", "RGBA"):
                return np.asarray(img)
            has_alpha = "A" in mode or "transparency" in img.info
            return np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    except OSError as exc:
        raise DeepViewException(f"ImageProducer: cannot read image {path}: {exc}") from exc


class ImageProducer:
    """A producer over the image files in a directory, loaded with Pillow at their depth
    (RGB, RGBA or grayscale ``(H, W, 1)``); all must have one shape.

    Parameters
    ----------
    directory : str or pathlib.Path
        Folder to search.
    extensions : str or Collection[str], optional
        File extensions (leading dots optional, any case).
    recursive : bool, default=True
        Also search subfolders.
    field : str, default="images"
        Field name of the ``(batch, H, W, C)`` image array.

    Raises
    ------
    NotADirectoryError
        If ``directory`` is not a directory.
    DeepViewException
        If no image is found.
    """

    def __init__(self, directory: PathOrStr, *, extensions: str | Collection[str] | None = None,
                 recursive: bool = True, field: str = "images") -> None:
        self._image = require("PIL.Image", feature="ImageProducer", extra="image")
        directory = resolve_path_or_str(directory)
        if not directory.is_dir():
            raise NotADirectoryError(f"ImageProducer: {directory} is not a directory.")
        exts = {extensions} if isinstance(extensions, str) else set(
            _DEFAULT_EXTENSIONS if extensions is None else extensions)
        if not exts or not all(isinstance(e, str) and e.strip(".") for e in exts):
            raise InvalidTypeError(
                f"ImageProducer: 'extensions' must be non-empty strings like 'png'; got "
                f"{extensions!r}.")
        suffixes = {"." + e.lstrip(".").lower() for e in exts}
        pattern = "**/*" if recursive else "*"
        self.image_paths: list[pathlib.Path] = sorted(
            p for p in directory.glob(pattern) if p.is_file() and p.suffix.lower() in suffixes)
        if not self.image_paths:
            raise DeepViewException(
                f"ImageProducer: no images with extensions {sorted(suffixes)} in {directory}"
                f"{' (searched recursively)' if recursive else ''}; check the folder or pass "
                "'extensions'.")
        self.directory = directory
        self.field = field
        self._shape: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.image_paths)

    def __repr__(self) -> str:
        return f"ImageProducer({str(self.directory)!r}, n={len(self)})"

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        batch_size = check_batch_size(batch_size, owner="ImageProducer")
        for start in range(0, len(self.image_paths), batch_size):
            paths = self.image_paths[start : start + batch_size]
            images = [_load_image(p, self._image) for p in paths]
            for path, image in zip(paths, images):
                if self._shape is None:
                    self._shape = image.shape
                elif image.shape != self._shape:
                    raise InvalidDataError(
                        f"ImageProducer: image {path} has shape {image.shape} but earlier "
                        f"images have {self._shape}; all images must share one shape. Resize "
                        "them first (e.g. with Pillow) or point at a folder of equal images.")
            builder = Batch.Builder({self.field: np.stack(images)})
            builder.metadata[Batch.StdKeys.IDENTIFIER] = list(paths)
            builder.metadata[Batch.StdKeys.PATH] = list(paths)
            yield builder.make_batch()


# --------------------------------------------------------------------------- raw images
def decode_image(raw: Any, mode: str = "RGB") -> np.ndarray:
    """Decode one image to ``(H, W, C)`` ``uint8``: transparency laid on white, EXIF applied.

    Parameters
    ----------
    raw : str, pathlib.Path, bytes, dict or PIL.Image.Image
        A path, encoded bytes, a Hugging Face ``{"bytes", "path"}`` dict or an image.
    mode : {"RGB", "L"}, default="RGB"
        Colour (``C`` = 3) or grey (``C`` = 1) output.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    InvalidDataError
        The image cannot be read (missing, truncated or not an image).
    """
    pil = require("PIL.Image", feature="decode_image", extra="image")
    ops = require("PIL.ImageOps", feature="decode_image", extra="image")
    check_choice(mode, name="mode", owner="decode_image", choices=("RGB", "L"))
    if isinstance(raw, Mapping):
        if raw.get("bytes") is None and not raw.get("path"):
            raise InvalidDataError("image entry holds neither bytes nor a path")
        raw = raw["path"] if raw.get("bytes") is None else raw["bytes"]
    try:
        if isinstance(raw, pil.Image):
            img = raw
            img.load()
        else:
            source = io.BytesIO(raw) if isinstance(raw, (bytes, bytearray)) else raw
            with pil.open(source) as opened:
                opened.load()  # decode now: a truncated file fails here, not later
                img = opened.copy() if opened.format != "MPO" else opened.convert("RGB")
        img = ops.exif_transpose(img) or img
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(img, dtype=np.float64)
            top = 65535.0 if array.max(initial=0) > 255 else 255.0
            img = pil.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8), "L")
        elif img.mode == "F":
            array = np.nan_to_num(np.asarray(img, dtype=np.float64))
            scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
            img = pil.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), "L")
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
            rgba = img.convert("RGBA")
            white = pil.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = pil.alpha_composite(white, rgba)
        out = img.convert(mode)
    except (OSError, ValueError, SyntaxError, pil.DecompressionBombError) as exc:
        raise InvalidDataError(f"cannot read image: {exc}") from None
    array = np.asarray(out, dtype=np.uint8)
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.size == 0:
        raise InvalidDataError("empty image")
    return array


def resize_image(image: np.ndarray, size: tuple[int, int], resample: str = "bilinear"
                 ) -> np.ndarray:
    """Resize an ``(H, W, C)`` image with Pillow (``uint8`` stays ``uint8``, else ``float32``).

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, C)``.
    size : tuple of int
        ``(height, width)`` of the result.
    resample : str, default="bilinear"
        Pillow filter: ``nearest``, ``box``, ``bilinear``, ``hamming``, ``bicubic``, ``lanczos``.

    Returns
    -------
    numpy.ndarray
    """
    if image.shape[:2] == tuple(size):
        return image
    pil = require("PIL.Image", feature="resize_image", extra="image")
    box, filt = (size[1], size[0]), getattr(pil.Resampling, resample.upper())
    if image.dtype == np.uint8:
        img = pil.fromarray(image[..., 0] if image.shape[2] == 1 else image)
        out = np.asarray(img.resize(box, filt), dtype=np.uint8)
        return out[..., np.newaxis] if out.ndim == 2 else out
    channels = [pil.fromarray(np.ascontiguousarray(image[:, :, c], dtype=np.float32), "F")
                for c in range(image.shape[2])]
    return np.stack([np.asarray(c.resize(box, filt)) for c in channels], axis=-1)


class ImageFolderProducer(RecordProducer):
    """A producer over the image files of a folder (ids: relative paths, ``cat/001.png``),
    decoded by :func:`decode_image` and resized to ``size``; unreadable ones are skipped.

    Parameters
    ----------
    directory : str or pathlib.Path
        The folder, searched recursively.
    labels_from : {"folders"}, optional
        ``"folders"``: an image's label ``label_name`` is its subfolder.
    metadata : str, pathlib.Path or pandas.DataFrame, optional
        A CSV file or DataFrame naming each image by relative path (or unique file name) in
        ``id_column``; its ``label_columns`` (default all others) are labels.
    id_column, label_columns : str, Sequence[str], optional
        See ``metadata``.
    label_name : str, default="label"
        The label dimension of ``labels_from="folders"``.
    mode : {"RGB", "L"}, default="RGB"
        Colour or grey images.
    size : tuple of int, optional
        ``(height, width)`` of the images; default the size of the first image.
    extensions : Collection[str], optional
        File extensions to read.
    field : str, default="images"
        Name of the batch field.

    Raises
    ------
    InvalidDataError
        ``directory`` holds no image, or ``metadata`` misses some images.
    InvalidParameterError
        ``directory`` is not a folder, or an option is not one of its choices.
    """

    modality = "image"

    def __init__(self, directory: PathOrStr, *, labels_from: str | None = None,
                 metadata: Any = None, id_column: str = "id",
                 label_columns: Sequence[str] | None = None, label_name: str = "label",
                 mode: str = "RGB", size: tuple[int, int] | None = None,
                 extensions: Collection[str] | None = None, field: str = "images") -> None:
        super().__init__()
        require("PIL.Image", feature="ImageFolderProducer", extra="image")
        root = resolve_path_or_str(directory)
        if not root.is_dir():
            raise InvalidParameterError(
                f"ImageFolderProducer: '{root}' is not a folder; pass the folder that holds "
                "the images.")
        if labels_from not in (None, "folders"):
            raise InvalidParameterError(
                f"ImageFolderProducer: 'labels_from' must be 'folders' or None; got "
                f"{labels_from!r} (labels from a table: pass metadata=).")
        check_choice(mode, name="mode", owner="ImageFolderProducer", choices=("RGB", "L"))
        if size is not None:
            size = (int(size[0]), int(size[1]))
            if min(size) <= 0:
                raise InvalidParameterError(
                    f"ImageFolderProducer: 'size' must be positive (height, width); got {size}.")
        exts = _DEFAULT_EXTENSIONS if extensions is None else {
            e.lower().lstrip(".") for e in extensions}
        files = sorted(
            (p for p in root.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in exts
             and not any(part.startswith(".") for part in p.relative_to(root).parts)),
            key=lambda p: p.relative_to(root).as_posix(),
        )
        if not files:
            raise InvalidDataError(
                f"ImageFolderProducer: no image files ({', '.join(sorted(exts))}) in '{root}' "
                "or its subfolders; check the folder (or pass extensions=).")
        self.directory = root
        self.field = field
        self.mode = mode
        self.size = size
        self.label_name = label_name
        self.labels_from = labels_from
        self.image_paths: list[pathlib.Path] = files
        self.ids = [p.relative_to(root).as_posix() for p in files]
        folders = labels_from == "folders"  # the label is the id's folder, "" at the top
        self._labels = [{label_name: i.rpartition("/")[0]} if folders else {} for i in self.ids]
        if folders and not any(labels[label_name] for labels in self._labels):
            raise InvalidDataError(
                f"ImageFolderProducer: labels_from='folders' but every image of '{root}' "
                "is directly in it; put each class in a subfolder (cat/001.png).")
        if metadata is not None:
            self._join_metadata(metadata, id_column, label_columns)

    def _join_metadata(self, metadata: Any, id_column: str,
                       label_columns: Sequence[str] | None) -> None:
        import pandas as pd

        if isinstance(metadata, pd.DataFrame):
            frame = metadata.astype(str)
            where = "the metadata table"
        else:
            path = resolve_path_or_str(metadata)
            if not path.is_file():
                raise InvalidParameterError(
                    f"ImageFolderProducer: metadata file '{path}' does not exist.")
            try:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            except (ValueError, OSError) as exc:
                raise InvalidDataError(
                    f"ImageFolderProducer: cannot read '{path}' as CSV ({exc}).") from None
            where = f"'{path}'"
        if id_column not in frame.columns:
            raise InvalidParameterError(
                f"ImageFolderProducer: {where} has no id column '{id_column}'; columns: "
                f"{list(frame.columns)[:20]}. Pass id_column= (--id-column).")
        columns = list(label_columns) if label_columns else [
            c for c in frame.columns if c not in (id_column, "path", "text")]
        missing_columns = [c for c in columns if c not in frame.columns]
        if missing_columns:
            raise InvalidParameterError(
                f"ImageFolderProducer: {where} has no label column(s) {missing_columns}; "
                f"columns: {list(frame.columns)[:20]}.")
        keys = frame[id_column].astype(str).tolist()
        if len(set(keys)) != len(keys):
            raise InvalidDataError(
                f"ImageFolderProducer: the ids in column '{id_column}' of {where} repeat; "
                "give each image one row.")
        rows = {key: i for i, key in enumerate(keys)}
        by_name = [pathlib.PurePosixPath(i).name for i in self.ids]
        use_names = not any(i in rows for i in self.ids) and len(set(by_name)) == len(by_name)
        wanted = by_name if use_names else self.ids
        absent = [w for w in wanted if w not in rows]
        if absent:
            raise InvalidDataError(
                f"ImageFolderProducer: {len(absent)} of {len(wanted)} images have no row in "
                f"{where} (e.g. {absent[:3]}); its '{id_column}' column must name every image "
                "by its path relative to the folder (or by its file name).")
        values = {c: frame[c].astype(str).tolist() for c in columns}
        for labels, key in zip(self._labels, wanted):
            labels.update({str(c): values[c][rows[key]] for c in columns})

    @property
    def num_records(self) -> int:
        return len(self.image_paths)

    def __len__(self) -> int:
        return len(self.image_paths)

    def __repr__(self) -> str:
        return f"ImageFolderProducer({str(self.directory)!r}, n={len(self)})"

    def records(self) -> Iterator[Record]:
        for path, image_id, labels in zip(self.image_paths, self.ids, self._labels):
            yield Record(image_id, str(path), labels, path=str(path))

    @property
    def decoder(self) -> Callable[[Any], np.ndarray]:
        return functools.partial(decode_image, mode=self.mode)

    def _field(self, samples: list[Any]) -> np.ndarray:
        if self.size is None:
            self.size = (int(samples[0].shape[0]), int(samples[0].shape[1]))
        return np.stack([resize_image(s, self.size) for s in samples])
