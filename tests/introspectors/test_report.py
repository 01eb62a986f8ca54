"""DatasetReport and ReportConfig: columns, one pass, planted structure, persistence."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepview.base import ArrayProducer, Batch
from deepview.exceptions import (
    DeepViewException,
    DeepViewWarning,
    InvalidDataError,
    InvalidTypeError,
    MissingDependencyError,
)
from deepview.introspectors import (
    DatasetReport,
    DimensionReduction,
    Duplicates,
    DuplicatesConfig,
    Familiarity,
    ReportConfig,
)

N = 300
OUTLIER = 7
DUP_A, DUP_B = 20, 21


def _config(**changes: object) -> ReportConfig:
    config = ReportConfig(
        projection=DimensionReduction.Strategy.PCA(2),
        duplicates=Duplicates.ThresholdStrategy.Slope(),
        familiarity=Familiarity.Strategy.GMM(gaussian_count=2, _random_state=0),
        split_familiarity_min=50,
    )
    return dataclasses.replace(config, **changes)


def _data(seed: int = 0, n: int = N, dim: int = 8) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 5.0, size=(3, dim))
    cluster = np.arange(n) % 3
    x = centers[cluster] + rng.normal(size=(n, dim))
    x[OUTLIER] = centers[0] + 40.0  # far from everything
    x[DUP_B] = x[DUP_A] + 1e-6  # planted near-duplicate
    color = np.array(["red", "green", "blue"])[cluster]
    size = np.where(np.arange(n) < 30, "small", "big")  # "small" has 30 < 50 samples
    ids = [f"sample-{i:04d}" for i in range(n)]
    return {"x": x.astype(np.float32), "ids": ids,
            "labels": {"color": list(color), "size": list(size), "cluster": list(cluster)}}


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    return _data()


@pytest.fixture(scope="module")
def report(data: dict[str, object]) -> DatasetReport:
    producer = ArrayProducer({"emb layer": data["x"]}, identifiers=data["ids"],
                             labels=data["labels"])
    return DatasetReport.introspect(producer, config=_config(), batch_size=64)


def test_columns_in_documented_order(report: DatasetReport) -> None:
    assert list(report.data.columns) == [
        "id", "color", "size", "cluster",
        "duplicates_emb_layer", "duplicatesExact_emb_layer",
        "projection_emb_layer_x", "projection_emb_layer_y", "cluster_emb_layer",
        "familiarity_emb_layer", "familiarityPercentile_emb_layer",
        "splitFamiliarity_emb_layer_byAttr_color",
        "splitFamiliarity_emb_layer_byAttr_size",
        "splitFamiliarity_emb_layer_byAttr_cluster",
        *[f"{kind}_emb_layer_byAttr_{dim}" for dim in ("color", "size", "cluster")
          for kind in ("labelIssue", "labelIssueFlag", "labelIssueSuggested")],
    ]
    df = report.data
    assert len(df) == N
    assert df["duplicates_emb_layer"].dtype == np.int32
    assert df["familiarity_emb_layer"].dtype == np.float64
    assert df["projection_emb_layer_x"].dtype == np.float64
    assert np.isfinite(df[["projection_emb_layer_x", "projection_emb_layer_y"]]).all().all()


def test_ids_and_labels_in_producer_order_as_str(report: DatasetReport,
                                                 data: dict[str, object]) -> None:
    assert report.data["id"].tolist() == data["ids"]
    # integer labels are converted to str
    assert report.data["cluster"].tolist() == [str(i % 3) for i in range(N)]
    assert report.data["color"].tolist() == data["labels"]["color"]


def test_producer_called_exactly_once(make_producer) -> None:
    d = _data(seed=1, n=120)
    producer = make_producer({"r": d["x"]}, labels={"color": d["labels"]["color"]})
    result = DatasetReport.introspect(producer, config=_config(split_familiarity_min=30),
                                      batch_size=50)
    assert producer.calls == 1
    assert len(result.data) == 120
    # ArrayProducer's default ids are positions 0..n-1, as str
    assert result.data["id"].tolist() == [str(i) for i in range(120)]


def test_clusters_on_the_map_are_named_by_their_dominant_label(report: DatasetReport,
                                                                data: dict[str, object]) -> None:
    clusters = report.data["cluster_emb_layer"]
    assert isinstance(clusters.dtype, pd.CategoricalDtype)
    colors = np.asarray(data["labels"]["color"])
    named = {}
    for name in clusters.cat.categories:
        members = colors[(clusters == name).to_numpy()]
        values, counts = np.unique(members, return_counts=True)
        named[name] = (values[counts.argmax()], counts.max() / len(members))
    assert len(named) >= 3
    for name, (dominant, share) in named.items():  # e.g. "red (100 %)"
        assert name.startswith(f"{dominant} (") and share >= 0.9
    assert clusters.notna().mean() > 0.8


def test_planted_duplicates_share_one_group(report: DatasetReport) -> None:
    groups = report.data["duplicates_emb_layer"].to_numpy()
    assert groups[DUP_A] >= 0
    assert groups[DUP_A] == groups[DUP_B]
    assert groups.min() >= -1


def test_planted_outlier_is_least_familiar(report: DatasetReport) -> None:
    scores = report.data["familiarity_emb_layer"].to_numpy()
    assert int(np.argmin(scores)) == OUTLIER
    percentiles = report.data["familiarityPercentile_emb_layer"].to_numpy()
    assert ((percentiles >= 0) & (percentiles <= 100)).all()
    assert percentiles[OUTLIER] == percentiles.min() < 1.0
    assert (np.diff(percentiles[np.argsort(scores)]) >= 0).all()  # same order as the scores


def test_split_familiarity_keyed_by_label_values_with_enough_samples(
    report: DatasetReport,
) -> None:
    df = report.data
    color = df["splitFamiliarity_emb_layer_byAttr_color"]
    assert all(set(d) == {"blue", "green", "red"} for d in color)
    # "small" has 30 samples < split_familiarity_min=50: no model, not a key
    size = df["splitFamiliarity_emb_layer_byAttr_size"]
    assert all(set(d) == {"big"} for d in size)
    assert all(isinstance(v, float) for d in color for v in d.values())
    # a sample is more familiar to the model of its own color than to the others
    own = np.array([d[c] for d, c in zip(color, df["color"])])
    other = np.array([max(v for k, v in d.items() if k != c) for d, c in zip(color, df["color"])])
    assert np.mean(own > other) > 0.95


def test_label_dimension_without_enough_samples_has_no_column(make_producer) -> None:
    d = _data(seed=2, n=90)
    producer = make_producer({"r": d["x"]}, labels={"color": d["labels"]["color"]})
    result = DatasetReport.introspect(producer, config=_config(split_familiarity_min=31))
    assert "splitFamiliarity_r_byAttr_color" not in result.data.columns
    assert "familiarity_r" in result.data.columns


@pytest.mark.parametrize(
    ("off", "absent"),
    [
        ("duplicates", ["duplicates_r", "duplicatesExact_r"]),
        ("projection", ["projection_r_x", "projection_r_y", "cluster_r"]),
        ("familiarity", ["familiarity_r", "familiarityPercentile_r",
                         "splitFamiliarity_r_byAttr_color"]),
    ],
)
def test_component_off_removes_its_columns(off: str, absent: list[str]) -> None:
    d = _data(seed=3, n=150)
    producer = ArrayProducer({"r": d["x"]}, labels={"color": d["labels"]["color"]})
    config = _config(**{off: None})
    result = DatasetReport.introspect(producer, config=config)
    for column in absent:
        assert column not in result.data.columns
    assert len(result.data.columns) == 13 - len(absent)  # 10 + 3 label-issue columns


def test_all_components_off_gives_summary_only() -> None:
    d = _data(seed=3, n=50)
    producer = ArrayProducer({"r": d["x"]}, labels={"color": d["labels"]["color"]})
    config = _config(duplicates=None, projection=None, familiarity=None)
    assert config.n_stages == 1 and not config.use_dim_reduction
    result = DatasetReport.introspect(producer, config=config)
    assert list(result.data.columns) == ["id", "color"]


def test_wide_fields_are_pre_reduced_and_several_fields_get_own_columns() -> None:
    wide = _data(seed=4, n=200, dim=64)["x"]
    producer = ArrayProducer({"a": wide, "b": wide[:, :5] * 2.0})
    config = _config(duplicates=None)
    result = DatasetReport.introspect(producer, config=config, batch_size=70)
    cols = list(result.data.columns)
    assert cols == ["id", "projection_a_x", "projection_a_y", "cluster_a", "projection_b_x",
                    "projection_b_y", "cluster_b", "familiarity_a", "familiarityPercentile_a",
                    "familiarity_b", "familiarityPercentile_b"]
    assert int(np.argmin(result.data["familiarity_a"])) == OUTLIER


def test_per_field_strategy_mappings() -> None:
    d = _data(seed=9, n=120, dim=50)
    producer = ArrayProducer({"a": d["x"], "b": d["x"][:, :6]})
    config = _config(duplicates=None, familiarity=None,
                     projection={"b": DimensionReduction.Strategy.PCA(2)},
                     dim_reduction={"a": DimensionReduction.Strategy.PCA(10)})
    result = DatasetReport.introspect(producer, config=config)
    assert list(result.data.columns) == ["id", "projection_b_x", "projection_b_y", "cluster_b"]
    bad = dataclasses.replace(config, projection={"c": DimensionReduction.Strategy.PCA(2)})
    with pytest.raises(InvalidDataError, match=r"projection names field\(s\) \['c'\]"):
        DatasetReport.introspect(producer, config=bad)


def _no_id_producer(x: np.ndarray):
    def producer(batch_size: int):
        for start in range(0, len(x), batch_size):
            builder = Batch.Builder({"r": x[start:start + batch_size]})
            builder.metadata[Batch.StdKeys.LABELS] = {
                "filename": [f"f{i}.png" for i in range(start, min(start + batch_size, len(x)))]
            }
            builder.metadata[Batch.StdKeys.PATH] = [
                Path(f"/data/{i}.png") for i in range(start, min(start + batch_size, len(x)))
            ]
            yield builder.make_batch()

    return producer


def test_missing_ids_become_sequential_and_filename_path_columns() -> None:
    x = _data(seed=5, n=60)["x"]
    result = DatasetReport.introspect(_no_id_producer(x), config=_config(), batch_size=25)
    df = result.data
    assert df["id"].tolist() == [str(i) for i in range(60)]
    assert df["filename"].tolist() == [f"f{i}.png" for i in range(60)]
    assert df["path"].tolist() == [str(Path(f"/data/{i}.png")) for i in range(60)]
    # filename is not a label dimension: no split familiarity for it
    assert not any(c.startswith("splitFamiliarity") for c in df.columns)


def _tmp_entries() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("deepview-report-")}


def test_temporary_cache_removed_also_on_error(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    x = _data(seed=6, n=80)["x"]
    DatasetReport.introspect(ArrayProducer(x), config=_config(projection=None))
    assert not _tmp_entries()

    def failing(batch_size: int):
        yield from ArrayProducer(x)(batch_size)
        raise RuntimeError("inference failed")

    with pytest.raises(RuntimeError, match="inference failed"):
        DatasetReport.introspect(failing, config=_config(), batch_size=32)
    assert not _tmp_entries()


# ------------------------------------------------------------------------------ bad input
def test_one_dimensional_field_is_a_clear_error() -> None:
    with pytest.raises(InvalidDataError, match="'r'.*needs 2 dims"):
        DatasetReport.introspect(ArrayProducer({"r": np.arange(10.0)}), config=_config())


def test_nan_responses_are_refused() -> None:
    x = _data(seed=7, n=40)["x"]
    x[3, 1] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        DatasetReport.introspect(ArrayProducer({"r": x}), config=_config())


def test_fewer_than_three_samples_refused() -> None:
    with pytest.raises(InvalidDataError, match="at least 3"):
        DatasetReport.introspect(ArrayProducer(np.ones((2, 4))), config=_config())


def test_repeated_ids_refused() -> None:
    x = _data(seed=8, n=30)["x"]
    with pytest.raises(InvalidDataError, match="unique"):
        DatasetReport.introspect(ArrayProducer(x, identifiers=["a"] * 30), config=_config())


def test_empty_producer_refused() -> None:
    with pytest.raises(InvalidDataError, match="no batches"):
        DatasetReport.introspect(lambda batch_size: iter(()), config=_config())


def test_bad_arguments() -> None:
    producer = ArrayProducer(np.ones((5, 2)))
    with pytest.raises(InvalidTypeError, match="config"):
        DatasetReport.introspect(producer, config={"duplicates": None})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        DatasetReport.introspect(producer, config=_config(), batch_size=0)
    with pytest.raises(TypeError, match="DataFrame"):
        DatasetReport(data=[1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("projection", "umap"),
        ("projection", DimensionReduction.Strategy.PCA(3)),
        ("dim_reduction", 40),
        ("duplicates", Duplicates.ThresholdStrategy.Slope),
        ("duplicates", 0.5),
        ("familiarity", "gmm"),
        ("split_familiarity_min", 2.5),
    ],
)
def test_bad_config_types_name_the_field(field: str, value: object) -> None:
    with pytest.raises(TypeError, match=field):
        _config(**{field: value})


def test_config_properties_and_replace() -> None:
    config = _config()
    assert config.n_stages == 3 and config.use_dim_reduction
    assert dataclasses.replace(config, familiarity=None, projection=None).n_stages == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.duplicates = None  # type: ignore[misc]
    with pytest.raises(ValueError, match="split_familiarity_min"):
        _config(split_familiarity_min=0)
    default = ReportConfig(projection=None)
    assert isinstance(default.duplicates, Duplicates.ThresholdStrategy.Relative)
    assert default.seed == 0
    assert isinstance(default.familiarity, Familiarity.Strategy.GMM)
    assert default.dim_reduction is None and default.split_familiarity_min == 50


def test_duplicates_config_of_deepview_3() -> None:
    """DeepView 3.x's DuplicatesConfig: DeepView's defaults fill the None fields, the given
    ones are kept, it is frozen, and a bad strategy is refused naming the field."""
    default = DuplicatesConfig.default()
    assert default == DuplicatesConfig()
    assert isinstance(default.threshold, Duplicates.ThresholdStrategy.Slope)
    assert isinstance(default.strategy, Duplicates.KNNStrategy.KNNAnnoy)
    percentile = Duplicates.ThresholdStrategy.Percentile(98)
    exact = Duplicates.KNNStrategy.KNNExact()
    only_threshold = DuplicatesConfig(threshold=percentile)
    assert only_threshold.threshold == percentile
    assert isinstance(only_threshold.strategy, Duplicates.KNNStrategy.KNNAnnoy)
    both = DuplicatesConfig(threshold=percentile, strategy=exact)
    assert (both.threshold, both.strategy) == (percentile, exact)
    with pytest.raises(dataclasses.FrozenInstanceError):
        both.threshold = None  # type: ignore[misc]
    with pytest.raises(TypeError, match="'strategy'"):
        DuplicatesConfig(strategy="annoy")
    with pytest.raises(TypeError, match="'threshold'"):
        DuplicatesConfig(threshold=Duplicates.ThresholdStrategy.Slope)
    assert ReportConfig(projection=None, duplicates=both).duplicates_threshold == percentile
    assert ReportConfig(projection=None, duplicates=percentile).duplicates_threshold == percentile


def test_report_takes_a_duplicates_config(data: dict[str, object],
                                          report: DatasetReport) -> None:
    """``ReportConfig(duplicates=DuplicatesConfig(threshold=T))`` groups exactly as
    ``duplicates=T`` does (the report's own exact search; the config's threshold)."""
    producer = ArrayProducer({"emb layer": data["x"]}, identifiers=data["ids"],
                             labels=data["labels"])
    config = _config(duplicates=DuplicatesConfig(threshold=Duplicates.ThresholdStrategy.Slope()),
                     familiarity=None, projection=None)
    other = DatasetReport.introspect(producer, config=config, batch_size=64)
    column = "duplicates_emb_layer"
    np.testing.assert_array_equal(other.data[column], report.data[column])
    assert other.data[column][DUP_A] == other.data[column][DUP_B] != -1


def test_default_projection_is_umap_or_none_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("umap")
    assert isinstance(ReportConfig().projection, DimensionReduction.Strategy.UMAP)

    def missing(*args: object, **kwargs: object) -> None:
        raise MissingDependencyError("umap-learn is not installed")

    monkeypatch.setattr(DimensionReduction.Strategy, "UMAP", missing)
    with pytest.warns(DeepViewWarning, match="umap"):
        config = ReportConfig()
    assert config.projection is None
    assert config.familiarity is not None and config.duplicates is not None


# ------------------------------------------------------------------------------ persistence
def test_round_trip_is_lossless(report: DatasetReport, tmp_path: Path) -> None:
    target = tmp_path / "saved"
    report.to_disk(target)
    assert sorted(p.name for p in target.iterdir()) == [
        "data.parquet", "neighbours-emb_layer-distances.npy", "neighbours-emb_layer-rows.npy",
        "report.json"]  # the label-issue neighbours kept for the site's details
    meta = json.loads((target / "report.json").read_text())
    assert meta["format_version"] == 1 and "deepview_version" in meta
    loaded = DatasetReport.from_disk(target)
    pd.testing.assert_frame_equal(loaded.data, report.data)
    for name, (rows, distances) in report.neighbours.items():
        np.testing.assert_array_equal(loaded.neighbours[name][0], rows)
        np.testing.assert_array_equal(loaded.neighbours[name][1], distances)
    assert loaded.data["splitFamiliarity_emb_layer_byAttr_color"][5] == \
        report.data["splitFamiliarity_emb_layer_byAttr_color"][5]
    # nothing left behind next to the target
    assert [p.name for p in tmp_path.iterdir()] == ["saved"]


def test_round_trip_of_irregular_dict_columns(tmp_path: Path) -> None:
    data = pd.DataFrame({
        "id": pd.array(["a", "b", "c"], dtype="str"),
        "duplicates_r": np.array([-1, 0, 0], dtype=np.int32),
        "splitFamiliarity_r_byAttr_x": [{"u": 1.5, "v": -2.25}, {"u": 0.1}, {"v": 1e-300}],
        "splitFamiliarity_r_byAttr_y": [{"k": 0.1 + 0.2}, {"k": -0.0}, {"k": 3.0}],
    })
    DatasetReport(data).to_disk(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "report.json").read_text())
    assert meta["dict_columns"] == {"splitFamiliarity_r_byAttr_x": "json",
                                    "splitFamiliarity_r_byAttr_y": "struct"}
    pd.testing.assert_frame_equal(DatasetReport.from_disk(tmp_path / "r").data, data)


def test_to_disk_refuses_existing_target_without_overwrite(report: DatasetReport,
                                                           tmp_path: Path) -> None:
    target = tmp_path / "saved"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        report.to_disk(target)
    assert (target / "keep.txt").exists()
    report.to_disk(target, overwrite=True)
    assert not (target / "keep.txt").exists()
    pd.testing.assert_frame_equal(DatasetReport.from_disk(target).data, report.data)


def test_from_disk_accepts_the_site_folder(report: DatasetReport, tmp_path: Path) -> None:
    # what `deepview report --out DIR` writes: DIR/index.html + DIR/report/
    site = tmp_path / "site"
    site.mkdir()
    report.to_disk(site / "report")
    pd.testing.assert_frame_equal(DatasetReport.from_disk(site).data, report.data)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="report/report.json.*site folder"):
        DatasetReport.from_disk(empty)


class _Exploit:
    def __reduce__(self):  # runs on unpickling
        marker = Path(tempfile.gettempdir()) / "deepview-pickle-was-loaded"
        return (marker.write_text, ("pwned",))


def test_loading_never_unpickles(report: DatasetReport, tmp_path: Path) -> None:
    target = tmp_path / "saved"
    report.to_disk(target)
    marker = Path(tempfile.gettempdir()) / "deepview-pickle-was-loaded"
    marker.unlink(missing_ok=True)
    for name in ("report_save_data.pkl", "data.pkl"):
        (target / name).write_bytes(pickle.dumps(_Exploit()))
    loaded = DatasetReport.from_disk(target)
    assert not marker.exists()
    assert len(loaded.data) == N
    # a reference-style pickled report alone is not loaded
    only_pickle = tmp_path / "old"
    only_pickle.mkdir()
    (only_pickle / "report_save_data.pkl").write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(FileNotFoundError, match="report.json"):
        DatasetReport.from_disk(only_pickle)
    assert not marker.exists()


def test_bad_format_version_and_damaged_files(report: DatasetReport, tmp_path: Path) -> None:
    target = tmp_path / "saved"
    report.to_disk(target)
    meta_path = target / "report.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(InvalidDataError, match="format_version 99"):
        DatasetReport.from_disk(target)
    meta_path.write_text("{not json")
    with pytest.raises(DeepViewException, match="JSON"):
        DatasetReport.from_disk(target)
    meta_path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InvalidDataError, match="deepview report"):
        DatasetReport.from_disk(target)
    with pytest.raises(FileNotFoundError):
        DatasetReport.from_disk(tmp_path / "missing")


def test_export_site_and_notebook_html(report: DatasetReport, tmp_path: Path) -> None:
    index = report.export_site(tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    assert index.is_file()
    with pytest.raises(FileExistsError):
        report.export_site(tmp_path / "site")
    assert report.export_site(tmp_path / "site", overwrite=True).is_file()
    html = report._repr_html_()
    assert "<iframe" in html


def test_identical_copies_are_projected_once_and_stacked_on_their_first_row() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    copies = [50, 90, 130, 170, 210]
    x[copies] = x[10]  # five identical copies of row 10
    x[300] = x[10] + 1e-3  # a near copy, projected on its own
    config = _config(projection=DimensionReduction.Strategy.UMAP(2, n_neighbors=10),
                     seed=0,
                     familiarity=None)
    data = DatasetReport.introspect(ArrayProducer({"r": x}), config=config).data
    xy = data[["projection_r_x", "projection_r_y"]].to_numpy()
    assert (xy[copies] == xy[10]).all()
    assert (xy[300] != xy[10]).any()
    assert np.unique(xy, axis=0).shape[0] == 400 - len(copies)
    assert data["duplicatesExact_r"][copies + [10]].all()


def test_above_the_stacked_fit_size_copies_are_moved_onto_their_first_row(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from deepview.report import _core

    monkeypatch.setattr(_core, "STACKED_FIT_ROWS", 100)  # every row projected, copies moved
    x = np.random.default_rng(4).normal(size=(300, 5)).astype(np.float32)
    x[[40, 80]] = x[3]
    data = DatasetReport.introspect(ArrayProducer({"r": x}), config=_config(
        familiarity=None)).data
    xy = data[["projection_r_x", "projection_r_y"]].to_numpy()
    assert (xy[[40, 80]] == xy[3]).all() and np.unique(xy, axis=0).shape[0] == 298


def test_copy_representatives_hash_then_compare() -> None:
    from deepview.report._analysis import copy_representatives

    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    x[[3, 5]] = x[1]
    exact = np.array([False, True, False, True, False, True])
    assert copy_representatives(x, exact).tolist() == [0, 1, 2, 1, 4, 1]
    assert copy_representatives(x, np.zeros(6, dtype=bool)) is None
    assert copy_representatives(np.eye(6, dtype=np.float32), exact) is None  # none alike


def test_a_label_named_like_one_of_the_reports_columns_is_refused() -> None:
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    with pytest.raises(InvalidDataError, match=r"\['cluster_r'\] clash"):
        DatasetReport.introspect(ArrayProducer({"r": x}, labels={"cluster_r": ["a"] * 60}),
                                 config=_config())
    report = DatasetReport.introspect(
        ArrayProducer({"r": x}, labels={"cluster_id": ["a", "b"] * 30}), config=_config())
    assert "cluster_id" in report.data and "cluster_r" in report.data
    assert "cluster_id" in set(report.issues()["label"])
