"""Where the memory of ``deepview report`` goes: RSS per stage, in one process.

Generates (or reuses) the clustered embeddings of ``bench_report_cli.py`` in ``--workdir``,
then runs the CLI's ``run_report`` in this process while a thread samples the resident set
size (``/proc/self/statm``) every 10 ms.  Every stage (loading, the single pass over the
producer, the pre-reduction, each component, the DataFrame, the site, the saved report) is
wrapped so that the table shows, per stage, the RSS when it started, the peak while it ran and
the RSS when it ended, in MB and in bytes per sample above the base (the RSS after the imports,
umap-learn, numba and pynndescent included, before the inputs are read).  ``--live`` prints
each stage as it ends (for runs that may not finish); ``--max-rss-mb`` stops the run
there.  Example::

    .venv/bin/python benchmarks/profile_report_memory.py --n 200000 --dim 128 \
        --workdir /tmp/dv-mem-200k --projection pca

Linux only (``/proc``).  Figures are RSS, so they include memory the allocator keeps after a
stage freed it; the peak is a sample (10 ms), not the kernel's exact mark (``VmHWM`` is printed
at the end for that).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * _PAGE


def vm_hwm() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class Profiler:
    """Stack of running stages; a sampling thread raises the peak of every open stage."""

    def __init__(self) -> None:
        self.stack: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.live = False
        self.limit: int | None = None

    def _sample(self) -> None:
        while not self.stop.wait(0.01):
            value = rss()
            with self.lock:
                for stage in self.stack:
                    stage["peak"] = max(stage["peak"], value)
                open_stages = [stage["stage"] for stage in self.stack]
            if self.limit is not None and value > self.limit:
                print(f"[{time.strftime('%H:%M:%S')}] RSS {value >> 20} MB above --max-rss-mb "
                      f"in {open_stages}: stopped", file=sys.stderr, flush=True)
                os._exit(3)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = rss()
        row = {"stage": name, "depth": len(self.stack), "start": start, "peak": start,
               "t0": time.perf_counter()}
        with self.lock:
            self.stack.append(row)
            self.rows.append(row)
        try:
            yield
        finally:
            end = rss()
            with self.lock:
                row["peak"] = max(row["peak"], end)
                row["end"] = end
                row["seconds"] = time.perf_counter() - row["t0"]
                self.stack.remove(row)
            if self.live:  # one line per finished stage, for runs that may not finish
                mb = 1 << 20
                print(f"[{time.strftime('%H:%M:%S')}] {'  ' * row['depth']}{name}: "
                      f"start {start / mb:.0f} MB, peak {row['peak'] / mb:.0f} MB, "
                      f"end {end / mb:.0f} MB, {row['seconds']:.1f} s", file=sys.stderr,
                      flush=True)

    def wrap(self, owner: Any, attribute: str, name: str | None = None) -> None:
        function: Callable[..., Any] = getattr(owner, attribute)
        label = name or attribute

        @functools.wraps(function)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.stage(label):
                return function(*args, **kwargs)

        setattr(owner, attribute, wrapped)

    def instrument(self, targets: list[tuple[Any, str]]) -> None:
        """Wrap each ``(owner, attribute)`` that exists in a stage of its name, and the
        building of a large ``pandas.DataFrame`` from a dict of columns (the report table)."""
        import pandas as pd

        for owner, attribute in targets:
            if hasattr(owner, attribute):
                self.wrap(owner, attribute)
        frame_init = pd.DataFrame.__init__

        def frame(table: Any, *a: Any, **k: Any) -> None:
            big = bool(a) and isinstance(a[0], dict) and len(a[0]) > 3
            with self.stage("pd.DataFrame(columns)") if big else contextlib.nullcontext():
                frame_init(table, *a, **k)

        pd.DataFrame.__init__ = frame  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--projection", default="pca")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--live", action="store_true",
                        help="print each stage to stderr as it ends")
    parser.add_argument("--max-rss-mb", type=int, default=None,
                        help="stop the process (exit code 3) when its RSS passes this")
    args = parser.parse_args()

    from bench_report_cli import make_inputs

    args.workdir.mkdir(parents=True, exist_ok=True)
    stamp = args.workdir / f"inputs-{args.n}x{args.dim}-{args.seed}"
    if not stamp.exists():
        make_inputs(args.workdir, args.n, args.dim, args.seed)
        stamp.touch()

    os.environ.setdefault("DEEPVIEW_QUIET", "1")

    import deepview.cli._app as app
    import deepview.report._analysis as analysis
    import deepview.report._audit as audit
    import deepview.report._core as core

    profiler = Profiler()
    profiler.instrument([
        (app, "load_embeddings"), (app, "load_metadata"), (app, "make_config"),
        (app, "SampleProducer"), (app, "write_output"),
        (core.DatasetReport, "introspect"), (core, "collect"), (core, "_build_columns"),
        (analysis, "reduce_field"), (analysis, "find_duplicates"), (analysis, "project"),
        (analysis, "knn_familiarity"), (analysis, "split_familiarity"),
        (analysis, "neighbours"), (audit, "label_issue_columns"), (audit, "leakage_columns"),
        (core, "site_neighbours"), (core, "write_site"), (core, "write_report"),
    ])

    base = rss()
    # the projection's and the site's libraries (umap-learn, numba, pynndescent): a fixed
    # cost, imported here so that the stages' figures above "imports" scale with n
    with profiler.stage("imports (umap-learn, numba, pynndescent, sklearn)"):
        import pynndescent  # noqa: F401
        import sklearn.manifold  # noqa: F401
        import umap  # noqa: F401
    imported = rss()
    profiler.live = args.live
    profiler.limit = None if args.max_rss_mb is None else args.max_rss_mb << 20
    profiler.thread.start()
    out = args.workdir / "out"
    t0 = time.perf_counter()
    with profiler.stage("run_report (whole CLI)"):
        app.run_report(args.workdir / "emb.npy", out=out, metadata=args.workdir / "meta.csv",
                       projection=None if args.projection == "none" else args.projection,
                       overwrite=True)
    seconds = time.perf_counter() - t0
    profiler.stop.set()
    n = args.n
    mb = 1 << 20
    print(f"n={n} dim={args.dim} projection={args.projection}: base RSS {base / mb:.0f} MB, "
          f"after the imports {imported / mb:.0f} MB, VmHWM {vm_hwm() / mb:.0f} MB, "
          f"{seconds:.1f} s")
    print("| stage | start MB | peak MB | end MB | peak B/sample above imports | "
          "rise B/sample (peak - start) | kept B/sample (end - start) | s |")
    print("|---|---|---|---|---|---|---|---|")
    for row in profiler.rows:
        print(f"| {'&nbsp;' * 2 * row['depth']}{row['stage']} | {row['start'] / mb:.0f} | "
              f"{row['peak'] / mb:.0f} | {row['end'] / mb:.0f} | "
              f"{(row['peak'] - imported) / n:.0f} | {(row['peak'] - row['start']) / n:.0f} | "
              f"{(row['end'] - row['start']) / n:.0f} | {row['seconds']:.1f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"n": n, "dim": args.dim, "base": base,
                                         "imported": imported,
                                         "vm_hwm": vm_hwm(), "seconds": seconds,
                                         "rows": profiler.rows}, default=float, indent=1))


if __name__ == "__main__":
    main()
