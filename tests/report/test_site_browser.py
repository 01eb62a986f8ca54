"""Headless Chromium tests of the exported report site, opened from disk (``file://``).

Runs against a planted synthetic table and against the exported demo site. Skipped, with the
reason printed, only where ``/usr/bin/chromium`` is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _sitehelpers import (
    AUDIT_ISSUES,
    GROUPS,
    HOSTILE,
    LEAST,
    N_AUDIT,
    N_PLANTED,
    audit_frame,
    expected_views,
    load_payload,
)

from deepview.report._site import notebook_html, write_site

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class Page:
    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def state(self, expr: str) -> Any:
        return self.page.evaluate(f"window.deepviewState.{expr}")

    def tile_ids(self, selector: str) -> list[str]:
        return self.page.eval_on_selector_all(
            f"{selector} .dv-tile", "els => els.map(e => e.dataset.id)")


def _open(browser: Any, url: str | None = None, html: str | None = None) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    out = Page(page)
    page.on("console", lambda m: out.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: out.errors.append(str(e)))

    def on_dialog(d: Any) -> None:
        out.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    if url is not None:
        page.goto(url)
    else:
        page.set_content(html)
    return out


def _only_own_scripts(p: Page) -> None:
    """Every script of the page is the site's own file: data.js, a chunk or app.js."""
    srcs = p.page.eval_on_selector_all("script", "els => els.map(e => e.getAttribute('src'))")
    assert srcs[0] == "data.js" and srcs[-1] == "assets/app.js"
    assert all(s is not None and s.startswith("chunks/") for s in srcs[1:-1])


def _ready(p: Page, frame: Any = None) -> None:
    (frame or p.page).wait_for_function(
        "window.deepviewState && window.deepviewState.ready", timeout=30_000)


