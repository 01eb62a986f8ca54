"""The report's audit: label issues, leakage between splits, imbalance, report.issues()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepview.base import ArrayProducer
from deepview.exceptions import InvalidDataError, InvalidParameterError
from deepview.report import DatasetReport, ReportConfig

N_CLASSES, PER_CLASS, DIM = 4, 60, 16


def _clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    centres = rng.normal(size=(N_CLASSES, DIM)) * 8.0
    return (centres[truth] + rng.normal(size=(len(truth), DIM))).astype(np.float32), truth


def _config() -> ReportConfig:
    from deepview.introspectors import DimensionReduction

    return ReportConfig(projection=DimensionReduction.Strategy.PCA(2))


@pytest.fixture(scope="module")
def planted() -> dict[str, object]:
    """4 clusters with 12 flipped labels, 10 test samples copied from train (5 exact, 5 near),
    and a class ('rare') with a single member."""
    x, truth = _clusters()
    rng = np.random.default_rng(1)
    classes = np.array(["a", "b", "c", "d"])
    label = classes[truth].astype(object)
    flipped = rng.choice(len(x), 12, replace=False)
    label[flipped] = classes[(truth[flipped] + 1) % N_CLASSES]
    split = np.where(rng.random(len(x)) < 0.75, "train", "test").astype(object)
    train = np.flatnonzero(split == "train")
    originals = rng.choice(train, 10, replace=False)
    copies = x[originals].copy()
    copies[5:] += rng.normal(scale=1e-3, size=(5, DIM)).astype(np.float32)
    x = np.concatenate([x, copies])
    label = np.concatenate([label, classes[truth[originals]]])
    split = np.concatenate([split, ["test"] * 10])
    x = np.concatenate([x, x[:1] + 40.0])
    label = np.concatenate([label, ["rare"]])
    split = np.concatenate([split, ["train"]])
    ids = [f"s{i:03d}" for i in range(len(x))]
    producer = ArrayProducer({"emb": x}, identifiers=ids,
                             labels={"label": label.tolist(), "split": split.tolist()})
    report = DatasetReport.introspect(producer, config=_config())
    return {"report": report, "flipped": flipped, "originals": originals,
            "copies": np.arange(len(truth), len(truth) + 10), "x": x, "label": label,
            "split": split, "ids": ids}


def test_flipped_labels_are_flagged_with_their_true_class(planted) -> None:
    data = planted["report"].data
    flags = data["labelIssueFlag_emb_byAttr_label"].to_numpy()
    flipped = planted["flipped"]
    assert set(np.flatnonzero(flags)) >= set(flipped.tolist())
    assert flags.sum() <= len(flipped) + 2  # precision: at most the singleton 'rare' + 1
    x, truth = _clusters()
    suggested = data["labelIssueSuggested_emb_byAttr_label"].to_numpy()[flipped]
    assert (suggested == np.array(["a", "b", "c", "d"])[truth[flipped]]).all()
    score = data["labelIssue_emb_byAttr_label"].to_numpy()
    assert set(np.argsort(-score)[:12].tolist()) <= set(flipped.tolist()) | {len(score) - 1}
    # a split label gets no label-issue columns
    assert "labelIssue_emb_byAttr_split" not in data


def test_cross_split_copies_are_leaks(planted) -> None:
    data = planted["report"].data
    leak = data["leakage_emb_byAttr_split"].to_numpy()
    flag = data["leakageFlag_emb_byAttr_split"].to_numpy()
    np.testing.assert_array_equal(flag, leak >= 0)
    for original, copy in zip(planted["originals"], planted["copies"]):
        assert leak[original] >= 0 and leak[original] == leak[copy]
    # every leaking group holds both splits, and nothing else leaks
    assert set(np.flatnonzero(flag)) == set(planted["originals"]) | set(planted["copies"])


def test_issues_table(planted) -> None:
    table = planted["report"].issues()
    assert list(table.columns) == ["issue", "response", "label", "flagged", "score", "detail"]
    rows = {(r.issue, r.label): r for r in table.itertuples()}
    assert rows[("leakage", "split")].flagged == 20
    assert rows[("leakage", "split")].score == pytest.approx(1 - 20 / len(planted["x"]))
    assert "train/test: 10 groups" in rows[("leakage", "split")].detail
    assert rows[("exact duplicates", "")].flagged == 10
    assert rows[("near duplicates", "")].flagged == 10
    assert rows[("label issues", "label")].flagged >= 12
    assert 0 < rows[("imbalance", "label")].score < 1
    assert "rare (1)" in rows[("imbalance", "label")].detail
    assert "rare (1)" in rows[("thin labels", "label")].detail
    assert table["score"].between(0, 1).all()
    # a train/test split is uneven on purpose: no imbalance / thin-label rows for it
    assert ("imbalance", "split") not in rows and ("thin labels", "split") not in rows


def test_issues_survive_a_round_trip(planted, tmp_path) -> None:
    report = planted["report"]
    report.to_disk(tmp_path / "r")
    pd.testing.assert_frame_equal(DatasetReport.from_disk(tmp_path / "r").issues(),
                                  report.issues())


def test_predictions_sharpen_label_issues(planted) -> None:
    x, label, split, ids = planted["x"], planted["label"], planted["split"], planted["ids"]
    classes = ["a", "b", "c", "d", "rare"]
    truth = [str(v) for v in label]
    # predictions that say every flipped sample is its true class
    probs = pd.DataFrame(0.0, index=range(len(x)), columns=classes)
    full_truth = np.array(truth, dtype=object)
    xt, t = _clusters()
    full_truth[: len(t)] = np.array(["a", "b", "c", "d"])[t]
    for i, c in enumerate(full_truth):
        probs.at[i, c] = 1.0
    probs["id"] = ids
    producer = ArrayProducer({"emb": x}, identifiers=ids,
                             labels={"label": list(label), "split": list(split)})
    report = DatasetReport.introspect(producer, config=_config(),
                                      predictions={"label": probs.sample(frac=1, random_state=0)})
    flags = report.data["labelIssueFlag_emb_byAttr_label"].to_numpy()
    assert set(np.flatnonzero(flags)) == set(planted["flipped"].tolist())


def test_bad_predictions_name_the_problem(planted) -> None:
    x, label, split, ids = planted["x"], planted["label"], planted["split"], planted["ids"]

    def producer():
        return ArrayProducer({"emb": x}, identifiers=ids,
                             labels={"label": list(label), "split": list(split)})

    wrong_columns = pd.DataFrame(np.full((len(x), 2), 0.5), columns=["a", "zzz"])
    with pytest.raises(InvalidDataError, match="missing .*unknown \\['zzz'\\]"):
        DatasetReport.introspect(producer(), config=_config(),
                                 predictions={"label": wrong_columns})
    with pytest.raises(InvalidDataError, match="rows"):
        DatasetReport.introspect(producer(), config=_config(),
                                 predictions={"label": pd.DataFrame({"a": [1.0]})})
    with pytest.raises(InvalidParameterError, match="not label dimensions"):
        DatasetReport.introspect(producer(), config=_config(),
                                 predictions={"colour": wrong_columns})


def test_single_class_and_unlabelled_data_are_reported_as_not_measured() -> None:
    x, _ = _clusters()
    single = DatasetReport.introspect(
        ArrayProducer({"emb": x}, labels={"label": ["only"] * len(x)}), config=_config())
    assert not any(str(c).startswith("labelIssue") for c in single.data.columns)
    table = single.issues()
    row = table[table["issue"] == "label issues"].iloc[0]
    assert pd.isna(row["flagged"]) and np.isnan(row["score"])
    assert "not measured" in row["detail"]
    imbalance = table[table["issue"] == "imbalance"].iloc[0]
    assert np.isnan(imbalance["score"]) and "one value" in imbalance["detail"]

    bare = DatasetReport.introspect(ArrayProducer({"emb": x}), config=_config())
    table = bare.issues()
    for issue in ("label issues", "imbalance", "leakage"):
        row = table[table["issue"] == issue].iloc[0]
        assert pd.isna(row["flagged"]) and "not measured" in row["detail"]
    assert table[table["issue"] == "exact duplicates"].iloc[0]["flagged"] == 0

    # an id-like label is no set of classes; leakage without the duplicate search
    import dataclasses

    names = [f"file-{i}" for i in range(len(x))]
    split = ["train", "test"] * (len(x) // 2)
    config = dataclasses.replace(_config(), duplicates=None)
    table = DatasetReport.introspect(
        ArrayProducer({"emb": x}, labels={"name": names, "split": split}), config=config
    ).issues()
    rows = {(r.issue, r.label): r for r in table.itertuples()}
    assert pd.isna(rows[("imbalance", "name")].flagged)
    assert "mostly one each (an identifier or free text" in rows[("imbalance", "name")].detail
    assert pd.isna(rows[("leakage", "split")].flagged)
    assert "duplicate search was off" in rows[("leakage", "split")].detail
    # a long list of thin values is cut after ten, saying how many more
    sizes = ["big"] * (len(x) - 40) + [f"rare-{i:02d}" for i in range(40)]
    table = DatasetReport.introspect(ArrayProducer({"emb": x}, labels={"size": sizes}),
                                     config=config).issues()
    detail = table[table["issue"] == "imbalance"].iloc[0]["detail"]
    assert detail.endswith("rare-09 (1) and 30 more") and "rare-10" not in detail


def test_a_label_the_responses_do_not_predict_is_not_measured(tmp_path) -> None:
    """A label independent of the vectors (a random 10-class label, and a year-like label
    with skewed values): no sample flagged or scored, the audit row says why with the
    agreement and its chance level, the site lists no gallery for it; the clustered label
    beside them is measured as usual."""
    x, truth = _clusters()
    rng = np.random.default_rng(7)
    years = rng.choice([str(y) for y in range(2008, 2027)], len(x),
                       p=np.arange(1, 20) / np.arange(1, 20).sum())
    producer = ArrayProducer({"emb": x}, labels={
        "random": rng.integers(0, 10, len(x)).astype(str).tolist(), "year": years.tolist(),
        "cluster": np.array(["a", "b", "c", "d"])[truth].tolist()})
    report = DatasetReport.introspect(producer, config=_config())
    data = report.data
    rows = {r.label: r for r in report.issues().itertuples() if r.issue == "label issues"}
    for dim in ("random", "year"):
        assert not data[f"labelIssueFlag_emb_byAttr_{dim}"].any()
        assert data[f"labelIssue_emb_byAttr_{dim}"].isna().all()
        assert (data[f"labelIssueSuggested_emb_byAttr_{dim}"] == "").all()
        assert pd.isna(rows[dim].flagged) and np.isnan(rows[dim].score)
        assert rows[dim].detail.startswith(f"not measured: '{dim}' is not predictable")
        assert "by chance" in rows[dim].detail
        note = report.audit_notes[f"labelIssueFlag_emb_byAttr_{dim}"]
        assert note["predictable"] is False and abs(note["lift"]) < 0.2
    assert rows["cluster"].flagged == 0 and rows["cluster"].score == 1.0
    assert "agree with it" in rows["cluster"].detail
    from _sitehelpers import load_payload

    report.export_site(tmp_path / "site")
    payload = load_payload(tmp_path / "site")
    assert [q["dim"] for q in payload["responses"][0]["labelIssues"]] == ["cluster"]


def test_split_label_by_name_and_unknown_split_label() -> None:
    x, truth = _clusters()
    producer = ArrayProducer({"emb": x}, labels={"part": ["x", "y"] * (len(x) // 2),
                                                 "label": [str(t) for t in truth]})
    report = DatasetReport.introspect(producer, config=ReportConfig(
        projection=None, split_labels=("part",)))
    assert "leakage_emb_byAttr_part" in report.data
    assert "labelIssue_emb_byAttr_part" not in report.data
    with pytest.raises(InvalidParameterError, match="nope"):
        DatasetReport.introspect(ArrayProducer({"emb": x}, labels={"label": ["a"] * len(x)}),
                                 config=ReportConfig(projection=None, split_labels=("nope",)))


def test_a_cluster_made_mostly_of_duplicates_is_an_issue_row() -> None:
    from deepview.report._audit import issues_table

    clusters = pd.Categorical(["copies"] * 10 + ["topic"] * 20 + [None] * 5)
    groups = np.full(35, -1, dtype=np.int32)
    groups[:8] = 0  # 8 of the 10 "copies" are duplicates
    groups[10:12] = 1  # 2 of the 20 "topic" samples
    frame = pd.DataFrame({"duplicates_r": groups, "duplicatesExact_r": groups >= 0,
                          "cluster_r": clusters})
    table = issues_table(frame, [], [])
    (row,) = table[table["issue"] == "duplicate clusters"].to_dict("records")
    assert row["flagged"] == 10 and row["response"] == "r"
    assert "'copies' (10 samples, 80% duplicates)" in row["detail"]
    frame["duplicates_r"] = -1
    assert "duplicate clusters" not in set(issues_table(frame, [], [])["issue"])


def test_one_label_coding_with_one_missing_value_convention() -> None:
    from deepview.report._audit import label_codes

    codes, values = label_codes(["b", None, "a", "", float("nan"), "b"])
    assert values == ["a", "b"] and codes.tolist() == [1, -1, 0, -1, -1, 1]
    sorted_full = pd.Categorical(["x", "y", "x"])  # used as is: its own int8 codes
    codes, values = label_codes(sorted_full)
    assert values == ["x", "y"] and codes.dtype == np.int8 and codes.tolist() == [0, 1, 0]
    unused = pd.Categorical(["y", ""], categories=["", "x", "y"])
    codes, values = label_codes(unused)
    assert values == ["y"] and codes.tolist() == [0, -1]
