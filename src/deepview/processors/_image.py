"""Image processors (resize, blur, gamma, rotation) over ``(batch, H, W, C)`` image fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deepview._optional import require
from deepview._validation import check_float, check_int
from deepview.base import ImageFormat, resize_image
from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError
from deepview.processors._base import Processor
from deepview.typing import OneManyOrNone

__all__ = ["ImageGammaContrastProcessor", "ImageGaussianBlurProcessor", "ImageResizer",
           "ImageRotationProcessor"]


def _check_images(x: np.ndarray, owner: str, *, value_range: bool) -> None:
    if x.ndim != 4:
        raise InvalidDataError(
            f"{owner}: needs a 4-D batch of images (batch, H, W, C); got shape {x.shape}. "
            "Add a channel axis for grayscale images (x[..., None]).")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise InvalidTypeError(f"{owner}: images must be numeric; got dtype {x.dtype}.")
    if value_range and x.size:
        lo, hi = x.min(), x.max()
        if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0 and hi <= 255):
            raise InvalidDataError(
                f"{owner}: pixel values must lie in [0, 255]; got [{lo}, {hi}]. Rescale the "
                "images (e.g. with MeanStdNormalizer) or clip them first.")


def _cast_like(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """Cast float results back to ``dtype``, rounding and clipping for integer dtypes."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype, copy=False)


def _check_format(pixel_format: Any, owner: str) -> ImageFormat:
    if not isinstance(pixel_format, ImageFormat):
        raise InvalidTypeError(
            f"{owner}: 'pixel_format' must be an ImageFormat (HWC or CHW); got {pixel_format!r}.")
    return pixel_format


class ImageResizer(Processor):
    """Resize every image to ``size = (width, height)`` (bilinear, via Pillow).

    Parameters
    ----------
    pixel_format : ImageFormat
        Layout of each image (``HWC`` or ``CHW``); the output keeps it.
    size : tuple[int, int]
        Target ``(width, height)``, both >= 1.
    fields : str or Collection[str], optional
        Image fields; default every field.
    """

    def __init__(self, *, pixel_format: ImageFormat, size: tuple[int, int],
                 fields: OneManyOrNone[str] = None) -> None:
        owner = "ImageResizer"
        require("PIL.Image", feature=owner, extra="image")
        fmt = _check_format(pixel_format, owner)
        if not isinstance(size, Sequence) or len(size) != 2:
            raise InvalidTypeError(f"{owner}: 'size' must be (width, height); got {size!r}.")
        width = check_int(size[0], name="size[0] (width)", owner=owner, min_value=1)
        height = check_int(size[1], name="size[1] (height)", owner=owner, min_value=1)
        self.pixel_format = fmt
        self.size = (width, height)

        def resize(x: np.ndarray) -> np.ndarray:
            _check_images(x, owner, value_range=False)
            hwc = fmt.to_hwc(x, batched=True)
            out = np.empty((len(x), height, width, hwc.shape[3]), dtype=np.float32)
            for i, image in enumerate(hwc):  # as float32 images: the same rounding for all
                out[i] = resize_image(image.astype(np.float32), (height, width))
            return fmt.from_hwc(_cast_like(out, x.dtype), batched=True)

        super().__init__(resize, fields=fields)


class ImageGaussianBlurProcessor(Processor):
    """Blur every image with a Gaussian of ``sigma`` pixels (borders reflected, dtype kept).

    Parameters
    ----------
    sigma : float, default=0.0
        ``0`` leaves images unchanged; must be >= 0.
    fields : str or Collection[str], optional
        Image fields ``(batch, H, W, C)`` with values in [0, 255]; default every field.
    """

    def __init__(self, sigma: float = 0.0, *, fields: OneManyOrNone[str] = None) -> None:
        owner = "ImageGaussianBlurProcessor"
        sigma = check_float(sigma, name="sigma", owner=owner, min_value=0.0)
        self.sigma = sigma

        def blur(x: np.ndarray) -> np.ndarray:
            _check_images(x, owner, value_range=True)
            if sigma == 0:
                return x
            from scipy import ndimage

            out = ndimage.gaussian_filter(x.astype(np.float64), sigma=(0, sigma, sigma, 0),
                                          mode="mirror", truncate=4.0)
            return _cast_like(out, x.dtype)

        super().__init__(blur, fields=fields)


