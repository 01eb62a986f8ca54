"""The sample text column: Batch.StdKeys.TEXT -> report.data["text"] -> the site payload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _sitehelpers import load_payload

from deepview.base import ArrayProducer, Batch
from deepview.exceptions import InvalidDataError, InvalidTypeError
from deepview.introspectors import DatasetReport, ReportConfig
from deepview.report._site import write_site

N = 60
TEXTS = [f"sentence number {i}" for i in range(N)]
TEXTS[3] = "<script>alert(1)</script> and <b>bold</b>"


def _x(n: int = N) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)


def _summary_only() -> ReportConfig:
    return ReportConfig(projection=None, duplicates=None, familiarity=None)


def test_texts_become_the_text_column_after_path() -> None:
    producer = ArrayProducer(_x(), labels={"kind": ["a", "b"] * (N // 2)},
                             paths=[f"f{i}.txt" for i in range(N)], texts=TEXTS)
    data = DatasetReport.introspect(producer, config=_summary_only(), batch_size=7).data
    assert list(data.columns) == ["id", "kind", "path", "text"]
    assert data["text"].tolist() == TEXTS
    assert pd.api.types.is_string_dtype(data["text"].dtype)


def test_text_is_not_a_label_and_gets_no_familiarity_model() -> None:
    texts = ["same"] * N  # one value with N samples: as a label it would get its own model
    producer = ArrayProducer(_x(), labels={"kind": ["a"] * N}, texts=texts)
    data = DatasetReport.introspect(
        producer, config=ReportConfig(projection=None, duplicates=None,
                                      split_familiarity_min=10)).data
    assert "splitFamiliarity_responses_byAttr_kind" in data.columns
    assert not any(str(c).endswith("byAttr_text") for c in data.columns)
    assert data["text"].tolist() == texts


def test_missing_texts_are_empty_strings() -> None:
    texts: list[object] = list(TEXTS)
    texts[0], texts[1], texts[2] = None, float("nan"), pd.NA
    data = DatasetReport.introspect(ArrayProducer(_x(), texts=texts),  # type: ignore[arg-type]
                                    config=_summary_only()).data
    assert data["text"].tolist()[:4] == ["", "", "", TEXTS[3]]


def test_text_column_round_trips_through_disk(tmp_path: Path) -> None:
    report = DatasetReport.introspect(ArrayProducer(_x(), texts=TEXTS), config=_summary_only())
    loaded = DatasetReport.from_disk(report.to_disk(tmp_path / "r"))
    pd.testing.assert_frame_equal(loaded.data, report.data)
    assert loaded.data["text"].tolist() == TEXTS


def test_texts_on_some_batches_only_are_refused() -> None:
    x = _x()

    def producer(batch_size: int) -> Iterator[Batch]:
        for k, start in enumerate(range(0, N, batch_size)):
            builder = Batch.Builder({"r": x[start:start + batch_size]})
            if k == 0:
                builder.metadata[Batch.StdKeys.TEXT] = TEXTS[start:start + batch_size]
            yield builder.make_batch()

    with pytest.raises(InvalidDataError, match=r"batch 1 lacks Batch.StdKeys.TEXT.*texts to "
                                               "every batch or to none"):
        DatasetReport.introspect(producer, config=_summary_only(), batch_size=20)


def test_label_dimension_named_text_clashes() -> None:
    producer = ArrayProducer(_x(), labels={"text": ["a"] * N})
    with pytest.raises(InvalidDataError, match=r"\['text'\] clash.*MetadataRenamer"):
        DatasetReport.introspect(producer, config=_summary_only())


def test_array_producer_checks_texts() -> None:
    with pytest.raises(InvalidDataError, match="'texts' has 2 values but data has 60 rows"):
        ArrayProducer(_x(), texts=["a", "b"])
    with pytest.raises(InvalidTypeError, match="'texts' must be a sequence.*\\[text\\]"):
        ArrayProducer(_x(), texts="one text")  # type: ignore[arg-type]
    batch = next(iter(ArrayProducer(_x(), texts=TEXTS)(5)))
    assert list(batch.metadata[Batch.StdKeys.TEXT]) == TEXTS[:5]


def test_site_payload_has_texts_and_no_text_label(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": [f"s{i}" for i in range(N)], "kind": ["a", "b"] * (N // 2),
                       "text": TEXTS})
    df.loc[5, "text"] = None
    write_site(df, tmp_path / "s")
    raw = (tmp_path / "s" / "data.js").read_text(encoding="utf-8")
    assert "<script" not in raw and "<b>" not in raw
    payload = load_payload(tmp_path / "s")
    expected = list(TEXTS)
    expected[5] = ""
    assert payload["texts"] == expected
    assert [lab["name"] for lab in payload["labels"]] == ["kind"]
    assert [e["name"] for e in payload["extras"]] == []
    write_site(df.drop(columns="text"), tmp_path / "t")
    assert load_payload(tmp_path / "t")["texts"] is None
