"""The ``deepview`` command line: happy paths, switches and refused inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from deepview.cli import app
from deepview.introspectors import DatasetReport

runner = CliRunner()
N = 90


def _embeddings(n: int = N, dim: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 6, size=(6, dim))
    x = centers[np.arange(n) % 6] + rng.normal(size=(n, dim))
    x[5] = centers[0] + 5.0  # a moderate outlier (an extreme one may get its own component)
    return x.astype(np.float32)


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    npy = tmp_path / "emb.npy"
    np.save(npy, _embeddings())
    csv = tmp_path / "meta.csv"
    pd.DataFrame({
        "name": [f"s{i:03d}" for i in range(N)],
        "kind": [["cat", "dog", "owl"][i % 3] for i in range(N)],
        "split": ["train" if i < 60 else "test" for i in range(N)],
    }).to_csv(csv, index=False)
    return npy, csv


def _run(*args: object):
    return runner.invoke(app, ["report", *map(str, args)])


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}"))


def test_happy_path_npy_and_csv(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    npy, csv = inputs
    out = tmp_path / "out"
    result = _run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                  "--projection", "pca")
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file()
    assert "rows" in result.output and "90" in result.output
    assert str(out / "index.html") in result.output
    assert "least familiar" in result.output and "s005" in result.output
    data = DatasetReport.from_disk(out / "report").data
    assert data["id"].tolist() == [f"s{i:03d}" for i in range(N)]
    assert data["kind"].tolist()[:4] == ["cat", "dog", "owl", "cat"]
    assert {"duplicates_embedding", "projection_embedding_x", "familiarity_embedding",
            "splitFamiliarity_embedding_byAttr_split"} <= set(data.columns)
    # only "train" (60 rows) reaches the default split_familiarity_min of 50
    assert set(data["splitFamiliarity_embedding_byAttr_split"][0]) == {"train"}
    assert "splitFamiliarity_embedding_byAttr_kind" not in data.columns  # 30 per value
    assert data["familiarity_embedding"].idxmin() == 5
    assert _siblings(out) == []
    umask = os.umask(0o022)
    os.umask(umask)  # read only
    for folder in (out, out / "report", out / "assets"):  # not left private (0o700)
        assert folder.stat().st_mode & 0o777 == 0o777 & ~umask, folder


def test_python_m_deepview_cli_runs_the_command() -> None:
    result = subprocess.run([sys.executable, "-m", "deepview.cli", "--help"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "report" in result.stdout and "demo" in result.stdout


def test_label_selection_and_switches(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    npy, csv = inputs
    out = tmp_path / "out"
    result = _run(npy, "-o", out, "-m", csv, "--id-column", "name", "--label", "split",
                  "--no-duplicates", "--no-familiarity", "--no-projection")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(out / "report").data
    assert list(data.columns) == ["id", "split"]


def test_parquet_with_ids_matched_to_csv_by_id(tmp_path: Path) -> None:
    x = _embeddings()
    order = np.random.default_rng(1).permutation(N)
    table = pa.table({"id": [f"s{i:03d}" for i in order],
                      "vec": pa.array(list(x[order]), type=pa.list_(pa.float32()))})
    pq.write_table(table, tmp_path / "emb.parquet")
    pd.DataFrame({"id": [f"s{i:03d}" for i in range(N)],
                  "kind": [f"k{i % 3}" for i in range(N)]}).to_csv(tmp_path / "m.csv",
                                                                    index=False)
    out = tmp_path / "out"
    result = _run(tmp_path / "emb.parquet", "--out", out, "--metadata", tmp_path / "m.csv",
                  "--projection", "pca", "--no-familiarity")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(out / "report").data
    assert data["id"].tolist() == [f"s{i:03d}" for i in order]
    assert data["kind"].tolist() == [f"k{i % 3}" for i in order]


def test_parquet_numeric_columns_without_metadata(tmp_path: Path) -> None:
    x = _embeddings(n=40, dim=4)
    pd.DataFrame(x, columns=list("abcd")).assign(tag=["t"] * 40).to_parquet(tmp_path / "e.pq")
    out = tmp_path / "out"
    result = _run(tmp_path / "e.pq", "--out", out, "--projection", "pca")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(out / "report").data
    assert data["id"].tolist() == [str(i) for i in range(40)]
    assert data["tag"].tolist() == ["t"] * 40


def test_a_folder_of_parquet_shards_is_read_in_process(tmp_path: Path) -> None:
    """``deepview report SHARDS/`` without ``--engine ray``: the shards in sorted path order
    (as the Ray engine reads them), the same report as the one file; a folder that is not
    usable says why."""
    x = _embeddings()
    table = pa.table({"id": [f"s{i:03d}" for i in range(N)],
                      "kind": [f"k{i % 3}" for i in range(N)],
                      "vec": pa.array(list(x), type=pa.list_(pa.float32()))})
    pq.write_table(table, tmp_path / "all.parquet")
    shards = tmp_path / "shards"
    (shards / "z").mkdir(parents=True)
    bounds = [0, 30, 61, N]  # sorted paths: part-1, part-10, z/part-2
    for name, start, stop in zip(["part-1", "part-10", "z/part-2"], bounds, bounds[1:]):
        pq.write_table(table.slice(start, stop - start), shards / f"{name}.parquet")
    common = ("--projection", "pca", "--quiet")
    assert _run(tmp_path / "all.parquet", "--out", tmp_path / "one", *common).exit_code == 0
    result = _run(shards, "--out", tmp_path / "many", "--id-column", "id", *common)
    assert result.exit_code == 0, result.output
    one = DatasetReport.from_disk(tmp_path / "one" / "report").data
    many = DatasetReport.from_disk(tmp_path / "many" / "report").data
    pd.testing.assert_frame_equal(one, many)
    assert many["id"].tolist()[:2] == ["s000", "s001"]
    out = tmp_path / "out"
    (tmp_path / "empty").mkdir()
    _assert_refused(_run(tmp_path / "empty", "--out", out), out, "holds no .parquet files")
    pq.write_table(table.slice(0, 5).drop(["kind"]), shards / "part-3.parquet")
    _assert_refused(_run(shards, "--out", out), out, "part-3.parquet' has a different schema")


def test_images_folder_gives_thumbnails(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    folder = tmp_path / "imgs"
    folder.mkdir()
    n = 30
    for i in range(n):
        image.new("L", (8, 8), color=i * 8).save(folder / f"{i}.png")
    np.save(tmp_path / "e.npy", _embeddings(n=n, dim=5))
    pd.DataFrame({"id": [f"{i}.png" for i in range(n)]}).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "out"
    result = _run(tmp_path / "e.npy", "--out", out, "--metadata", tmp_path / "m.csv",
                  "--images", folder, "--projection", "pca", "--no-familiarity")
    assert result.exit_code == 0, result.output
    assert len(list((out / "thumbs").iterdir())) == n
    # a missing image file is refused
    (folder / "3.png").unlink()
    result = _run(tmp_path / "e.npy", "--out", tmp_path / "out2", "--metadata",
                  tmp_path / "m.csv", "--images", folder)
    assert result.exit_code == 1
    assert "no image file" in result.output and "3.png" in result.output


@pytest.mark.slow
def test_umap_projection(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("umap")
    npy, csv = inputs
    out = tmp_path / "out"
    result = _run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                  "--projection", "umap", "--no-familiarity", "--no-duplicates")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(out / "report").data
    xy = data[["projection_embedding_x", "projection_embedding_y"]].to_numpy()
    assert np.isfinite(xy).all() and xy.std(axis=0).min() > 0


# ------------------------------------------------------------------------------ refused
def _assert_refused(result, out: Path, *needles: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    for needle in needles:
        assert needle in result.output, result.output
    assert not out.exists()
    assert _siblings(out) == []


def test_nan_rows_refused(tmp_path: Path) -> None:
    x = _embeddings()
    x[[4, 9], 2] = np.nan
    np.save(tmp_path / "e.npy", x)
    out = tmp_path / "out"
    _assert_refused(_run(tmp_path / "e.npy", "--out", out), out, "NaN", "2 row", "[4, 9]")


def test_csv_ids_that_do_not_match_refused(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    npy, csv = inputs
    out = tmp_path / "out"
    short = tmp_path / "short.csv"
    pd.read_csv(csv).iloc[:50].to_csv(short, index=False)
    _assert_refused(_run(npy, "--out", out, "--metadata", short, "--id-column", "name"), out,
                    "50 rows", "90")
    table = pa.table({"id": [f"x{i}" for i in range(N)],
                      "vec": pa.array(list(_embeddings()), type=pa.list_(pa.float32()))})
    pq.write_table(table, tmp_path / "e.parquet")
    _assert_refused(_run(tmp_path / "e.parquet", "--out", out, "--metadata", csv,
                         "--id-column", "name"), out, "not in the metadata CSV")


def test_missing_id_or_label_column_refused(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    npy, csv = inputs
    out = tmp_path / "out"
    _assert_refused(_run(npy, "--out", out, "--metadata", csv), out,
                    "no id column 'id'", "--id-column")
    _assert_refused(_run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                         "--label", "colour"), out, "no label column", "colour")


def test_too_few_samples_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", np.ones((2, 3), dtype=np.float32))
    out = tmp_path / "out"
    _assert_refused(_run(tmp_path / "e.npy", "--out", out), out, "at least 3")


def test_bad_files_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _assert_refused(_run(tmp_path / "nope.npy", "--out", out), out, "does not exist")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _assert_refused(_run(tmp_path / "obj.npy", "--out", out), out, "numeric")
    np.save(tmp_path / "flat.npy", np.ones(10))
    _assert_refused(_run(tmp_path / "flat.npy", "--out", out), out, "2-D")
    (tmp_path / "e.txt").write_text("1 2 3")
    _assert_refused(_run(tmp_path / "e.txt", "--out", out), out, ".npy")


def test_bad_projection_is_a_usage_error(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    npy, _ = inputs
    out = tmp_path / "out"
    _assert_refused(_run(npy, "--out", out, "--projection", "mds"), out, "umap", code=2)


def test_existing_output_needs_overwrite(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    npy, _ = inputs
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _run(npy, "--out", out, "--projection", "pca")
    assert result.exit_code == 1 and "--overwrite" in result.output
    # an unrelated non-empty folder is never replaced, even with --overwrite
    result = _run(npy, "--out", out, "--projection", "pca", "--overwrite")
    assert result.exit_code == 1 and "does not look like a deepview report" in result.output
    assert (out / "notes.txt").read_text() == "mine"
    out2 = tmp_path / "out2"
    assert _run(npy, "--out", out2, "--projection", "pca", "--no-familiarity").exit_code == 0
    assert _run(npy, "--out", out2, "--projection", "pca").exit_code == 1
    result = _run(npy, "--out", out2, "--projection", "pca", "--overwrite")
    assert result.exit_code == 0, result.output
    assert "familiarity_embedding" in DatasetReport.from_disk(out2 / "report").data.columns
    assert _siblings(out2) == []


def test_failure_while_writing_leaves_nothing(inputs: tuple[Path, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    npy, _ = inputs
    out = tmp_path / "out"

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(DatasetReport, "to_disk", broken)
    result = _run(npy, "--out", out, "--projection", "pca")
    assert result.exit_code != 0
    assert not out.exists()
    assert _siblings(out) == []


def test_duplicate_threshold_and_seed_options(tmp_path: Path) -> None:
    x = _embeddings()
    x[7] = x[3]  # an exact copy
    x[8] = x[4] + 1e-3  # a near-duplicate
    npy = tmp_path / "emb.npy"
    np.save(npy, x)
    outputs = []
    for name, threshold in (("a", "auto"), ("b", "auto"), ("c", "0")):
        out = tmp_path / name
        result = _run(npy, "--out", out, "--projection", "pca", "--seed", "3", "--quiet",
                      "--duplicate-threshold", threshold)
        assert result.exit_code == 0, result.output
        assert "(exact)" in result.output and "(near)" in result.output
        outputs.append(DatasetReport.from_disk(out / "report").data)
    auto, again, zero = outputs
    assert auto.equals(again)  # the same seed gives the same report
    groups, exact = auto["duplicates_embedding"], auto["duplicatesExact_embedding"]
    assert groups[3] == groups[7] >= 0 and exact[3] and exact[7]
    assert groups[4] == groups[8] >= 0 and not exact[4]
    # a distance of 0 keeps the exact copies only
    assert zero["duplicates_embedding"][3] >= 0 and zero["duplicates_embedding"][4] == -1


@pytest.mark.parametrize("value", ["often", "p200", "relative:0", "-1"])
def test_bad_duplicate_threshold_refused(inputs: tuple[Path, Path], tmp_path: Path,
                                         value: str) -> None:
    npy, _ = inputs
    result = _run(npy, "--out", tmp_path / "out", "--duplicate-threshold", value)
    assert result.exit_code != 0
    assert "--duplicate-threshold" in result.output
    assert not (tmp_path / "out").exists()


def _csv_with_text(tmp_path: Path, column: str = "sentence") -> Path:
    csv = tmp_path / "meta_text.csv"
    texts = [f"sentence {i} about {['cats', 'dogs', 'owls'][i % 3]}" for i in range(N)]
    texts[1] = "<script>alert(1)</script> <b>bold</b>"
    pd.DataFrame({"name": [f"s{i:03d}" for i in range(N)],
                  "kind": [["cat", "dog", "owl"][i % 3] for i in range(N)],
                  column: texts}).to_csv(csv, index=False)
    return csv


def test_text_column_is_shown_text_not_a_label(inputs: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    npy, _ = inputs
    csv = _csv_with_text(tmp_path)
    texts = pd.read_csv(csv)["sentence"].tolist()
    out = tmp_path / "out"
    result = _run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                  "--text-column", "sentence", "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    assert "90 samples with text" in result.output and "label 'sentence'" not in result.output
    data = DatasetReport.from_disk(out / "report").data
    assert data["text"].tolist() == texts
    assert "sentence" not in data.columns  # not also a label
    assert not [c for c in data.columns if str(c).endswith(("byAttr_text", "byAttr_sentence"))]
    # the texts ship in the site's chunk files, escaped for a <script> element
    site = "".join(f.read_text(encoding="utf-8")
                   for f in [out / "data.js", *sorted((out / "chunks").glob("*.js"))])
    assert "<script>alert" not in site and "\\u003cscript\\u003ealert(1)" in site


def test_csv_column_named_text_is_the_text_by_default(inputs: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    npy, _ = inputs
    csv = _csv_with_text(tmp_path, column="text")
    out = tmp_path / "out"
    result = _run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                  "--no-duplicates", "--no-familiarity", "--no-projection")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(out / "report").data
    assert list(data.columns) == ["id", "kind", "text"]
    assert data["text"].tolist() == pd.read_csv(csv)["text"].tolist()


def test_bad_text_column_refused(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    npy, _ = inputs
    csv = _csv_with_text(tmp_path)
    out = tmp_path / "out"
    _assert_refused(_run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                         "--text-column", "caption"), out,
                    "no text column 'caption'", "'sentence'", "'kind'")
    _assert_refused(_run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                         "--text-column", "sentence", "--label", "sentence"), out,
                    "'sentence'", "not a label")
    _assert_refused(_run(npy, "--out", out, "--text-column", "sentence"), out,
                    "--text-column 'sentence'", "--metadata")


def test_text_column_of_a_parquet_file(tmp_path: Path) -> None:
    x = _embeddings(n=40, dim=4)
    frame = pd.DataFrame(x, columns=list("abcd")).assign(
        tag=["t"] * 40, caption=[f"caption {i}" for i in range(40)])
    frame.to_parquet(tmp_path / "e.pq")
    out = tmp_path / "out"
    result = _run(tmp_path / "e.pq", "--out", out, "--text-column", "caption",
                  "--no-duplicates", "--no-familiarity", "--no-projection")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(out / "report").data
    assert list(data.columns) == ["id", "tag", "text"]
    assert data["text"].tolist() == [f"caption {i}" for i in range(40)]
    _assert_refused(_run(tmp_path / "e.pq", "--out", tmp_path / "o2", "--text-column", "nope"),
                    tmp_path / "o2", "--text-column 'nope'", "'caption'", "'tag'")


# ------------------------------------------------------------------------------ audit
FLIPPED = (10, 20)  # "kind" flipped to the next class
TRAIN_ROW, TEST_COPY = 12, 70  # a test row that is an exact copy of a train row


@pytest.fixture
def audit_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """6 clusters (kind = cluster % 3, so every cluster is one kind), two flipped kinds, a test
    row copied from train, and a predictions CSV (true classes, rows shuffled, ids in
    'name')."""
    x = _embeddings()
    x[TEST_COPY] = x[TRAIN_ROW]
    classes = ["cat", "dog", "owl"]
    truth = [classes[i % 3] for i in range(N)]
    kind = list(truth)
    for row in FLIPPED:
        kind[row] = classes[(classes.index(truth[row]) + 1) % 3]
    kind[TEST_COPY] = kind[TRAIN_ROW]
    np.save(tmp_path / "emb.npy", x)
    names = [f"s{i:03d}" for i in range(N)]
    pd.DataFrame({"name": names, "kind": kind,
                  "split": ["train" if i < 60 else "test" for i in range(N)]}).to_csv(
        tmp_path / "meta.csv", index=False)
    probs = pd.DataFrame({c: [0.9 if t == c else 0.05 for t in truth] for c in classes})
    probs.insert(0, "name", names)
    probs.sample(frac=1, random_state=0).to_csv(tmp_path / "pred.csv", index=False)
    return tmp_path / "emb.npy", tmp_path / "meta.csv", tmp_path / "pred.csv"


def _audit_rows(output: str) -> dict[tuple[str, str], list[str]]:
    """The printed audit table: (issue, label) -> [flagged, score, detail...] cells."""
    lines = output.split("Audit (score: 1 = not found, 0 = every sample affected)\n", 1)[1]
    rows: dict[tuple[str, str], list[str]] = {}
    header, rule, *body = lines.splitlines()
    starts = [0] + [k + 2 for k in range(len(rule)) if rule[k:k + 2] == "  "][1:]
    for line in body:
        if line.startswith("Open "):
            break
        if not line[:starts[1]].strip():  # a wrapped detail line
            continue
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
        rows[(cells[0], cells[1])] = cells[2:]
    assert header.split()[:5] == ["issue", "label", "flagged", "score", "detail"]
    return rows


def test_audit_table_is_printed_with_leaks_and_label_issues(
        audit_inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    npy, csv, _ = audit_inputs
    out = tmp_path / "out"
    result = _run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                  "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(out / "report").data
    leaks = np.flatnonzero(data["leakageFlag_embedding_byAttr_split"])
    assert list(leaks) == [TRAIN_ROW, TEST_COPY]  # 'split' detected as the split label
    flagged = np.flatnonzero(data["labelIssueFlag_embedding_byAttr_kind"])
    assert set(FLIPPED) <= set(flagged) and len(flagged) <= len(FLIPPED) + 1
    assert "labelIssue_embedding_byAttr_split" not in data
    rows = _audit_rows(result.output)
    assert rows[("leakage", "split")][:3] == ["2", f"{1 - 2 / N:.3f}",
                                              "train/test: 1 group (1 train, 1 test)"]
    assert rows[("label issues", "kind")][0] == str(len(flagged))
    assert rows[("exact duplicates", "")][0] == "2"
    assert result.output.index("Audit (score") > result.output.index("least familiar")


def test_split_label_option_and_no_label_issues(audit_inputs: tuple[Path, Path, Path],
                                                tmp_path: Path) -> None:
    npy, csv, _ = audit_inputs
    out = tmp_path / "out"
    # 'kind' named as the split label: the only one (no detection), leaks across kinds, no
    # label issues for it but for 'split'
    result = _run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                  "--split-label", "kind", "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(out / "report").data
    assert "leakage_embedding_byAttr_kind" in data and "leakage_embedding_byAttr_split" not in data
    issues = [str(c) for c in data.columns if str(c).startswith("labelIssue_")]
    assert issues == ["labelIssue_embedding_byAttr_split"]
    rows = _audit_rows(result.output)
    assert ("leakage", "kind") in rows and ("label issues", "split") in rows
    assert ("label issues", "kind") not in rows
    result = _run(npy, "--out", tmp_path / "o2", "--metadata", csv, "--id-column", "name",
                  "--no-label-issues", "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(tmp_path / "o2" / "report").data
    assert not any(str(c).startswith("labelIssue") for c in data.columns)
    assert "leakage_embedding_byAttr_split" in data
    assert _audit_rows(result.output)[("label issues", "")][1] == "not measured"


def test_unlabelled_embeddings_print_not_measured(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", _embeddings())
    result = _run(tmp_path / "e.npy", "--out", tmp_path / "out", "--projection", "pca", "-q")
    assert result.exit_code == 0, result.output
    rows = _audit_rows(result.output)
    for issue in ("leakage", "label issues", "imbalance"):
        assert rows[(issue, "")][:2] == ["-", "not measured"], issue
        assert rows[(issue, "")][2].startswith("not measured")


def test_predictions_csv_sharpens_label_issues(audit_inputs: tuple[Path, Path, Path],
                                              tmp_path: Path) -> None:
    npy, csv, pred = audit_inputs
    out = tmp_path / "out"
    result = _run(npy, "--out", out, "--metadata", csv, "--id-column", "name",
                  "--predictions", pred, "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    data = DatasetReport.from_disk(out / "report").data
    assert list(np.flatnonzero(data["labelIssueFlag_embedding_byAttr_kind"])) == list(FLIPPED)
    suggested = data["labelIssueSuggested_embedding_byAttr_kind"][list(FLIPPED)].tolist()
    assert suggested == [["cat", "dog", "owl"][row % 3] for row in FLIPPED]
    # the same rows in sample order, no id column, and the label named explicitly
    ordered = pd.read_csv(pred).set_index("name").loc[[f"s{i:03d}" for i in range(N)]]
    ordered.to_csv(tmp_path / "ordered.csv", index=False)
    result = _run(npy, "--out", tmp_path / "o2", "--metadata", csv, "--id-column", "name",
                  "--predictions", tmp_path / "ordered.csv", "--predictions-label", "kind",
                  "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    again = DatasetReport.from_disk(tmp_path / "o2" / "report").data
    pd.testing.assert_series_equal(again["labelIssue_embedding_byAttr_kind"],
                                   data["labelIssue_embedding_byAttr_kind"])


def test_bad_predictions_and_split_labels_refused(audit_inputs: tuple[Path, Path, Path],
                                                  tmp_path: Path) -> None:
    npy, csv, pred = audit_inputs
    out = tmp_path / "out"
    base = (npy, "--out", out, "--metadata", csv, "--id-column", "name", "--projection", "pca")
    frame = pd.read_csv(pred)
    cases: list[tuple[tuple[object, ...], tuple[str, ...]]] = [
        (("--predictions", tmp_path / "nope.csv"), ("--predictions file", "does not exist")),
        (("--split-label", "colour"), ("--split-label 'colour'", "no such label", "'kind'")),
        (("--predictions-label", "kind"), ("--predictions-label needs --predictions",)),
        (("--predictions", pred, "--no-label-issues"), ("drop --no-label-issues",)),
        (("--predictions", pred, "--predictions-label", "colour"),
         ("--predictions-label 'colour'", "no such label")),
        (("--predictions", pred, "--predictions-label", "split", "--split-label", "split"),
         ("is a --split-label",)),
    ]
    frame.drop(columns="owl").to_csv(tmp_path / "cols.csv", index=False)
    cases.append((("--predictions", tmp_path / "cols.csv"),
                  ("one column per value", "no column for ['owl']")))
    frame.rename(columns={"owl": "bird"}).to_csv(tmp_path / "names.csv", index=False)
    cases.append((("--predictions", tmp_path / "names.csv", "--predictions-label", "kind"),
                  ("no column for ['owl']", "unknown columns ['bird']")))
    frame.drop(columns="name").iloc[:50].to_csv(tmp_path / "rows.csv", index=False)
    cases.append((("--predictions", tmp_path / "rows.csv"), ("50 rows", "90 samples")))
    frame.iloc[:80].to_csv(tmp_path / "ids.csv", index=False)
    cases.append((("--predictions", tmp_path / "ids.csv"), ("no row for 10 of 90 samples",)))
    frame.assign(dog=["x"] + [0.1] * (N - 1)).to_csv(tmp_path / "text.csv", index=False)
    cases.append((("--predictions", tmp_path / "text.csv"), ("column 'dog' holds 'x'",)))
    for extra, needles in cases:
        result = _run(*base, *extra)
        _assert_refused(result, out, "Error:", *needles)
        assert "Traceback" not in result.output


def test_issues_lines_format_missing_values_and_wrap() -> None:
    from deepview.cli._build import issues_lines

    table = pd.DataFrame({
        "issue": ["leakage", "label issues"], "response": ["emb", "emb"],
        "label": ["split", ""], "flagged": pd.array([3, None], dtype="Int64"),
        "score": [0.25, float("nan")],
        "detail": ["train/test: 3 groups " * 10, "not measured: no labels"]})
    lines = issues_lines(table, width=80)
    assert lines[0].split() == ["issue", "label", "flagged", "score", "detail"]
    assert "0.250" in lines[2] and lines[2].split()[:4] == ["leakage", "split", "3", "0.250"]
    assert all(len(line) <= 80 for line in lines)
    wrapped = lines[3:-1]
    assert wrapped and all(line.startswith(" " * 30) for line in wrapped)
    assert lines[-1].split()[:5] == ["label", "issues", "-", "not", "measured"]
    two = issues_lines(table.assign(response=["a", "b"]), width=120)
    assert two[0].split()[:2] == ["issue", "response"]


def test_unused_predictions_are_a_warning(audit_inputs: tuple[Path, Path, Path], tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    npy, csv, pred = audit_inputs
    result = _run(npy, "--out", tmp_path / "out", "--metadata", csv, "--id-column", "name",
                  "--predictions", pred, "--no-duplicates", "--no-familiarity",
                  "--no-projection")
    assert result.exit_code == 0, result.output
    assert "--predictions were not used: label 'kind'" in caplog.text
