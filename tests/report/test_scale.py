"""What lets the report scale: spilled intermediate arrays (same results, folder always
removed), lean neighbour searches, capped familiarity fits, Arrow/categorical columns and the
sampled UMAP projection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepview._compute.knn import knn_brute, knn_partitioned, normalize_columns, rerank
from deepview._compute.spill import Workspace
from deepview.base import ArrayProducer, Batch
from deepview.exceptions import DeepViewException, InvalidParameterError
from deepview.introspectors import DimensionReduction, Duplicates, _duplicates
from deepview.introspectors._dim_reduction._manifold import place_on_graph
from deepview.report import DatasetReport, ReportConfig, _analysis
from deepview.report._collect import collect
from deepview.report._config import DEFAULT_UMAP_FIT_SAMPLES

S = DimensionReduction.Strategy
T = Duplicates.ThresholdStrategy


def _planted(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(6, d)).astype(np.float32)
    x = centres[rng.integers(0, 6, n)] + rng.standard_normal((n, d), dtype=np.float32)
    pairs = rng.choice(n, size=(n // 50, 2), replace=False)
    x[pairs[:, 1]] = x[pairs[:, 0]] + rng.normal(0.0, 1e-3, size=(len(pairs), d))
    x[pairs[:5, 1]] = x[pairs[:5, 0]]  # identical copies
    x[pairs[5, 1]] = x[pairs[5, 0]] * np.float32(1.0000001)  # rounding-level copy
    return x


@pytest.mark.parametrize("threshold", [T.Relative(), T.Percentile(99.0), T.Slope(),
                                       T.Distance(0.01)])
@pytest.mark.parametrize(("n", "d"), [(400, 8), (3000, 130)])
def test_report_duplicates_from_the_graph_equal_the_introspector(
        tmp_path: Path, threshold: object, n: int, d: int) -> None:
    """Given candidates that hold each row's exact neighbours (here in another order, with
    repeats), the report's duplicates are the introspector's, in memory and spilled."""
    x = _planted(n, d)
    found = Duplicates.introspect(ArrayProducer(x, field="f"), batch_size=n, threshold=threshold,
                                  strategy=Duplicates.KNNStrategy.KNNExact())
    expected_groups = np.full(n, -1)
    expected_exact = np.zeros(n, dtype=bool)
    ordered = sorted(found.results["f"], key=lambda c: (-c.size, min(c.indices)))
    for number, candidate in enumerate(ordered):
        expected_groups[list(candidate.indices)] = number
        expected_exact[list(candidate.indices)] = candidate.identical
    exact, _ = knn_brute(normalize_columns(x), 16)
    candidates = np.concatenate([exact[:, ::-1], exact[:, :3]], axis=1).astype(np.int32)
    for spill in (None, tmp_path):
        groups, flags = _analysis.find_duplicates(x, candidates, threshold,
                                                  work=Workspace(spill))
        np.testing.assert_array_equal(groups, expected_groups)
        np.testing.assert_array_equal(flags, expected_exact)
    assert (expected_groups >= 0).sum() >= n // 50 and expected_exact.sum() >= 10


def test_rerank_keeps_the_closest_distinct_candidates() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    x[7] = x[3]  # an identical copy
    candidates = rng.integers(0, 50, size=(50, 6))
    candidates[:, 0] = candidates[:, 1]  # a candidate listed twice
    candidates[3, 2] = 7
    idx, dist = rerank(x, candidates, 4)
    assert idx.shape == (50, 4) and (idx[:, 0] == np.arange(50)).all()
    assert (dist[:, 0] == 0).all()
    for row in range(50):
        distinct = sorted(set(candidates[row]) - {row},
                          key=lambda c: (np.linalg.norm(x[row] - x[c]), c))[:3]
        kept = list(idx[row, 1:1 + len(distinct)])
        assert (np.diff(dist[row, :1 + len(distinct)]) >= 0).all()
        np.testing.assert_allclose(dist[row, 1:1 + len(distinct)],
                                   [np.linalg.norm(x[row] - x[c]) for c in distinct], rtol=1e-5)
        assert sorted(kept) == sorted(distinct)
        assert (idx[row, 1 + len(distinct):] == row).all()  # short rows end with the row itself
    assert idx[3, 1] == 7 and dist[3, 1] == 0.0


def test_medians_found_block_by_block_equal_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_duplicates, "BLOCK_ROWS", 7)
    rng = np.random.default_rng(0)
    distances = np.sqrt(rng.gamma(2.0, 3.0, size=(101, 10)))
    distances[:, 0] = 0.0  # each point itself
    distances[5:40, 1] = 0.0  # identical copies
    distances[40:60, 2:5] = 2.5  # ties
    distances[60:62, 3] = 1e-9  # below 1e-6 of the largest
    for rows in (101, 100, 1):
        d = distances[:rows]
        for lower in (0.0, 1e-6 * d.max(), 2.5, float(np.median(d))):
            above = np.sort(d[d > lower])
            middle, count = _duplicates.median_above(d, lower)
            assert count == len(above)
            assert middle == (float(np.median(above)) if len(above) else 0.0)
    same = np.full((30, 3), 4.0)  # every candidate has one bit pattern
    assert _duplicates.median_above(same, 0.0) == (4.0, 90)


def test_column_norms_summed_block_by_block_equal_the_one_piece_sum(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from deepview._compute.knn import normalize_columns

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(5001, 13)) * rng.random(13) * 100).astype(np.float32)
    x[:, 3] = 0.0  # an all-zero column stays zero
    monkeypatch.setattr(_analysis, "SCALE_ROWS", 64)
    np.testing.assert_array_equal(x * _analysis._column_scale(x), normalize_columns(x))


def test_the_graph_above_the_exact_limit_is_the_partitioned_search() -> None:
    n = 23_000  # above the exact-search limit (n^2 d > 2e10) for d = 40
    x = _planted(n, 40, seed=1)
    found, dist = _analysis.neighbours(x, 21, seed=4)
    expected, expected_dist = knn_partitioned(x, 21, seed=4, rounds=_analysis.GRAPH_ROUNDS)
    assert found.dtype == np.int32 and dist.dtype == np.float32
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(dist, expected_dist.astype(np.float32))


def _spill_folders(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("deepview-report-"))


def test_spill_folder_is_removed_after_success_and_error(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    x = _planted(600, 8)
    producer = ArrayProducer(x, labels={"c": np.arange(600) % 3})
    seen: list[list[str]] = []
    original = _analysis.reduce_field

    def watching(*args: object, **kwargs: object) -> object:
        seen.append(_spill_folders(tmp))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_analysis, "reduce_field", watching)
    config = ReportConfig(projection=S.PCA(2))
    DatasetReport.introspect(producer, config=config)
    assert len(seen) == 1 and len(seen[0]) == 1  # the folder existed while working
    assert _spill_folders(tmp) == []

    def failing(*args: object, **kwargs: object) -> object:
        raise DeepViewException("stop")

    monkeypatch.setattr(_analysis, "knn_familiarity", failing)
    with pytest.raises(DeepViewException, match="stop"):
        DatasetReport.introspect(producer, config=config)
    assert _spill_folders(tmp) == []


def test_spill_folder_is_removed_on_ctrl_c(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    marker = tmp_path / "started"
    script = textwrap.dedent(f"""
        import time
        import numpy as np
        from deepview.base import Batch
        from deepview.report import DatasetReport

        def producer(batch_size):
            x = np.random.default_rng(0).normal(size=(batch_size, 4)).astype(np.float32)
            for i in range(1000):
                if i == 3:
                    open({str(marker)!r}, "w").close()
                    time.sleep(60)
                yield Batch.Builder({{"f": x}}).make_batch()

        DatasetReport.introspect(producer, batch_size=64)
    """)
    env = {**os.environ, "TMPDIR": str(tmp), "DEEPVIEW_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the report did not start"
            time.sleep(0.1)
        assert len(_spill_folders(tmp)) == 1  # responses are being spilled
        assert any((tmp / _spill_folders(tmp)[0]).iterdir())
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and b"KeyboardInterrupt" in err
    assert _spill_folders(tmp) == []


def test_ids_labels_and_texts_are_arrow_strings_and_categorical_codes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    producer = ArrayProducer(
        rng.normal(size=(n, 5)), identifiers=[f"s{i}" for i in range(n)],
        labels={"colour": np.array(["red", "blue", "green"])[np.arange(n) % 3],
                "size": np.arange(n) % 2},
        texts=[f"text {i}" if i % 7 else None for i in range(n)], paths=["p"] * n)
    config = ReportConfig(projection=S.PCA(2), split_familiarity_min=10)
    data = DatasetReport.introspect(producer, config=config).data
    assert data["id"].dtype == "str" and type(data["id"].array).__name__ == "ArrowStringArray"
    assert data["text"].dtype == "str" and data["path"].dtype == "str"
    assert data["text"][0] == "" and data["text"][1] == "text 1"
    for dim, values in (("colour", ["blue", "green", "red"]), ("size", ["0", "1"])):
        assert isinstance(data[dim].dtype, pd.CategoricalDtype)
        assert list(data[dim].cat.categories) == values
    assert data["colour"].tolist()[:3] == ["red", "blue", "green"]
    split = data["splitFamiliarity_responses_byAttr_colour"]
    assert str(split.dtype).startswith("struct<blue: float, green: float, red: float>")
    assert isinstance(split[4], dict) and list(split[4]) == ["blue", "green", "red"]
    report = DatasetReport(data)
    loaded = DatasetReport.from_disk(report.to_disk(tmp_path / "saved")).data
    pd.testing.assert_frame_equal(loaded, data)


def test_generated_ids_and_repeated_ids(tmp_path: Path) -> None:
    def producer(batch_size: int) -> object:
        x = np.zeros((4, 2), dtype=np.float32)
        for _ in range(2):
            yield Batch.Builder({"f": x}).make_batch()

    collected = collect(producer, batch_size=4, cache_dir=tmp_path, progress=_Bar())
    assert collected.ids_generated and list(collected.ids) == [str(i) for i in range(8)]
    repeated = ArrayProducer(np.zeros((5, 2)), identifiers=["a", "b", "a", "c", "b"])
    with pytest.raises(DeepViewException, match=r"2 repeat, e\.g\. \['a', 'b'\]"):
        collect(repeated, batch_size=2, cache_dir=tmp_path, progress=_Bar())


class _Bar:
    def update(self, n: int) -> None:
        pass


def test_familiarity_is_fitted_on_a_capped_sample_and_scores_every_row(
        monkeypatch: pytest.MonkeyPatch) -> None:
    x = _planted(3000, 8, seed=2)
    x[:5] += 40.0  # far outliers
    producer = ArrayProducer(x, labels={"c": np.arange(3000) % 2})
    config = ReportConfig(projection=None, duplicates=None, label_issues=False,
                          split_familiarity_min=10)
    full = DatasetReport.introspect(producer, config=config).data
    monkeypatch.setattr(_analysis, "FAMILIARITY_FIT_MAX", 800)
    capped = DatasetReport.introspect(producer, config=config).data
    assert capped.shape == full.shape and capped["familiarity_responses"].notna().all()
    # the outliers stay the least familiar; percentiles are the ranks among all rows
    assert set(np.argsort(capped["familiarity_responses"].to_numpy())[:5]) == set(range(5))
    ranks = capped["familiarity_responses"].rank(method="max").to_numpy()
    np.testing.assert_allclose(capped["familiarityPercentile_responses"], 100 * ranks / 3000)
    split = capped["splitFamiliarity_responses_byAttr_c"]
    assert [sorted(v) for v in split[:2]] == [["0", "1"], ["0", "1"]]
    # the same seed, the same sample
    again = DatasetReport.introspect(producer, config=config).data
    pd.testing.assert_frame_equal(again, capped)


def test_split_familiarity_adds_each_values_own_residual_noise(tmp_path: Path) -> None:
    """Each value's model scores every row, plus the probabilistic-PCA term with the noise
    variance of that value's rows (found for all values in one pass over a spilled file),
    kept as float32."""
    from deepview._compute.spill import FileRows
    from deepview.introspectors import Familiarity

    rng = np.random.default_rng(4)
    n, k, off = 3000, 6, 10
    code = rng.integers(0, 3, n)
    values = (rng.normal(size=(n, k)) * (1.0 + code[:, None])).astype(np.float32)
    residual = rng.gamma(2.0, 1.0 + 3.0 * code)  # value 2 lies far off the subspace
    values.tofile(tmp_path / "v.f32")
    reduced = _analysis.Reduced(FileRows(tmp_path / "v.f32", (n, k)), residual, off)
    labels = pd.Categorical.from_codes(code, categories=["a", "b", "c"])
    strategy = _analysis.seeded(Familiarity.Strategy.GMM(), 0)

    class Bar:
        def update(self, _: int) -> None:
            pass

    (column,) = _analysis.split_familiarity(
        reduced, "x", strategy, {"c": labels}, minimum=10, batch_size=256, progress=Bar(),
        work=Workspace(), seed=0).values()
    for j, value in enumerate("abc"):
        rows = np.flatnonzero(code == j)
        model = _analysis._fit_familiarity(values, rows, "x", strategy, 256)
        density = _analysis._score(model, values, "x", 256)
        r = residual[rows].mean()
        total = (r + (values[rows].astype(np.float64) ** 2).sum(axis=1).mean()) / (k + off)
        sigma2 = max(r / off, _analysis.RESIDUAL_VARIANCE_FLOOR * total)
        expected = density - 0.5 * residual / sigma2 - 0.5 * off * np.log(2 * np.pi * sigma2)
        got = np.array([cell[value] for cell in column], dtype=np.float64)
        np.testing.assert_allclose(got, expected, rtol=2e-7, atol=1e-6)
    # most rows are most familiar under their own value's model (chance: 1 in 3)
    own = np.array([[cell[v] for v in "abc"] for cell in column]).argmax(axis=1)
    assert (own == code).mean() > 0.7


# ------------------------------------------------------------------------ the projection
def _blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 8.0, size=(5, 12))
    labels = rng.integers(0, 5, n)
    return (centres[labels] + rng.normal(size=(n, 12))).astype(np.float32), labels


def test_stratified_rows_keep_every_label_and_their_shares() -> None:
    strata = np.repeat([0, 1, 2, -1], [9000, 900, 20, 80])
    rows = _analysis.stratified_rows(len(strata), 1000, strata, seed=3)
    assert len(rows) == 1000 and np.all(np.diff(rows) > 0)
    counts = {int(c): int((strata[rows] == c).sum()) for c in (0, 1, 2, -1)}
    # 50 rows each first (a small label keeps all its rows), -1 (no label) a stratum too; the
    # other 830 in proportion to the rows left: 830 x (8950, 850, 0, 30) / 9830, rounded by
    # largest remainders
    assert counts == {0: 50 + 756, 1: 50 + 72, 2: 20, -1: 50 + 2}
    np.testing.assert_array_equal(rows, _analysis.stratified_rows(len(strata), 1000, strata, 3))
    assert not np.array_equal(rows, _analysis.stratified_rows(len(strata), 1000, strata, 4))
    plain = _analysis.stratified_rows(5000, 300, None, seed=0)
    assert len(np.unique(plain)) == 300
    np.testing.assert_array_equal(_analysis.stratified_rows(10, 20, None, 0), np.arange(10))


def test_sampled_umap_on_the_graph_places_every_row_beside_its_cluster() -> None:
    pytest.importorskip("umap")
    x, labels = _blobs(3000)
    graph = _analysis.neighbours(x, 31, seed=0)
    strategy = _analysis.seeded(S.UMAP(2, max_fit_samples=600), 0)
    xy = _analysis.project(x, "f", strategy, batch_size=256, strata=labels, seed=0, graph=graph)
    assert xy.shape == (3000, 2) and np.isfinite(xy).all()
    apart = _analysis.project(x, "f", _analysis.seeded(S.UMAP(2, max_fit_samples=600), 0),
                              batch_size=256, strata=labels, seed=0)
    sampled = _analysis.stratified_rows(3000, 600, labels, seed=0)
    np.testing.assert_array_equal(xy[sampled], apart[sampled])  # the same fit
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    near = np.argsort(d2, axis=1)[:, :10]  # on the map
    assert (labels[near] == labels[:, None]).mean() > 0.99


def test_place_on_graph_goes_in_waves_and_leaves_unlinked_rows_nan() -> None:
    # a chain 0-1-2-3-4 (each row's neighbours: itself, then the rows beside it) and 5-6 apart
    indices = np.array([[0, 1, 1], [1, 0, 2], [2, 1, 3], [3, 2, 4], [4, 3, 3],
                        [5, 6, 6], [6, 5, 5]])
    distances = np.array([[0, 1, 1], [0, 1, 1], [0, 1, 1], [0, 1, 1], [0, 1, 1],
                          [0, 1, 1], [0, 1, 1]], dtype=np.float32)
    embedding = np.array([[0.0, 0.0], [4.0, 8.0]], dtype=np.float32)
    xy = place_on_graph(embedding, np.array([0, 4]), indices, distances)
    np.testing.assert_array_equal(xy[[0, 4]], embedding)
    np.testing.assert_array_equal(xy[1], [0.0, 0.0])  # first wave: its one placed neighbour
    np.testing.assert_array_equal(xy[3], [4.0, 8.0])
    np.testing.assert_array_equal(xy[2], [2.0, 4.0])  # second wave: between 1 and 3
    assert np.isnan(xy[5:]).all()


def test_sampled_umap_keeps_planted_clusters_apart_and_places_points_among_neighbours() -> None:
    pytest.importorskip("umap")
    x, labels = _blobs(3000)
    strategy = _analysis.seeded(S.UMAP(2, max_fit_samples=600), 0)
    xy = _analysis.project(x, "f", strategy, batch_size=256, strata=labels, seed=0)
    assert xy.shape == (3000, 2) and np.isfinite(xy).all()
    # clusters apart: every point is nearer its own cluster's centre than any other's
    centres = np.stack([xy[labels == c].mean(axis=0) for c in range(5)])
    nearest = np.argmin(((xy[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    assert (nearest == labels).mean() == 1.0
    # the sampled rows got UMAP's coordinates; the others sit inside their neighbours'
    # region: within the bounding box of their 10 nearest sampled rows' coordinates
    sampled = _analysis.stratified_rows(3000, 600, labels, seed=0)
    placed = np.setdiff1d(np.arange(3000), sampled)
    d2 = ((x[placed, None, :] - x[None, sampled, :]) ** 2).sum(axis=2)
    near = sampled[np.argsort(d2, axis=1)[:, :10]]
    low, high = xy[near].min(axis=1), xy[near].max(axis=1)
    inside = np.all((xy[placed] >= low - 1e-3) & (xy[placed] <= high + 1e-3), axis=1)
    assert inside.mean() >= 0.95
    assert (labels[near] == labels[placed, None]).mean() > 0.99


def test_sampled_umap_is_reproducible_and_full_umap_one_parameter_away() -> None:
    pytest.importorskip("umap")
    x, labels = _blobs(1500, seed=1)
    strategy = _analysis.seeded(S.UMAP(2, max_fit_samples=400), 7)
    first = _analysis.project(x, "f", strategy, batch_size=256, strata=labels, seed=7)
    again = _analysis.project(x, "f", _analysis.seeded(S.UMAP(2, max_fit_samples=400), 7),
                              batch_size=256, strata=labels, seed=7)
    np.testing.assert_array_equal(first, again)
    default = ReportConfig().projection
    assert isinstance(default, S.UMAP)
    assert default.max_fit_samples == DEFAULT_UMAP_FIT_SAMPLES
    full = default.with_max_fit_samples(None)
    assert full.max_fit_samples is None and full == S.UMAP(2)


def test_umap_max_fit_samples_standalone_samples_the_stream() -> None:
    pytest.importorskip("umap")
    x, labels = _blobs(2000, seed=2)
    from deepview.base import pipeline

    producer = ArrayProducer(x)
    fitted = DimensionReduction.introspect(
        producer, strategies=S.UMAP(2, max_fit_samples=500, random_state=0), batch_size=128)
    xy = np.concatenate([b.fields["responses"] for b in pipeline(producer, fitted)(1000)])
    assert xy.shape == (2000, 2)
    centres = np.stack([xy[labels == c].mean(axis=0) for c in range(5)])
    nearest = np.argmin(((xy[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    assert (nearest == labels).mean() > 0.99


@pytest.mark.parametrize("bad", [0, 10, 2.5, "many", True])
def test_max_fit_samples_is_checked(bad: object) -> None:
    pytest.importorskip("umap")
    with pytest.raises((InvalidParameterError, TypeError, ValueError), match="max_fit_samples"):
        S.UMAP(2, max_fit_samples=bad)  # type: ignore[arg-type]
