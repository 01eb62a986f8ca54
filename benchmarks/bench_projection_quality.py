"""Quality and time of the report's projection: full UMAP against UMAP fitted on a sample with
the other points placed from their neighbours (``UMAP(2, max_fit_samples=m)``).

Data: clustered embeddings as ``bench_report_cli.py`` generates them (``--data clusters``:
10 Gaussian clusters in ``--dim`` dimensions, outliers, near-duplicates), or a harder set
(``--data nested``: 40 clusters of different spreads in 8 groups, so neighbouring clusters
overlap; ``--data overlap``: 20 clusters whose centres are closer than their spread, so
that their points mix), reduced to 40 dimensions with the report's PCA.  Every projection
runs through the report's own code (``deepview.report._analysis.project``, seeded like
``ReportConfig``, stratified by the cluster label).

Figures (on the 40-d reduced data, against the 2-D projection):

- ``trustworthiness@10``: sklearn's definition, estimated on ``--probes`` random points
  (the ranks in the 40-d space are exact, among all points);
- ``knn10_label_accuracy``: share of all points whose 10 nearest points in 2-D (itself
  left out) have its cluster as majority label.

Example::

    .venv/bin/python benchmarks/bench_projection_quality.py --n 100000 --samples 25000 50000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def clusters(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 3.0, size=(10, dim)).astype(np.float32)
    labels = rng.integers(0, 10, size=n)
    x = centers[labels] + rng.standard_normal((n, dim), dtype=np.float32)
    outliers = rng.choice(n, size=max(10, n // 1000), replace=False)
    x[outliers] = rng.normal(0.0, 6.0, size=(len(outliers), dim))
    return x, labels


def nested(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = rng.normal(0.0, 4.0, size=(8, dim))
    centers = groups[np.arange(40) % 8] + rng.normal(0.0, 1.2, size=(40, dim))
    spread = rng.uniform(0.4, 1.0, size=40)
    labels = rng.integers(0, 40, size=n)
    x = (centers[labels] + spread[labels, None] * rng.standard_normal((n, dim))).astype(
        np.float32)
    return x, labels


def overlap(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 0.35, size=(20, dim))
    labels = rng.integers(0, 20, size=n)
    x = (centers[labels] + rng.standard_normal((n, dim))).astype(np.float32)
    return x, labels


def reduce(x: np.ndarray) -> np.ndarray:
    from deepview._compute.spill import Workspace
    from deepview.report._analysis import _pca_with_residual

    return np.asarray(_pca_with_residual(x, 40, 4096, Workspace()).values)


def trustworthiness(high: np.ndarray, low: np.ndarray, k: int, probes: np.ndarray) -> float:
    """sklearn's trustworthiness, the sum estimated on ``probes`` (exact ranks in ``high``)."""
    from sklearn.neighbors import NearestNeighbors

    n = len(high)
    _, low_nn = NearestNeighbors(n_neighbors=k + 1).fit(low).kneighbors(low[probes])
    high64 = high.astype(np.float64)
    sq = np.einsum("ij,ij->i", high64, high64)
    penalty = 0.0
    for start in range(0, len(probes), 256):
        rows = probes[start:start + 256]
        d = sq[rows, None] - 2.0 * high64[rows] @ high64.T + sq[None, :]
        d[np.arange(len(rows)), rows] = np.inf  # the point itself is not a neighbour
        for r, i in enumerate(rows):
            neighbours = [j for j in low_nn[start + r] if j != i][:k]
            ranks = (d[r][None, :] < d[r][neighbours][:, None]).sum(axis=1) + 1
            penalty += float(np.maximum(ranks - k, 0).sum())
    scale = 2.0 / (len(probes) * k * (2.0 * n - 3.0 * k - 1.0))
    return 1.0 - scale * penalty


def knn_accuracy(low: np.ndarray, labels: np.ndarray, k: int) -> float:
    from sklearn.neighbors import NearestNeighbors

    _, nn = NearestNeighbors(n_neighbors=k + 1).fit(low).kneighbors(low)
    votes = labels[nn[:, 1:]]
    majority = np.array([np.bincount(v).argmax() for v in votes])
    return float((majority == labels).mean())


def project(reduced: np.ndarray, labels: np.ndarray, max_fit: int | None, seed: int) -> Any:
    from deepview.introspectors import DimensionReduction
    from deepview.report import _analysis

    strategy = _analysis.seeded(DimensionReduction.Strategy.UMAP(2, max_fit_samples=max_fit),
                                seed)
    start = time.perf_counter()
    xy = _analysis.project(reduced, "f", strategy, batch_size=1024, strata=labels, seed=seed)
    return np.asarray(xy), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--data", choices=["clusters", "nested", "overlap"],
                        default="clusters")
    parser.add_argument("--samples", type=int, nargs="*", default=[25_000, 50_000])
    parser.add_argument("--no-full", action="store_true", help="skip the full UMAP")
    parser.add_argument("--probes", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    make = {"clusters": clusters, "nested": nested, "overlap": overlap}[args.data]
    x, labels = make(args.n, args.dim, args.seed)
    reduced = reduce(x)
    del x
    probes = np.random.default_rng(1).choice(args.n, size=min(args.probes, args.n),
                                             replace=False)
    runs = []
    settings: list[int | None] = ([] if args.no_full else [None]) + list(args.samples)
    for max_fit in settings:
        xy, seconds = project(reduced, labels, max_fit, args.seed)
        row = {"max_fit_samples": max_fit, "seconds": round(seconds, 1),
               "trustworthiness@10": round(trustworthiness(reduced, xy, 10, probes), 4),
               "knn10_label_accuracy": round(knn_accuracy(xy, labels, 10), 4)}
        runs.append(row)
        print(json.dumps(row), file=sys.stderr)
    result = {"n": args.n, "dim": args.dim, "data": args.data, "probes": len(probes),
              "runs": runs}
    print(json.dumps(result))
    print("| max_fit_samples | s | trustworthiness@10 | kNN-10 label accuracy |")
    print("|---|---|---|---|")
    for row in runs:
        print(f"| {row['max_fit_samples'] or 'all (full UMAP)'} | {row['seconds']} | "
              f"{row['trustworthiness@10']} | {row['knn10_label_accuracy']} |")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
