"""``deepview demo``: a dataset report of scikit-learn's digits seen through a small CNN trained
for a few seconds (nothing is downloaded)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from deepview._optional import require
from deepview.cli._build import PROJECTIONS, check_output, make_config, write_output
from deepview.exceptions import InvalidParameterError

logger = logging.getLogger(__name__)

__all__ = ["run_demo"]

#: layer whose responses the report describes (penultimate: after fc1's ReLU)
DEMO_LAYER = "relu3"
#: digit images are stored upscaled by this factor so thumbnails are not 8-pixel blurs
_IMAGE_SCALE = 4


def _write_digit_images(images: np.ndarray, names: list[str], root: Path) -> Path:
    """Write ``images`` (n, 1, 8, 8) in [0, 1] as grayscale PNGs ``root/name``; ``root``."""
    pil = require("PIL.Image", feature="deepview demo", extra="image")
    (root / "data" / "digits").mkdir(parents=True, exist_ok=True)
    pixels = np.clip(255.0 - images[:, 0] * 255.0, 0, 255).astype(np.uint8)  # dark ink
    pixels = np.kron(pixels, np.ones((1, _IMAGE_SCALE, _IMAGE_SCALE), dtype=np.uint8))
    for name, image in zip(names, pixels):
        pil.fromarray(image, mode="L").save(root / name, optimize=False)
    return root


def run_demo(out_dir: str | Path, *, overwrite: bool = False, projection: str = "umap",
             epochs: int = 8, seed: int = 0) -> Path:
    """Train a small digits CNN for ``epochs`` epochs, build its dataset report with
    ``projection`` (umap, pca, tsne or pacmap) and write the site to ``out_dir`` (replacing
    an earlier demo there with ``overwrite``); ``seed`` seeds the split, initialisation and
    shuffling.  Returns the path of ``index.html``.

    Raises
    ------
    deepview.cli.CliError
        ``out_dir`` exists without ``overwrite`` (or is an unrelated non-empty folder).
    MissingDependencyError
        torch or Pillow is not installed (``pip install "deepview[torch,image]"``).
    """
    from deepview.base import ArrayProducer, pipeline
    from deepview.report import DatasetReport

    out = Path(out_dir).expanduser()
    if projection not in PROJECTIONS:
        raise InvalidParameterError(f"run_demo: 'projection' must be one of {list(PROJECTIONS)}; "
                                    f"got {projection!r}.")
    check_output(out, overwrite=overwrite)
    torch = require("torch", feature="deepview demo", extra="torch")
    require("PIL.Image", feature="deepview demo", extra="image")
    from deepview.integrations.torch import (
        DigitsCNN,
        TorchModel,
        evaluate_accuracy,
        load_digits_split,
        train_digits_cnn,
    )

    split = load_digits_split(seed=seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: one thread is fastest, and fair to a shared CPU
    try:
        torch.manual_seed(seed)  # the initial weights too: two demos give the same report
        net = train_digits_cnn(DigitsCNN(channels=(8, 16), hidden=48), split=split,
                               epochs=epochs, seed=seed)
    finally:
        torch.set_num_threads(threads)
    accuracy = evaluate_accuracy(net, split.x_test, split.y_test)
    logger.info("deepview demo: digits CNN test accuracy %.3f", accuracy)

    images = np.concatenate([split.x_train, split.x_test])
    digits = np.concatenate([split.y_train, split.y_test])
    which = ["train"] * len(split.x_train) + ["test"] * len(split.x_test)
    names = [f"data/digits/{part}-{i:04d}.png" for i, part in enumerate(which)]
    producer = ArrayProducer({"input": images}, identifiers=names,
                             labels={"digit": [str(int(d)) for d in digits], "split": which})
    model = TorchModel(net, device="cpu", input_shape=(1, 8, 8))
    responses = pipeline(producer, model([DEMO_LAYER]))
    config = make_config(duplicates=True, familiarity=True, projection=projection)
    report = DatasetReport.introspect(responses, config=config, batch_size=512)
    return write_output(report, out, overwrite=overwrite,
                        title=f"deepview demo: digits CNN ({accuracy:.1%} test accuracy)",
                        prepare=functools.partial(_write_digit_images, images, names))