@pytest.fixture(scope="module")
def planted_site(planted_module: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("planted") / "site"
    return write_site(planted_module, out, title="planted <b>report</b>")


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("PIL")
    from deepview.cli import run_demo

    return run_demo(tmp_path_factory.mktemp("demo") / "demo", projection="pca", epochs=2)


@pytest.fixture(params=["planted", "demo"])
def site(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(f"{request.param}_site")


@pytest.fixture
def opened(browser: Any, site: Path) -> Iterator[tuple[Page, dict[str, Any]]]:
    p = _open(browser, site.as_uri())
    _ready(p)
    yield p, expected_views(load_payload(site.parent))
    p.page.close()


def test_renders_every_point_without_console_errors(
    opened: tuple[Page, dict[str, Any]], site: Path, request: pytest.FixtureRequest
) -> None:
    p, exp = opened
    assert p.state("renderedPoints") == exp["n"]
    assert p.page.get_attribute("canvas.dv-scatter", "data-rendered-points") == str(exp["n"])
    n = exp["n"]
    assert p.page.text_content("[data-testid=shown-count]") == f"Showing {n:,} of {n:,}"
    # the per-label familiarity galleries are drawn, with no "loading" note left behind
    assert p.page.locator("[data-testid=label-familiarity]").count() > 0
    assert "Loading the per-label scores" not in p.page.inner_text("body")
    ARTIFACTS.mkdir(exist_ok=True)
    name = request.node.callspec.id
    p.page.screenshot(path=str(ARTIFACTS / f"report-site-{name}.png"), full_page=True)
    assert p.errors == [] and p.dialogs == []


def test_label_filter_changes_the_counts(opened: tuple[Page, dict[str, Any]]) -> None:
    p, exp = opened
    counts = exp["label_counts"]
    value = min(counts, key=lambda v: (counts[v], v))
    code = sorted(counts).index(value)
    p.page.select_option("[data-testid=filter-0]", str(code))
    shown = counts[value]
    assert p.state("shownCount") == shown
    assert p.page.text_content("[data-testid=stat-shown]") == f"{shown:,}"
    assert p.page.text_content("[data-testid=shown-count]") == f"Showing {shown:,} of {exp['n']:,}"
    assert p.state("renderedPoints") == exp["n"]  # the others are drawn faded, not dropped
    least = p.tile_ids("[data-testid=least-familiar]")
    assert least and least == exp["least_by_label"][value]
    p.page.click("text=Reset filters")
    assert p.state("shownCount") == exp["n"] and p.errors == []


def test_duplicate_group_and_least_familiar_gallery(opened: tuple[Page, dict[str, Any]]) -> None:
    p, exp = opened
    assert p.tile_ids("[data-testid=least-familiar]") == exp["least"]
    if "group" in exp:
        g, members = exp["group"]
        assert sorted(p.tile_ids(f'[data-testid=dup-group][data-group="{g}"]')) == members
    # a click on a tile opens it in the detail panel
    p.page.click("[data-testid=least-familiar] .dv-tile >> nth=0")
    assert p.page.text_content("[data-testid=detail-id]") == exp["least"][0]
    assert p.errors == []


def test_planted_values_are_shown(browser: Any, planted_site: Path,
                                  planted_module: pd.DataFrame) -> None:
    p = _open(browser, planted_site.as_uri())
    _ready(p)
    ids = list(planted_module["id"])
    assert p.tile_ids("[data-testid=least-familiar]")[: len(LEAST)] == [ids[i] for i in LEAST]
    for g, rows in GROUPS.items():
        shown = p.tile_ids(f'[data-testid=dup-group][data-group="{g}"]')
        assert shown == [ids[i] for i in rows]
    assert p.page.text_content("[data-testid=stat-duplicates]") == "5"
    # the absolute-path ids have thumbnails that load
    loaded = p.page.eval_on_selector_all(
        "[data-testid=dup-group] img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
    assert loaded and all(loaded)
    p.page.close()


def test_hostile_label_is_text(browser: Any, planted_site: Path) -> None:
    p = _open(browser, planted_site.as_uri())
    _ready(p)
    names = p.page.eval_on_selector_all(
        "[data-testid=label-count] .dv-bar-name", "els => els.map(e => e.textContent)")
    assert HOSTILE in names
    assert HOSTILE in p.page.inner_text("[data-testid=legend]")
    _only_own_scripts(p)
    assert p.page.title() == "planted <b>report</b>"
    assert p.page.locator("b").count() == 0
    # filtering by the hostile value works and still fires nothing
    p.page.click(f'[data-testid=label-count][data-value="{HOSTILE}"]')
    assert p.state("shownCount") == 24
    assert p.dialogs == [] and p.errors == []
    p.page.close()


def test_box_selection_filters_the_other_views(browser: Any, planted_site: Path) -> None:
    p = _open(browser, planted_site.as_uri())
    _ready(p)
    p.page.click(".dv-seg-btn[data-tool=box]")
    box = p.page.locator("canvas.dv-scatter").bounding_box()
    # the left cluster (rows 0..69, x near -10) fills the left part of the canvas
    x0, y0 = box["x"] + 2, box["y"] + 2
    p.page.mouse.move(x0, y0)
    p.page.mouse.down()
    p.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 2, steps=8)
    p.page.mouse.up()
    assert p.state("shownCount") == 70
    assert p.page.text_content("[data-testid=stat-shown]") == "70"
    # group 1 (rows 50, 51) is inside, so both duplicate groups stay; least familiar: rows < 70
    assert p.tile_ids("[data-testid=least-familiar]")[:4] == p.page.evaluate(
        "[17, 4, 60, 33].map(i => window.deepviewState.idOf(i))")
    p.page.keyboard.press("Escape")
    assert p.state("shownCount") == N_PLANTED
    # a lasso around the right half selects the other 50
    p.page.click(".dv-seg-btn[data-tool=lasso]")
    mid, right = box["x"] + box["width"] / 2 + 2, box["x"] + box["width"] - 2
    top, bottom = box["y"] + 2, box["y"] + box["height"] - 2
    p.page.mouse.move(mid, top)
    p.page.mouse.down()
    for x, y in [(right, top), (right, bottom), (mid, bottom), (mid, top + 3)]:
        p.page.mouse.move(x, y, steps=6)
    p.page.mouse.up()
    assert p.state("shownCount") == N_PLANTED - 70
    assert p.errors == [] and p.dialogs == []
    p.page.close()


def test_notebook_html_renders_in_an_iframe(browser: Any, planted_module: pd.DataFrame) -> None:
    p = _open(browser, html=f"<!DOCTYPE html><html><body>{notebook_html(planted_module)}"
                            "</body></html>")
    frame = p.page.frames[1]
    _ready(p, frame)
    assert frame.evaluate("window.deepviewState.renderedPoints") == N_PLANTED
    assert frame.evaluate("document.querySelectorAll('.dv-tile img').length") > 0
    assert p.errors == [] and p.dialogs == []
    p.page.close()


def test_wheel_zoom_and_reset(browser: Any, planted_site: Path) -> None:
    p = _open(browser, planted_site.as_uri())
    _ready(p)
    box = p.page.locator("canvas.dv-scatter").bounding_box()
    assert not p.page.is_visible("text=Reset zoom")
    # zoom in on the left cluster: the box over the whole canvas then holds only part of it
    p.page.mouse.move(box["x"] + box["width"] * 0.12, box["y"] + box["height"] / 2)
    for _ in range(6):
        p.page.mouse.wheel(0, -300)
    p.page.wait_for_function("window.deepviewState.view().k > 5")
    assert p.page.is_visible("text=Reset zoom")
    assert p.state("renderedPoints") == N_PLANTED
    p.page.click(".dv-seg-btn[data-tool=box]")
    box = p.page.locator("canvas.dv-scatter").bounding_box()  # the toolbar grew a button
    p.page.mouse.move(box["x"] + 4, box["y"] + 4)
    p.page.mouse.down()
    p.page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=5)
    p.page.mouse.up()
    assert 0 < p.state("shownCount") < 70
    p.page.click("text=Reset zoom")
    assert not p.page.is_visible("text=Reset zoom")
    assert p.errors == []
    p.page.close()


def test_second_response_has_its_own_views(browser: Any, planted_module: pd.DataFrame,
                                           tmp_path: Path) -> None:
    df = planted_module.copy()
    x2 = df["projection_resp_y"].to_numpy().copy()
    x2[[0, 1, 2]] = float("nan")  # rows without a projection are not drawn
    df["duplicates_other"] = [0 if i in (10, 11, 12, 13) else -1 for i in range(N_PLANTED)]
    df["projection_other_x"] = x2
    df["projection_other_y"] = df["projection_resp_x"]
    df["familiarity_other"] = -df["familiarity_resp"]
    p = _open(browser, write_site(df, tmp_path / "s").as_uri())
    _ready(p)
    assert p.state("renderedPoints") == N_PLANTED
    p.page.select_option("[data-testid=response]", "1")
    assert p.state("renderedPoints") == N_PLANTED - 3
    ids = list(df["id"])
    group = p.tile_ids('[data-testid=dup-group][data-group="0"]')
    assert group == [ids[i] for i in (10, 11, 12, 13)]
    most = p.tile_ids("[data-testid=most-familiar]")
    assert most[: len(LEAST)] == [ids[i] for i in LEAST]  # familiarity negated
    assert p.errors == []
    p.page.close()


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"id": ["a", "b", "c"], "kind": ["x", "y", "x"]}),  # no analysis columns
    pd.DataFrame({"id": pd.Series([], dtype=str)}),  # no rows
    pd.DataFrame({"id": ["a", "b"], "familiarity_r": [float("nan"), 1.0],
                  "projection_r_x": [float("nan"), 0.0], "projection_r_y": [0.0, 0.0]}),
], ids=["labels-only", "empty", "nan-scores"])
def test_sparse_tables_render_without_errors(browser: Any, tmp_path: Path,
                                             frame: pd.DataFrame) -> None:
    p = _open(browser, write_site(frame, tmp_path / "s").as_uri())
    _ready(p)
    assert p.state("n") == len(frame)
    assert p.state("renderedPoints") == (1 if "projection_r_x" in frame else 0)
    assert p.errors == [] and p.dialogs == []
    p.page.close()


