"""From decoded samples to a model's input: :class:`ImageTransform`, :class:`TextTransform`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from deepview._optional import require
from deepview._validation import check_choice, check_float
from deepview.base import resize_image
from deepview.exceptions import InvalidParameterError, InvalidTypeError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImageTransform", "TextTransform"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_RESIZES = ("center_crop", "stretch")


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise InvalidParameterError(
            f"ImageTransform: '{name}' must be a positive int or (height, width); got {value!r}.")
    return int(pair[0]), int(pair[1])


@dataclasses.dataclass(frozen=True)
class ImageTransform:
    """Images (``(H, W, C)`` ``uint8`` arrays of any size) to a model's ``(N, C, H, W)``
    float tensor: resized, scaled to [0, 1] and normalised with ``mean`` and ``std``.

    Parameters
    ----------
    size : int or (int, int), default=224
        Output ``(height, width)``.
    mode : {"RGB", "L"}, default="RGB"
        Colour (3 channels) or grey (1 channel).
    mean, std : sequence of float
        Per-channel statistics; default ImageNet's for RGB, ``0`` and ``1`` for grey.
    resize : {"center_crop", "stretch"}, default="center_crop"
        Crop the centre out of a shorter side of ``size / crop_fraction`` (0.875), or stretch.
    crop_fraction : float, default=0.875
    invert : bool, default=False
        Use ``1 - pixel`` (dark ink becomes bright).
    resample : str, default="bilinear"
        Pillow filter: ``nearest``, ``box``, ``bilinear``, ``bicubic`` or ``lanczos``.
    """

    size: int | tuple[int, int] = 224
    mode: str = "RGB"
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    resize: str = "center_crop"
    crop_fraction: float = 0.875
    invert: bool = False
    resample: str = "bilinear"

    def __post_init__(self) -> None:
        _pair(self.size, "size")
        check_choice(self.mode, name="mode", owner="ImageTransform", choices=("RGB", "L"))
        check_choice(self.resize, name="resize", owner="ImageTransform", choices=_RESIZES)
        check_float(self.crop_fraction, name="crop_fraction", owner="ImageTransform",
                    min_value=0.0, max_value=1.0, min_inclusive=False)
        channels = 3 if self.mode == "RGB" else 1
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and len(value) not in (1, channels):
                raise InvalidParameterError(
                    f"ImageTransform: '{name}' needs 1 or {channels} values for mode "
                    f"{self.mode!r}; got {list(value)}.")
        if self.std is not None and any(float(s) <= 0 for s in self.std):
            raise InvalidParameterError(f"ImageTransform: 'std' must be positive; got "
                                        f"{list(self.std)}.")

    def describe(self) -> dict[str, Any]:
        """The settings, as plain values (part of an embedding cache's key)."""
        return {"size": list(_pair(self.size, "size")), "mode": self.mode,
                "mean": list(self._stats()[0]), "std": list(self._stats()[1]),
                "resize": self.resize, "crop_fraction": self.crop_fraction,
                "invert": self.invert, "resample": self.resample}

    def _stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        rgb = self.mode == "RGB"
        mean = self.mean if self.mean is not None else (IMAGENET_MEAN if rgb else (0.0,))
        std = self.std if self.std is not None else (IMAGENET_STD if rgb else (1.0,))
        return tuple(float(m) for m in mean), tuple(float(s) for s in std)

    def one(self, image: np.ndarray) -> np.ndarray:
        """One ``(H, W, C)`` ``uint8`` image to a ``(C, h, w)`` ``float32`` array."""
        pil = require("PIL.Image", feature="ImageTransform", extra="image")
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
            raise InvalidTypeError(
                "ImageTransform: expects (H, W, C) uint8 images (deepview.base.decode_image); "
                f"got {type(image).__name__} {getattr(image, 'shape', '')}.")
        img = pil.fromarray(image[..., 0] if image.shape[2] == 1 else image[..., :3])
        array = np.asarray(img.convert(self.mode))
        array = array[..., np.newaxis] if array.ndim == 2 else array
        height, width = _pair(self.size, "size")
        if self.resize == "stretch":
            array = resize_image(array, (height, width), self.resample)
        else:
            scale = max(height, width) / self.crop_fraction / min(array.shape[:2])
            new = (max(height, round(array.shape[0] * scale)),
                   max(width, round(array.shape[1] * scale)))
            top, left = (new[0] - height) // 2, (new[1] - width) // 2
            array = resize_image(array, new, self.resample)[top:top + height, left:left + width]
        array = array.astype(np.float32) / np.float32(255.0)
        if self.invert:
            array = np.float32(1.0) - array
        mean, std = self._stats()
        array = (array - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
        return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)

    def __call__(self, images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """A batch (list of images or an ``(N, H, W, C)`` array) to ``(N, C, h, w)``."""
        return torch.from_numpy(np.stack([self.one(image) for image in images]))


class TextTransform:
    """Texts to a tokenizer's inputs (a dict of tensors), padded to the longest and truncated.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        A Hugging Face tokenizer (``AutoTokenizer`` or a sentence-transformers model's).
    max_length : int, optional
        Longest input in tokens; default the tokenizer's (at most 512).
    """

    def __init__(self, tokenizer: Any, max_length: int | None = None) -> None:
        if not callable(tokenizer):
            raise InvalidTypeError("TextTransform: 'tokenizer' must be a Hugging Face "
                                   f"tokenizer; got {type(tokenizer).__name__}.")
        limit = getattr(tokenizer, "model_max_length", 512) or 512
        self.max_length = int(max_length if max_length is not None else min(int(limit), 512))
        if self.max_length <= 0:
            raise InvalidParameterError(f"TextTransform: 'max_length' must be positive; got "
                                        f"{max_length}.")
        self.tokenizer = tokenizer

    def describe(self) -> dict[str, Any]:
        """The settings, as plain values (part of an embedding cache's key)."""
        return {"tokenizer": type(self.tokenizer).__name__,
                "vocab_size": int(getattr(self.tokenizer, "vocab_size", 0) or 0),
                "max_length": self.max_length}

    def __call__(self, texts: Sequence[str] | np.ndarray) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer([str(t) for t in texts], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
        return {str(k): v for k, v in encoded.items()}
