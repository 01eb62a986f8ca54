"""Parquet inputs shared by every engine: the shards of a path, and the vector columns."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from deepview.exceptions import InvalidDataError

__all__ = ["PARQUET_SUFFIXES", "parquet_columns", "parquet_shards"]

PARQUET_SUFFIXES = (".parquet", ".pq")


def parquet_shards(path: str | os.PathLike[str], *, owner: str) -> list[Path]:
    """The Parquet files of a file or folder (sorted), checked to share one schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*")
                       if p.suffix.lower() in PARQUET_SUFFIXES and p.is_file())
        if not files:
            raise InvalidDataError(f"{owner}: folder '{root}' holds no .parquet files.")
    elif root.is_file():
        files = [root]
    else:
        raise InvalidDataError(f"{owner}: '{root}' does not exist.")
    first: Any = None
    for file in files:
        try:
            schema = pq.read_schema(file).remove_metadata()
        except (OSError, pa.ArrowException) as exc:
            raise InvalidDataError(f"{owner}: cannot read '{file}' as Parquet ({exc}).") \
                from None
        if first is None:
            first = (file, schema)
        elif not schema.equals(first[1]):
            ours = {f.name: str(f.type) for f in schema}
            theirs = {f.name: str(f.type) for f in first[1]}
            diff = sorted(set(ours.items()) ^ set(theirs.items()))
            raise InvalidDataError(
                f"{owner}: shard '{file}' has a different schema from '{first[0]}' "
                f"(differing columns: {diff[:6]}); every shard needs the same columns and types.")
    return files


def parquet_columns(schema: Any, id_column: str | None, *, where: str
                    ) -> tuple[str | list[str], list[str], str]:
    """``(vectors, others, id_name)`` of a ``pyarrow.Schema``: the one list column, else the
    numeric columns; the other columns; the id column (``id_column`` if present, else "id")."""
    import pyarrow as pa

    numeric: list[str] = []
    lists: list[str] = []
    others: list[str] = []
    for field in schema:
        typ = field.type
        if pa.types.is_integer(typ) or pa.types.is_floating(typ):
            numeric.append(field.name)
        elif (pa.types.is_list(typ) or pa.types.is_large_list(typ)
              or pa.types.is_fixed_size_list(typ)):
            lists.append(field.name)
        else:
            others.append(field.name)
    id_name = id_column if id_column is not None and id_column in schema.names else "id"
    if id_name in numeric:  # integer ids
        numeric.remove(id_name)
        others.append(id_name)
    if len(lists) > 1:
        raise InvalidDataError(
            f"'{where}' has several list columns {lists}; keep one embedding column.")
    if lists:
        return lists[0], others + numeric, id_name
    if numeric:
        return numeric, others, id_name
    raise InvalidDataError(f"'{where}' has no numeric or list column to use as embedding.")