def test_hover_shows_a_tooltip_and_click_opens_details(browser: Any, planted_site: Path,
                                                       planted_module: pd.DataFrame) -> None:
    p = _open(browser, planted_site.as_uri())
    _ready(p)
    # a point with no other point within 15 CSS pixels, so it is the one under the cursor
    row = p.page.evaluate("""(() => {
      const s = window.deepviewState, pos = [];
      for (let i = 0; i < s.n; i++) pos.push(s.pointPosition(i));
      return pos.findIndex((a, i) => pos.every((b, j) =>
        j === i || Math.hypot(a.x - b.x, a.y - b.y) > 15));
    })()""")
    assert row >= 0
    pos = p.state(f"pointPosition({row})")
    box = p.page.locator("canvas.dv-scatter").bounding_box()
    p.page.mouse.move(box["x"] + pos["x"] + 2, box["y"] + pos["y"] + 1)
    expected = planted_module["id"][row]
    assert p.page.inner_text(".dv-tip").splitlines()[0] == expected
    p.page.mouse.click(box["x"] + pos["x"] + 2, box["y"] + pos["y"] + 1)
    assert p.page.text_content("[data-testid=detail-id]") == expected
    p.page.mouse.move(box["x"] + 2, box["y"] + 2)  # away from every point: tooltip hides
    assert not p.page.is_visible(".dv-tip")
    assert p.errors == []
    p.page.close()


