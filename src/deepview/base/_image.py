"""Images on disk as a producer (:class:`ImageProducer`) and the layout enums used by the
image processors (:class:`ImageFormat`, :class:`PixelFormat`)."""

from __future__ import annotations

import enum
import pathlib
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

from deepview._optional import require
from deepview._validation import check_batch_size
from deepview.base._batch import Batch
from deepview.exceptions import DeepViewException, InvalidDataError, InvalidTypeError
from deepview.typing import PathOrStr, resolve_path_or_str

__all__ = ["ImageFormat", "ImageProducer", "PixelFormat"]

_DEFAULT_EXTENSIONS = frozenset({"png", "jpeg", "jpg", "tiff", "bmp"})


class ImageFormat(enum.Enum):
    """Axis layout of one image; the value is the permutation that turns it into HWC.

    Examples
    --------
    >>> import numpy as np
    >>> chw = np.zeros((3, 4, 5))  # channels, height, width
    >>> ImageFormat.CHW.to_hwc(chw).shape
    (4, 5, 3)
    >>> ImageFormat.CHW.from_hwc(ImageFormat.CHW.to_hwc(chw)).shape
    (3, 4, 5)
    """

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
        """OpenCV ``cvtColor`` code converting this format to BGR(A), or None for BGR(A).

        The values are OpenCV's constants (``COLOR_RGB2BGR`` = 4, ``COLOR_RGBA2BGRA`` = 5,
        ``COLOR_GRAY2BGR`` = 8), given without importing OpenCV.
        """
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
    """A producer over the image files in a directory, loaded with Pillow.

    Parameters
    ----------
    directory : str or pathlib.Path
        Folder to search.
    extensions : str or Collection[str], optional
        File extensions (leading dots optional, any case); default
        ``png, jpeg, jpg, tiff, bmp``.
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
    MissingDependencyError
        If Pillow is not installed (``pip install "deepview[image]"``).

    Notes
    -----
    Images keep their depth (8- or 16-bit); colour images are RGB or RGBA, grayscale ones
    ``(H, W, 1)``.  All images must have the same shape.  ``IDENTIFIER`` and ``PATH``
    metadata hold each image's :class:`pathlib.Path`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     Image.new("RGB", (4, 2)).save(folder / f"{i}.png")
    >>> next(iter(ImageProducer(folder)(8))).fields["images"].shape
    (3, 2, 4, 3)
    >>> import shutil; shutil.rmtree(folder)
    """

    def __init__(
        self,
        directory: PathOrStr,
        *,
        extensions: str | Collection[str] | None = None,
        recursive: bool = True,
        field: str = "images",
    ) -> None:
        self._image = require("PIL.Image", feature="ImageProducer", extra="image")
        directory = resolve_path_or_str(directory)
        if not directory.is_dir():
            raise NotADirectoryError(f"ImageProducer: {directory} is not a directory.")
        if extensions is None:
            exts = set(_DEFAULT_EXTENSIONS)
        elif isinstance(extensions, str):
            exts = {extensions}
        else:
            exts = set(extensions)
        if not exts or not all(isinstance(e, str) and e.strip(".") for e in exts):
            raise InvalidTypeError(
                f"ImageProducer: 'extensions' must be non-empty strings like 'png'; got "
                f"{extensions!r}."
            )
        suffixes = {"." + e.lstrip(".").lower() for e in exts}
        pattern = "**/*" if recursive else "*"
        self.image_paths: list[pathlib.Path] = sorted(
            p for p in directory.glob(pattern) if p.is_file() and p.suffix.lower() in suffixes
        )
        if not self.image_paths:
            raise DeepViewException(
                f"ImageProducer: no images with extensions {sorted(suffixes)} in {directory}"
                f"{' (searched recursively)' if recursive else ''}; check the folder or pass "
                "'extensions'."
            )
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
                        "them first (e.g. with Pillow) or point at a folder of equal images."
                    )
            builder = Batch.Builder({self.field: np.stack(images)})
            builder.metadata[Batch.StdKeys.IDENTIFIER] = list(paths)
            builder.metadata[Batch.StdKeys.PATH] = list(paths)
            yield builder.make_batch()
