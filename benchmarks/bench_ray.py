"""deepview on Ray Data (issue 11): the report with ``--engine ray`` against in-process, and
``map_responses`` with the digits CNN on 1 and 2 actors.

``report`` writes clustered float32 embeddings (10 clusters, planted outliers and near
duplicates, the generator of ``bench_report_cli.py``) as Parquet shards (``id``, ``cluster``,
``split``, ``embedding`` list column) plus the same rows in one Parquet file, then runs
``deepview report FILE`` and ``deepview report FOLDER --engine ray`` (a local cluster) in
fresh processes, sampling every 0.2 s the RSS of the CLI process (the driver) and of every
process below it (Ray's GCS, raylet and workers).  Example::

    .venv/bin/python benchmarks/bench_ray.py report --n 1000000 --dim 128 --shards 16
    .venv/bin/python benchmarks/bench_ray.py inference --n 100000 --actors 1 2
    .venv/bin/python benchmarks/bench_ray.py inference --n 20000 --channels 64 128 --hidden 256
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def make_shards(folder: Path, n: int, dim: int, shards: int, seed: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 3.0, size=(10, dim)).astype(np.float32)
    labels = rng.integers(0, 10, size=n)
    split = np.array(["train", "val", "test"])[rng.choice(3, size=n, p=[0.7, 0.15, 0.15])]
    x = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 20_000):
        stop = min(start + 20_000, n)
        x[start:stop] = centers[labels[start:stop]] + rng.standard_normal(
            (stop - start, dim), dtype=np.float32)
    outliers = rng.choice(n, size=max(10, n // 1000), replace=False)
    x[outliers] = rng.normal(0.0, 6.0, size=(len(outliers), dim))
    pairs = rng.choice(n, size=(max(10, n // 200), 2), replace=False)
    x[pairs[:, 1]] = x[pairs[:, 0]] + rng.normal(0.0, 1e-3, size=(len(pairs), dim))
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("id", pa.string()), ("cluster", pa.string()), ("split", pa.string()),
                        ("embedding", pa.list_(pa.float32(), dim))])
    with pq.ParquetWriter(folder / "all.parquet", schema) as whole:
        for number, rows in enumerate(np.array_split(np.arange(n), shards)):
            table = pa.table({
                "id": pa.array([f"s{i:08d}" for i in rows]),
                "cluster": pa.array([f"c{v}" for v in labels[rows]]),
                "split": pa.array(split[rows]),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x[rows].ravel()), dim),
            }, schema=schema)
            pq.write_table(table, folder / "shards" / f"part-{number:04d}.parquet")
            whole.write_table(table)
    return folder


class RssSampler(threading.Thread):
    """Peak RSS of a process and of each of its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.driver = 0
        self.workers: dict[str, int] = {}  # name -> peak RSS of one such process
        self.total = 0  # peak of the sum over the whole process tree
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.stop.is_set():
            try:
                total = rss = root.memory_info().rss
                self.driver = max(self.driver, rss)
                for child in root.children(recursive=True):
                    try:
                        child_rss = child.memory_info().rss
                        name = " ".join(child.cmdline()[:1]) or child.name()
                        if "ray::" in name or "default_worker" in " ".join(child.cmdline()):
                            name = "worker"
                        elif "raylet" in name:
                            name = "raylet"
                        elif "gcs_server" in name:
                            name = "gcs_server"
                        else:
                            name = Path(name).name
                        self.workers[name] = max(self.workers.get(name, 0), child_rss)
                        total += child_rss
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        continue
                self.total = max(self.total, total)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.2)


