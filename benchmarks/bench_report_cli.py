"""Time ``deepview report`` end to end on synthetic embeddings (default 100k x 512 float32).

Writes ``emb.npy`` (clustered Gaussian embeddings with planted outliers and near-duplicates)
and ``meta.csv`` (id + two label columns) into a work folder, then runs the CLI in a fresh
process and reports wall time and peak RSS of that process (Linux ``ru_maxrss`` of that
child alone, from ``os.wait4``).  The inputs are generated in a separate process: Python
starts the CLI with ``vfork``, and the kernel then counts the parent's own peak (the
generated matrix) in the child's ``ru_maxrss``; ``RUSAGE_CHILDREN`` would also take the
generator's.  With ``--workdir`` the inputs are kept there and reused by later runs of the
same size and seed.  Example::

    .venv/bin/python benchmarks/bench_report_cli.py --n 100000 --dim 512 --projection pca
    .venv/bin/python benchmarks/bench_report_cli.py --n 1000000 --dim 256 --projection umap \
        --workdir /tmp/bench-1m-256

``--projection umap`` is the report's default (UMAP fitted on 50,000 samples above that, the
others placed from their neighbours); ``umap-full`` fits UMAP on every sample.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_inputs(folder: Path, n: int, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_clusters = 10
    centers = rng.normal(0.0, 3.0, size=(n_clusters, dim)).astype(np.float32)
    labels = rng.integers(0, n_clusters, size=n)
    x = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 20_000):  # build in chunks to keep the generator's memory low
        stop = min(start + 20_000, n)
        x[start:stop] = centers[labels[start:stop]] + rng.standard_normal(
            (stop - start, dim), dtype=np.float32)
    outliers = rng.choice(n, size=max(10, n // 1000), replace=False)
    x[outliers] = rng.normal(0.0, 6.0, size=(len(outliers), dim))
    pairs = rng.choice(n, size=(max(10, n // 200), 2), replace=False)
    x[pairs[:, 1]] = x[pairs[:, 0]] + rng.normal(0.0, 1e-3, size=(len(pairs), dim))
    np.save(folder / "emb.npy", x)
    split = np.array(["train", "val", "test"])[rng.choice(3, size=n, p=[0.7, 0.15, 0.15])]
    with open(folder / "meta.csv", "w", encoding="utf-8") as f:
        f.write("id,cluster,split\n")
        for i in range(n):
            f.write(f"s{i:07d},c{labels[i]},{split[i]}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--projection", default="pca",
                        choices=["umap", "umap-full", "pca", "tsne", "pacmap"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--extra", nargs="*", default=[], help="extra CLI flags")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="deepview-bench-report-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stamp = work / f"inputs-{args.n}x{args.dim}-{args.seed}"
    if not stamp.exists():
        generator = multiprocessing.get_context("spawn").Process(
            target=make_inputs, args=(work, args.n, args.dim, args.seed))
        generator.start()
        generator.join()
        if generator.exitcode != 0:
            raise SystemExit(f"generating the inputs failed (exit code {generator.exitcode})")
        stamp.touch()
    print(f"inputs: {args.n} x {args.dim} float32 in {work} "
          f"({time.perf_counter() - t0:.1f} s to generate or find)", file=sys.stderr)
    deepview = Path(sys.executable).with_name("deepview")
    runs = []
    for _ in range(args.repeats):
        out = work / "out"
        cmd = [str(deepview), "report", str(work / "emb.npy"), "--out", str(out),
               "--metadata", str(work / "meta.csv"), "--projection", args.projection,
               "--overwrite", *args.extra]
        with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            stdout.seek(0)
            stderr.seek(0)
            if proc.returncode != 0:
                print(stdout.read(), stderr.read(), file=sys.stderr)
                raise SystemExit(f"deepview report failed with exit code {proc.returncode}")
            runs.append({"seconds": round(seconds, 2),
                         "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                         "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)})
            print(stdout.read(), file=sys.stderr)
    result = {"n": args.n, "dim": args.dim, "projection": args.projection,
              "extra": args.extra, "runs": runs,
              "median_seconds": float(np.median([r["seconds"] for r in runs]))}
    print(json.dumps(result))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
