"""The report site at scale in headless Chromium: first render, frame times, lasso, bytes.

Writes a synthetic report table (10 clustered classes, a train/test split, duplicate pairs,
projection, familiarity with planted outliers, split familiarity as an Arrow struct column;
no images) with :func:`write_site`, opens ``index.html`` from disk (``file://``) and reads,
inside the page:

- first render: navigation start to the end of the first full render
  (``deepviewState.firstRenderMs``: the animation frame after scatter, summary, galleries and
  duplicate groups were drawn);
- frame times (the script time of one update, which blocks the frame): pan and zoom (one
  redraw of the map), hover (nearest point + overlay), label filter and lasso (the frame
  that redraws the map; above 200k rows the other views follow, each in a task of its own:
  the longest of them, and the time until all are done);
- the id search (chunk load + lookup) and the CSV export of a label-filtered set
  (chunk loads + Blob), with their results checked: the row count shown, the filtered
  count, the searched id's row and the exported rows and their content;
- site size: the ``points`` chunks (loaded with the page) in bytes per point, raw (the typed
  arrays) and on disk (base64 in scripts), and the whole site;
- ``write_site``'s time and peak resident memory above the table (sampled every 50 ms).

Usage::

    .venv/bin/python benchmarks/bench_site_render.py [--rows 100000] [--repeats 3] \
        [--interactions 8]
    .venv/bin/python benchmarks/bench_site_render.py --rows 10000000 --repeats 1
    .venv/bin/python benchmarks/bench_site_render.py --rows 4000000 --no-browser  # memory

Exits non-zero when a check fails (wrong count, search or export).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepview.report._site import write_site

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CLASSES = 10


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """A report table of ``n`` rows, built from Arrow arrays (no Python object per row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 6, (CLASSES, 2))
    cls = rng.integers(0, CLASSES, n).astype(np.int8)
    xy = centers[cls] + rng.normal(0, 1, (n, 2))
    fam = rng.normal(0, 1, n)
    fam[rng.choice(n, size=max(1, n // 10_000), replace=False)] = -60.0  # far outliers
    dup = np.full(n, -1, dtype=np.int32)
    members = rng.choice(n, size=n // 50 * 2, replace=False)
    dup[members] = np.arange(len(members)) // 2  # n/50 pairs
    values = [f"class_{k}" for k in range(CLASSES)]
    ids = pc.binary_join_element_wise("sample_", pc.cast(pa.array(np.arange(n)), pa.string()),
                                      ".json", "")
    split = pa.StructArray.from_arrays(
        [pa.array(fam + k * 0.01) for k in range(CLASSES)], names=values)
    return pd.DataFrame({
        "id": pd.array(ids, dtype=pd.ArrowDtype(pa.string())),
        "class": pd.Categorical.from_codes(cls, values),
        "split": pd.Categorical.from_codes((rng.random(n) < 0.2).astype(np.int8),
                                           ["train", "test"]),
        "duplicates_resp": dup,
        "projection_resp_x": xy[:, 0],
        "projection_resp_y": xy[:, 1],
        "familiarity_resp": fam,
        "splitFamiliarity_resp_byAttr_class": pd.array(split, dtype=pd.ArrowDtype(split.type)),
    })


_MEASURE = """async (repeats) => {
  const s = window.deepviewState, frame = () => new Promise(r => requestAnimationFrame(r));
  const views = async () => { while (s.viewsPending) await new Promise(r => setTimeout(r, 5)); };
  const out = {};
  const add = (key, v) => { (out[key] = out[key] || []).push(v); };
  const time = (f) => { const t = performance.now(); f(); return performance.now() - t; };
  // after an update: the other views' time and the whole update's, then back to all points
  const settle = async (name) => {
    await views();
    add(name + "View", s.lastViewMs);
    add(name + "All", s.lastUpdateMs);
    await frame();
    s.resetAll();
    await views();
    await frame();
  };
  const v = s.view();
  const canvas = document.querySelector("canvas.dv-scatter").getBoundingClientRect();
  const pts = [];
  for (let a = 0; a < 48; a++) {  // a circle over the middle third of the map
    pts.push([canvas.width / 2 + canvas.width / 6 * Math.cos(a / 48 * 2 * Math.PI),
              canvas.height / 2 + canvas.height / 6 * Math.sin(a / 48 * 2 * Math.PI)]);
  }
  for (let r = 0; r < repeats; r++) {
    add("pan", time(() => s.setView(v.k, v.tx + 40 + r, v.ty + 25)));
    await frame();
    add("zoom", time(() => s.setView(v.k * (1.25 + 0.05 * r), v.tx - 100, v.ty - 80)));
    await frame();
    s.setView(v.k, v.tx, v.ty);
    await frame();
    add("hover", time(() => s.hoverAt(canvas.width / 2 + r * 7, canvas.height / 2 - r * 5)));
    s.hoverAt(-100, -100);
    await frame();
    s.setFilter(0, 3 + (r % 2));
    add("filter", s.lastFrameMs);
    out.filtered = out.filtered || s.shownCount;
    await settle("filter");
    s.lassoScreen(pts);
    add("lasso", s.lastLassoMs);
    add("lassoFrame", s.lastSelectMs);
    await settle("lasso");
  }
  return out;
}"""


def _search(page: Any, query: str) -> tuple[float, int]:
    return page.evaluate("""async q => {
      const t = performance.now(); const c = await window.deepviewState.search(q);
      return [performance.now() - t, c]; }""", query)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="page loads")
    parser.add_argument("--interactions", type=int, default=8,
                        help="times each interaction is measured per page load")
    parser.add_argument("--no-browser", action="store_true",
                        help="only write the site (time, memory, size)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the site here (kept) instead of a temporary folder")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    n = args.rows
    t = time.perf_counter()
    df = synthetic(n)
    build_s = time.perf_counter() - t
    class_count = int((df["class"].cat.codes == 3).sum())
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "site"
        t = time.perf_counter()
        with _PeakRss() as rss:
            index = write_site(df, out, overwrite=True)
        write_s = time.perf_counter() - t
        del df
        site = index.parent
        points = sum(p.stat().st_size for p in (site / "chunks").glob("points-*.js"))
        total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        meta = (site / "data.js").read_text(encoding="utf-8")
        raw_bpp = _raw_points_bytes(meta) / max(n, 1)
        print(f"write_site: {write_s:.1f} s, peak RSS {rss.extra / 1e6:.0f} MB above the table "
              f"({rss.extra / max(n, 1):.0f} bytes/row; sampled every 50 ms)", flush=True)
        if args.no_browser:
            print(f"site: {total / 1e6:.1f} MB, points chunks {points / 1e6:.1f} MB "
                  f"({raw_bpp:.1f} bytes/point raw)")
            return
        runs: dict[str, list[float]] = {}
        checks: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for rep in range(args.repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 1000},
                                        accept_downloads=True)
                errors: list[str] = []
                page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error"
                        else None)
                page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
                page.goto(index.as_uri())
                page.wait_for_function("window.deepviewState && window.deepviewState.ready",
                                       timeout=600_000)
                state = page.evaluate("({r: deepviewState.renderedPoints,"
                                      " f: deepviewState.firstRenderMs,"
                                      " s: deepviewState.renderMs,"
                                      " p: deepviewState.timings.scriptStart,"
                                      " v: deepviewState.timings.views})")
                if state["r"] != n or errors:  # every point drawn, no error
                    raise SystemExit(f"bad render: {state}, errors {errors}")
                runs.setdefault("first", []).append(state["f"])
                runs.setdefault("parse", []).append(state["p"])
                runs.setdefault("script", []).append(state["s"])
                views = state["v"]
                got = page.evaluate(_MEASURE, args.interactions)
                for key in ("pan", "zoom", "hover", "filter", "filterView", "filterAll", "lasso",
                            "lassoFrame", "lassoView", "lassoAll"):
                    runs.setdefault(key, []).extend(got[key])
                if rep == 0:
                    checks += _checks(page, n, class_count, got)
                    search_ms, _ = _search(page, f"sample_{n // 3}.json")
                    runs.setdefault("search", []).append(search_ms)
                    export_ms = _export(page, n, class_count, checks)
                    runs.setdefault("export", []).append(export_ms)
                if errors:
                    raise SystemExit(f"page errors: {errors}")
                page.close()
            browser.close()
    med = statistics.median
    load = os.getloadavg()
    print(f"rows: {n:,}; table built in {build_s:.1f} s; write_site: {write_s:.1f} s; "
          f"repeats: {args.repeats}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"points chunks (loaded with the page): {raw_bpp:.1f} bytes/point raw, "
          f"{points / max(n, 1):.1f} bytes/point on disk (base64 scripts), {points / 1e6:.1f} MB;"
          f" whole site {total / 1e6:.1f} MB ({total / max(n, 1):.0f} bytes/point)")
    print("| measure | median ms | p90 ms | runs |")
    print("|---|---|---|---|")
    rows = [("navigation start -> first full render", "first"),
            ("  of which: load + parse data.js and points chunks", "parse"),
            ("  of which: script run (decode + build + first draw)", "script"),
            ("pan (one redraw of the map)", "pan"), ("zoom (one redraw)", "zoom"),
            ("hover (nearest point + overlay)", "hover"),
            ("label filter: the frame (mask + status + map)", "filter"),
            ("label filter: longest other view (each runs in a task of its own)", "filterView"),
            ("label filter: until every view is updated", "filterAll"),
            ("lasso: the selection (polygon mask + one pass)", "lasso"),
            ("lasso: selection + the frame (mask + map)", "lassoFrame"),
            ("lasso: longest other view", "lassoView"),
            ("lasso: until every view is updated", "lassoAll"),
            ("id search (chunk load + lookup)", "search"),
            ("CSV export of one class (chunk loads + Blob)", "export")]
    for name, key in rows:
        vals = runs.get(key, [])
        if vals:
            p90 = float(np.percentile(vals, 90))
            print(f"| {name} | {med(vals):.0f} | {p90:.0f} | {len(vals)} |")
    print("\nlast run, script time per view (ms): "
          + ", ".join(f"{k} {v:.0f}" for k, v in views.items()))
    print("checks: " + "; ".join(checks))


class _PeakRss:
    """Peak resident memory of this process above its level on entry, sampled by a thread."""

    def __enter__(self) -> _PeakRss:
        import threading

        import psutil

        self._proc = psutil.Process()
        self._base = self._proc.memory_info().rss
        self._peak = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self._peak = max(self._peak, self._proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._proc.memory_info().rss)

    @property
    def extra(self) -> int:
        return self._peak - self._base


def _raw_points_bytes(meta: str) -> int:
    """Bytes per row of the points columns, times rows: from the column list in data.js."""
    import json
    import re

    found = re.search(r"window\.DEEPVIEW_DATA = (.*);$", meta, re.M)
    assert found is not None
    info = json.loads(found.group(1))
    size = {"u8": 1, "i8": 1, "u16": 2, "i32": 4, "f32": 4}
    per_row = sum(size[c["dtype"]] * c["width"] for c in info["columns"].values()
                  if c["tier"] == "points")
    return per_row * int(info["n"])


def _checks(page: Any, n: int, class_count: int, got: dict[str, Any]) -> list[str]:
    shown = page.inner_text("[data-testid=shown-count]")
    want = f"Showing {n:,} of {n:,}"
    if shown != want:
        raise SystemExit(f"row count shown: {shown!r}, expected {want!r}")
    if got["filtered"] != class_count:
        raise SystemExit(f"label filter: {got['filtered']} shown, expected {class_count}")
    row = n // 3
    _, count = _search(page, f"sample_{row}.json")
    detail = page.inner_text("[data-testid=detail-id]")
    if count != 1 or detail != f"sample_{row}.json":
        raise SystemExit(f"search: {count} matches, detail {detail!r}")
    page.evaluate("window.deepviewState.resetAll()")
    return [f"shown count '{shown}'", f"filter class_3: {class_count:,} rows",
            f"search 'sample_{row}.json': 1 match, detail opened"]


def _export(page: Any, n: int, class_count: int, checks: list[str]) -> float:
    page.evaluate("window.deepviewState.resetAll(); window.deepviewState.setFilter(0, 3)")
    t = time.perf_counter()
    with page.expect_download(timeout=600_000) as info:
        page.click("[data-testid=export]")
    path = info.value.path()
    ms = (time.perf_counter() - t) * 1000
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(io.StringIO(f.read())))
    if rows[0] != ["id", "class", "split"] or len(rows) - 1 != class_count or any(
            r[1] != "class_3" for r in rows[1:]):
        raise SystemExit(f"export: {len(rows) - 1} rows, header {rows[0]}")
    checks.append(f"export of class_3: {len(rows) - 1:,} rows, all class_3")
    page.evaluate("window.deepviewState.resetAll()")
    return ms


if __name__ == "__main__":
    main()
