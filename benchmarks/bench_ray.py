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
import contextlib
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


def make_shards(folder: Path, n: int, dim: int, shards: int, seed: int, *,
                whole: bool = True) -> Path:
    """Write ``folder/shards/part-NNNN.parquet`` (and, with ``whole``, the same rows in
    ``folder/all.parquet``), one shard at a time: memory is one shard's rows, whatever ``n``.

    Each shard draws its rows from its own generator (``seed`` and the shard's number):
    cluster labels, a split, Gaussian clusters around 10 shared centres, 0.1 % outliers and
    0.5 % near-duplicate pairs (both within the shard).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    centers = np.random.default_rng(seed).normal(0.0, 3.0, size=(10, dim)).astype(np.float32)
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("id", pa.string()), ("cluster", pa.string()), ("split", pa.string()),
                        ("embedding", pa.list_(pa.float32(), dim))])
    bounds = np.linspace(0, n, shards + 1).astype(np.int64)
    with (pq.ParquetWriter(folder / "all.parquet", schema) if whole
          else contextlib.nullcontext()) as all_rows:
        for number in range(shards):
            start, stop = int(bounds[number]), int(bounds[number + 1])
            size = stop - start
            rng = np.random.default_rng([seed, number])
            labels = rng.integers(0, 10, size=size)
            split = np.array(["train", "val", "test"])[
                rng.choice(3, size=size, p=[0.7, 0.15, 0.15])]
            x = centers[labels] + rng.standard_normal((size, dim), dtype=np.float32)
            outliers = rng.choice(size, size=max(1, size // 1000), replace=False)
            x[outliers] = rng.normal(0.0, 6.0, size=(len(outliers), dim))
            pairs = rng.choice(size, size=(max(1, size // 200), 2), replace=False)
            x[pairs[:, 1]] = x[pairs[:, 0]] + rng.normal(0.0, 1e-3, size=(len(pairs), dim))
            table = pa.table({
                "id": pa.array([f"s{i:08d}" for i in range(start, stop)]),
                "cluster": pa.array([f"c{v}" for v in labels]),
                "split": pa.array(split),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim),
            }, schema=schema)
            pq.write_table(table, folder / "shards" / f"part-{number:04d}.parquet")
            if all_rows is not None:
                all_rows.write_table(table)
    (folder / "inputs.json").write_text(json.dumps(
        {"n": n, "dim": dim, "shards": shards, "seed": seed, "whole": whole}))
    return folder


class RssSampler(threading.Thread):
    """Peak RSS of a process and of each of its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int, kill_above: int = 0, keep_free: int = 0,
                 trace: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.trace = trace  # every 30 s: seconds, driver RSS and its peak, tree (MB)
        self.kill_above = kill_above  # bytes of the driver's RSS; 0: never
        self.keep_free = keep_free  # kill when the machine's available memory falls below
        self.killed = False
        self.driver = 0
        self.driver_uss = 0  # private (unshared) bytes, sampled every 2 s
        self.workers: dict[str, int] = {}  # name -> peak RSS of one such process
        self.total = 0  # peak of the sum over the whole process tree
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        ticks, t0 = 0, time.perf_counter()
        while not self.stop.is_set():
            try:
                total = rss = root.memory_info().rss
                self.driver = max(self.driver, rss)
                if ticks % 10 == 0:
                    self.driver_uss = max(self.driver_uss, root.memory_full_info().uss)
                ticks += 1
                short = self.keep_free and psutil.virtual_memory().available < self.keep_free
                if (short or self.kill_above and rss > self.kill_above) and not self.killed:
                    self.killed = True  # the process tree is killed by run_cli
                    for process in [*root.children(recursive=True), root]:
                        with contextlib.suppress(psutil.NoSuchProcess):
                            process.kill()
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
                if self.trace is not None and ticks % 150 == 1:
                    with open(self.trace, "a") as out:
                        out.write(f"{time.perf_counter() - t0:.0f} s: driver {rss >> 20} MB (peak "
                                  f"{self.driver >> 20}), tree {total >> 20} MB\n")
            except psutil.NoSuchProcess:
                return
            time.sleep(0.2)


def run_cli(args: list[str], *, log: Path | None = None, kill_above_mb: int = 0,
            keep_free_mb: int = 0) -> dict[str, Any]:
    """Run ``deepview ARGS`` in a fresh process, sampling the RSS of its process tree; with
    ``log``, its output goes there as it comes (progress included); the tree is killed when
    the driver's RSS passes ``kill_above_mb`` or the machine has less than ``keep_free_mb``
    available (a machine shared with other jobs; the result then says so)."""
    deepview = Path(sys.executable).with_name("deepview")
    start = time.perf_counter()
    with (open(log, "w") if log is not None else contextlib.nullcontext()) as sink:
        proc = subprocess.Popen([str(deepview), *args], text=True,
                                stdout=sink or subprocess.PIPE,
                                stderr=subprocess.STDOUT if sink else subprocess.PIPE)
        sampler = RssSampler(proc.pid, kill_above_mb << 20, keep_free_mb << 20,
                             None if log is None else log.with_suffix(".rss"))
        sampler.start()
        out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0 and not sampler.killed:
        print(out, err, file=sys.stderr)
        raise SystemExit(f"deepview {' '.join(args)} failed ({proc.returncode})")
    mb = 1 / 2**20
    return {"seconds": round(seconds, 1), **({"killed": {
                "driver_rss_above_mb": kill_above_mb, "available_below_mb": keep_free_mb}}
                                               if sampler.killed else {}),
            "driver_peak_rss_mb": round(sampler.driver * mb),
            "driver_peak_uss_mb": round(sampler.driver_uss * mb),
            "process_peak_rss_mb": {k: round(v * mb) for k, v in sorted(sampler.workers.items())
                                    if v * mb >= 20},
            "tree_peak_rss_mb": round(sampler.total * mb)}


