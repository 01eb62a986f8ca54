"""The demo's digits CNN responses with planted cases, as ``DIR/emb.npy`` + ``DIR/meta.csv``.

The CNN of ``deepview demo`` (``DigitsCNN(channels=(8, 16), hidden=48)``, 8 epochs, seed 0)
is trained on the train split of scikit-learn's ``load_digits``; the embeddings are its
penultimate layer (``relu3``, 48-d, post-ReLU) for all 1,797 digits plus planted inputs:

- ``ood``: 12 inputs that are no digit: 4 grey 8x8 patches of the photographs scikit-learn
  ships (``load_sample_images``, contrast-stretched to [0, 1]), 4 letters drawn with
  Pillow's font, 2 uniform-noise images and 2 checkerboards (few and unlike each other, as
  real strays are: a block of similar strays is a small cluster, not outliers);
- ``corrupt``: 30 digits corrupted by noise (10), inversion (10) or occlusion (10);
- ``edit``: 40 digits with one pixel changed by one grey level (1/16), ``pair_of`` = the
  original's id;
- ``bulk``: 3 digits copied 40 times each (``pair_of`` = the original's id).

Run with the project's interpreter (needs the ``torch`` and ``image`` extras)::

    .venv/bin/python make_digits.py DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def _photo_patches(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` 8x8 grey patches in [0, 1] from scikit-learn's two sample photographs."""
    from sklearn.datasets import load_sample_images

    photos = [img.mean(axis=2) / 255.0 for img in load_sample_images().images]
    patches = []
    for i in range(count):
        photo = photos[i % len(photos)]
        size = int(rng.integers(32, 96))
        top = int(rng.integers(0, photo.shape[0] - size))
        left = int(rng.integers(0, photo.shape[1] - size))
        crop = photo[top:top + size, left:left + size]
        cut = size // 8 * 8
        patch = crop[:cut, :cut].reshape(8, cut // 8, 8, cut // 8).mean(axis=(1, 3))
        # stretched to the full [0, 1] range like the digits' ink, so that the CNN sees
        # high-contrast textures rather than near-blank (low-activation) squares
        patches.append((patch - patch.min()) / max(float(np.ptp(patch)), 1e-6))
    return np.stack(patches)[:, None].astype(np.float32)


def _letters(chars: str) -> np.ndarray:
    """Capital letters drawn with Pillow's built-in font, 8x8 in [0, 1]."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    out = []
    for ch in chars:
        image = Image.new("L", (16, 16), 0)
        ImageDraw.Draw(image).text((3, 1), ch, fill=255, font=font)
        out.append(np.asarray(image.resize((8, 8), Image.BILINEAR), np.float32) / 255.0)
    return np.stack(out)[:, None]


def _out_of_domain(rng: np.random.Generator) -> np.ndarray:
    """12 inputs that are no digit, of four kinds that do not resemble each other:
    photograph patches (4), letters (4), uniform noise (2) and checkerboards (2)."""
    checker = np.indices((8, 8)).sum(axis=0)
    return np.concatenate([
        _photo_patches(4, rng), _letters("AKMW"),
        rng.uniform(0, 1, (2, 1, 8, 8)).astype(np.float32),
        np.stack([(checker // s) % 2 for s in (1, 2)])[:, None].astype(np.float32),
    ])


def build(seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """(inputs ``(n, 1, 8, 8)``, table ``id, digit, split, kind, pair_of``)."""
    from deepview.integrations.torch import load_digits_split

    rng = np.random.default_rng(seed)
    split = load_digits_split(seed=seed)
    images = np.concatenate([split.x_train, split.x_test])
    digits = np.concatenate([split.y_train, split.y_test]).astype(str)
    parts = np.array(["train"] * len(split.x_train) + ["test"] * len(split.x_test))
    ids = [f"{p}-{i:04d}" for i, p in enumerate(parts)]
    rows = [(i, d, p, "natural", "") for i, d, p in zip(ids, digits, parts)]
    planted = [_out_of_domain(rng)]
    rows += [(f"planted-ood-{i:02d}", "none", "train", "ood", "") for i in range(12)]
    picks = rng.permutation(len(images))
    corrupt = images[picks[:30]].copy()
    corrupt[:10] = np.clip(corrupt[:10] + rng.normal(0, 0.5, corrupt[:10].shape), 0, 1)
    corrupt[10:20] = 1.0 - corrupt[10:20]
    corrupt[20:] [:, :, 2:6, 2:6] = 1.0
    planted.append(corrupt)
    for j, name in enumerate(["noise"] * 10 + ["inverted"] * 10 + ["occluded"] * 10):
        k = picks[j]
        rows.append((f"planted-{name}-{j:02d}", digits[k], parts[k], "corrupt", ids[k]))
    edits = images[picks[30:70]].copy()
    for e in edits:
        y, x = rng.integers(0, 8, size=2)
        e[0, y, x] = e[0, y, x] + 1 / 16 if e[0, y, x] < 0.5 else e[0, y, x] - 1 / 16
    planted.append(edits)
    for j, k in enumerate(picks[30:70]):
        rows.append((f"planted-edit-{j:02d}", digits[k], parts[k], "edit", ids[k]))
    for b, k in enumerate(picks[70:73]):
        planted.append(np.repeat(images[k:k + 1], 40, axis=0))
        rows += [(f"planted-bulk-{b}-{c:02d}", digits[k], parts[k], "bulk", ids[k])
                 for c in range(40)]
    inputs = np.concatenate([images, *planted]).astype(np.float32)
    table = pd.DataFrame(rows, columns=["id", "digit", "split", "kind", "pair_of"])
    order = rng.permutation(len(table))
    return inputs[order], table.iloc[order].reset_index(drop=True)


def responses(seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(the CNN's ``relu3`` responses, the inputs, the table) of :func:`build`'s data set."""
    import torch

    from deepview.base import ArrayProducer, pipeline
    from deepview.cli._demo import DEMO_LAYER
    from deepview.integrations.torch import (
        DigitsCNN,
        TorchModel,
        load_digits_split,
        train_digits_cnn,
    )

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reproducible training
    try:
        torch.manual_seed(seed)  # the initial weights too
        net = train_digits_cnn(DigitsCNN(channels=(8, 16), hidden=48),
                               split=load_digits_split(seed=seed), epochs=8, seed=seed)
        inputs, table = build(seed)
        model = TorchModel(net, device="cpu", input_shape=(1, 8, 8))
        out = [np.asarray(b.fields[DEMO_LAYER]) for b in
               pipeline(ArrayProducer({"input": inputs}), model([DEMO_LAYER]))(512)]
    finally:
        torch.set_num_threads(threads)
    return np.concatenate(out).astype(np.float32), inputs, table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    emb, inputs, table = responses(args.seed)
    args.dir.mkdir(parents=True, exist_ok=True)
    np.save(args.dir / "emb.npy", emb, allow_pickle=False)
    np.save(args.dir / "inputs.npy", inputs, allow_pickle=False)  # for pair ground truth
    table.to_csv(args.dir / "meta.csv", index=False)
    print(table["kind"].value_counts().to_string())


if __name__ == "__main__":
    main()
