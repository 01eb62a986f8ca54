"""DatasetReport on a Ray Dataset (per-row passes on a local 2-CPU Ray instance) equals the
in-process report; ``deepview report DATA --engine ray`` equals the in-process command
(issue 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from deepview.base import ArrayProducer  # noqa: E402
from deepview.exceptions import InvalidDataError  # noqa: E402
from deepview.integrations.ray import RayDatasetProducer, ray_session, read_parquet  # noqa: E402
from deepview.introspectors import DimensionReduction  # noqa: E402
from deepview.report import DatasetReport, ReportConfig  # noqa: E402

N = 900


@pytest.fixture(scope="module")
def cluster() -> Any:
    with ray_session(num_cpus=2):
        yield


def clustered(n: int, d: int, seed: int = 3) -> tuple[np.ndarray, list[str]]:
    """Three clusters in a 10-d subspace of ``d`` dims plus noise, with planted copies and
    near-copies and a few far outliers."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(10, d))
    labels = rng.integers(0, 3, n)
    centres = rng.normal(size=(3, 10)) * 4
    x = (centres[labels] + rng.normal(size=(n, 10))) @ basis + 0.3 * rng.normal(size=(n, d))
    x[7] = x[300]
    x[8] = x[300]
    x[21] = x[600] + 1e-3
    x[-3:] += 40 * rng.normal(size=(3, d))
    return x.astype(np.float32), [f"c{v}" for v in labels]


def write_shards(folder: Path, x: np.ndarray, labels: list[str], shards: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"sample-{i:05d}" for i in range(len(x))]
    for number, rows in enumerate(np.array_split(np.arange(len(x)), shards)):
        table = pa.table({
            "id": pa.array([ids[i] for i in rows]),
            "embedding": pa.array(list(x[rows]), type=pa.list_(pa.float32())),
            "label": pa.array([labels[i] for i in rows]),
        })
        pq.write_table(table, folder / f"part-{number:03d}.parquet")
    return folder


CONFIG = ReportConfig(projection=DimensionReduction.Strategy.PCA(2), seed=0)


def assert_same_report(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert list(ours.columns) == list(theirs.columns)
    assert ours["id"].tolist() == theirs["id"].tolist()  # the same row order
    for column in ours.columns:
        a, b = ours[column], theirs[column]
        if column.startswith(("familiarity", "projection", "labelIssue_")):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-5,
                                       atol=1e-5, err_msg=column)
        elif column.startswith("splitFamiliarity"):
            for x, y in zip(a, b):
                assert x.keys() == y.keys()
                np.testing.assert_allclose(list(x.values()), list(y.values()), rtol=1e-5)
        else:
            assert a.tolist() == b.tolist(), column


@pytest.mark.parametrize("d", [24, 96])
def test_report_on_ray_equals_in_process(cluster, tmp_path, d) -> None:
    """24 dims: used as is; 96: reduced to 40 on the cluster (PCA + residual), duplicates
    on the full rows brought to the driver."""
    x, labels = clustered(N, d)
    folder = write_shards(tmp_path / "shards", x, labels, shards=5)
    ids = [f"sample-{i:05d}" for i in range(N)]
    local = DatasetReport.introspect(
        ArrayProducer({"embedding": x}, identifiers=ids, labels={"label": labels}),
        config=CONFIG, batch_size=256)
    producer = RayDatasetProducer(read_parquet(folder), fields="embedding", id_column="id",
                                  label_columns=["label"])
    remote = DatasetReport.introspect(producer, config=CONFIG, batch_size=256)
    assert_same_report(remote.data, local.data)
    groups = remote.data["duplicates_embedding"]
    assert groups[7] == groups[8] == groups[300] >= 0 and groups[21] == groups[600] >= 0
    assert remote.data["familiarity_embedding"].to_numpy().argsort()[:3].tolist() == [
        N - 3, N - 2, N - 1] or set(
        remote.data["familiarity_embedding"].to_numpy().argsort()[:3]) == {N - 3, N - 2, N - 1}