def bench_report(args: argparse.Namespace) -> None:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="deepview-bench-ray-"))
    work.mkdir(parents=True, exist_ok=True)
    whole = "local" in args.engines
    if not (work / "shards").exists() or (whole and not (work / "all.parquet").exists()):
        t0 = time.perf_counter()
        make_shards(work, args.n, args.dim, args.shards, args.seed, whole=whole)
        print(f"inputs: {args.n} x {args.dim} in {args.shards} shards, "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    common = ["--projection", args.projection, "--overwrite",
              *([] if args.log else ["--quiet"]), *args.extra]
    results = {}
    for engine in args.engines:
        if engine == "local":
            cli = ["report", str(work / "all.parquet"), "--out", str(work / "out-local")]
        else:
            cli = ["report", str(work / "shards"), "--out", str(work / "out-ray"),
                   "--engine", "ray"]
        results[engine] = run_cli([*cli, *common], kill_above_mb=args.kill_above_mb,
                                  keep_free_mb=args.keep_free_mb,
                                  log=None if args.log is None else args.log.with_suffix(
                                      f".{engine}.log"))
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


def profile_driver(args: argparse.Namespace) -> None:
    """The driver's RSS per stage of ``deepview report SHARDS --engine ray``, in this process
    (the sampler of ``profile_report_memory.py``; Ray's workers are other processes)."""
    import os

    from profile_report_memory import Profiler, rss, vm_hwm

    work = args.workdir
    if not (work / "shards").exists():
        make_shards(work, args.n, args.dim, args.shards, args.seed, whole=False)
    os.environ.setdefault("DEEPVIEW_QUIET", "1")
    import ray

    import deepview.cli._ray as cli_ray
    import deepview.integrations.ray as dv_ray
    import deepview.report._analysis as analysis
    import deepview.report._audit as audit
    import deepview.report._core as core
    import deepview.report._ray as report_ray

    profiler = Profiler()
    profiler.instrument([
        (ray, "init"), (report_ray, "collect"), (dv_ray, "reduce_dataset"),
        (report_ray, "collect_in_process"), (core, "_build_columns"),
        (analysis, "find_duplicates"), (analysis, "project"),
        (analysis, "knn_familiarity"), (analysis, "split_familiarity"),
        (analysis, "neighbours"), (audit, "label_issue_columns"), (audit, "leakage_columns"),
        (cli_ray, "write_output"), (core, "write_site"), (core, "write_report"),
    ])
    base = rss()
    profiler.thread.start()
    t0 = time.perf_counter()
    with profiler.stage("run_ray_report (whole CLI)"):
        cli_ray.run_ray_report(work / "shards", out=work / "out-profile", overwrite=True,
                               projection=args.projection,
                               duplicates="--no-duplicates" not in args.extra)
    seconds = time.perf_counter() - t0
    profiler.stop.set()
    n, mb = args.n, 1 << 20
    print(f"n={n} dim={args.dim} projection={args.projection} {' '.join(args.extra)}: base "
          f"RSS {base / mb:.0f} MB, VmHWM {vm_hwm() / mb:.0f} MB, {seconds:.1f} s")
    print("| stage | start MB | peak MB | end MB | peak B/sample above base | "
          "kept B/sample (end - start) | s |")
    print("|---|---|---|---|---|---|---|")
    for row in profiler.rows:
        print(f"| {'&nbsp;' * 2 * row['depth']}{row['stage']} | {row['start'] / mb:.0f} | "
              f"{row['peak'] / mb:.0f} | {row['end'] / mb:.0f} | "
              f"{(row['peak'] - base) / n:.0f} | {(row['end'] - row['start']) / n:.0f} | "
              f"{row['seconds']:.1f} |")


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
    report.add_argument("--projection", default="pca")
    report.add_argument("--log", type=Path, default=None,
                        help="write each command's output (with its progress) to LOG.ENGINE.log")
    report.add_argument("--kill-above-mb", type=int, default=0,
                        help="kill a run whose driver RSS passes this (0: never)")
    report.add_argument("--keep-free-mb", type=int, default=0,
                        help="kill a run when the machine's available memory falls below this")
    inference = sub.add_parser("inference")
    inference.add_argument("--n", type=int, default=50_000)
    inference.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    inference.add_argument("--batch-size", type=int, default=512)
    inference.add_argument("--channels", type=int, nargs=2, default=[8, 16],
                           help="conv channels of the digits CNN (the demo's: 8 16)")
    inference.add_argument("--hidden", type=int, default=48)
    profile = sub.add_parser("profile", help="the driver's RSS per stage (--engine ray)")
    profile.add_argument("--n", type=int, default=2_000_000)
    profile.add_argument("--dim", type=int, default=128)
    profile.add_argument("--shards", type=int, default=16)
    profile.add_argument("--seed", type=int, default=0)
    profile.add_argument("--workdir", type=Path, required=True)
    profile.add_argument("--projection", default="pca")
    profile.add_argument("--extra", nargs="*", default=[])
    args = parser.parse_args()
    {"report": bench_report, "inference": bench_inference,
     "profile": profile_driver}[args.what](args)


if __name__ == "__main__":
    main()
