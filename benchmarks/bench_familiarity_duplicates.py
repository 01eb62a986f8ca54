"""Familiarity and Duplicates internals: kNN backends and GMM fit/score, on the synthetic
data of ``/work/shared/bench/workloads.py`` (clusters + planted outliers and near-duplicate
pairs), deepview only.

    .venv/bin/python benchmarks/bench_familiarity_duplicates.py [--n 20000] [--dim 64]

Prints one JSON line: per kNN strategy the CPU and wall seconds of ``Duplicates.introspect``
and the planted-pair recall/precision; for the GMM the fit and scoring seconds (public
``Familiarity.score`` on the in-memory array and ``pipeline``) and the outlier recall@k.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def make_clusters(n: int, dim: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Same generator as the shared benchmark's ``make_clusters``."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 4.0, size=(8, dim))
    scales = rng.uniform(0.5, 1.5, size=(8, dim))
    weights = rng.dirichlet(np.full(8, 5.0))
    labels = rng.choice(8, size=n, p=weights)
    x = centers[labels] + rng.normal(size=(n, dim)) * scales[labels]
    n_out = max(10, int(round(n * 0.005)))
    n_dup = max(10, int(round(n * 0.01 / 2)))
    perm = rng.permutation(n)
    outliers = np.sort(perm[:n_out])
    src, dst = perm[n_out:n_out + n_dup], perm[n_out + n_dup:n_out + 2 * n_dup]
    half = n_out // 2
    x[outliers[:half]] = rng.normal(0.0, 4.0, size=(half, dim))
    o2 = outliers[half:]
    x[o2] = centers[labels[o2]] + 3.0 * rng.normal(size=(len(o2), dim)) * scales[labels[o2]]
    x[dst] = x[src] + rng.normal(0.0, 1e-3, size=(n_dup, dim))
    return {"x": x.astype(np.float32), "outliers": outliers,
            "pairs": np.stack([src, dst], axis=1)}


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=64)
    args = ap.parse_args()

    from deepview.base import ArrayProducer, pipeline
    from deepview.introspectors import Duplicates, Familiarity

    data = make_clusters(args.n, args.dim)
    producer = ArrayProducer(data["x"], field="emb")
    planted = {tuple(sorted(map(int, p))) for p in data["pairs"]}
    report: dict[str, object] = {"n": args.n, "dim": args.dim}

    for name in ("KNNAuto", "KNNExact", "KNNPartitioned", "KNNFaiss", "KNNAnnoy"):
        strategy = getattr(Duplicates.KNNStrategy, name)()
        try:
            result, wall, cpu = timed(lambda s=strategy: Duplicates.introspect(producer,
                                                                              strategy=s))
        except ImportError as exc:
            report[name] = f"skipped: {exc}"
            continue
        found = set()
        for c in result.results["emb"]:
            idx = sorted(c.indices)
            found.update((a, b) for i, a in enumerate(idx) for b in idx[i + 1:])
        tp = len(found & planted)
        report[name] = {"wall_s": wall, "cpu_s": cpu, "recall": tp / len(planted),
                        "precision": tp / len(found) if found else 0.0}

    gmm = Familiarity.Strategy.GMM(_random_state=0)
    fam, fit_wall, fit_cpu = timed(lambda: Familiarity.introspect(producer, strategy=gmm))
    scores, score_wall, _ = timed(lambda: fam.score(data["x"])["emb"])
    _, pipe_wall, _ = timed(lambda: [r.score for b in pipeline(producer, fam)(1024)
                                     for r in b.metadata[fam.meta_key]["emb"]])
    k = len(data["outliers"])
    recall = len(set(np.argsort(scores)[:k].tolist()) & set(data["outliers"].tolist())) / k
    report["gmm"] = {"fit_wall_s": fit_wall, "fit_cpu_s": fit_cpu,
                     "score_array_wall_s": score_wall, "score_pipeline_wall_s": pipe_wall,
                     "outlier_recall_at_k": recall}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