def run_cli(args: list[str]) -> dict[str, Any]:
    deepview = Path(sys.executable).with_name("deepview")
    start = time.perf_counter()
    proc = subprocess.Popen([str(deepview), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sampler = RssSampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        print(out, err, file=sys.stderr)
        raise SystemExit(f"deepview {' '.join(args)} failed ({proc.returncode})")
    mb = 1 / 2**20
    return {"seconds": round(seconds, 1), "driver_peak_rss_mb": round(sampler.driver * mb),
            "process_peak_rss_mb": {k: round(v * mb) for k, v in sorted(sampler.workers.items())
                                    if v * mb >= 20},
            "tree_peak_rss_mb": round(sampler.total * mb)}


def bench_report(args: argparse.Namespace) -> None:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="deepview-bench-ray-"))
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "all.parquet").exists():
        t0 = time.perf_counter()
        make_shards(work, args.n, args.dim, args.shards, args.seed)
        print(f"inputs: {args.n} x {args.dim} in {args.shards} shards, "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    common = ["--projection", "pca", "--overwrite", "--quiet", *args.extra]
    results = {}
    for engine in args.engines:
        if engine == "local":
            cli = ["report", str(work / "all.parquet"), "--out", str(work / "out-local")]
        else:
            cli = ["report", str(work / "shards"), "--out", str(work / "out-ray"),
                   "--engine", "ray"]
        results[engine] = run_cli([*cli, *common])
        print(engine, json.dumps(results[engine]), file=sys.stderr)
    if set(args.engines) == {"local", "ray"} and args.compare:
        from deepview.report import DatasetReport

        a = DatasetReport.from_disk(work / "out-local").data
        b = DatasetReport.from_disk(work / "out-ray").data
        results["same_ids_and_duplicates"] = bool(
            a["id"].equals(b["id"]) and a["duplicates_embedding"].equals(
                b["duplicates_embedding"]))
        results["familiarity_max_abs_diff"] = float(np.abs(
            a["familiarity_embedding"] - b["familiarity_embedding"]).max())
    print(json.dumps({"n": args.n, "dim": args.dim, "shards": args.shards, **results},
                     indent=2))


def digits_model(state: dict[str, Any], channels: tuple[int, int] = (8, 16),
                 hidden: int = 48) -> Any:
    import torch

    from deepview.integrations.torch import DigitsCNN, TorchModel

    torch.set_num_threads(1)
    net = DigitsCNN(channels=channels, hidden=hidden)
    net.load_state_dict(state)
    return TorchModel(net, device="cpu", input_shape=(1, 8, 8))


def bench_inference(args: argparse.Namespace) -> None:
    import ray
    import torch
    from ray import cloudpickle

    from deepview.integrations.ray import RayDatasetProducer, map_responses, ray_session
    from deepview.integrations.torch import DigitsCNN, load_digits_split

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    torch.manual_seed(0)
    channels, hidden = tuple(args.channels), args.hidden
    state = DigitsCNN(channels=channels, hidden=hidden).state_dict()
    factory = functools.partial(digits_model, state, channels, hidden)
    split = load_digits_split()
    base = np.concatenate([split.x_train, split.x_test])
    images = np.resize(base, (args.n, *base.shape[1:])).astype(np.float32)
    results = {}
    with ray_session(num_cpus=2):
        dataset = ray.data.from_numpy(images).repartition(max(2, args.n // 5000)).materialize()
        for actors in args.actors:
            responses = map_responses(dataset, factory, "relu3",
                                      input_column="data", batch_size=args.batch_size,
                                      concurrency=actors, num_cpus=0.5)
            start = time.perf_counter()
            rows = sum(b.batch_size for b in RayDatasetProducer(responses, fields="relu3")(4096))
            seconds = time.perf_counter() - start
            assert rows == args.n
            results[actors] = {"seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}
            print(actors, results[actors], file=sys.stderr)
        # the same model in this process, one thread, for reference
        model = factory()
        from deepview.base import ArrayProducer, pipeline

        start = time.perf_counter()
        rows = sum(b.batch_size for b in pipeline(ArrayProducer({"input": images}),
                                                  model(["relu3"]))(args.batch_size))
        seconds = time.perf_counter() - start
        results["in-process"] = {"seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}
    print(json.dumps({"n": args.n, "batch_size": args.batch_size, "channels": channels,
                      "hidden": hidden, **{
        str(k): v for k, v in results.items()}}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    report = sub.add_parser("report")
    report.add_argument("--n", type=int, default=1_000_000)
    report.add_argument("--dim", type=int, default=128)
    report.add_argument("--shards", type=int, default=16)
    report.add_argument("--seed", type=int, default=0)
    report.add_argument("--engines", nargs="+", default=["local", "ray"])
    report.add_argument("--workdir", type=Path, default=None)
    report.add_argument("--compare", action="store_true")
    report.add_argument("--extra", nargs="*", default=[])
    inference = sub.add_parser("inference")
    inference.add_argument("--n", type=int, default=50_000)
    inference.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    inference.add_argument("--batch-size", type=int, default=512)
    inference.add_argument("--channels", type=int, nargs=2, default=[8, 16],
                           help="conv channels of the digits CNN (the demo's: 8 16)")
    inference.add_argument("--hidden", type=int, default=48)
    args = parser.parse_args()
    bench_report(args) if args.what == "report" else bench_inference(args)


if __name__ == "__main__":
    main()