def test_duplicate_groups_largest_first_marked_exact_or_near(browser: Any,
                                                             tmp_path: Path) -> None:
    n = 20
    dup = [-1] * n
    # group numbers deliberately not in size order: sizes 2, 4, 3, 2
    members = {0: [0, 1], 1: [2, 3, 4, 5], 2: [6, 7, 8], 3: [9, 10]}
    exact = [False] * n
    for g, rows in members.items():
        for i in rows:
            dup[i] = g
            exact[i] = g in (0, 2) or i in (2, 3)  # group 1 mixes two copies and two near
    df = pd.DataFrame({"id": [f"s{i:02d}" for i in range(n)], "duplicates_r": dup,
                       "duplicatesExact_r": exact,
                       "projection_r_x": range(n), "projection_r_y": range(n)})
    p = _open(browser, write_site(df, tmp_path / "s").as_uri())
    _ready(p)
    groups = "[data-testid=dup-group]"
    order = p.page.eval_on_selector_all(groups, "els => els.map(e => [+e.dataset.group, "
                                                "e.dataset.kind, e.querySelector("
                                                "'[data-testid=dup-kind]').textContent])")
    assert order == [[1, "near", "near"], [2, "exact", "exact"], [0, "exact", "exact"],
                     [3, "near", "near"]]
    assert p.tile_ids(f'{groups}[data-group="1"]') == ["s02", "s03", "s04", "s05"]
    notes = p.page.eval_on_selector_all(f'{groups}[data-group="1"] .dv-tile', "els => els.map("
                                        "e => e.querySelector('.dv-tile-note')?.textContent)")
    assert notes == ["identical copy", "identical copy", None, None]
    assert "duplicatesExact" not in p.page.inner_text(".dv-toolbar")  # not a label filter
    p.page.click("[data-testid=dup-kinds] [data-kind=exact]")
    assert p.page.eval_on_selector_all(groups, "els => els.map(e => +e.dataset.group)") == [2, 0]
    p.page.click("[data-testid=dup-kinds] [data-kind=near]")
    assert p.page.eval_on_selector_all(groups, "els => els.map(e => +e.dataset.group)") == [1, 3]
    p.page.click(f'{groups}[data-group="3"] .dv-tile >> nth=0')
    assert "#3 (2 samples, near)" in p.page.inner_text("[data-testid=detail-panel]")
    p.page.click("[data-testid=dup-kinds] [data-kind=all]")
    p.page.click(f'{groups}[data-group="2"] .dv-tile >> nth=0')
    assert "#2 (3 samples, exact)" in p.page.inner_text("[data-testid=detail-panel]")
    assert p.errors == []
    p.page.close()
    # a report saved before duplicatesExact existed: same order, kind unknown, no switch
    p = _open(browser, write_site(df.drop(columns="duplicatesExact_r"),
                                  tmp_path / "old").as_uri())
    _ready(p)
    assert p.page.eval_on_selector_all(groups, "els => els.map(e => [+e.dataset.group, "
                                               "e.dataset.kind])") == [
        [1, "unknown"], [2, "unknown"], [0, "unknown"], [3, "unknown"]]
    assert p.page.locator("[data-testid=dup-kind]").count() == 0
    assert p.page.locator("[data-testid=dup-kinds]").count() == 0
    assert p.errors == []
    p.page.close()


def _spans(p: Page, rows: range) -> tuple[float, float]:
    return p.page.evaluate(f"""(() => {{
      const s = window.deepviewState, xs = [], ys = [];
      for (let i = {rows.start}; i < {rows.stop}; i++) {{
        const q = s.pointPosition(i); xs.push(q.x); ys.push(q.y);
      }}
      return [Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)];
    }})()""")


def _inside(p: Page, row: int, box: dict[str, float]) -> bool:
    q = p.state(f"pointPosition({row})")
    return 0 <= q["x"] <= box["width"] and 0 <= q["y"] <= box["height"]


