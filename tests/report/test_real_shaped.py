"""DatasetReport on data shaped like real embeddings (issue: right answers on real data).

Unit-norm 384-d vectors whose variance lives in a low-dimensional subspace around one
dominant direction (as sentence embeddings do), 30 % of the rows exact copies of other rows,
near-duplicates (one row nudged and renormalised), a few planted strays that lie off the
subspace (what PCA-to-40 alone cannot see), and a label value with a single member.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepview.base import ArrayProducer
from deepview.introspectors import DatasetReport, DimensionReduction, ReportConfig

N_BASE, DIM, RANK = 1400, 384, 24
N_STRAYS, N_EDITS = 8, 20


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return make_data()


def make_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    basis = np.linalg.qr(rng.normal(size=(DIM, RANK)))[0].T  # (RANK, DIM) orthonormal
    dominant = _unit(rng.normal(size=(1, DIM)))
    centres = rng.normal(size=(6, RANK)) * 0.8
    cluster = rng.integers(0, 6, N_BASE)
    coords = centres[cluster] + rng.normal(size=(N_BASE, RANK)) * 0.35
    base = _unit(3.0 * dominant + coords @ basis + 0.005 * rng.normal(size=(N_BASE, DIM)))
    # strays: ordinary within the subspace, but with a large component off it
    strays = _unit(3.0 * dominant + rng.normal(size=(N_STRAYS, RANK)) * 0.5 @ basis
                   + 0.6 * _unit(rng.normal(size=(N_STRAYS, DIM))))
    edit_of = rng.choice(N_BASE, N_EDITS, replace=False)
    edits = _unit(base[edit_of] + 0.0005 * rng.normal(size=(N_EDITS, DIM)))
    n_copies = int(0.3 * (N_BASE + N_STRAYS + N_EDITS) / 0.7)
    copy_of = rng.choice(np.setdiff1d(np.arange(N_BASE), edit_of), 40, replace=False)
    copy_src = copy_of[rng.integers(0, 40, n_copies)]
    x = np.concatenate([base, strays, edits, base[copy_src]]).astype(np.float32)
    kind = np.array(["base"] * N_BASE + ["stray"] * N_STRAYS + ["edit"] * N_EDITS
                    + ["copy"] * n_copies)
    source = np.concatenate([np.arange(N_BASE), -np.ones(N_STRAYS, int), edit_of, copy_src])
    labels = np.array([f"c{c}" for c in cluster] + ["c0"] * (len(x) - N_BASE))
    labels[5] = "singleton"  # a label value with one member
    order = rng.permutation(len(x))
    inverse = np.argsort(order)
    return {"x": x[order], "kind": kind[order], "labels": labels[order],
            "source": np.where(source >= 0, inverse[np.maximum(source, 0)], -1)[order]}


def _report(data: dict[str, np.ndarray], **config: object) -> DatasetReport:
    producer = ArrayProducer({"emb": data["x"]}, labels={"cluster": list(data["labels"])})
    return DatasetReport.introspect(
        producer, config=ReportConfig(projection=DimensionReduction.Strategy.PCA(2), **config))


@pytest.fixture(scope="module")
def report(data: dict[str, np.ndarray]) -> DatasetReport:
    return _report(data)


def test_strays_off_the_subspace_are_the_least_familiar(report: DatasetReport,
                                                        data: dict[str, np.ndarray]) -> None:
    scores = report.data["familiarity_emb"].to_numpy()
    lowest = np.argsort(scores)[: int(np.ceil(len(scores) / 100))]  # the 1 % least familiar
    assert set(np.flatnonzero(data["kind"] == "stray")) <= set(lowest.tolist())
    # exact copies are never unusual: they sit where many samples are
    assert not np.isin(data["kind"][np.argsort(scores)[:50]], ["copy"]).any()
    percentile = report.data["familiarityPercentile_emb"].to_numpy()
    assert percentile[lowest].max() <= 100.0 * len(lowest) / len(scores) + 1e-9


def test_identical_rows_form_one_exact_group(report: DatasetReport,
                                             data: dict[str, np.ndarray]) -> None:
    groups = report.data["duplicates_emb"].to_numpy()
    exact = report.data["duplicatesExact_emb"].to_numpy()
    _, inverse, counts = np.unique(data["x"], axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    sets = [np.flatnonzero(inverse == k) for k in np.flatnonzero(counts > 1)]
    assert len(sets) == 40
    for members in sets:
        assert len(set(groups[members].tolist())) == 1 and groups[members[0]] >= 0
        assert exact[members].all()


def test_near_duplicates_are_found_as_near_groups(report: DatasetReport,
                                                  data: dict[str, np.ndarray]) -> None:
    groups = report.data["duplicates_emb"].to_numpy()
    exact = report.data["duplicatesExact_emb"].to_numpy()
    edits = np.flatnonzero(data["kind"] == "edit")
    found = [groups[e] >= 0 and groups[e] == groups[data["source"][e]] for e in edits]
    assert np.mean(found) >= 0.9
    assert not exact[edits].any()
    # no ordinary sample is merged into a near-duplicate group
    base = np.flatnonzero(data["kind"] == "base")
    partners = set(data["source"][edits].tolist()) | set(data["source"][
        data["kind"] == "copy"].tolist())
    lonely = [b for b in base if b not in partners]
    assert (groups[lonely] == -1).mean() >= 0.99


def test_groups_are_numbered_by_size(report: DatasetReport) -> None:
    groups = report.data["duplicates_emb"].to_numpy()
    sizes = np.bincount(groups[groups >= 0])
    assert (np.diff(sizes) <= 0).all()


def test_two_runs_give_the_same_report(report: DatasetReport,
                                       data: dict[str, np.ndarray]) -> None:
    again = _report(data)
    assert again.data.equals(report.data)


def test_another_seed_keeps_the_least_familiar(report: DatasetReport,
                                               data: dict[str, np.ndarray]) -> None:
    other = _report(data, seed=1)
    a = set(np.argsort(report.data["familiarity_emb"].to_numpy())[:100].tolist())
    b = set(np.argsort(other.data["familiarity_emb"].to_numpy())[:100].tolist())
    # six clusters for five Gaussians: the fits differ, the ranking's head barely does
    assert len(a & b) >= 85


def test_single_member_label_gets_no_model(report: DatasetReport) -> None:
    split = report.data["splitFamiliarity_emb_byAttr_cluster"]
    assert "singleton" not in split.iloc[0]
    assert {"c0", "c1"} <= set(split.iloc[0])
