"""First-render time of the report site in headless Chromium at 100k points.

Writes a synthetic report table (labels, duplicates, projection, familiarity, split
familiarity; no images) with :func:`write_site`, opens ``index.html`` from disk and reads the
time from navigation start to the end of the first full render (the site's
``deepviewState.firstRenderMs``, taken in the animation frame after the scatter, summary,
galleries and duplicate groups were drawn). Also times one label-filter update and one
select-all box selection inside the page.

Usage::

    .venv/bin/python benchmarks/bench_site_render.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deepview.report._site import write_site

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 6, (10, 2))
    cls = rng.integers(0, 10, n)
    xy = centers[cls] + rng.normal(0, 1, (n, 2))
    fam = rng.normal(0, 1, n)
    dup = np.full(n, -1, dtype=np.int32)
    members = rng.choice(n, size=n // 50 * 2, replace=False)
    dup[members] = np.arange(len(members)) // 2  # n/50 pairs
    values = [f"class_{k}" for k in range(10)]
    return pd.DataFrame({
        "id": [f"sample_{i:06d}.json" for i in range(n)],
        "class": np.asarray(values, dtype=object)[cls],
        "split": np.where(rng.random(n) < 0.8, "train", "test"),
        "duplicates_resp": dup,
        "projection_resp_x": xy[:, 0],
        "projection_resp_y": xy[:, 1],
        "familiarity_resp": fam,
        "splitFamiliarity_resp_byAttr_class": [
            {v: float(f + k * 0.01) for k, v in enumerate(values)} for f in fam
        ],
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    df = synthetic(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        index = write_site(df, Path(tmp) / "site")
        write_s = time.perf_counter() - t
        size_mb = (index.parent / "data.js").stat().st_size / 1e6
        first, script, parse, filt, sel = [], [], [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for _ in range(args.repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors: list[str] = []
                page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error"
                        else None)
                page.goto(index.as_uri())
                page.wait_for_function("window.deepviewState && window.deepviewState.ready",
                                       timeout=120_000)
                state = page.evaluate("({r: deepviewState.renderedPoints,"
                                      " f: deepviewState.firstRenderMs,"
                                      " s: deepviewState.renderMs,"
                                      " p: deepviewState.timings.scriptStart,"
                                      " v: deepviewState.timings.views})")
                if state["r"] != args.rows or errors:
                    raise SystemExit(f"bad render: {state}, errors {errors}")
                first.append(state["f"])
                script.append(state["s"])
                parse.append(state["p"])
                views = state["v"]
                filt.append(page.evaluate(
                    "(() => { const t = performance.now(); deepviewState.setFilter(0, 3);"
                    " return performance.now() - t; })()"))
                sel.append(page.evaluate(
                    "(() => { const ids = window.DEEPVIEW_DATA.ids.slice(0, 50000);"
                    " const t = performance.now(); deepviewState.selectIds(ids);"
                    " return performance.now() - t; })()"))
                page.close()
            browser.close()
    med = statistics.median
    print(f"rows: {args.rows:,}; write_site: {write_s:.2f} s; data.js: {size_mb:.1f} MB; "
          f"repeats: {args.repeats}")
    print("| measure | median ms | all runs (ms) |")
    print("|---|---|---|")
    for name, vals in [("navigation start -> first full render", first),
                       ("  of which: load + parse data.js (script start)", parse),
                       ("  of which: script run (decode + build + first draw)", script),
                       ("label filter update (all views)", filt),
                       ("selection of 50k ids (all views)", sel)]:
        print(f"| {name} | {med(vals):.0f} | {', '.join(f'{v:.0f}' for v in vals)} |")
    print("\nlast run, script time per view (ms): "
          + ", ".join(f"{k} {v:.0f}" for k, v in views.items()))


if __name__ == "__main__":
    main()
