"""deepview.report.files: RowFile (rows read on demand) and write_directory (atomic folders)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepview.base import ArrayProducer
from deepview.report import DatasetReport
from deepview.report._site import write_site
from deepview.report.files import RowFile, is_report_folder, write_directory


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask after a test that sets it."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# ------------------------------------------------------------------------------- RowFile
def test_row_file_reads_npy_rows_like_the_array(tmp_path: Path) -> None:
    x = np.arange(24, dtype=np.float64).reshape(6, 4)
    np.save(tmp_path / "x.npy", x)
    header = np.load(tmp_path / "x.npy", mmap_mode="r")
    rows = RowFile(tmp_path / "x.npy", header.shape, header.dtype, header.offset)
    assert len(rows) == 6 and rows.shape == (6, 4) and rows.ndim == 2
    np.testing.assert_array_equal(rows[1:4], x[1:4])
    np.testing.assert_array_equal(rows[4:100], x[4:])
    np.testing.assert_array_equal(np.asarray(rows), x)
    assert np.asarray(rows, dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="contiguous"):
        rows[::2]
    with pytest.raises(ValueError, match="rows, width"):
        RowFile(tmp_path / "x.npy", (6,), np.float64)


def test_array_producer_reads_a_row_file_batch_by_batch(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    x.tofile(tmp_path / "raw.f32")
    rows = RowFile(tmp_path / "raw.f32", (10, 3))

    def whole(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole file was read")

    monkeypatch.setattr(RowFile, "__array__", whole)
    batches = list(ArrayProducer(rows, field="emb")(4))
    assert [b.batch_size for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b.fields["emb"] for b in batches]), x)


# ----------------------------------------------------------------------- write_directory
def _write(name: str, text: str = "new") -> object:
    def build(tmp: Path) -> None:
        (tmp / name).write_text(text)
    return build


def test_new_folder_is_created_whole_with_ordinary_permissions(tmp_path: Path,
                                                               umask: None) -> None:
    for mask, expected in ((0o022, 0o755), (0o027, 0o750)):
        os.umask(mask)
        out = tmp_path / f"out{mask:o}" / "nested"
        assert write_directory(_write("a.txt"), out, overwrite=False, owner="t") == out
        assert (out / "a.txt").read_text() == "new"
        assert _mode(out) == expected  # not tempfile.mkdtemp's private 0o700
        assert os.umask(mask) == mask  # the umask was read, never changed
        assert sorted(p.name for p in out.parent.iterdir()) == ["nested"]  # no leftovers


def test_whole_replacement_needs_overwrite_and_swaps_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_directory(_write("old.txt"), out, overwrite=False, owner="t")
    with pytest.raises(FileExistsError, match="t: directory .* overwrite=True"):
        write_directory(_write("a.txt"), out, overwrite=False, owner="t")
    write_directory(_write("a.txt"), out, overwrite=True, owner="t")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]  # the old content is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        write_directory(_write("a.txt"), tmp_path / "file", overwrite=True, owner="t")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out"]


def test_failed_build_leaves_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_directory(_write("old.txt", "old"), out, overwrite=False, owner="t")

    def broken(tmp: Path) -> None:
        (tmp / "half.txt").write_text("half")
        raise KeyboardInterrupt

    for entries in (None, ("half.txt",)):
        with pytest.raises(KeyboardInterrupt):
            write_directory(broken, out, overwrite=True, owner="t", entries=entries)
        assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_entries_replace_only_their_files_last_one_last(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write_directory(_write("a.txt", "first"), out, overwrite=False, owner="t",
                    entries=["a.txt", "index.html"])  # an empty folder needs no overwrite
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_directory(_write("a.txt"), out, overwrite=False, owner="t", entries=["a.txt"])
    seen: list[list[str]] = []

    def build(tmp: Path) -> None:
        (tmp / "a.txt").write_text("second")
        (tmp / "index.html").write_text("page")

    real_replace = os.replace

    def spy(src: object, dst: object) -> None:
        seen.append(sorted(p.name for p in out.iterdir()))
        real_replace(src, dst)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "replace", spy)
        write_directory(build, out, overwrite=True, owner="t", entries=["a.txt", "index.html"])
    assert (out / "a.txt").read_text() == "second" and (out / "mine.txt").read_text() == "keep"
    assert (out / "index.html").read_text() == "page"
    assert all("index.html" not in names for names in seen[1:])  # no page while mixed


def test_report_folders_have_ordinary_permissions(tmp_path: Path, umask: None) -> None:
    os.umask(0o022)
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"id": ["a", "b", "c"], "familiarity_r": rng.normal(size=3)})
    report = DatasetReport(data)
    report.to_disk(tmp_path / "saved")
    report.export_site(tmp_path / "site")
    write_site(data, tmp_path / "site2")
    for folder in ("saved", "site", "site2"):
        assert _mode(tmp_path / folder) == 0o755, folder
    assert is_report_folder(tmp_path / "site") and not is_report_folder(tmp_path / "saved")
