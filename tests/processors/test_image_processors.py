"""ImageResizer, ImageGaussianBlurProcessor, ImageGammaContrastProcessor, ImageRotationProcessor."""

from __future__ import annotations

import numpy as np
import pytest

from deepview.base import Batch, ImageFormat
from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError
from deepview.processors import (
    ImageGammaContrastProcessor,
    ImageGaussianBlurProcessor,
    ImageResizer,
    ImageRotationProcessor,
)

pytest.importorskip("PIL")


def apply(stage, images: np.ndarray) -> np.ndarray:
    return stage._get_batch_processor()(Batch({"img": images})).fields["img"]


def test_resizer_hwc_constant_and_dtype() -> None:
    images = np.full((2, 4, 6, 3), 7, dtype=np.uint8)
    out = apply(ImageResizer(pixel_format=ImageFormat.HWC, size=(3, 2)), images)
    assert out.shape == (2, 2, 3, 3) and out.dtype == np.uint8 and (out == 7).all()


def test_resizer_chw_non_square_matches_hwc() -> None:
    rng = np.random.default_rng(0)
    hwc = rng.uniform(0, 255, size=(2, 6, 4, 3)).astype(np.float32)  # H=6, W=4
    chw = np.transpose(hwc, (0, 3, 1, 2))
    out_hwc = apply(ImageResizer(pixel_format=ImageFormat.HWC, size=(2, 3)), hwc)
    out_chw = apply(ImageResizer(pixel_format=ImageFormat.CHW, size=(2, 3)), chw)
    assert out_hwc.shape == (2, 3, 2, 3) and out_chw.shape == (2, 3, 3, 2)
    np.testing.assert_allclose(np.transpose(out_chw, (0, 2, 3, 1)), out_hwc)


def test_resizer_keeps_gradient_direction() -> None:
    ramp = np.tile(np.arange(8, dtype=np.float32), (4, 1))[None, :, :, None]  # grows with x
    out = apply(ImageResizer(pixel_format=ImageFormat.HWC, size=(4, 2)), ramp)[0, :, :, 0]
    assert (np.diff(out, axis=1) > 0).all() and np.allclose(np.diff(out, axis=0), 0)


def test_resizer_errors() -> None:
    with pytest.raises(InvalidParameterError, match="width"):
        ImageResizer(pixel_format=ImageFormat.HWC, size=(0, 2))
    with pytest.raises(InvalidTypeError, match="width, height"):
        ImageResizer(pixel_format=ImageFormat.HWC, size=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="ImageFormat"):
        ImageResizer(pixel_format="HWC", size=(2, 2))  # type: ignore[arg-type]
    with pytest.raises(InvalidDataError, match="4-D"):
        apply(ImageResizer(pixel_format=ImageFormat.HWC, size=(2, 2)), np.zeros((2, 3, 3)))


def test_blur_preserves_constant_images_and_spreads_a_dot() -> None:
    constant = np.full((1, 6, 6, 2), 100, dtype=np.uint8)
    out = apply(ImageGaussianBlurProcessor(sigma=1.5), constant)
    assert out.dtype == np.uint8 and (out == 100).all()
    dot = np.zeros((1, 9, 9, 1))
    dot[0, 4, 4, 0] = 200
    blurred = apply(ImageGaussianBlurProcessor(sigma=1.0), dot)[0, :, :, 0]
    assert blurred[4, 4] < 200 and blurred[4, 5] > 0
    assert blurred[4, 5] == pytest.approx(blurred[5, 4]) == pytest.approx(blurred[3, 4])
    assert blurred.sum() == pytest.approx(200, rel=1e-3)
    same = np.arange(2 * 3 * 3 * 1, dtype=np.uint8).reshape(2, 3, 3, 1)
    np.testing.assert_array_equal(apply(ImageGaussianBlurProcessor(), same), same)


