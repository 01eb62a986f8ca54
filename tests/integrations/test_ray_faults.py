"""Faults of the Ray integration that need no running cluster: Ray not installed, a cluster
address that does not answer, Parquet shards with different schemas (issue 11)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from deepview.exceptions import InvalidDataError  # noqa: E402
from deepview.integrations.ray import ClusterUnavailableError, ray_session, read_parquet  # noqa: E402


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)


def test_missing_ray_names_the_extra() -> None:
    result = run_python("""
        import sys
        sys.modules["ray"] = None  # as if ray were not installed
        try:
            import deepview.integrations.ray
        except ImportError as exc:
            from deepview.exceptions import MissingDependencyError
            assert isinstance(exc, MissingDependencyError), type(exc)
            print(exc)
    """)
    assert result.returncode == 0, result.stderr
    assert 'pip install "deepview[ray]"' in result.stdout
    assert "deepview.integrations.ray" in result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_address_where_nothing_listens_fails_fast() -> None:
    """Refused at the probe, before Ray is asked (Ray would retry for minutes: the test's own
    timeout is the guard against a hang; no wall-clock assert, the machine may be busy)."""
    with pytest.raises(ClusterUnavailableError, match="does not answer"):
        with ray_session(f"127.0.0.1:{free_port()}"):
            pass
    import ray

    assert not ray.is_initialized()
    with pytest.raises(ClusterUnavailableError, match="cannot read the cluster address"):
        with ray_session("no-port-here"):
            pass


def test_an_address_that_is_not_ray_fails_within_the_deadline() -> None:
    """Something accepts connections but never speaks Ray: Ray would retry for minutes;
    the session gives up at its deadline (in a child process: the abandoned connection
    attempt must not linger in this test process). The child's timeout, many times the
    deadline, guards against a hang; the error names the deadline that ended the attempt."""
    result = run_python("""
        import socket, time
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        from deepview.integrations.ray import ClusterUnavailableError, ray_session
        try:
            with ray_session(f"127.0.0.1:{port}", timeout_s=5):
                print("connected?!")
        except ClusterUnavailableError as exc:
            print("ERROR", exc)
    """, timeout=120)
    assert "ERROR" in result.stdout, result.stdout + result.stderr
    assert "connected?!" not in result.stdout
    assert ("within the 5 s deadline" in result.stdout and "not a Ray head node" in result.stdout
            or "cannot connect" in result.stdout), result.stdout


def write_shard(path: Path, columns: dict[str, object]) -> None:
    pq.write_table(pa.table(columns), path)


def test_shards_with_different_schemas_name_the_file(tmp_path: Path) -> None:
    write_shard(tmp_path / "part-0.parquet", {"id": ["a", "b"], "x": [1.0, 2.0]})
    write_shard(tmp_path / "part-1.parquet", {"id": ["c"], "x": [3.0]})
    write_shard(tmp_path / "part-2.parquet", {"id": ["d"], "x": np.array([4], dtype=np.int64)})
    with pytest.raises(InvalidDataError, match=r"part-2\.parquet.*different schema.*part-0"):
        read_parquet(tmp_path)
    (tmp_path / "part-2.parquet").unlink()
    (tmp_path / "notes.parquet").write_text("not parquet")
    with pytest.raises(InvalidDataError, match=r"cannot read .*notes\.parquet"):
        read_parquet(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidDataError, match="holds no .parquet files"):
        read_parquet(tmp_path / "empty")
    with pytest.raises(InvalidDataError, match="does not exist"):
        read_parquet(tmp_path / "missing")


def test_cli_ray_address_that_does_not_answer(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from deepview.cli import app

    write_shard(tmp_path / "data.parquet", {"x": [1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.5]})
    result = CliRunner().invoke(app, [
        "report", str(tmp_path / "data.parquet"), "--out", str(tmp_path / "out"),
        "--engine", "ray", "--ray-address", f"127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "does not answer" in result.output and "Error:" in result.output
    assert not (tmp_path / "out").exists()
