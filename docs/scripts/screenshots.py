"""Take the screenshots of the report site used by ``docs/report-site.md``.

Builds the report of ``deepview demo`` (a small CNN on scikit-learn's digits, about half a
minute on a laptop CPU) in a temporary folder, or uses an existing report site, opens it in
headless Chromium with Playwright and writes PNGs to ``docs/img/``::

    .venv/bin/python docs/scripts/screenshots.py                 # build the demo, shoot
    .venv/bin/python docs/scripts/screenshots.py --site DIR      # shoot an existing site

It drives the system's Chromium (Debian's ``chromium`` package, ``/usr/bin/chromium``; no
``playwright install``).  Rerun it when the report site changes; it is not part of
``make docs`` (the PNGs are committed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1400, 900


def build_demo(folder: Path) -> Path:
    """Run ``deepview demo --out folder`` with this interpreter's ``deepview``."""
    exe = Path(sys.executable).parent / "deepview"
    command = [str(exe)] if exe.exists() else [shutil.which("deepview") or "deepview"]
    env = dict(os.environ, DEEPVIEW_QUIET="1")
    subprocess.run([*command, "demo", "--out", str(folder), "--overwrite"], check=True,
                   env=env)
    return folder / "index.html"


def _bottom(page, selector: str) -> float:  # type: ignore[no-untyped-def]
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return float(box["y"] + box["height"])


def shoot(index_html: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(target, name: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        path = out / name
        target.screenshot(path=str(path), **kwargs)
        written.append(path)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT},
                                device_scale_factor=1)
        page.goto(index_html.resolve().as_uri())
        page.wait_for_selector(".dv-scatter")
        page.wait_for_timeout(800)

        # 1. first view: header and filters, summary, projection, sample panel
        save(page, "report-overview.png")

        # 2. a sample's details: click the least familiar tile, back to the top
        page.locator("[data-testid=least-familiar] .dv-tile").first.click()
        page.wait_for_timeout(300)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(200)
        bottom = max(_bottom(page, ".dv-card-scatter"), _bottom(page, ".dv-card-detail"))
        save(page, "report-sample.png", full_page=True,
             clip={"x": 0, "y": 0, "width": WIDTH, "height": bottom + 16})

        # 3. filter by a label value and colour the projection by familiarity
        page.reload()
        page.wait_for_selector(".dv-scatter")
        page.locator("nav.dv-toolbar select").first.select_option(index=9)
        page.locator("[data-testid=color-by]").select_option(value="familiarity")
        page.wait_for_timeout(400)
        save(page, "report-filter.png")

        # 4. familiarity: least / most familiar overall and per label
        page.reload()
        page.wait_for_selector(".dv-scatter")
        page.wait_for_timeout(400)
        box = page.locator(".dv-card-fam").bounding_box()  # page coordinates at scroll 0
        assert box is not None
        save(page, "report-familiarity.png",
             clip={"x": box["x"], "y": box["y"], "width": box["width"],
                   "height": min(box["height"], 610)}, full_page=True)

        # 5. duplicate groups
        dups = page.locator(".dv-card-dups")
        dups.scroll_into_view_if_needed()
        save(dups, "report-duplicates.png")
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, help="existing report folder (with index.html)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    args = parser.parse_args()
    if args.site is not None:
        written = shoot(args.site / "index.html", args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            written = shoot(build_demo(Path(tmp) / "demo"), args.out)
    for path in written:
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


if __name__ == "__main__":
    main()