def test_blur_errors() -> None:
    with pytest.raises(InvalidParameterError, match="sigma"):
        ImageGaussianBlurProcessor(sigma=-1)
    with pytest.raises(InvalidDataError, match=r"\[0, 255\]"):
        apply(ImageGaussianBlurProcessor(sigma=1), np.full((1, 2, 2, 1), 300.0))
    with pytest.raises(InvalidTypeError, match="numeric"):
        apply(ImageGaussianBlurProcessor(sigma=1), np.zeros((1, 2, 2, 1), dtype=bool))


def test_gamma_uint8_lookup_table() -> None:
    images = np.array([0, 64, 128, 255], dtype=np.uint8).reshape(1, 2, 2, 1)
    out = apply(ImageGammaContrastProcessor(gamma=2.0), images)
    expected = np.rint(255 * (images / 255.0) ** 2).astype(np.uint8)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_gamma_float_keeps_dtype_and_range() -> None:
    images = np.array([0.0, 63.75, 127.5, 255.0], dtype=np.float32).reshape(1, 2, 2, 1)
    out = apply(ImageGammaContrastProcessor(gamma=0.5), images)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), 255 * (images.ravel() / 255) ** 0.5, rtol=1e-6)
    assert not np.allclose(out, np.rint(out))  # not silently quantised to uint8 steps
    ints = np.array([100], dtype=np.uint16).reshape(1, 1, 1, 1)
    assert apply(ImageGammaContrastProcessor(gamma=1.0), ints).dtype == np.uint16


def test_gamma_errors() -> None:
    with pytest.raises(InvalidParameterError, match="gamma"):
        ImageGammaContrastProcessor(gamma=0)
    with pytest.raises(InvalidDataError, match=r"\[0, 255\]"):
        apply(ImageGammaContrastProcessor(gamma=2), np.full((1, 2, 2, 1), -1.0))


def test_rotation_is_counter_clockwise_and_keeps_size() -> None:
    image = np.zeros((1, 5, 5, 1))
    image[0, 2, 4, 0] = 1.0  # right of centre
    out = apply(ImageRotationProcessor(angle=90), image)[0, :, :, 0]
    assert out.shape == (5, 5)
    assert np.unravel_index(np.argmax(out), out.shape) == (0, 2)  # now above centre
    back = apply(ImageRotationProcessor(angle=-90), image)[0, :, :, 0]
    assert np.unravel_index(np.argmax(back), back.shape) == (4, 2)


def test_rotation_chw_non_square_matches_hwc_and_fills_border() -> None:
    rng = np.random.default_rng(1)
    hwc = rng.uniform(0, 255, size=(1, 4, 6, 3))
    chw = np.transpose(hwc, (0, 3, 1, 2))
    out_hwc = apply(ImageRotationProcessor(angle=30, cval=(1, 2, 3)), hwc)
    out_chw = apply(ImageRotationProcessor(angle=30, pixel_format=ImageFormat.CHW,
                                           cval=(1, 2, 3)), chw)
    np.testing.assert_allclose(np.transpose(out_chw, (0, 2, 3, 1)), out_hwc)
    assert out_hwc[0, 0, 0].tolist() == [1.0, 2.0, 3.0]  # corner comes from outside
    zeros = np.zeros((1, 4, 4, 2), dtype=np.uint8)
    filled = apply(ImageRotationProcessor(angle=45, cval=9), zeros)
    assert filled.dtype == np.uint8 and filled[0, 0, 0].tolist() == [9, 9]
    ramp = np.arange(3 * 5 * 2, dtype=np.uint8).reshape(1, 3, 5, 2)
    full_turn = apply(ImageRotationProcessor(angle=360), ramp)
    assert full_turn.shape == ramp.shape and full_turn.dtype == np.uint8
    np.testing.assert_array_equal(full_turn, ramp)  # a full turn changes nothing


def test_rotation_errors() -> None:
    with pytest.raises(InvalidParameterError, match="cval"):
        ImageRotationProcessor(angle=10, cval=[])
    with pytest.raises(InvalidDataError, match="channels"):
        apply(ImageRotationProcessor(angle=10, cval=(1, 2)), np.zeros((1, 3, 3, 3)))
    with pytest.raises(InvalidDataError, match="4-D"):
        apply(ImageRotationProcessor(angle=10), np.zeros((3, 3)))
