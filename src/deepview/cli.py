"""The ``deepview`` command line: ``deepview report`` and ``deepview demo``.

``deepview report EMBEDDINGS --out DIR`` builds a :class:`DatasetReport` from an embeddings
file (``.npy`` N x D, or Parquet) and an optional metadata CSV, and writes the interactive
site (``DIR/index.html``) plus the saved report (``DIR/report/``).  ``deepview demo`` does the
same for a small CNN trained on scikit-learn's digits.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from deepview.exceptions import DeepViewException

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="deepview",
    help="See what is inside your datasets: duplicates, familiarity and a 2-D map, as a "
    "static HTML report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PROJECTIONS = ("umap", "pca", "tsne", "pacmap")
#: column of the report (and default column of the metadata CSV) holding each sample's text
TEXT_COLUMN = "text"
#: name of the saved report (Parquet + JSON) inside the output folder
REPORT_SUBDIR = "report"


class CliError(Exception):
    """A problem with the command's input; printed as ``Error: ...`` with exit code 1."""


# ------------------------------------------------------------------------------ loading
def load_embeddings(path: Path, id_column: str | None) -> tuple[Any, list[str] | None,
                                                               dict[str, list[str]]]:
    """Embeddings (N, D) from ``.npy`` (no pickle) or Parquet, plus ids/labels if the Parquet
    file carries them (non-numeric columns: the id column, the rest labels)."""
    if not path.is_file():
        raise CliError(f"embeddings file '{path}' does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise CliError(f"cannot read '{path}' as a numeric .npy array ({exc}).") from exc
        array: Any = mapped
        if (isinstance(mapped, np.memmap) and mapped.ndim == 2 and mapped.flags.c_contiguous
                and mapped.dtype != object):
            array = NpyRows(path, mapped.shape, mapped.dtype, mapped.offset)
        del mapped
        return _check_matrix(array, path), None, {}
    if suffix in (".parquet", ".pq"):
        return _load_parquet(path, id_column)
    raise CliError(
        f"embeddings file '{path}' must be a .npy (N x D array) or a .parquet file; got "
        f"'{suffix or 'no suffix'}'."
    )


class NpyRows:
    """Rows of a C-ordered 2-D ``.npy`` file, read on demand with plain file reads.

    ``rows[start:stop]`` returns an in-memory array; nothing else is held, so resident memory
    stays at one batch however large the file is.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype[Any],
                 offset: int) -> None:
        self.path = path
        self.shape = shape
        self.dtype = dtype
        self.offset = offset
        self.ndim = len(shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, _ = index.indices(self.shape[0])
        count = max(0, stop - start)
        width = self.shape[1]
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * width * self.dtype.itemsize)
            data = np.fromfile(f, dtype=self.dtype, count=count * width)
        return data.reshape(count, width)


class EmbeddingProducer:
    """Producer over embedding rows (array or :class:`NpyRows`) with ids/labels/paths/texts."""

    def __init__(self, rows: Any, *, ids: list[str] | None, labels: dict[str, list[str]],
                 paths: list[str] | None, field: str = "embedding",
                 texts: list[str] | None = None) -> None:
        self.rows = rows
        self.ids = ids
        self.labels = labels
        self.paths = paths
        self.texts = texts
        self.field = field

    def __call__(self, batch_size: int) -> Any:
        from deepview.base import Batch

        n = len(self.rows)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            builder = Batch.Builder({self.field: np.asarray(self.rows[start:stop])})
            builder.metadata[Batch.StdKeys.IDENTIFIER] = (
                self.ids[start:stop] if self.ids is not None else list(range(start, stop)))
            if self.labels:
                builder.metadata[Batch.StdKeys.LABELS] = {
                    k: v[start:stop] for k, v in self.labels.items()}
            if self.paths is not None:
                builder.metadata[Batch.StdKeys.PATH] = self.paths[start:stop]
            if self.texts is not None:
                builder.metadata[Batch.StdKeys.TEXT] = self.texts[start:stop]
            yield builder.make_batch()


def _check_matrix(array: Any, path: Path) -> Any:
    if not isinstance(array, (np.ndarray, NpyRows)) or array.dtype == object:
        raise CliError(f"'{path}' must hold a numeric array.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise CliError(f"'{path}' must hold numbers; got dtype {array.dtype}.")
    if array.ndim != 2:
        raise CliError(
            f"'{path}' must be a 2-D array (samples x features); got shape {array.shape}."
        )
    if np.issubdtype(array.dtype, np.inexact):
        bad: list[int] = []
        for start in range(0, len(array), 65536):
            chunk = np.asarray(array[start:start + 65536])
            rows = np.flatnonzero(~np.isfinite(chunk).all(axis=1))
            bad.extend((rows + start).tolist())
        if bad:
            raise CliError(
                f"'{path}' has NaN or inf values in {len(bad)} row(s) (first rows: "
                f"{bad[:5]}); remove or impute them first."
            )
    return array


def _load_parquet(path: Path, id_column: str | None
                  ) -> tuple[np.ndarray, list[str] | None, dict[str, list[str]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise CliError(f"cannot read '{path}' as Parquet ({exc}).") from exc
    numeric: list[str] = []
    lists: list[str] = []
    other: list[str] = []
    for name, typ in zip(table.column_names, table.schema.types):
        if pa.types.is_integer(typ) or pa.types.is_floating(typ):
            numeric.append(name)
        elif (pa.types.is_list(typ) or pa.types.is_large_list(typ)
              or pa.types.is_fixed_size_list(typ)):
            lists.append(name)
        else:
            other.append(name)
    wanted_id = id_column if id_column in table.column_names else "id"
    if wanted_id in numeric:  # integer ids
        numeric.remove(wanted_id)
        other.append(wanted_id)
    if lists:
        if len(lists) > 1:
            raise CliError(
                f"'{path}' has several list columns {lists}; keep one embedding column."
            )
        column = table.column(lists[0]).combine_chunks()
        lengths = np.asarray(column.value_lengths())
        if len(lengths) == 0 or lengths.min() != lengths.max():
            raise CliError(f"list column '{lists[0]}' of '{path}' needs equal-length vectors.")
        values = column.flatten().to_numpy(zero_copy_only=False)
        array = values.reshape(len(column), int(lengths[0]))
        other.extend(numeric)  # numeric scalar columns next to a vector column: metadata
    elif numeric:
        array = np.column_stack(
            [table.column(c).to_numpy(zero_copy_only=False) for c in numeric]
        )
    else:
        raise CliError(f"'{path}' has no numeric or list column to use as embedding.")
    array = _check_matrix(np.asarray(array), path)
    ids: list[str] | None = None
    labels: dict[str, list[str]] = {}
    for name in other:
        values_list = [str(v) for v in table.column(name).to_pylist()]
        if name == wanted_id:
            ids = values_list
        else:
            labels[name] = values_list
    return array, ids, labels


def load_metadata(path: Path, *, n: int, id_column: str | None, embedding_ids: list[str] | None,
                  label_columns: Sequence[str], text_column: str | None = None
                  ) -> tuple[list[str], dict[str, list[str]], list[str] | None,
                             list[str] | None]:
    """Ids, labels, optional paths and optional texts from the metadata CSV, in embedding row
    order.  The texts come from ``text_column`` (default: a column named ``text``, if any);
    that column is never a label."""
    import pandas as pd

    if not path.is_file():
        raise CliError(f"metadata file '{path}' does not exist.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError) as exc:
        raise CliError(f"cannot read '{path}' as CSV ({exc}).") from exc
    id_col = id_column or "id"
    if id_col not in frame.columns:
        raise CliError(
            f"metadata CSV '{path}' has no id column '{id_col}'; columns: "
            f"{list(frame.columns)[:20]}. Pass --id-column NAME."
        )
    missing = [c for c in label_columns if c not in frame.columns]
    if missing:
        raise CliError(
            f"metadata CSV '{path}' has no label column(s) {missing}; columns: "
            f"{list(frame.columns)[:20]}."
        )
    if text_column is not None and text_column not in frame.columns:
        raise CliError(
            f"metadata CSV '{path}' has no text column '{text_column}' (--text-column); "
            f"columns: {list(frame.columns)[:20]}."
        )
    text_col = text_column or (TEXT_COLUMN if TEXT_COLUMN in frame.columns else None)
    for column in label_columns:
        if column == text_col:
            raise CliError(
                f"column '{column}' of '{path}' is the samples' text (--text-column, default "
                f"'{TEXT_COLUMN}'), not a label; drop it from --label."
            )
        if column == TEXT_COLUMN:
            raise CliError(
                f"column '{TEXT_COLUMN}' of '{path}' cannot be a label: the report keeps that "
                "name for the samples' text. Rename the column, or pass --text-column "
                f"{TEXT_COLUMN} to show it as text."
            )
    csv_ids = frame[id_col].astype(str).tolist()
    if len(set(csv_ids)) != len(csv_ids):
        dupes = frame[id_col][frame[id_col].duplicated()].tolist()
        raise CliError(
            f"metadata CSV '{path}': ids in column '{id_col}' must be unique; "
            f"{len(dupes)} repeat (e.g. {dupes[:3]})."
        )
    if embedding_ids is not None:
        position = {value: row for row, value in enumerate(csv_ids)}
        absent = [i for i in embedding_ids if i not in position]
        if absent:
            raise CliError(
                f"{len(absent)} of {n} embedding ids are not in the metadata CSV '{path}' "
                f"(e.g. {absent[:3]}); the ids must match."
            )
        frame = frame.iloc[[position[i] for i in embedding_ids]].reset_index(drop=True)
    elif len(frame) != n:
        raise CliError(
            f"metadata CSV '{path}' has {len(frame)} rows but the embeddings have {n}; give "
            "one CSV row per embedding row, in the same order."
        )
    ids = frame[id_col].astype(str).tolist()
    chosen = list(label_columns) or [c for c in frame.columns
                                     if c not in (id_col, "path", text_col, TEXT_COLUMN)]
    labels = {str(c): frame[c].astype(str).tolist() for c in chosen if c != id_col}
    paths = frame["path"].astype(str).tolist() if "path" in frame.columns else None
    texts = frame[text_col].astype(str).tolist() if text_col is not None else None
    return ids, labels, paths, texts


def image_paths(folder: Path, ids: list[str]) -> list[str]:
    """``folder/id`` for every id; all must be existing files."""
    if not folder.is_dir():
        raise CliError(f"--images '{folder}' is not a directory.")
    paths = [folder / i for i in ids]
    missing = [str(i) for i, p in zip(ids, paths) if not p.is_file()]
    if missing:
        raise CliError(
            f"{len(missing)} of {len(ids)} ids have no image file in '{folder}' (e.g. "
            f"{missing[:3]}); --images expects the ids to be file names in that folder."
        )
    return [str(p.resolve()) for p in paths]


# ------------------------------------------------------------------------------ building
def duplicate_threshold_strategy(value: str) -> Any:
    """The ``--duplicate-threshold`` strategy: ``auto`` (``Relative()``), ``slope``,
    ``pNN`` / ``NN%`` (``Percentile(NN)``), ``relative:F`` or a plain distance."""
    from deepview.introspectors import Duplicates

    text = value.strip().lower()
    strategies = Duplicates.ThresholdStrategy
    try:
        if text == "auto":
            return strategies.Relative()
        if text == "slope":
            return strategies.Slope()
        if text.startswith("relative:"):
            return strategies.Relative(float(text.split(":", 1)[1]))
        if text.startswith("p") or text.endswith("%"):
            return strategies.Percentile(float(text.strip("p%")))
        return strategies.Distance(float(text))
    except ValueError as exc:
        raise typer.BadParameter(
            f"must be 'auto', 'slope', a percentile such as 'p99.5', 'relative:0.3' or a "
            f"distance such as 0.05; got '{value}' ({exc}).",
            param_hint="--duplicate-threshold",
        ) from None


def make_config(*, duplicates: bool, familiarity: bool, projection: str | None,
                threshold: str = "auto", seed: int | None = 0) -> Any:
    """ReportConfig for the CLI switches; ``projection=None`` means no projection."""
    from deepview.introspectors import DimensionReduction, Familiarity, ReportConfig

    strategy: Any = None
    if projection is not None:
        factories = {
            "umap": DimensionReduction.Strategy.UMAP,
            "pca": DimensionReduction.Strategy.PCA,
            "tsne": DimensionReduction.Strategy.TSNE,
            "pacmap": DimensionReduction.Strategy.PaCMAP,
        }
        strategy = factories[projection](2)
    return ReportConfig(
        projection=strategy,
        duplicates=duplicate_threshold_strategy(threshold) if duplicates else None,
        familiarity=Familiarity.Strategy.GMM() if familiarity else None,
        seed=seed,
    )


def _is_deepview_output(folder: Path) -> bool:
    return (folder / "index.html").is_file() or (folder / REPORT_SUBDIR / "report.json").is_file()


def check_output(out: Path, *, overwrite: bool) -> None:
    """Refuse an existing output folder without ``--overwrite``; with it, only replace an
    empty folder or an earlier deepview output (never an unrelated folder)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise CliError(f"--out '{out}' exists and is not a folder.")
    if not overwrite:
        raise CliError(
            f"output folder '{out}' already exists; pass --overwrite to replace it or choose "
            "another --out."
        )
    if any(out.iterdir()) and not _is_deepview_output(out):
        raise CliError(
            f"output folder '{out}' is not empty and does not look like a deepview report "
            "(no index.html); refusing to replace it even with --overwrite."
        )


def write_output(report: Any, out: Path, *, overwrite: bool, title: str,
                 image_root: Path | None = None, prepare: Any = None) -> Path:
    """Write site + saved report into ``out`` atomically (hidden sibling, then rename).

    ``prepare(tmp) -> image_root or None`` may put extra files (e.g. the demo's images) into
    the new folder first and return the folder the image ids are relative to.
    """
    from deepview.introspectors._report._persist import replace_directory

    def build(tmp: Path) -> None:
        root = image_root
        if prepare is not None:
            root = prepare(tmp) or root
        report.export_site(tmp, overwrite=True, title=title, image_root=root)
        report.to_disk(tmp / REPORT_SUBDIR)

    check_output(out, overwrite=overwrite)
    replace_directory(build, out, overwrite=overwrite, owner="deepview")
    return out / "index.html"


def summary_lines(data: Any, index_html: Path) -> list[str]:
    """The table printed at the end of a run."""
    rows = [("rows", f"{len(data):,}")]
    label_cols = [c for c in data.columns if c not in ("id", "path", "filename", TEXT_COLUMN)
                  and not str(c).startswith(("duplicates", "projection_", "familiarity",
                                             "splitFamiliarity_"))]
    for column in label_cols:
        rows.append((f"label '{column}'", f"{data[column].nunique():,} values"))
    if TEXT_COLUMN in data.columns:
        rows.append(("text", f"{int((data[TEXT_COLUMN] != '').sum()):,} samples with text"))
    for column in [c for c in data.columns if str(c).startswith("duplicates_")]:
        member = (data[column] >= 0).to_numpy()
        exact_column = "duplicatesExact_" + str(column)[len("duplicates_"):]
        exact = (data[exact_column].to_numpy() if exact_column in data
                 else np.zeros_like(member))
        for kind, rows_of in (("exact", member & exact), ("near", member & ~exact)):
            groups = data[column][rows_of]
            rows.append((f"{column} ({kind})",
                         f"{groups.nunique():,} groups, {len(groups):,} samples"))
    for column in [c for c in data.columns if str(c).startswith("familiarity_")]:
        least = data.nsmallest(5, column)["id"].tolist()
        rows.append((f"least familiar ({column})", ", ".join(map(str, least))))
    rows.append(("report", str(index_html)))
    width = max(len(key) for key, _ in rows)
    return [f"  {key:<{width}}  {value}" for key, value in rows]


def _projection_name(projection: str) -> str:
    """The ``--projection`` value, lower-cased; a usage error unless it is in PROJECTIONS."""
    projection = projection.lower()
    if projection not in PROJECTIONS:
        raise typer.BadParameter(
            f"must be one of {', '.join(PROJECTIONS)}; got '{projection}'.",
            param_hint="--projection",
        )
    return projection


def _fail(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=1)


def run_report(
    embeddings: Path,
    *,
    out: Path,
    metadata: Path | None = None,
    id_column: str | None = None,
    label: Sequence[str] = (),
    text_column: str | None = None,
    images: Path | None = None,
    duplicates: bool = True,
    familiarity: bool = True,
    projection: str | None = "umap",
    overwrite: bool = False,
    batch_size: int = 1024,
    duplicate_threshold: str = "auto",
    seed: int | None = 0,
) -> tuple[Any, Path]:
    """What ``deepview report`` does, as a function: returns ``(report, index.html path)``."""
    from deepview.introspectors import DatasetReport

    check_output(out, overwrite=overwrite)  # fail fast, before any work
    array, ids, labels = load_embeddings(embeddings, id_column)
    n = len(array)
    if n < 3:
        raise CliError(f"'{embeddings}' has {n} sample(s); a report needs at least 3.")
    paths = None
    texts = None
    if metadata is not None:
        ids, csv_labels, paths, texts = load_metadata(
            metadata, n=n, id_column=id_column, embedding_ids=ids, label_columns=label,
            text_column=text_column)
        labels = {**labels, **csv_labels}
    elif label:
        raise CliError("--label needs --metadata CSV (the labels come from its columns).")
    elif text_column is not None:
        if text_column not in labels:
            raise CliError(
                f"--text-column '{text_column}': the embeddings file has no such text column "
                f"(its non-numeric columns: {sorted(labels)[:20]}); pass --metadata CSV with "
                "that column."
            )
        texts = labels.pop(text_column)
    # a Parquet column named "text" is the samples' text too, never a label
    parquet_text = labels.pop(TEXT_COLUMN, None)
    if texts is None:
        texts = parquet_text
    if ids is not None and len(set(ids)) != len(ids):
        raise CliError("the sample ids must be unique.")
    image_root = None
    if images is not None:
        if ids is None:
            raise CliError("--images needs ids (a metadata CSV or an id column) to name files.")
        paths = image_paths(images, ids)
        image_root = images.resolve()
    config = make_config(duplicates=duplicates, familiarity=familiarity, projection=projection,
                         threshold=duplicate_threshold, seed=seed)
    producer = EmbeddingProducer(array, ids=ids, labels=labels, paths=paths, texts=texts)
    report = DatasetReport.introspect(producer, config=config, batch_size=batch_size)
    index = write_output(report, out, overwrite=overwrite, title=f"deepview: {embeddings.name}",
                         image_root=image_root)
    return report, index


# ------------------------------------------------------------------------------ commands
@app.command()
def report(
    embeddings: Annotated[Path, typer.Argument(
        help="Embeddings: .npy (N x D) or .parquet file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the report site.")],
    metadata: Annotated[Path | None, typer.Option(
        "--metadata", "-m", help="CSV with one row per sample: an id column and labels.")] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Id column in the CSV / Parquet file (default 'id').")] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", "-l", help="Label column of the CSV (repeat it; default: all other "
        "columns).")] = None,
    text_column: Annotated[str | None, typer.Option(
        "--text-column", help="Column of the CSV holding each sample's text (e.g. the "
        "embedded sentence), shown with the sample, not used as a label (default: a column "
        "named 'text', if any).")] = None,
    images: Annotated[Path | None, typer.Option(
        "--images", help="Folder holding the images named by the ids (thumbnails).")] = None,
    no_duplicates: Annotated[bool, typer.Option(
        "--no-duplicates", help="Skip near-duplicate detection.")] = False,
    no_familiarity: Annotated[bool, typer.Option(
        "--no-familiarity", help="Skip familiarity.")] = False,
    no_projection: Annotated[bool, typer.Option(
        "--no-projection", help="Skip the 2-D map.")] = False,
    projection: Annotated[str, typer.Option(
        "--projection", "-p", help="2-D projection: umap, pca, tsne or pacmap.")] = "umap",
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing --out folder.")] = False,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Samples per batch.")] = 1024,
    duplicate_threshold: Annotated[str, typer.Option(
        "--duplicate-threshold", help="Near-duplicate distance: 'auto' (0.3 of the median "
        "neighbour distance), 'slope', a percentile 'p99.5', 'relative:0.4' or a distance "
        "such as 0.05. Identical samples are always grouped.")] = "auto",
    seed: Annotated[int, typer.Option(
        "--seed", min=0, help="Seed of every random step (GMM, UMAP, t-SNE, PaCMAP): the "
        "same seed gives the same report.")] = 0,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bars (they are off anyway when the output is "
        "not a terminal).")] = False,
) -> None:
    """Build a dataset report from embeddings (+ metadata) and write it as a static site."""
    projection = _projection_name(projection)
    duplicate_threshold_strategy(duplicate_threshold)  # a usage error before any work
    if quiet:
        os.environ["DEEPVIEW_QUIET"] = "1"
    try:
        result, index = run_report(
            embeddings, out=out, metadata=metadata, id_column=id_column, label=label or (),
            text_column=text_column, images=images, duplicates=not no_duplicates,
            familiarity=not no_familiarity,
            projection=None if no_projection else projection, overwrite=overwrite,
            batch_size=batch_size, duplicate_threshold=duplicate_threshold, seed=seed,
        )
    except (CliError, DeepViewException, OSError) as exc:
        _fail(str(exc))
        return
    typer.echo("deepview report")
    for line in summary_lines(result.data, index):
        typer.echo(line)
    typer.echo(f"Open {index} in a browser.")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Output folder for the demo report.")] = Path("deepview-demo-report"),
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing --out folder.")] = False,
    projection: Annotated[str, typer.Option(
        "--projection", "-p", help="2-D projection: umap, pca, tsne or pacmap.")] = "umap",
) -> None:
    """Train a small CNN on scikit-learn's digits and write its dataset report."""
    from deepview._demo import run_demo

    projection = _projection_name(projection)
    try:
        index = run_demo(out, overwrite=overwrite, projection=projection)
    except (CliError, DeepViewException, OSError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"Demo report written. Open {index} in a browser.")


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (``deepview``)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    app(args=list(argv) if argv is not None else None, prog_name="deepview")


__all__ = ["CliError", "app", "main", "run_report"]