class ImageGammaContrastProcessor(Processor):
    """Gamma correction ``255 * (x / 255) ** gamma`` per pixel; dtype and range are kept.

    Parameters
    ----------
    gamma : float, default=1.0
        Exponent, > 0; below 1 brightens, above 1 darkens.
    fields : str or Collection[str], optional
        Image fields ``(batch, H, W, C)`` with values in [0, 255]; default every field.
    """

    def __init__(self, gamma: float = 1.0, *, fields: OneManyOrNone[str] = None) -> None:
        owner = "ImageGammaContrastProcessor"
        gamma = check_float(gamma, name="gamma", owner=owner, min_value=0.0, min_inclusive=False)
        self.gamma = gamma
        table = np.rint(255.0 * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)

        def adjust(x: np.ndarray) -> np.ndarray:
            _check_images(x, owner, value_range=True)
            if x.dtype == np.uint8:
                return table[x]
            out = 255.0 * (x.astype(np.float64) / 255.0) ** gamma
            return _cast_like(out, x.dtype)

        super().__init__(adjust, fields=fields)


class ImageRotationProcessor(Processor):
    """Rotate every image ``angle`` degrees counter-clockwise (as displayed), keeping its size.

    Parameters
    ----------
    angle : float, default=0.0
        Degrees.
    pixel_format : ImageFormat, default=ImageFormat.HWC
        Layout of each image; the output keeps it.
    cval : float or Sequence[float], default=(0, 0, 0)
        Fill value for pixels from outside the image: one, or one per channel.
    fields : str or Collection[str], optional
        Image fields; default every field.
    """

    def __init__(self, angle: float = 0.0, pixel_format: ImageFormat = ImageFormat.HWC, *,
                 cval: float | Sequence[float] = (0, 0, 0),
                 fields: OneManyOrNone[str] = None) -> None:
        owner = "ImageRotationProcessor"
        angle = check_float(angle, name="angle", owner=owner)
        fmt = _check_format(pixel_format, owner)
        fill = np.atleast_1d(np.asarray(cval, dtype=np.float64))
        if fill.ndim != 1 or fill.size == 0 or not np.isfinite(fill).all():
            raise InvalidParameterError(
                f"{owner}: 'cval' must be a finite number or one per channel; got {cval!r}.")
        self.angle = angle
        self.pixel_format = fmt
        self.cval = tuple(fill.tolist())

        def rotate(x: np.ndarray) -> np.ndarray:
            _check_images(x, owner, value_range=False)
            if angle % 360 == 0:
                return x
            hwc = fmt.to_hwc(x, batched=True)
            channels = hwc.shape[3]
            if 1 < fill.size < channels:
                raise InvalidDataError(
                    f"{owner}: 'cval' has {fill.size} values but the images have {channels} "
                    "channels; give one value or one per channel.")
            values = fill if fill.size >= channels else np.repeat(fill, channels)
            out = _rotate(hwc.astype(np.float64), angle, values[:channels])
            return fmt.from_hwc(_cast_like(out, x.dtype), batched=True)

        super().__init__(rotate, fields=fields)


def _rotate(images: np.ndarray, angle: float, fill: np.ndarray) -> np.ndarray:
    """Bilinear rotation of (B, H, W, C) images, counter-clockwise as displayed."""
    from scipy import ndimage

    _, height, width, _ = images.shape
    theta = np.deg2rad(angle)
    cos, sin = np.cos(theta), np.sin(theta)
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    # inverse map: output pixel -> source pixel (x right, y down; CCW on screen)
    dx, dy = cols - cx, rows - cy
    src_x = cos * dx - sin * dy + cx
    src_y = sin * dx + cos * dy + cy
    coords = np.stack([src_y, src_x])
    out = np.empty_like(images)
    for b in range(images.shape[0]):
        for c in range(images.shape[3]):
            out[b, :, :, c] = ndimage.map_coordinates(images[b, :, :, c], coords, order=1,
                                                      mode="constant", cval=float(fill[c]))
    return out
