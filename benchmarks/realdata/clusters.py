"""Are the map's cluster names right where there is a truth?  The 12k docstring report, with
each text's source package as the truth.

For every cluster of ``cluster_<response>``: its dominant package and that package's share,
and whether the cluster's name holds a word specific to that package (in at least 5 of the
package's texts and at least twice as common there as in the other packages' texts, with the
report's own tokenizer).  Also the trustworthiness@10 of the map against the embeddings::

    .venv/bin/python benchmarks/realdata/clusters.py REPORT_DIR [EMB.npy]
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np
import pandas as pd

from deepview.report._clusters import tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path)
    parser.add_argument("embeddings", type=Path, nargs="?")
    args = parser.parse_args()
    df = pd.read_parquet(args.report / "data.parquet")
    (column,) = [c for c in df.columns if c.startswith("cluster_")]
    clusters = df[column]
    src = df["source"].astype(str).to_numpy()
    packages = np.unique(src)
    df_in = {p: collections.Counter() for p in packages}
    for text, package in zip(df["text"].astype(str), src):
        df_in[package].update(tokens(text))
    size = {p: int((src == p).sum()) for p in packages}

    def specific(word: str, package: str) -> bool:
        rest = sum(df_in[q][word] for q in packages if q != package)
        return (df_in[package][word] >= 5
                and df_in[package][word] / size[package] >= 2 * rest / (len(src) - size[package]))

    rows, good = [], 0
    for name in clusters.cat.categories:
        inside = (clusters == name).to_numpy()
        values, counts = np.unique(src[inside], return_counts=True)
        top, share = values[counts.argmax()], counts.max() / inside.sum()
        ok = share >= 0.5 and any(specific(w, top) for w in name.split(", "))
        good += ok
        rows.append((int(inside.sum()), top, share, ok, name))
    print("| samples | dominant package | share | specific word in the name | name |")
    print("|---|---|---|---|---|")
    for n, top, share, ok, name in sorted(rows, reverse=True):
        print(f"| {n:,} | {top} | {share:.2f} | {'yes' if ok else 'no'} | {name} |")
    print(f"\n{len(rows)} clusters; {good} with a dominant package (>= 50 %) and a word specific "
          f"to it in the name; {clusters.isna().mean():.1%} of the samples in no cluster")
    if args.embeddings:
        from sklearn.manifold import trustworthiness

        x = np.load(args.embeddings, allow_pickle=False)
        xy = df[[c for c in df.columns if c.startswith("projection_")]].to_numpy()
        rows = np.random.default_rng(0).choice(len(x), min(len(x), 6000), replace=False)
        print(f"trustworthiness@10 (6,000 random rows, against the embeddings): "
              f"{trustworthiness(x[rows], xy[rows], n_neighbors=10):.4f}")


if __name__ == "__main__":
    main()
