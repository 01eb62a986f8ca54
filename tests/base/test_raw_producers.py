"""ImageFolderProducer, TextProducer, decode_image: labels, ids, bad samples skipped."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from deepview.base import (  # noqa: E402
    Batch,
    ImageFolderProducer,
    TextProducer,
    accumulate_batches,
    decode_image,
)
from deepview.exceptions import (  # noqa: E402
    DeepViewWarning,
    InvalidDataError,
    InvalidParameterError,
)


def _collect(producer, batch_size=4):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batch = accumulate_batches(producer, batch_size)
    return batch, [w for w in caught if issubclass(w.category, DeepViewWarning)]


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).save(tmp_path / "cat/a.png")
    grey = rng.integers(0, 255, (20, 30), dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "cat/b.png")
    rgba = rng.integers(0, 255, (7, 7, 4), dtype=np.uint8)
    rgba[..., 3] = 0  # fully transparent: laid on white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "dog/c.png")
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "dog/d.jpg")
    (tmp_path / "dog/e.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    data = (tmp_path / "cat/a.png").read_bytes()
    (tmp_path / "cat/f.png").write_bytes(data[: len(data) // 2])  # truncated
    return tmp_path


def test_image_folder_labels_sizes_and_skipped(folder):
    producer = ImageFolderProducer(folder, labels_from="folders", size=(8, 8))
    batch, caught = _collect(producer)
    ids = batch.metadata[Batch.StdKeys.IDENTIFIER]
    assert ids == ["cat/a.png", "cat/b.png", "dog/c.png", "dog/d.jpg"]
    assert batch.metadata[Batch.StdKeys.LABELS]["label"] == ["cat", "cat", "dog", "dog"]
    images = batch.fields["images"]
    assert images.shape == (4, 8, 8, 3) and images.dtype == np.uint8
    assert (images[2] == 255).all()  # transparent RGBA on white
    assert np.ptp(images[1], axis=2).max() == 0  # grey -> RGB: equal channels
    assert sorted(s.id for s in producer.skipped) == ["cat/f.png", "dog/e.png"]
    assert len(caught) == 1 and "cat/f.png" in str(caught[0].message)
    assert "skipped 2" in str(caught[0].message)
    assert batch.metadata[Batch.StdKeys.PATH][0] == str(folder / "cat/a.png")


def test_image_folder_mixed_sizes_default_to_the_first_and_grey_mode(folder):
    producer = ImageFolderProducer(folder, mode="L")
    batch, _ = _collect(producer, batch_size=2)
    assert batch.fields["images"].shape == (4, 10, 12, 1)


def test_image_folder_metadata_csv_by_path_or_file_name(folder):
    (folder / "meta.csv").write_text("id,kind\ncat/a.png,x\ncat/b.png,y\ndog/c.png,x\n"
                                     "dog/d.jpg,z\ndog/e.png,x\ncat/f.png,y\n")
    producer = ImageFolderProducer(folder, metadata=folder / "meta.csv")
    batch, _ = _collect(producer)
    assert batch.metadata[Batch.StdKeys.LABELS]["kind"] == ["x", "y", "x", "z"]
    (folder / "names.csv").write_text("file,kind\na.png,1\nb.png,2\nc.png,3\nd.jpg,4\n")
    with pytest.raises(InvalidDataError, match="e.png"):
        ImageFolderProducer(folder, metadata=folder / "names.csv", id_column="file")
    with pytest.raises(InvalidParameterError, match="no id column 'id'"):
        ImageFolderProducer(folder, metadata=folder / "names.csv")


def test_image_folder_errors(tmp_path):
    with pytest.raises(InvalidDataError, match="no image files"):
        ImageFolderProducer(tmp_path)
    with pytest.raises(InvalidParameterError, match="not a folder"):
        ImageFolderProducer(tmp_path / "nope")
    Image.new("RGB", (2, 2)).save(tmp_path / "a.png")
    with pytest.raises(InvalidDataError, match="subfolder"):
        ImageFolderProducer(tmp_path, labels_from="folders")
    with pytest.raises(InvalidParameterError, match="labels_from"):
        ImageFolderProducer(tmp_path, labels_from="csv")


def test_decode_image_modes():
    with pytest.raises(InvalidDataError, match="cannot read image"):
        decode_image(b"nothing")
    img = Image.new("I;16", (3, 2))
    img.putpixel((0, 0), 65535)
    out = decode_image(img, mode="L")
    assert out.shape == (2, 3, 1) and out[0, 0, 0] == 255 and out[1, 1, 0] == 0
    palette = Image.new("P", (2, 2))
    assert decode_image(palette).shape == (2, 2, 3)


def test_text_file_formats(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\nthree\n")
    batch, caught = _collect(TextProducer(tmp_path / "a.txt"))
    assert batch.fields["texts"].tolist() == ["one", "three"]
    assert batch.metadata[Batch.StdKeys.IDENTIFIER] == ["1", "3"]
    assert batch.metadata[Batch.StdKeys.TEXT] == ["one", "three"]
    assert len(caught) == 1 and "2 (empty text)" in str(caught[0].message)

    (tmp_path / "a.csv").write_text('id,body,topic\nx,"hello, world",greet\ny,,none\n'
                                    'z,bye,greet,extra\nw,"multi\nline",misc\n')
    producer = TextProducer(tmp_path / "a.csv", text_column="body", id_column="id",
                            label_columns=["topic"])
    batch, caught = _collect(producer)
    assert batch.fields["texts"].tolist() == ["hello, world", "multi\nline"]
    assert batch.metadata[Batch.StdKeys.IDENTIFIER] == ["x", "w"]
    assert batch.metadata[Batch.StdKeys.LABELS]["topic"] == ["greet", "misc"]
    assert sorted(s.id for s in producer.skipped) == ["2", "y"]

    lines = [json.dumps({"text": "a", "k": 1}), "{not json", json.dumps({"other": 1}),
             json.dumps({"text": "b", "k": 2})]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    producer = TextProducer(tmp_path / "a.jsonl", label_columns=["k"])
    batch, _ = _collect(producer)
    assert batch.fields["texts"].tolist() == ["a", "b"]
    assert batch.metadata[Batch.StdKeys.LABELS]["k"] == ["1", "2"]
    assert [s.id for s in producer.skipped] == ["1", "2"]


def test_a_table_with_an_id_column_takes_its_ids_from_it(tmp_path):
    """As embeddings do: with no id_column (--id-column), a column named 'id' holds the ids;
    without one, the row numbers; the text column itself is never taken as the ids."""
    import pandas as pd

    frame = pd.DataFrame({"id": ["pkg-b", "pkg-a", "pkg-c"], "summary": ["x", "y", "z"],
                          "year": ["2020", "2021", "2020"]})
    frame.to_csv(tmp_path / "s.csv", index=False)
    frame.to_csv(tmp_path / "s.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "s.parquet")
    frame.to_json(tmp_path / "s.jsonl", orient="records", lines=True)
    for name in ("s.csv", "s.tsv", "s.parquet", "s.jsonl"):
        producer = TextProducer(tmp_path / name, text_column="summary", label_columns=["year"])
        batch, _ = _collect(producer)
        assert batch.metadata[Batch.StdKeys.IDENTIFIER] == ["pkg-b", "pkg-a", "pkg-c"], name
        assert producer.id_column == "id"
    frame.drop(columns="id").to_parquet(tmp_path / "n.parquet")
    batch, _ = _collect(TextProducer(tmp_path / "n.parquet", text_column="summary"))
    assert batch.metadata[Batch.StdKeys.IDENTIFIER] == ["0", "1", "2"]
    batch, _ = _collect(TextProducer(tmp_path / "s.csv", text_column="id"))
    assert batch.metadata[Batch.StdKeys.IDENTIFIER] == ["0", "1", "2"]
    frame.assign(id=["a", "a", "b"]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(InvalidDataError, match="'id'.*repeat.*--id-column"):
        TextProducer(tmp_path / "dup.csv", text_column="summary")


def test_text_parquet_and_errors(tmp_path):
    import pandas as pd

    pd.DataFrame({"sentence": ["p", None, "q"], "g": ["1", "2", "3"]}).to_parquet(
        tmp_path / "t.parquet")
    batch, _ = _collect(TextProducer(tmp_path / "t.parquet", text_column="sentence"))
    assert batch.fields["texts"].tolist() == ["p", "q"]
    with pytest.raises(InvalidParameterError, match=r"no column 'text'.*sentence"):
        TextProducer(tmp_path / "t.parquet")
    (tmp_path / "b.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidParameterError, match=r"no column 'body' \(--text-column"):
        TextProducer(tmp_path / "b.csv", text_column="body")
    (tmp_path / "c.txt").write_text("x\n")
    with pytest.raises(InvalidParameterError, match="one text per line"):
        TextProducer(tmp_path / "c.txt", text_column="text")
    with pytest.raises(InvalidParameterError, match="must be a .txt"):
        TextProducer(tmp_path / "t.xlsx") if (tmp_path / "t.xlsx").touch() is None else None
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(InvalidDataError, match="holds no text"):
        TextProducer(tmp_path / "empty.txt")
    (tmp_path / "dup.csv").write_text("id,text\na,x\na,y\n")
    with pytest.raises(InvalidDataError, match="repeat"):
        TextProducer(tmp_path / "dup.csv", id_column="id")