def test_far_outliers_do_not_squash_the_first_view(browser: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    bulk = 1000
    xy = rng.normal(size=(bulk + 3, 2))
    xy[bulk:] = [[1000.0, 0.0], [0.0, -800.0], [-600.0, 700.0]]  # three far points
    df = pd.DataFrame({"id": [f"p{i}" for i in range(bulk + 3)],
                       "projection_r_x": xy[:, 0], "projection_r_y": xy[:, 1]})
    p = _open(browser, write_site(df, tmp_path / "s").as_uri())
    _ready(p)
    box = p.page.locator("canvas.dv-scatter").bounding_box()
    # the bulk fills most of the canvas (it was squashed to a few pixels by the far points)
    span_x, span_y = _spans(p, range(bulk))
    assert span_y > 0.6 * box["height"] and span_x > 0.35 * box["width"]
    assert p.state("renderedPoints") == bulk + 3
    # the far points are outside this view, drawn as rings at the edge, and the page says so
    far = range(bulk, bulk + 3)
    assert not any(_inside(p, i, box) for i in far)
    assert p.state("farCount") == 3 and p.state("edgeMarkers") == 3
    assert p.page.inner_text("[data-testid=far-note]").startswith("3 far points lie outside")
    # "Show all points" brings every point into view; a far point can then be opened
    p.page.click("[data-testid=fit-all]")
    assert all(_inside(p, i, box) for i in range(bulk + 3))
    assert p.state("edgeMarkers") == 0 and not p.page.is_visible("[data-testid=far-note]")
    assert p.page.is_disabled("[data-testid=fit-all]")
    box = p.page.locator("canvas.dv-scatter").bounding_box()  # "Reset zoom" appeared above
    q = p.state(f"pointPosition({bulk})")
    p.page.mouse.click(box["x"] + q["x"], box["y"] + q["y"])
    assert p.page.text_content("[data-testid=detail-id]") == f"p{bulk}"
    # back to the first view, then zooming out with the wheel reaches them too
    p.page.click("text=Reset zoom")
    assert _spans(p, range(bulk)) == [span_x, span_y] and p.state("edgeMarkers") == 3
    box = p.page.locator("canvas.dv-scatter").bounding_box()
    p.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(12):
        p.page.mouse.wheel(0, 400)
    p.page.wait_for_function("window.deepviewState.edgeMarkers === 0")
    assert all(_inside(p, i, box) for i in far)
    assert p.errors == []
    p.page.close()


def test_map_without_far_points_shows_everything_and_no_fit_all(browser: Any,
                                                                tmp_path: Path) -> None:
    xy = np.random.default_rng(4).normal(size=(2000, 2))  # normal tails are not "far"
    df = pd.DataFrame({"id": [f"p{i}" for i in range(2000)],
                       "projection_r_x": xy[:, 0], "projection_r_y": xy[:, 1]})
    p = _open(browser, write_site(df, tmp_path / "s").as_uri())
    _ready(p)
    box = p.page.locator("canvas.dv-scatter").bounding_box()
    assert p.state("farCount") == 0
    assert all(_inside(p, i, box) for i in range(0, 2000, 7))
    assert not p.page.is_visible("[data-testid=fit-all]")
    assert p.errors == []
    p.page.close()


def test_long_ids_are_cut_by_css_and_whole_in_the_tooltip(browser: Any, tmp_path: Path) -> None:
    long_id = "x" * 40 + "-a-very-long-identifier-" + "y" * 200 + "-END"
    long_path = "/data/" + "deep/" * 30 + "cat-0001.txt"
    ids = [long_id, long_path] + [f"s{i}" for i in range(8)]
    df = pd.DataFrame({"id": ids, "familiarity_r": np.arange(10.0)})  # both least familiar
    p = _open(browser, write_site(df, tmp_path / "s").as_uri())
    _ready(p)
    tiles = "[data-testid=least-familiar] .dv-tile"
    info = p.page.eval_on_selector_all(tiles, """els => els.slice(0, 2).map(e => {
      const s = e.querySelector('[data-testid=tile-id]'), st = getComputedStyle(s);
      return {title: e.title, spanTitle: s.title, text: s.textContent,
              cut: s.scrollWidth > s.clientWidth, overflow: st.textOverflow,
              direction: st.direction};
    })""")
    assert [i["title"] for i in info] == [long_id, long_path]
    assert [i["spanTitle"] for i in info] == [long_id, long_path]
    assert [i["text"] for i in info] == [long_id, long_path]  # the whole id is in the DOM
    assert all(i["cut"] and i["overflow"] == "ellipsis" for i in info)
    assert [i["direction"] for i in info] == ["ltr", "rtl"]  # paths keep their file name
    assert p.errors == []
    p.page.close()


def test_text_is_shown_literally_in_details_and_tiles(browser: Any, tmp_path: Path) -> None:
    texts = [f"plain sentence {i}" for i in range(30)]
    texts[0] = HOSTILE + " and <b>bold</b> & <img src=x onerror=alert(2)>"
    df = pd.DataFrame({"id": [f"s{i}" for i in range(30)], "kind": ["a", "b", "c"] * 10,
                       "text": texts, "familiarity_r": np.arange(30.0),
                       "projection_r_x": np.arange(30.0), "projection_r_y": np.zeros(30)})
    p = _open(browser, write_site(df, tmp_path / "s").as_uri())
    _ready(p)
    # not a label: one filter (kind), no colour or familiarity choice by text
    assert p.page.locator("[data-testid^=filter-]").count() == 1
    assert "text" not in p.page.eval_on_selector_all(
        "[data-testid=color-by] option", "els => els.map(e => e.textContent)")
    first = p.page.locator("[data-testid=least-familiar] .dv-tile").first
    assert first.locator(".dv-tile-snippet").text_content() == texts[0]
    assert first.get_attribute("title") == f"s0\n{texts[0]}"
    first.click()
    assert p.page.text_content("[data-testid=detail-text]") == texts[0]
    assert p.page.locator("b, img, [data-testid=detail-panel] script").count() == 0
    p.page.click("[data-testid=least-familiar] .dv-tile >> nth=1")
    assert p.page.text_content("[data-testid=detail-text]") == texts[1]
    assert p.dialogs == [] and p.errors == []
    p.page.close()


# ------------------------------------------------------------------------------ the audit
@pytest.fixture(scope="module")
def audit_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_site(audit_frame(), tmp_path_factory.mktemp("audit") / "site")


def _detail(p: Page, key: str) -> str | None:
    """The value of ``key`` in the sample panel."""
    return p.page.evaluate("""key => {
      const dt = Array.from(document.querySelectorAll('[data-testid=detail-panel] dt'))
        .find(e => e.textContent === key);
      return dt ? dt.nextElementSibling.textContent : null;
    }""", key)


def _audit_cells(p: Page) -> list[list[str]]:
    return p.page.eval_on_selector_all("[data-testid=audit-row]", """rows => rows.map(r =>
      Array.from(r.children).map(c => c.textContent))""")


def test_audit_table_is_at_the_top_with_the_counts(browser: Any, audit_site: Path) -> None:
    p = _open(browser, audit_site.as_uri())
    _ready(p)
    # the first card of the page, above the filters
    first = p.page.evaluate("document.querySelector('.dv-card').dataset.testid")
    assert first == "audit"
    assert p.page.evaluate("""document.querySelector('[data-testid=audit]').compareDocumentPosition(
      document.querySelector('.dv-toolbar')) & Node.DOCUMENT_POSITION_FOLLOWING""")
    cells = _audit_cells(p)
    rows = {(c[0], c[1]): c for c in cells}
    assert rows[("exact duplicates", "")][2:4] == ["2", f"{1 - 2 / N_AUDIT:.3f}"]
    assert rows[("leakage", "split")][2:5] == ["5", f"{1 - 5 / N_AUDIT:.3f}",
                                             "train/test: 2 groups (3 train, 2 test)"]
    flagged = sum(v[1] for v in AUDIT_ISSUES.values())
    assert rows[("label issues", "class")][2] == str(flagged)
    # the hostile class value, thin, is plain text in the detail
    assert f"{HOSTILE} (8)" in rows[("imbalance", "class")][4]
    # a row leads to its panel
    p.page.click('[data-testid=audit-row][data-issue="label issues"]')
    p.page.wait_for_function("""(() => {
      const b = document.querySelector('[data-testid=label-issues]').getBoundingClientRect();
      return b.top >= -2 && b.top < 60;
    })()""")
    assert p.errors == [] and p.dialogs == []
    p.page.close()


def test_audit_table_says_not_measured(browser: Any, tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [f"s{i}" for i in range(6)], "duplicates_r": [0, 0, -1, -1, -1, -1],
                          "projection_r_x": range(6), "projection_r_y": range(6)})
    p = _open(browser, write_site(frame, tmp_path / "s").as_uri())
    _ready(p)
    rows = {c[0]: c for c in _audit_cells(p)}
    for issue in ("leakage", "label issues", "imbalance"):
        assert rows[issue][2:4] == ["\u2013", "not measured"], rows[issue]
        assert rows[issue][4].startswith("not measured")
    assert rows["near duplicates"][2] == "2"
    assert p.page.locator("[data-testid=label-issues], [data-testid=leakage]").count() == 0
    assert p.errors == []
    p.page.close()