@pytest.mark.parametrize("duplicates", [False, True])
def test_the_reduced_matrix_reaches_the_driver_as_a_file(cluster, tmp_path,
                                                         duplicates) -> None:
    """Without duplicates only the 40-d rows come back; with them the 64-d rows too.  The
    reduced rows are a file read with file reads, not an array or a memory map that would
    stay resident on the driver."""
    from deepview.report import _ray
    from deepview.report.files import RowFile

    x, labels = clustered(N, 64, seed=5)
    folder = write_shards(tmp_path / "shards", x, labels, shards=3)
    config = ReportConfig(projection=DimensionReduction.Strategy.PCA(2), seed=0,
                          **({} if duplicates else {"duplicates": None}))
    ids = [f"sample-{i:05d}" for i in range(N)]
    local = DatasetReport.introspect(
        ArrayProducer({"embedding": x}, identifiers=ids, labels={"label": labels}),
        config=config)
    seen: dict[str, Any] = {}
    original = _ray.collect

    def spy(*args: Any, **kwargs: Any) -> Any:
        collected = original(*args, **kwargs)
        seen["width"] = collected.fields["embedding"].shape[1]
        values = collected.fields["embedding"].prereduced.values
        seen["reduced"] = (type(values), values.shape,
                           np.asarray(values[:5]).copy())
        return collected

    _ray.collect = spy
    try:
        remote = DatasetReport.introspect(
            RayDatasetProducer(read_parquet(folder), fields="embedding", id_column="id",
                               label_columns=["label"]), config=config)
    finally:
        _ray.collect = original
    assert seen["width"] == (64 if duplicates else 40)  # else the 64-d rows stay there
    kind, shape, head = seen["reduced"]
    assert issubclass(kind, RowFile) and not issubclass(kind, np.ndarray)
    assert shape == (N, 40) and np.isfinite(head).all() and np.abs(head).max() > 0
    assert_same_report(remote.data, local.data)


def test_a_bare_dataset_and_a_pca_reduction(cluster) -> None:
    x, _ = clustered(700, 50, seed=9)
    config = ReportConfig(dim_reduction=DimensionReduction.Strategy.PCA(8),
                          projection=DimensionReduction.Strategy.PCA(2), seed=0)
    local = DatasetReport.introspect(ArrayProducer({"data": x}), config=config)
    remote = DatasetReport.introspect(ray.data.from_numpy(x).repartition(4), config=config)
    assert_same_report(remote.data, local.data)


def test_after_read_runs_once_the_rows_are_on_the_driver(cluster) -> None:
    """``after_read`` (the CLI ends its own cluster there) runs once, after the Ray passes;
    the report is then made from the driver's files alone.  A session that did not start
    Ray leaves the caller's instance up when closed."""
    x, _ = clustered(700, 30, seed=5)
    calls: list[bool] = []
    config = ReportConfig(projection=DimensionReduction.Strategy.PCA(2), seed=0)
    producer = RayDatasetProducer(ray.data.from_numpy(x).repartition(3),
                                  after_read=lambda: calls.append(ray.is_initialized()))
    remote = DatasetReport.introspect(producer, config=config)
    assert calls == [True]
    local = DatasetReport.introspect(ArrayProducer({"data": x}), config=config)
    assert_same_report(remote.data, local.data)
    with ray_session() as session:  # the fixture's instance: not this session's to end
        session.close()
    assert ray.is_initialized()
    with pytest.raises(TypeError, match="after_read"):
        RayDatasetProducer(ray.data.from_numpy(x), after_read="shutdown")


def test_report_faults(cluster) -> None:
    with pytest.raises(InvalidDataError, match="at least 3"):
        DatasetReport.introspect(ray.data.from_numpy(np.zeros((2, 4), dtype=np.float32)))
    empty = ray.data.from_numpy(np.zeros((4, 3), dtype=np.float32)).filter(lambda r: False)
    with pytest.raises(InvalidDataError, match="no rows"):
        DatasetReport.introspect(empty)
    bad = np.ones((50, 4), dtype=np.float32)
    bad[17, 2] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        DatasetReport.introspect(ray.data.from_numpy(bad))


