"""Unit tests of the static report site writer (no browser)."""

from __future__ import annotations

import html
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _sitehelpers import (
    AUDIT_ISSUES,
    HOSTILE,
    LEAST,
    N_IMAGES,
    N_PLANTED,
    audit_frame,
    decode,
    load_payload,
)

from deepview.exceptions import DeepViewWarning, InvalidParameterError, InvalidTypeError
from deepview.report import DatasetReport, _site
from deepview.report._site import notebook_html, standalone_html, write_site


def test_writes_a_complete_site(planted: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "site"
    index = write_site(planted, out, title="My <report>")
    assert index == out / "index.html"
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    thumbs = [f"thumbs/{k}.png" for k in range(N_IMAGES)]
    chunks = [f"chunks/{t}-0.js" for t in ("points", "ranks", "rows", "details", "search")]
    assert names == sorted(["index.html", "data.js", "assets/app.js", "assets/style.css",
                            *chunks, *thumbs])
    page = index.read_text(encoding="utf-8")
    assert "<title>My &lt;report&gt;</title>" in page
    assert '<script src="data.js"></script>' in page and "https://" not in page
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)  # not left private by mkdtemp
    # nothing but the site is left next to it (no temp folders)
    assert sorted(p.name for p in out.parent.iterdir()) == ["site"]


def test_payload_round_trips_the_table(planted: pd.DataFrame, tmp_path: Path) -> None:
    write_site(planted, tmp_path / "s")
    payload = load_payload(tmp_path / "s")
    assert payload["n"] == N_PLANTED and payload["ids"] == list(planted["id"])
    (cls, split) = payload["labels"]
    assert cls["name"] == "class" and split["name"] == "split"
    codes = decode(cls["codes"], np.int32)
    assert [cls["values"][c] for c in codes] == list(planted["class"])
    (resp,) = payload["responses"]
    assert resp["name"] == "resp"
    np.testing.assert_array_equal(decode(resp["duplicates"], np.int32), planted["duplicates_resp"])
    np.testing.assert_allclose(decode(resp["x"], np.float32), planted["projection_resp_x"],
                               rtol=1e-6)
    fam = decode(resp["familiarity"], np.float32)
    assert list(np.argsort(fam)[: len(LEAST)]) == LEAST
    (entry,) = resp["split"]
    assert entry["dim"] == "class" and entry["values"] == ["cat", "dog"]
    own = decode(entry["own"], np.float32)
    expected = [d.get(c, np.nan) for d, c in zip(planted["splitFamiliarity_resp_byAttr_class"],
                                                planted["class"])]
    np.testing.assert_allclose(own, expected, rtol=1e-6)  # NaN for the hostile label's rows
    assert np.isnan(own[planted["class"].to_numpy() == HOSTILE]).all()
    dog = decode(entry["scores"][1], np.float32)
    np.testing.assert_allclose(dog, planted["familiarity_resp"] - 0.5, rtol=1e-5, atol=1e-6)


def test_hostile_strings_are_escaped_in_the_data_file(tmp_path: Path) -> None:
    evil = ["</script><script>alert(1)</script>", "<!--", "a\u2028b\u2029c", "&amp; \"'"]
    df = pd.DataFrame({"id": evil, "label": evil, "note": [e * 2 for e in evil]})
    index = write_site(df, tmp_path / "s", title="</title><script>alert(2)</script>")
    for path in [tmp_path / "s" / "data.js", *(tmp_path / "s" / "chunks").glob("*.js")]:
        text = path.read_text(encoding="utf-8")
        for bad in ("</", "<!--", "<script", "\u2028", "\u2029"):
            assert bad not in text, path
    payload = load_payload(tmp_path / "s")
    assert payload["ids"] == evil and sorted(payload["labels"][0]["values"]) == sorted(evil)
    assert payload["title"] == "</title><script>alert(2)</script>"
    page = index.read_text(encoding="utf-8")
    # data.js, the chunks (a small site loads them all with the page), app.js
    chunks = len(list((tmp_path / "s" / "chunks").glob("*.js")))
    assert page.count("<script") == page.count('<script src="') == chunks + 2
    assert "alert(2)" not in page.split("<body>")[0].replace(
        "&lt;/title&gt;&lt;script&gt;alert(2)&lt;/script&gt;", "")


