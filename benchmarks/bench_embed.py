"""Raw data to embeddings / report (issue 12): the 1,797 digits as PNG files through the digits
CNN (whole ``deepview report``), 12k texts through all-MiniLM-L6-v2 (``deepview embed``), and
the rerun of each (everything from the cache).

    python benchmarks/bench_embed.py [--texts benchmarks/out/realdata/text/texts.csv]
                                     [--out benchmarks/out/embed]

Prints one JSON line per step and writes them to OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def write_digit_pngs(root: Path) -> int:
    """The 1,797 scikit-learn digits as 32x32 dark-ink PNGs, ``root/<digit>/<index>.png``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (image, target) in enumerate(zip(digits.images, digits.target)):
        folder = root / str(target)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(255 - image / 16 * 255, 0, 255).astype(np.uint8)
        Image.fromarray(np.kron(pixels, np.ones((4, 4), np.uint8)), "L").save(
            folder / f"{i:04d}.png")
    return len(digits.images)


def run(step: str, args: list[str], results: list[dict]) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "deepview.cli", *args, "--quiet"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{step} failed:\n{proc.stdout}\n{proc.stderr}")
    line = next((ln for ln in proc.stdout.splitlines() if ln.strip().startswith("embedded")),
                "")
    row = {"step": step, "seconds": round(seconds, 1), "embedded": line.strip()}
    print(json.dumps(row), flush=True)
    results.append(row)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=Path,
                        default=Path("benchmarks/out/realdata/text/texts.csv"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/embed"))
    parser.add_argument("--skip-texts", action="store_true")
    args = parser.parse_args()
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    results: list[dict] = []
    n = write_digit_pngs(out / "digits")
    print(f"wrote {n} digit PNGs", flush=True)
    report = ["report", str(out / "digits"), "--model",
              "deepview.integrations.torch:digits_cnn_factory", "--labels-from", "folders",
              "--out", str(out / "digits-report"), "--overwrite"]
    run("digits report (PNG -> CNN -> report)", report, results)
    run("digits report again (embeddings from the cache)", report, results)
    if not args.skip_texts:
        embed = ["embed", str(args.texts), "--model", "all-MiniLM-L6-v2", "--text-column",
                 "text", "--out", str(out / "texts.parquet"), "--overwrite"]
        run("texts embed (MiniLM)", embed, results)
        run("texts embed again (from the cache)", embed, results)
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