# ----------------------------------------------------------------------------- the CLI
def test_cli_engine_ray_gives_the_in_process_report(cluster, tmp_path) -> None:
    """``deepview report FILE``, ``deepview report FOLDER`` and ``deepview report FOLDER
    --engine ray`` (the same rows in 4 shards, plus a text column, numeric ids): the same
    report."""
    from typer.testing import CliRunner

    from deepview.cli import app

    x, labels = clustered(N, 48, seed=12)
    texts = [f"sentence {i % 50}" for i in range(N)]
    table = pa.table({"id": pa.array(np.arange(N) * 3), "text": texts, "label": labels,
                      "embedding": pa.array(list(x), type=pa.list_(pa.float32()))})
    single = tmp_path / "all.parquet"
    pq.write_table(table, single)
    shards = tmp_path / "shards"
    shards.mkdir()
    for number, rows in enumerate(np.array_split(np.arange(N), 4)):
        pq.write_table(table.take(pa.array(rows)), shards / f"part-{number}.parquet")
    runner = CliRunner()
    common = ["--projection", "pca", "--quiet"]
    local = runner.invoke(app, ["report", str(single), "--out", str(tmp_path / "local"),
                                *common])
    assert local.exit_code == 0, local.output
    remote = runner.invoke(app, ["report", str(shards), "--out", str(tmp_path / "ray"),
                                 "--engine", "ray", *common])
    assert remote.exit_code == 0, remote.output
    ours = DatasetReport.from_disk(tmp_path / "ray").data
    theirs = DatasetReport.from_disk(tmp_path / "local").data
    assert_same_report(ours, theirs)
    assert ours["text"].tolist() == texts and ours["id"].tolist()[:2] == ["0", "3"]
    folder = runner.invoke(app, ["report", str(shards), "--out", str(tmp_path / "folder"),
                                 *common])
    assert folder.exit_code == 0, folder.output
    assert_same_report(ours, DatasetReport.from_disk(tmp_path / "folder").data)
    bad = runner.invoke(app, ["report", str(shards), "--out", str(tmp_path / "bad"),
                              "--engine", "ray", "--metadata", str(single)])
    assert bad.exit_code == 1 and "--metadata cannot be used with --engine ray" in bad.output
    wrong = runner.invoke(app, ["report", str(single), "--out", str(tmp_path / "w"),
                                "--engine", "spark"])
    assert wrong.exit_code == 2 and "must be local or ray" in wrong.output


def test_read_parquet_keeps_path_order_whatever_the_file_sizes(cluster, tmp_path,
                                                              monkeypatch) -> None:
    """Ray's default Parquet reader packs files into reads by size (with more files than it
    keeps open, the fullest reads go first); the rows must come in path order, as the
    in-process command reads one file.  A 1 MiB read size makes 40 small files behave like
    the 32 shards of 67 MB that came out of order in the 4M benchmark."""
    import ray.data

    monkeypatch.setenv("RAY_DATA_PARQUET_BIN_PACKING_BYTES", str(2**20))
    start, files = 0, []
    for number in range(40):
        rows = np.arange(start, start + 1000 + (number * 37) % 200)
        values = np.random.default_rng(number).normal(size=(len(rows), 150)).astype(np.float32)
        files.append(tmp_path / f"part-{number:02d}.parquet")
        pq.write_table(pa.table({"id": rows, "x": pa.FixedSizeListArray.from_arrays(
            pa.array(values.ravel()), 150)}), files[-1])
        start += len(rows)

    def ids_of(dataset: Any) -> np.ndarray:
        producer = RayDatasetProducer(dataset, fields="x", id_column="id")
        return np.concatenate([np.asarray(b.metadata[b.StdKeys.IDENTIFIER])
                               for b in producer(5000)])

    for _ in range(2):
        assert np.array_equal(ids_of(read_parquet(tmp_path)), np.arange(start))
    # Ray's own reader, for the record: not in path order here
    plain = ids_of(ray.data.read_parquet([str(f) for f in files]))
    assert sorted(plain.tolist()) == list(range(start))
