"""Micro-benchmark of deepview.base / deepview.processors plumbing, runnable under either
deepview (ours or the reference 3.9.6) through the public API both share.

    PYTHON benchmarks/bench_base_pipeline.py [--n 20000]

Prints one JSON line: seconds per case (best of 3) and the cache size on disk.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import tempfile
import time

import numpy as np


def make_producer(x: np.ndarray):
    from deepview.base import Batch

    def producer(batch_size: int):
        for start in range(0, len(x), batch_size):
            builder = Batch.Builder(fields={"x": x[start : start + batch_size]})
            builder.metadata[Batch.StdKeys.IDENTIFIER] = list(range(start, start + len(
                x[start : start + batch_size])))
            yield builder.make_batch()

    return producer


def consume(producer, batch_size: int) -> int:
    return sum(b.batch_size for b in producer(batch_size))


def best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    import deepview
    from deepview.base import multi_introspect, pipeline
    from deepview.processors import Cacher, Flattener, MeanStdNormalizer

    x = np.random.default_rng(0).normal(size=(args.n, 8, 8, 4)).astype(np.float32)
    source = make_producer(x)
    out: dict[str, object] = {"deepview_version": deepview.__version__, "n": args.n}

    flat = pipeline(source, Flattener(), MeanStdNormalizer(mean=0.0, std=2.0))
    out["pipeline_flatten_norm_bs64"] = best(lambda: consume(flat, 64))

    with tempfile.TemporaryDirectory() as tmp:
        def first_pass() -> None:
            path = pathlib.Path(tempfile.mkdtemp(dir=tmp))
            consume(pipeline(source, Flattener(), Cacher(path)), 256)

        out["cacher_first_pass_bs256"] = best(first_pass)
        path = pathlib.Path(tmp) / "final"
        cacher = Cacher(path)
        cached = pipeline(source, Flattener(), cacher)
        consume(cached, 256)
        out["cache_mb"] = round(
            sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 2**20, 1
        )
        out["cached_read_bs256"] = best(lambda: consume(cached, 256))
        out["cached_read_bs4096"] = best(lambda: consume(cached, 4096))
        out["cached_read_bs32"] = best(lambda: consume(cached, 32))

    def total(producer) -> float:
        return float(sum(b.fields["x"].sum() for b in producer(128)))

    out["multi_introspect_3x_bs128"] = best(
        lambda: multi_introspect(total, total, functools.partial(consume, batch_size=128),
                                 producer=source)
    )
    out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
    print(json.dumps(out))
    os.sys.stdout.flush()


if __name__ == "__main__":
    main()
