"""ImageProducer (Pillow), ImageFormat and PixelFormat."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from deepview.base import Batch, ImageFormat, ImageProducer, PixelFormat, accumulate_batches
from deepview.exceptions import DeepViewException, InvalidParameterError

Image = pytest.importorskip("PIL.Image")


def write(folder: pathlib.Path, name: str, array: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(folder / name)


def test_loads_sorted_rgb_images_with_paths(tmp_path: pathlib.Path, rng) -> None:
    images = [rng.integers(0, 256, size=(3, 5, 3), dtype=np.uint8) for _ in range(3)]
    write(tmp_path, "b.png", images[1])
    write(tmp_path, "a.PNG", images[0])
    write(tmp_path / "sub", "c.bmp", images[2])
    (tmp_path / "notes.txt").write_text("not an image")
    producer = ImageProducer(tmp_path)
    assert [p.name for p in producer.image_paths] == ["a.PNG", "b.png", "c.bmp"]
    batch = accumulate_batches(producer, 2)
    np.testing.assert_array_equal(batch.fields["images"], np.stack(images))
    assert batch.metadata[Batch.StdKeys.IDENTIFIER] == producer.image_paths
    assert batch.metadata[Batch.StdKeys.PATH][2] == tmp_path / "sub" / "c.bmp"
    assert len(ImageProducer(tmp_path, recursive=False)) == 2
    assert len(ImageProducer(tmp_path, extensions=".bmp")) == 1
    assert "n=3" in repr(producer)


def test_grayscale_gets_channel_axis_and_16_bit_is_kept(tmp_path: pathlib.Path) -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write(tmp_path / "g", "g.png", gray)
    batch = next(iter(ImageProducer(tmp_path / "g", field="px")(1)))
    assert batch.fields["px"].shape == (1, 3, 4, 1)
    np.testing.assert_array_equal(batch.fields["px"][0, :, :, 0], gray)
    deep = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
    write(tmp_path / "d", "d.png", deep)
    loaded = next(iter(ImageProducer(tmp_path / "d")(1))).fields["images"]
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded[0, :, :, 0], deep)


def test_palette_and_alpha_images_are_converted(tmp_path: pathlib.Path) -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 3] = 128
    write(tmp_path, "a.png", rgba)
    assert next(iter(ImageProducer(tmp_path)(1))).fields["images"].shape == (1, 2, 2, 4)
    Image.new("P", (2, 2)).save(tmp_path / "b.png")  # palette, no alpha: RGB
    with pytest.raises(DeepViewException, match=r"b.png has shape \(2, 2, 3\)"):
        list(ImageProducer(tmp_path)(2))


def test_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(NotADirectoryError):
        ImageProducer(tmp_path / "missing")
    with pytest.raises(DeepViewException, match="no images"):
        ImageProducer(tmp_path)
    write(tmp_path, "a.png", np.zeros((2, 2, 3), dtype=np.uint8))
    with pytest.raises(InvalidParameterError, match="batch_size"):
        list(ImageProducer(tmp_path)(0))
    with pytest.raises(TypeError, match="extensions"):
        ImageProducer(tmp_path, extensions=[""])
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DeepViewException, match="cannot read image"):
        list(ImageProducer(tmp_path)(2))


def test_image_format_chw_really_maps_to_hwc() -> None:
    hwc = np.arange(2 * 3 * 4).reshape(2, 3, 4)  # H=2, W=3, C=4
    chw = np.transpose(hwc, (2, 0, 1))
    np.testing.assert_array_equal(ImageFormat.CHW.to_hwc(chw), hwc)
    np.testing.assert_array_equal(ImageFormat.CHW.from_hwc(hwc), chw)
    batch = np.stack([chw, chw + 1])
    np.testing.assert_array_equal(ImageFormat.CHW.to_hwc(batch, batched=True)[1], hwc + 1)
    np.testing.assert_array_equal(ImageFormat.HWC.to_hwc(hwc), hwc)
    np.testing.assert_array_equal(ImageFormat.HWC.to_hwc(batch, batched=True), batch)
    np.testing.assert_array_equal(ImageFormat.HWC.from_hwc(hwc), hwc)


def test_pixel_format() -> None:
    assert PixelFormat.RGBA.alpha_channel == 3 and PixelFormat.BGRA.alpha_channel == 3
    assert PixelFormat.RGB.alpha_channel is None
    assert PixelFormat.BGR.to_opencv is None and PixelFormat.BGRA.to_opencv is None
    assert (PixelFormat.RGB.to_opencv, PixelFormat.RGBA.to_opencv) == (4, 5)
    assert PixelFormat.GRAY.to_opencv == 8
    assert [f.channels for f in PixelFormat] == [4, 3, 4, 3, 1]
