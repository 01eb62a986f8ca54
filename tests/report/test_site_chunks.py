"""The report site at scale (issue 10): the chunked data format, read back in Python, and the
page over a 50k-row site written in small chunks (so every tier has many chunks, loaded on
demand from ``file://``): row count, label filter, search, CSV export of the selection,
nearest neighbours in the details, the familiarity histogram with outliers, the counters.
The 10M-row checks of the same features are in ``benchmarks/bench_site_render.py``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _sitehelpers import load_payload, read_site

from deepview._compute.spill import Workspace
from deepview.report import _site
from deepview.report._site import write_site

N = 50_000
K = 8
SMALL = {"points": 8192, "rows": 4096, "details": 2048, "search": 8192}
#: planted familiarity outliers: far below and far above the bulk
LOW, HIGH = [11, 20_000, 49_999], [7, 31_000]
CLASSES = [f"class_{k}" for k in range(5)]


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    cls = rng.integers(0, len(CLASSES), N)
    centers = np.array([[-8, 0], [8, 0], [0, 8], [0, -8], [0, 0]], dtype=float)
    xy = centers[cls] + rng.normal(0, 1, (N, 2))
    fam = rng.normal(0, 1, N)
    fam[LOW] = [-500.0, -400.0, -300.0]
    fam[HIGH] = [200.0, 300.0]
    dup = np.full(N, -1, dtype=np.int32)
    dup[[5, 6, 7]] = 0
    return pd.DataFrame({
        "id": [f"s{i:05d}" for i in range(N)],
        "class": np.asarray(CLASSES, dtype=object)[cls],
        "split": np.where(np.arange(N) % 4 == 0, "test", "train"),
        "duplicates_resp": dup,
        "projection_resp_x": xy[:, 0],
        "projection_resp_y": xy[:, 1],
        "familiarity_resp": fam,
    })


def neighbours() -> tuple[np.ndarray, np.ndarray]:
    """Planted lists: row i's neighbours are rows i+1 .. i+K (mod N) at distance 0.5 j."""
    idx = (np.arange(N)[:, None] + np.arange(1, K + 1)[None, :]) % N
    dist = np.broadcast_to(0.5 * np.arange(1, K + 1), (N, K))
    return idx.astype(np.int32), dist.astype(np.float32)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return frame()