def test_leakage_panel_shows_the_pairs_side_by_side(browser: Any, audit_site: Path) -> None:
    p = _open(browser, audit_site.as_uri())
    _ready(p)
    chips = p.page.eval_on_selector_all("[data-testid=leak-pairs] .dv-leak-pair",
                                        "els => els.map(e => e.textContent)")
    assert chips == ["train / test: 2 groups (3 train, 2 test)"]
    groups = p.page.eval_on_selector_all("[data-testid=leak-group]", """els => els.map(g => [
      +g.dataset.group, g.dataset.kind,
      Array.from(g.querySelectorAll('[data-testid=leak-side]')).map(s => [
        s.dataset.value, Array.from(s.querySelectorAll('.dv-tile')).map(t => t.dataset.id)])])""")
    # the exact copy first, then the larger near group; train beside test; group 1 (train only)
    # is no leak
    assert groups == [[0, "exact", [["train", ["a03"]], ["test", ["a50"]]]],
                      [2, "near", [["train", ["a20", "a21"]], ["test", ["a55"]]]]]
    sides = p.page.locator('[data-testid=leak-group][data-group="0"] [data-testid=leak-side]')
    left, right = sides.nth(0).bounding_box(), sides.nth(1).bounding_box()
    assert abs(left["y"] - right["y"]) < 2 and right["x"] > left["x"] + left["width"] - 1
    # a tile opens the sample, whose panel names its leaking group
    p.page.click('[data-testid=leak-side][data-value="test"] .dv-tile[data-id="a50"]')
    assert p.page.text_content("[data-testid=detail-id]") == "a50"
    assert _detail(p, "leakage (split)") == "group #0: 1 train, 1 test"
    # filtering to test greys the train side out, keeps the groups
    p.page.select_option("[data-testid=filter-1]", "0")  # split values sorted: test, train
    assert p.state("shownCount") == N_AUDIT - 45
    muted = p.page.eval_on_selector_all('[data-testid=leak-group][data-group="2"] .dv-tile',
                                        "els => els.map(e => e.classList.contains('muted'))")
    assert muted == [True, True, False]
    assert p.errors == [] and p.dialogs == []
    p.page.close()


