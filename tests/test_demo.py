"""``deepview demo`` / ``deepview.cli.run_demo``: a real report of the digits CNN."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")

from deepview.cli import CliError, app, run_demo  # noqa: E402
from deepview.introspectors import DatasetReport  # noqa: E402


@pytest.mark.slow
def test_run_demo_writes_the_site_with_thumbnails(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    index = run_demo(out, projection="pca", epochs=2)
    assert index == out / "index.html" and index.is_file()
    data = DatasetReport.from_disk(out / "report").data
    assert len(data) == 1797
    assert set(data["split"]) == {"train", "test"}
    assert sorted(set(data["digit"])) == [str(d) for d in range(10)]
    assert data["id"].str.startswith("data/digits/").all()
    assert (out / data["id"].iloc[0]).is_file()  # the digit PNGs live in the output folder
    assert len(list((out / "thumbs").iterdir())) == 1797
    assert {"duplicates_relu3", "projection_relu3_x", "familiarity_relu3",
            "splitFamiliarity_relu3_byAttr_digit"} <= set(data.columns)
    # refused without overwrite; replaced with it
    with pytest.raises(CliError, match="overwrite"):
        run_demo(out, projection="pca", epochs=1)
    # the same demo again gives the same report (the network's initial weights are seeded)
    run_demo(tmp_path / "again", projection="pca", epochs=2)
    pd.testing.assert_frame_equal(DatasetReport.from_disk(tmp_path / "again").data, data)


def test_demo_command_refuses_existing_output(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    out = tmp_path / "demo"
    out.mkdir()
    (out / "index.html").write_text("old")
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--projection", "pca"])
    assert result.exit_code == 1
    assert "--overwrite" in result.output
    assert (out / "index.html").read_text() == "old"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--projection", "nope"])
    assert result.exit_code == 2