def test_thumbnails_for_absolute_ids_land_inside_the_site(planted: pd.DataFrame,
                                                         tmp_path: Path) -> None:
    from PIL import Image

    sources = [Path(i) for i in planted["id"][:N_IMAGES]]
    before = {p: p.stat().st_mtime_ns for p in sources}
    out = tmp_path / "s"
    write_site(planted, out, thumbnail_size=32)
    payload = load_payload(out)
    index = decode(payload["thumbIndex"], np.int32)
    assert list(index[:N_IMAGES]) == list(range(N_IMAGES)) and (index[N_IMAGES:] == -1).all()
    assert payload["thumbUrls"] == [f"thumbs/{k}.png" for k in range(N_IMAGES)]
    for k in range(N_IMAGES):
        with Image.open(out / "thumbs" / f"{k}.png") as im:
            assert im.size == (32, 14)  # 90x40 shrunk to fit 32x32, aspect kept
    assert {p: p.stat().st_mtime_ns for p in sources} == before  # sources untouched


def test_thumbnails_from_image_root_path_column_and_shared_files(tmp_path: Path) -> None:
    from PIL import Image

    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (10, 10), "red").save(root / "sub" / "a.jpg")
    Image.new("L", (10, 20)).save(root / "b.png")
    df = pd.DataFrame({"id": ["sub/a.jpg", "b.png", "sub/a.jpg", "nothing.png"]})
    with pytest.warns(DeepViewWarning, match="1 of 4 image files were not found"):
        write_site(df, tmp_path / "s", image_root=root)
    index = decode(load_payload(tmp_path / "s")["thumbIndex"], np.int32)
    assert list(index) == [0, 1, 0, -1]  # one thumbnail per distinct source file
    (root / "sound.wav").write_bytes(b"RIFF")
    df2 = pd.DataFrame({"id": ["x", "y", "z"],
                        "path": [str(root / "b.png"), None, str(root / "sound.wav")]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a non-image path is simply not an image: no warning
        write_site(df2, tmp_path / "t")
    assert list(decode(load_payload(tmp_path / "t")["thumbIndex"], np.int32)) == [0, -1, -1]


def test_unreadable_image_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.warns(DeepViewWarning, match="could not be read"):
        write_site(pd.DataFrame({"id": [str(bad)]}), tmp_path / "s")
    assert load_payload(tmp_path / "s")["thumbUrls"] == [None]


def test_existing_non_empty_directory_is_refused(planted: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "s"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_site(planted, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "s"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        write_site(planted, tmp_path / "file", overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_site(planted, empty).is_file()


def test_overwrite_replaces_the_site_and_keeps_other_files(planted: pd.DataFrame,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "s"
    write_site(planted, out)
    (out / "report.parquet").write_text("other engineer's file")
    (out / "thumbs" / "stale.png").write_text("old")
    write_site(planted.iloc[N_IMAGES:], out, overwrite=True)
    assert (out / "report.parquet").read_text() == "other engineer's file"
    assert list((out / "thumbs").iterdir()) == []  # old thumbnails gone with the old site
    assert load_payload(out)["n"] == N_PLANTED - N_IMAGES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "s"]


@pytest.mark.parametrize("existing", [False, True])
def test_interrupted_export_leaves_nothing_that_looks_complete(
    planted: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    out = tmp_path / "s"
    if existing:
        write_site(planted, out)
        old = (out / "data.js").read_text()

    def boom(*args: object, **kwargs: object) -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(_site, "_write_thumbs", boom)
    with pytest.raises(KeyboardInterrupt):
        write_site(planted.iloc[:3], out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["images", "s"] if existing
                                                          else ["images"])
    if existing:
        assert (out / "data.js").read_text() == old and (out / "index.html").is_file()


def test_bad_arguments_raise_clear_errors(planted: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InvalidTypeError, match="DataFrame"):
        write_site({"id": [1]}, tmp_path / "a")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="thumbnail_size"):
        write_site(planted, tmp_path / "a", thumbnail_size=2)
    with pytest.raises(InvalidParameterError, match="image_root"):
        write_site(planted, tmp_path / "a", image_root=tmp_path / "missing")
    with pytest.raises(InvalidTypeError, match="title"):
        write_site(planted, tmp_path / "a", title=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="height"):
        notebook_html(planted, height=5)
    assert not (tmp_path / "a").exists()


def test_unknown_and_odd_columns_are_handled(tmp_path: Path) -> None:
    n = 1200
    df = pd.DataFrame({
        "id": [f"s{i}" for i in range(n)],
        "kind": ["a", None] * (n // 2),
        "caption": [f"text {i}" for i in range(n)],  # too many values to be a label
        "weight": np.linspace(0, 1, n),
        "flag": [True, False] * (n // 2),
        "filename": [f"f{i}.txt" for i in range(n)],
        "blob": [{"k": i} for i in range(n)],
        "projection_only_x": np.zeros(n),  # no _y: kept as a plain number
        "familiarityPercentile_r": np.linspace(0, 100, n),
        "splitFamiliarity_r_byAttr_kind": [json.dumps({"a": 1.0})] * n,  # JSON text cells
    })
    write_site(df, tmp_path / "s")
    payload = load_payload(tmp_path / "s")
    assert [lab["name"] for lab in payload["labels"]] == ["kind", "flag"]
    assert payload["labels"][0]["values"] == ["(missing)", "a"]
    assert {e["name"]: e["kind"] for e in payload["extras"]} == {
        "caption": "text", "weight": "number", "filename": "text", "blob": "text",
        "projection_only_x": "number"}
    (resp,) = payload["responses"]
    own = decode(resp["split"][0]["own"], np.float32)
    assert own[0] == 1.0 and np.isnan(own[1])
    assert resp["percentile"] is not None and resp["x"] is None


def test_missing_id_column_warns_and_numbers_rows(tmp_path: Path) -> None:
    with pytest.warns(DeepViewWarning, match="no 'id' column"):
        write_site(pd.DataFrame({"label": ["a", "b"]}), tmp_path / "s")
    assert load_payload(tmp_path / "s")["ids"] == ["0", "1"]


def test_empty_table_writes_a_site(tmp_path: Path) -> None:
    write_site(pd.DataFrame({"id": pd.Series([], dtype=str)}), tmp_path / "s")
    assert load_payload(tmp_path / "s")["n"] == 0


def test_notebook_html_is_one_sandboxed_iframe(planted: pd.DataFrame) -> None:
    frame = notebook_html(planted, height=500)
    assert frame.startswith("<iframe") and frame.endswith("</iframe>")
    assert 'sandbox="allow-scripts"' in frame and "height:500px" in frame
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))  # type: ignore[union-attr]
    assert srcdoc == standalone_html(planted)
    # the data, its five chunks (one per tier) and the script, all inline
    assert srcdoc.count("<script>") == 7 and HOSTILE not in srcdoc
    assert srcdoc.count("data:image/png;base64,") == N_IMAGES
    assert "thumbs/" not in srcdoc and 'src="' not in srcdoc


def test_notebook_html_drops_thumbnails_when_too_many(
    planted: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_site, "_MAX_NOTEBOOK_THUMBS", 2)
    with pytest.warns(DeepViewWarning, match="too many to embed"):
        page = standalone_html(planted)
    assert "data:image/png" not in page


def test_notebook_html_shows_a_fixed_sample_of_a_large_report(planted: pd.DataFrame) -> None:
    n = len(planted)
    page = notebook_html(planted, max_rows=10)
    note, frame = page.split("<iframe", 1)
    assert note == (f'<p class="deepview-note">Showing 10 of {n} samples (a fixed random '
                    "sample). Write the site with report.export_site(DIR) to see them all.</p>")
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))  # type: ignore[union-attr]
    payload = load_payload(srcdoc)
    assert payload["n"] == 10
    ids = payload["ids"]
    order = {v: i for i, v in enumerate(planted["id"].astype(str))}
    assert len(set(ids)) == 10 and [order[i] for i in ids] == sorted(order[i] for i in ids)
    assert page == notebook_html(planted, max_rows=10)  # the same rows every time
    assert len(page) < len(notebook_html(planted, max_rows=None))
    assert notebook_html(planted, max_rows=n) == notebook_html(planted, max_rows=None)
    assert notebook_html(planted).startswith("<iframe")  # the default cap is far above n
    assert _site.NOTEBOOK_MAX_ROWS == 2000
    big = pd.DataFrame({"id": [f"s{i}" for i in range(2500)],
                        "familiarity_r": np.linspace(0.0, 1.0, 2500)})
    assert DatasetReport(big)._repr_html_().startswith(
        '<p class="deepview-note">Showing 2,000 of 2,500 samples')
    with pytest.raises(InvalidParameterError):
        notebook_html(planted, max_rows=0)


def test_assets_are_package_data_and_inline_safe() -> None:
    js = _site._asset("app.js")
    assert "</" not in js and "window.deepviewState" in js
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js


def test_duplicates_exact_column_marks_groups_and_is_not_a_label(tmp_path: Path) -> None:
    df = pd.DataFrame({
        "id": [f"s{i}" for i in range(6)],
        "duplicates_r": [0, 0, 1, 1, 1, -1],
        "duplicatesExact_r": [True, True, False, False, False, False],
    })
    write_site(df, tmp_path / "s")
    payload = load_payload(tmp_path / "s")
    assert payload["labels"] == [] and payload["extras"] == []
    (resp,) = payload["responses"]
    assert list(decode(resp["exact"], np.int8)) == [1, 1, 0, 0, 0, -1]  # row 5: no group
    # missing values (a nullable column) are unknown; reports saved without it have none
    df["duplicatesExact_r"] = pd.array([True, None, False, False, None, False], dtype="boolean")
    write_site(df, tmp_path / "t")
    (resp,) = load_payload(tmp_path / "t")["responses"]
    assert list(decode(resp["exact"], np.int8)) == [1, -1, 0, 0, -1, -1]
    write_site(df.drop(columns="duplicatesExact_r"), tmp_path / "u")
    (resp,) = load_payload(tmp_path / "u")["responses"]
    assert resp["exact"] is None and resp["duplicates"] is not None


# ------------------------------------------------------------------------------ the audit
def _audit_rows(table: pd.DataFrame) -> list[dict[str, object]]:
    """``report.issues()`` as the page data holds it (missing values as None)."""
    return [{"issue": r["issue"], "response": r["response"], "label": r["label"],
             "detail": r["detail"],
             "flagged": None if pd.isna(r["flagged"]) else int(r["flagged"]),
             "score": None if np.isnan(r["score"]) else float(r["score"])}
            for r in table.to_dict("records")]


def test_audit_columns_reach_the_panels_and_are_never_labels(tmp_path: Path) -> None:
    frame = audit_frame()
    write_site(frame, tmp_path / "s")
    payload = load_payload(tmp_path / "s")
    # the five audit columns are neither label filters nor plain columns
    assert [lab["name"] for lab in payload["labels"]] == ["class", "split"]
    assert payload["extras"] == []
    (resp,) = payload["responses"]
    (issues,) = resp["labelIssues"]
    assert issues["dim"] == "class" and issues["flagged"] == 4
    np.testing.assert_allclose(decode(issues["score"], np.float32),
                               frame["labelIssue_resp_byAttr_class"], rtol=1e-6)
    flag = decode(issues["flag"], np.int8)
    assert list(np.flatnonzero(flag)) == sorted(r for r, v in AUDIT_ISSUES.items() if v[1])
    sug = issues["suggested"]
    codes = decode(sug["codes"], np.int32)
    assert [sug["values"][c] for c in codes] == list(frame["labelIssueSuggested_resp_byAttr_class"])
    (leak,) = resp["leakage"]
    assert leak["dim"] == "split" and leak["order"] == ["train", "test"]
    assert leak["values"] == ["test", "train"]
    np.testing.assert_array_equal(decode(leak["groups"], np.int32),
                                  frame["leakage_resp_byAttr_split"])
    assert leak["pairs"] == [{"a": "train", "b": "test", "groups": 2, "samples_a": 3,
                              "samples_b": 2}]
    # the audit table is report.issues(), the hostile value (a thin class) as plain data
    assert payload["audit"] == _audit_rows(DatasetReport(frame).issues())
    imbalance = next(r for r in payload["audit"] if r["issue"] == "imbalance"
                     and r["label"] == "class")
    assert f"{HOSTILE} (8)" in imbalance["detail"]
    text = (tmp_path / "s" / "data.js").read_text(encoding="utf-8")
    assert "<script" not in text and "</" not in text


def test_audit_table_of_a_built_report_matches_issues(tmp_path: Path) -> None:
    from deepview.base import ArrayProducer
    from deepview.introspectors import DimensionReduction
    from deepview.report import ReportConfig

    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(3), 40)
    x = rng.normal(size=(3, 8))[truth] * 8 + rng.normal(size=(120, 8))
    label = np.array(["a", "b", "c"])[truth].astype(object)
    label[[5, 50]] = ["b", "c"]  # flipped
    split = np.where(np.arange(120) < 90, "train", "test")
    x[100] = x[10]  # a test copy of a train sample
    producer = ArrayProducer({"emb": x}, labels={"label": label.tolist(),
                                                 "split": split.tolist()})
    report = DatasetReport.introspect(producer, config=ReportConfig(
        projection=DimensionReduction.Strategy.PCA(2)))
    report.export_site(tmp_path / "s")
    payload = load_payload(tmp_path / "s")
    assert payload["audit"] == _audit_rows(report.issues())
    rows = {(r["issue"], r["label"]): r for r in payload["audit"]}
    assert rows[("leakage", "split")]["flagged"] == 2
    assert rows[("label issues", "label")]["flagged"] >= 2
    assert [lab["name"] for lab in payload["labels"]] == ["label", "split", "cluster_emb"]
    # a saved and loaded report gives the same page data (its audit notes saved with it)
    report.to_disk(tmp_path / "r")
    loaded = DatasetReport.from_disk(tmp_path / "r")
    assert loaded.audit_notes == report.audit_notes
    assert report.audit_notes["labelIssueFlag_emb_byAttr_label"]["predictable"] is True
    loaded.export_site(tmp_path / "t")
    again = load_payload(tmp_path / "t")
    assert again["audit"] == payload["audit"]
    for a, b in zip(again["responses"][0]["leakage"], payload["responses"][0]["leakage"],
                    strict=True):
        np.testing.assert_array_equal(a.pop("groups"), b.pop("groups"))
        assert a == b


def test_audit_of_tables_without_audit_columns(tmp_path: Path) -> None:
    write_site(pd.DataFrame({"id": ["a", "b", "c"], "kind": ["x", "y", "x"]}), tmp_path / "s")
    rows = {r["issue"]: r for r in load_payload(tmp_path / "s")["audit"]}
    assert rows["label issues"]["score"] is None and rows["label issues"]["flagged"] is None
    assert rows["label issues"]["detail"].startswith("not measured")
    assert rows["imbalance"]["label"] == "kind"
    write_site(pd.DataFrame({"id": pd.Series([], dtype=str)}), tmp_path / "e")
    assert load_payload(tmp_path / "e")["audit"] == []


def test_audit_columns_of_the_wrong_type_are_plain_columns(tmp_path: Path) -> None:
    frame = audit_frame()
    frame["leakage_resp_byAttr_split"] = frame["leakage_resp_byAttr_split"].astype(str)
    frame["labelIssue_resp_byAttr_class"] = ["high"] * len(frame)
    write_site(frame, tmp_path / "s")
    payload = load_payload(tmp_path / "s")
    assert [lab["name"] for lab in payload["labels"]] == ["class", "split"]
    assert {e["name"] for e in payload["extras"]} == {"leakage_resp_byAttr_split",
                                                      "labelIssue_resp_byAttr_class"}
    (resp,) = payload["responses"]
    assert resp["labelIssues"] == [] and resp["leakage"] == []
    assert all(r["issue"] != "leakage" for r in payload["audit"])
