"""``deepview report DATA --engine ray``: the report's per-row passes on a Ray cluster (see the
scale-out guide)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepview._parquet import parquet_columns, parquet_shards
from deepview.cli._build import check_output, check_split_labels, make_config, write_output
from deepview.cli._load import CliError
from deepview.report import columns

__all__ = ["run_ray_report"]

#: object store per CPU of the local cluster the command starts (1 GiB to Ray's default)
LOCAL_STORE_PER_CPU = 256 << 20


def local_store_bytes() -> int:
    """Bytes of the object store of a local cluster started by ``--engine ray``."""
    import os

    wanted = max(1 << 30, LOCAL_STORE_PER_CPU * (os.cpu_count() or 1))
    try:
        default = int(0.3 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return wanted
    return min(default, wanted)


def _schema_columns(data: Path, id_column: str | None, text_column: str | None
                    ) -> dict[str, Any]:
    """RayDatasetProducer arguments from the first shard's schema."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(parquet_shards(data, owner="deepview report")[0])
    vectors, other, wanted_id = parquet_columns(schema, id_column, where=str(data))
    text = text_column if text_column is not None else (
        columns.TEXT if columns.TEXT in other else None)
    if text is not None and text not in other:
        raise CliError(f"--text-column '{text}': '{data}' has no such text column (its "
                       f"non-numeric columns: {sorted(other)[:20]}).")
    labels = [c for c in other if c not in (wanted_id, text, columns.PATH)]
    return {"fields": {"embedding": vectors}, "label_columns": labels, "text_column": text,
            "id_column": wanted_id if wanted_id in other else None,
            "path_column": columns.PATH if columns.PATH in other else None}


def run_ray_report(data: Path, *, out: Path, ray_address: str | None = None,
                   id_column: str | None = None, text_column: str | None = None,
                   duplicates: bool = True, familiarity: bool = True,
                   projection: str | None = "umap", overwrite: bool = False,
                   batch_size: int = 1024, duplicate_threshold: str = "auto",
                   seed: int | None = 0, split_labels: Sequence[str] | None = None,
                   label_issues: bool = True, unsupported: Sequence[str] = ()
                   ) -> tuple[Any, Path]:
    """``deepview report DATA --engine ray``: returns ``(report, index.html path)``; ``data`` is
    a Parquet file, a folder of shards or a ``.npy`` file, ``unsupported`` the options given
    that this engine refuses, the rest as ``deepview report``."""
    if unsupported:
        raise CliError(f"{', '.join(unsupported)} cannot be used with --engine ray: the rows "
                       "are read on the cluster; put ids, labels, texts and paths in the "
                       "Parquet shards instead.")
    check_output(out, overwrite=overwrite)
    if not data.exists():
        raise CliError(f"'{data}' does not exist.")
    suffix = data.suffix.lower()
    is_numpy = data.is_file() and suffix == ".npy"
    if data.is_file() and not is_numpy and suffix not in (".parquet", ".pq"):
        raise CliError(f"--engine ray reads a .parquet file, a folder of Parquet shards or a "
                       f".npy file; got '{data}'.")
    from deepview.integrations.ray import RayDatasetProducer, ray_session, read_parquet
    from deepview.report import DatasetReport

    try:
        arguments: dict[str, Any] = ({"fields": {"embedding": "data"}} if is_numpy else
                                     _schema_columns(data, id_column, text_column))
    except (OSError, ValueError) as exc:  # an unreadable first shard
        raise CliError(f"cannot read '{data}' as Parquet ({exc}).") from exc
    splits = check_split_labels(split_labels, arguments.get("label_columns", []),
                                "from the Parquet columns")
    config = make_config(duplicates=duplicates, familiarity=familiarity, projection=projection,
                         threshold=duplicate_threshold, seed=seed, label_issues=label_issues,
                         split_labels=splits)
    with ray_session(ray_address, object_store_memory=None if ray_address is not None
                     else local_store_bytes()) as session:
        if is_numpy:
            import ray.data

            dataset = ray.data.read_numpy(str(data))
        else:
            dataset = read_parquet(data)
        # once the rows are on the driver, ending the session unmaps the object store's pages
        # (a Ray instance this process had already initialised stays up)
        producer = RayDatasetProducer(dataset, **arguments, after_read=session.close)
        report = DatasetReport.introspect(producer, config=config, batch_size=batch_size)
    index = write_output(report, out, overwrite=overwrite, title=f"deepview: {data.name}")
    return report, index