def test_flipped_sample_is_in_its_class_gallery_with_the_suspected_class(
        browser: Any, audit_site: Path) -> None:
    p = _open(browser, audit_site.as_uri())
    _ready(p)
    sections = p.page.eval_on_selector_all("[data-testid=issue-class]", """els => els.map(s => [
      s.dataset.value, Array.from(s.querySelectorAll('.dv-tile')).map(t =>
        [t.dataset.id, t.dataset.suggested, t.dataset.flagged,
         t.querySelector('.dv-tile-note').textContent])])""")
    # cat: two flagged (most suspicious first), then the borderline one; then dog, the hostile
    # class; the suspected class of each
    assert sections == [
        ["cat", [["a07", "dog", "1", "cat \u2192 dog \u00b7 0.95"],
                 ["a08", HOSTILE, "1", f"cat \u2192 {HOSTILE} \u00b7 0.90"],
                 ["a13", "dog", "0", "cat \u2192 dog \u00b7 0.55"]]],
        ["dog", [["a30", "cat", "1", "dog \u2192 cat \u00b7 0.80"]]],
        [HOSTILE, [["a55", "cat", "1", f"{HOSTILE} \u2192 cat \u00b7 0.97"]]],
    ]
    # the tile opens the sample panel with its score and suggestion
    p.page.click('[data-testid=issue-class][data-value="cat"] .dv-tile >> nth=0')
    assert p.page.text_content("[data-testid=detail-id]") == "a07"
    assert _detail(p, "label issue (class)") == "0.95 \u00b7 flagged \u00b7 suspected: dog"
    assert _detail(p, "leakage (split)") == "none"
    # the label filter narrows the gallery to that class
    p.page.select_option("[data-testid=filter-0]", "1")  # classes sorted: <script>..., cat, dog
    assert p.page.eval_on_selector_all("[data-testid=issue-class]",
                                       "els => els.map(s => s.dataset.value)") == ["cat"]
    assert p.errors == [] and p.dialogs == []
    p.page.close()


def test_hostile_values_in_the_audit_panels_are_text(browser: Any, audit_site: Path) -> None:
    p = _open(browser, audit_site.as_uri())
    _ready(p)
    heads = p.page.eval_on_selector_all("[data-testid=issue-class] .dv-label-value",
                                        "els => els.map(e => e.textContent)")
    assert HOSTILE in heads
    assert HOSTILE in p.page.inner_text("[data-testid=audit-table]")
    p.page.click(f'[data-testid=issue-class][data-value="{HOSTILE}"] .dv-tile >> nth=0')
    assert HOSTILE in p.page.inner_text("[data-testid=detail-panel]")
    _only_own_scripts(p)
    scripts = "[data-testid=audit] script, [data-testid=label-issues] script"
    assert p.page.locator(scripts).count() == 0
    assert p.dialogs == [] and p.errors == []
    p.page.close()