@pytest.fixture(scope="module")
def site(table: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    patch = pytest.MonkeyPatch()
    patch.setattr(_site, "TIER_ROWS", SMALL)
    patch.setattr(_site, "PRELOAD_ROWS", 0)
    try:
        return write_site(table, tmp_path_factory.mktemp("big") / "site",
                          neighbours={"resp": neighbours()})
    finally:
        patch.undo()


# ------------------------------------------------------------------------- the data format
def test_chunks_round_trip_the_table(table: pd.DataFrame, site: Path) -> None:
    folder = site.parent
    names = sorted(p.name for p in (folder / "chunks").iterdir())
    for tier, rows in SMALL.items():  # every tier in chunks of its size, none missing
        assert [n for n in names if n.startswith(tier + "-")] == sorted(
            f"{tier}-{k}.js" for k in range(-(-N // rows)))
    payload = load_payload(folder)
    assert payload["n"] == N and payload["ids"] == list(table["id"])
    (cls, split) = payload["labels"]
    assert [cls["values"][c] for c in cls["codes"]] == list(table["class"])
    assert cls["codes"].dtype == np.uint8  # 5 values: one byte per sample
    (resp,) = payload["responses"]
    np.testing.assert_array_equal(resp["familiarity"], table["familiarity_resp"].astype(
        np.float32))
    np.testing.assert_array_equal(resp["duplicates"], table["duplicates_resp"])
    # quantised coordinates: within one step of 1/65534 of the range
    x = table["projection_resp_x"].to_numpy()
    step = (x.max() - x.min()) / 65534
    m = resp["meta"]["xy"]
    back = m["x0"] + resp["qx"].astype(np.float64) * (m["x1"] - m["x0"]) / 65534
    assert np.abs(back - x).max() <= step / 2 + 1e-9
    # ranks: 50k < 65535 finite scores, so the rank is the exact position in the order
    order = np.argsort(table["familiarity_resp"].to_numpy(), kind="stable")
    np.testing.assert_array_equal(resp["famRank"][order], np.arange(N))
    rows, dist = resp["neighbours"]
    np.testing.assert_array_equal(rows, neighbours()[0])
    np.testing.assert_allclose(dist, neighbours()[1])


def test_points_tier_stays_within_16_bytes_per_sample(site: Path) -> None:
    meta, _ = read_site(site.parent)
    size = {"u8": 1, "i8": 1, "u16": 2, "i32": 4, "f32": 4}
    per_row = sum(size[c["dtype"]] * c["width"] for c in meta["columns"].values()
                  if c["tier"] == "points")
    # x, y (2 + 2), class and split codes (1 + 1), histogram bin (1), rank (2)
    assert per_row == 9
    # everything else of a sample (id, scores, neighbours) is in the tiers loaded on demand
    tiers = {c["tier"] for c in meta["columns"].values()}
    assert tiers == {"points", "rows", "details", "search"}
    assert meta["preload"] is False


def test_histogram_keeps_outliers_apart() -> None:
    scores = np.concatenate([np.random.default_rng(0).normal(0, 1, 10_000),
                             [-500.0, -400.0, 300.0, np.nan]])
    bins, hist = _site._histogram(scores)
    assert hist is not None and hist["min"] == -500.0 and hist["max"] == 300.0
    assert -5 < hist["lo"] < -2 and 2 < hist["hi"] < 5  # the bulk's range
    counts = np.bincount(bins, minlength=256)
    # the outer bars: the planted outliers (a normal sample has none beyond ~3.9 sigma here)
    assert counts[0] == 2 and counts[hist["bins"] + 1] == 1 and counts[255] == 1
    inner = counts[1:hist["bins"] + 1]
    assert inner.sum() == 10_000 and inner.max() < 0.2 * 10_000  # not one bar
    # no outliers: the full range, nothing in the outer bars
    bins, hist = _site._histogram(np.linspace(0.0, 1.0, 101))
    assert hist is not None and (hist["lo"], hist["hi"]) == (0.0, 1.0)
    assert np.bincount(bins, minlength=256)[[0, 33]].tolist() == [0, 0]


def test_ranks_are_quantiles_with_exact_extremes_beyond_65535_rows() -> None:
    scores = np.random.default_rng(1).normal(size=200_000)
    ranks, lowest, highest = _site._ranks(scores)
    order = np.argsort(scores, kind="stable")
    assert lowest == order[:_site._EXTREMES].tolist()
    assert highest == order[-_site._EXTREMES:].tolist()
    assert ranks.max() <= 65534 and np.all(np.diff(ranks[order].astype(np.int64)) >= 0)


def test_neighbours_must_match_the_table(table: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one row per sample"):
        write_site(table.iloc[:10], tmp_path / "s",
                   neighbours={"resp": (np.zeros((3, 2)), np.zeros((3, 2)))})
    with pytest.raises(TypeError, match="neighbours"):
        write_site(table.iloc[:10], tmp_path / "t", neighbours=[1])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the page
@pytest.fixture(scope="module")
def page(site: Path, browser: Any) -> Iterator[Any]:
    pg = browser.new_page(viewport={"width": 1000, "height": 900}, accept_downloads=True)
    # the views but the map update after the frame, as above 200k rows
    pg.add_init_script("window.DEEPVIEW_SYNC_VIEWS_MAX = 1000;")
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(site.as_uri())
    pg.wait_for_function("window.deepviewState && window.deepviewState.ready", timeout=60_000)
    pg.errors = errors
    yield pg
    assert errors == []
    pg.close()


def _settle(pg: Any) -> None:
    """Wait for the views that update after the map's frame."""
    pg.wait_for_function("!window.deepviewState.viewsPending")


def _reset(pg: Any) -> None:
    pg.evaluate("window.deepviewState.resetAll()")
    _settle(pg)


pytestmark_browser = pytest.mark.browser


@pytestmark_browser
def test_page_shows_every_row_and_loads_details_on_demand(page: Any) -> None:
    assert page.inner_text("[data-testid=shown-count]") == f"Showing {N:,} of {N:,}"
    assert page.inner_text("[data-testid=stat-total]") == f"{N:,}"
    assert page.evaluate("window.deepviewState.renderedPoints") == N
    # only data.js, the points chunks and app.js came with the page; tiles loaded their rows
    srcs = page.eval_on_selector_all("script", "els => els.map(e => e.getAttribute('src'))")
    assert srcs == ["data.js", *[f"chunks/points-{k}.js" for k in range(7)], "assets/app.js"]
    # the least familiar tiles are the planted low outliers, ids from their rows chunks
    page.wait_for_function("document.querySelectorAll("
                           "'[data-testid=least-familiar] .dv-tile[data-id]').length === 12")
    tiles = page.eval_on_selector_all("[data-testid=least-familiar] .dv-tile",
                                      "els => els.map(e => e.dataset.id)")
    assert tiles[:3] == [f"s{i:05d}" for i in LOW]


@pytestmark_browser
def test_label_filter_counts(page: Any, table: pd.DataFrame) -> None:
    page.select_option("[data-testid=filter-0]", "2")
    want = int((table["class"] == "class_2").sum())
    assert page.evaluate("window.deepviewState.shownCount") == want
    assert page.inner_text("[data-testid=shown-count]") == f"Showing {want:,} of {N:,}"
    _settle(page)  # the summary follows the map
    assert page.inner_text("[data-testid=stat-shown]") == f"{want:,}"
    shown = page.eval_on_selector_all("[data-testid=label-count][data-dim=class]",
                                      "els => els.map(e => [e.dataset.value, e.textContent])")
    assert [v for v, text in shown if text.endswith(f"{want:,}")] == ["class_2"]
    tiles = page.eval_on_selector_all("[data-testid=least-familiar] .dv-tile",
                                      "els => els.map(e => +e.dataset.index)")
    assert tiles and all(table["class"].iloc[i] == "class_2" for i in tiles)
    _reset(page)


@pytestmark_browser
def test_search_by_id_prefix_and_label_value(page: Any, table: pd.DataFrame) -> None:
    _settle(page)
    page.fill("[data-testid=search]", "s31234")
    page.press("[data-testid=search]", "Enter")
    page.wait_for_function("document.querySelector('[data-testid=detail-id]') && "
                           "document.querySelector('[data-testid=detail-id]').textContent"
                           " === 's31234'")
    assert page.evaluate("window.deepviewState.shownCount") == 1
    assert page.evaluate("window.deepviewState.search('s4999')") == 10  # s49990..s49999
    assert page.evaluate("window.deepviewState.search('CLASS_3')") == int(
        (table["class"] == "class_3").sum())
    assert "labelled class = class_3" in page.inner_text("[data-testid=search-note]")
    assert page.evaluate("window.deepviewState.search('nothing-like-this')") == 0
    assert "No id or label value" in page.inner_text("[data-testid=search-note]")
    _reset(page)


@pytestmark_browser
def test_export_downloads_the_shown_rows_as_csv(page: Any, table: pd.DataFrame) -> None:
    page.evaluate("window.deepviewState.setFilter(1, 0)")  # split = test: every 4th row
    page.evaluate("window.deepviewState.selectRows(Array.from({length: 2000}, (_, i) => i))")
    with page.expect_download() as info:
        page.click("[data-testid=export]")
    assert info.value.suggested_filename == "deepview-selection.csv"
    text = Path(info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "class", "split"]
    want = table.iloc[:2000][table["split"].iloc[:2000] == "test"]
    assert rows[1:] == want[["id", "class", "split"]].to_numpy().tolist()
    _reset(page)


@pytestmark_browser
def test_detail_lists_nearest_neighbours_with_distances(page: Any) -> None:
    page.evaluate("window.deepviewState.showDetail(40000)")
    # the details of row 40000 (its chunk loads asynchronously): not a panel still showing
    # the sample an earlier test opened
    page.wait_for_function(
        "document.querySelector('[data-testid=detail-id]')?.textContent === 's40000'"
        " && document.querySelector('[data-testid=detail-neighbours] [data-testid=neighbour]')"
        "?.textContent === 's40001'")
    items = page.eval_on_selector_all(
        "[data-testid=neighbour]",
        "els => els.map(e => [e.textContent, +e.dataset.distance])")
    assert items == [[f"s{40000 + j:05d}", 0.5 * j] for j in range(1, K + 1)]
    assert "distance 0.50" in page.inner_text("[data-testid=detail-neighbours]")
    page.click("[data-testid=neighbour] >> nth=2")
    page.wait_for_function("document.querySelector('[data-testid=detail-id]').textContent"
                           " === 's40003'")


@pytestmark_browser
def test_histogram_shows_outliers_in_outer_bars(page: Any, site: Path,
                                                 table: pd.DataFrame) -> None:
    hist = read_site(site.parent)[0]["responses"][0]["fam"]["hist"]
    fam = table["familiarity_resp"].to_numpy()
    assert (fam[LOW] < hist["lo"]).all() and (fam[HIGH] > hist["hi"]).all()
    under = page.get_attribute("[data-testid=hist-under]", "data-count")
    over = page.get_attribute("[data-testid=hist-over]", "data-count")
    assert (int(under), int(over)) == ((fam < hist["lo"]).sum(), (fam > hist["hi"]).sum())
    assert int(under) < 10 and int(over) < 10
    counts = page.eval_on_selector_all("[data-testid=familiarity-histogram] .dv-hist-bin",
                                       "els => els.map(e => +e.dataset.count)")
    assert len(counts) == 34 and sum(counts) == N and max(counts) < 0.2 * N


@pytestmark_browser
def test_counters_fit_their_boxes(page: Any) -> None:
    for width in (1000, 700, 420):
        page.set_viewport_size({"width": width, "height": 900})
        over = page.eval_on_selector_all(".dv-stat", """els => els.filter(s => {
            const v = s.querySelector('.dv-stat-value'), a = s.getBoundingClientRect(),
                  b = v.getBoundingClientRect();
            return v.scrollWidth > v.clientWidth + 1 || b.right > a.right + 0.5;
        }).map(s => s.textContent)""")
        assert over == [], width
    page.set_viewport_size({"width": 1000, "height": 900})


# ------------------------------------------------------------- a built report's neighbours
def test_built_report_keeps_neighbours_saves_and_shows_them(tmp_path: Path) -> None:
    from deepview.base import ArrayProducer
    from deepview.introspectors import DimensionReduction
    from deepview.report import DatasetReport, ReportConfig

    rng = np.random.default_rng(5)
    centers = rng.normal(0, 20, (3, 16))
    label = np.repeat([0, 1, 2], 100)
    x = (centers[label] + rng.normal(0, 1, (300, 16))).astype(np.float32)
    producer = ArrayProducer({"emb": x}, labels={"class": [f"c{v}" for v in label]})
    report = DatasetReport.introspect(producer, config=ReportConfig(
        projection=DimensionReduction.Strategy.PCA(2)))
    (name,) = report.neighbours
    rows, dist = report.neighbours[name]
    assert rows.shape == dist.shape == (300, _site.NEIGHBOURS_SHOWN)
    assert rows.dtype == np.int32 and dist.dtype == np.float32
    assert not (rows == np.arange(300)[:, None]).any()  # never the sample itself
    assert (np.diff(dist, axis=1) >= -1e-5).all() and (dist >= 0).all()  # nearest first
    assert (label[rows] == label[:, None]).mean() > 0.99  # planted clusters: same class
    # saved (npy, no pickle) and loaded; the site lists them in the details
    report.to_disk(tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r").glob("*.npy")) == [
        f"neighbours-{name}-distances.npy", f"neighbours-{name}-rows.npy"]
    again = DatasetReport.from_disk(tmp_path / "r")
    np.testing.assert_array_equal(again.neighbours[name][0], rows)
    np.testing.assert_array_equal(again.neighbours[name][1], dist)
    again.export_site(tmp_path / "s")
    (resp,) = load_payload(tmp_path / "s")["responses"]
    np.testing.assert_array_equal(resp["neighbours"][0], rows)
    np.testing.assert_array_equal(resp["neighbours"][1], dist)
    # a report saved without them loads with none
    DatasetReport(report.data).to_disk(tmp_path / "plain")
    assert DatasetReport.from_disk(tmp_path / "plain").neighbours == {}


def test_site_neighbours_skips_the_sample_itself() -> None:
    values = np.array([[0.0], [1.0], [3.0], [7.0]], dtype=np.float32)
    lists = np.array([[0, 1, 2], [1, 0, 2], [1, 2, 0], [3, 2, -1]])  # row 2: itself 2nd
    rows, dist = _site.site_neighbours(values, lists, keep=2)
    assert rows.tolist() == [[1, 2], [0, 2], [1, 0], [2, -1]]
    np.testing.assert_allclose(dist[:3], [[1, 3], [1, 2], [2, 3]])
    assert dist[3, 0] == 4 and np.isnan(dist[3, 1])
    # the lists' own distances, when given, are used as they are (no rows gathered)
    own = np.abs(values[lists.clip(0), 0] - values[:, :1]).astype(np.float32)
    own[lists < 0] = np.inf
    same_rows, same = _site.site_neighbours(None, lists, own, keep=2)
    assert same_rows.tolist() == rows.tolist()
    np.testing.assert_array_equal(same, dist)


def test_spilled_site_neighbours_outlive_their_folder(tmp_path: Path) -> None:
    import shutil

    rng = np.random.default_rng(3)
    values = rng.normal(size=(5000, 4)).astype(np.float32)
    lists = np.argsort(rng.random((5000, 6)), axis=1)  # any rows; the sample itself skipped
    lists[::7, 0] = np.arange(0, 5000, 7)
    expected = _site.site_neighbours(values, lists, keep=4, block=512)
    folder = tmp_path / "scratch"
    folder.mkdir()
    rows, dist = _site.site_neighbours(values, lists, keep=4, block=512,
                                        work=Workspace(folder))
    assert isinstance(rows, np.memmap) and isinstance(dist, np.memmap)
    assert list(folder.iterdir()) == []  # unlinked at once: nothing for the folder to keep
    shutil.rmtree(folder)  # the report's scratch folder goes; the lists stay readable
    np.testing.assert_array_equal(rows, expected[0])
    np.testing.assert_array_equal(dist, expected[1])
    # and a report holding them saves them like in-memory lists
    from deepview.report import DatasetReport

    DatasetReport(pd.DataFrame({"id": np.arange(5000).astype(str)}),
                  neighbours={"r": (rows, dist)}).to_disk(tmp_path / "saved")
    again = DatasetReport.from_disk(tmp_path / "saved").neighbours["r"]
    np.testing.assert_array_equal(again[0], expected[0])
    np.testing.assert_array_equal(again[1], expected[1])