def test_label_issues_of_a_label_with_too_many_values_to_filter(browser: Any,
                                                                tmp_path: Path) -> None:
    n = 1200  # more values than a label filter takes: 'cls' is a plain column
    score = np.linspace(0.0, 1.0, n)
    df = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "cls": [f"c{i}" for i in range(n)],
                       "labelIssue_r_byAttr_cls": score,
                       "labelIssueFlag_r_byAttr_cls": score > 0.999,
                       "labelIssueSuggested_r_byAttr_cls": ["c0"] * n})
    p = _open(browser, write_site(df, tmp_path / "s").as_uri())
    _ready(p)
    assert p.page.locator("[data-testid^=filter-]").count() == 0
    notes = p.page.eval_on_selector_all("[data-testid=issue-gallery] .dv-tile-note",
                                        "els => els.map(e => e.textContent)")
    assert notes[:2] == ["c1199 \u2192 c0 \u00b7 1.00", "c1198 \u2192 c0 \u00b7 1.00"]
    assert p.errors == []
    p.page.close()


def test_clusters_are_named_on_the_map_stacks_counted_and_numbers_coloured(
        browser: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    centres = np.array([[0, 0], [12, 0], [0, 12], [12, 12], [6, 24]], dtype=float)
    n = 2500
    part = np.arange(n) % len(centres)
    xy = centres[part] + rng.normal(0, 1, (n, 2))
    xy[1:40] = xy[0]  # 40 identical samples on one spot
    names = np.array(["alpha, beta", "gamma", "delta", "epsilon", "zeta"], dtype=object)
    df = pd.DataFrame({
        "id": [f"s{i}" for i in range(n)],
        "projection_r_x": xy[:, 0], "projection_r_y": xy[:, 1],
        "cluster_r": pd.Categorical(names[part]),
        "duplicates_r": np.where(np.arange(n) < 40, 0, -1).astype(np.int32),
        "duplicatesExact_r": np.arange(n) < 40,
        "weight": np.linspace(0.0, 1.0, n),
    })
    site = write_site(df, tmp_path / "site")
    p = _open(browser, site.as_uri())
    _ready(p)
    shown = p.state("clusterNames")
    assert sorted(b["name"] for b in shown) == sorted(names)
    for a in range(len(shown)):  # no two names overlap
        for b in shown[a + 1:]:
            first = shown[a]
            assert not (first["x0"] < b["x1"] and b["x0"] < first["x1"]
                        and first["y0"] < b["y1"] and b["y0"] < first["y1"])
    assert p.state("stacksDrawn") == 1
    p.page.hover("canvas.dv-scatter", position={"x": 5, "y": 5})
    at = p.state("pointPosition(0)")
    assert p.page.evaluate(f"window.deepviewState.hoverAt({at['x']}, {at['y']})") == 0
    assert "40 identical samples on this spot" in p.page.inner_text(".dv-tip")
    # a click on a name shows only that cluster
    gamma = next(b for b in shown if b["name"] == "gamma")
    box = p.page.locator("canvas.dv-over, canvas.dv-scatter").first.bounding_box()
    p.page.mouse.click(box["x"] + (gamma["x0"] + gamma["x1"]) / 2,
                       box["y"] + (gamma["y0"] + gamma["y1"]) / 2)
    p.page.wait_for_function("window.deepviewState.shownCount === 500")
    # colour by a numeric column: its chunks load, the legend is its gradient
    p.page.select_option("[data-testid=color-by]", label="weight")
    p.page.wait_for_function(
        "document.querySelector('[data-testid=legend]').textContent.includes('weight')")
    assert not p.errors


def test_one_pixel_points_are_shaded_by_how_many_fall_on_a_pixel(browser: Any,
                                                                 tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 320_000  # from 300k points on, each point is one pixel
    xy = rng.normal(0, 1, (n, 2))
    xy[: n // 2] = rng.normal(0, 0.01, (n // 2, 2))  # half of them piled at the centre
    df = pd.DataFrame({"id": np.arange(n).astype(str), "projection_r_x": xy[:, 0],
                       "projection_r_y": xy[:, 1]})
    site = write_site(df, tmp_path / "site")
    p = _open(browser, site.as_uri())
    _ready(p)
    assert p.state("densityMax") == 255  # counts saturate at 255 per pixel

    def blue_share(row: int) -> float:  # how far the pixel of a row is from white
        at = p.state(f"pointPosition({row})")
        rgb = p.page.evaluate(
            "([x, y]) => { const c = document.querySelector('canvas.dv-scatter');"
            " const r = window.devicePixelRatio || 1;"
            " return Array.from(c.getContext('2d').getImageData(Math.round(x * r),"
            " Math.round(y * r), 1, 1).data); }", [at["x"], at["y"]])
        return 1 - rgb[0] / 255

    radius = np.hypot(xy[:, 0], xy[:, 1])
    isolated = n // 2 + int(np.argmax((radius[n // 2:] > 1.8) & (radius[n // 2:] < 2.5)))
    assert blue_share(0) > blue_share(isolated) + 0.2  # the pile is darker
    assert not p.errors
