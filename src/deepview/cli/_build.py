"""What ``deepview report`` and ``deepview demo`` share: the report's configuration, the output
folder (site + saved report, written atomically) and the printed summary."""

from __future__ import annotations

import functools
import math
import shutil
import textwrap
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import typer

from deepview.cli._load import CliError
from deepview.report import columns
from deepview.report.files import SITE_INDEX, SITE_SUBDIR, is_report_folder, write_directory

__all__ = ["PROJECTIONS", "check_output", "check_split_labels", "duplicate_threshold_strategy",
           "issues_lines", "make_config", "summary_lines", "write_output"]

#: values of ``--projection``
PROJECTIONS = ("umap", "umap-full", "pca", "tsne", "pacmap")


def duplicate_threshold_strategy(value: str) -> Any:
    """The ``--duplicate-threshold`` strategy (auto, slope, pNN / NN%, relative:F, a distance)."""
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


def check_split_labels(split_labels: Sequence[str] | None, labels: Collection[str],
                       source: str) -> tuple[str, ...] | None:
    """The ``--split-label`` names (``None``: detected), each one of ``labels``."""
    if not split_labels:
        return None
    unknown = [s for s in split_labels if s not in labels]
    if unknown:
        raise CliError(f"--split-label {', '.join(repr(s) for s in unknown)}: no such label; "
                       f"the labels are {sorted(labels)[:20]} ({source}).")
    return tuple(dict.fromkeys(split_labels))


def make_config(*, duplicates: bool, familiarity: bool, projection: str | None,
                threshold: str = "auto", seed: int | None = 0, label_issues: bool = True,
                split_labels: Sequence[str] | None = None) -> Any:
    """ReportConfig for the switches (``projection=None``: none, ``split_labels=None``: found)."""
    from deepview.introspectors import DimensionReduction, Familiarity
    from deepview.report import ReportConfig

    strategies = DimensionReduction.Strategy
    factories: dict[str, Any] = {  # "umap": the report's default, fitted on a sample
        "umap": functools.partial(strategies.UMAP,
                                  max_fit_samples=ReportConfig.DEFAULT_UMAP_FIT_SAMPLES),
        "umap-full": strategies.UMAP, "pca": strategies.PCA, "tsne": strategies.TSNE,
        "pacmap": strategies.PaCMAP}
    return ReportConfig(
        projection=None if projection is None else factories[projection](2),
        duplicates=duplicate_threshold_strategy(threshold) if duplicates else None,
        familiarity=Familiarity.Strategy.GMM() if familiarity else None, seed=seed,
        label_issues=label_issues,
        split_labels=None if split_labels is None else tuple(split_labels))


def check_output(out: Path, *, overwrite: bool) -> None:
    """Refuse an existing output folder without ``--overwrite``, or one not a deepview output."""
    if not out.exists():
        return
    if not out.is_dir():
        raise CliError(f"--out '{out}' exists and is not a folder.")
    if not overwrite:
        raise CliError(f"output folder '{out}' already exists; pass --overwrite to replace it "
                       "or choose another --out.")
    if any(out.iterdir()) and not is_report_folder(out):
        raise CliError(f"output folder '{out}' is not empty and does not look like a deepview "
                       "report (no index.html); refusing to replace it even with --overwrite.")


def write_output(report: Any, out: Path, *, overwrite: bool, title: str,
                 image_root: Path | None = None, prepare: Any = None) -> Path:
    """Write site + saved report into ``out`` atomically; ``prepare(tmp)`` may add files first
    and return the folder the image ids are relative to."""
    def build(tmp: Path) -> None:
        root = image_root
        if prepare is not None:
            root = prepare(tmp) or root
        report.export_site(tmp, overwrite=True, title=title, image_root=root)
        report.to_disk(tmp / SITE_SUBDIR)

    check_output(out, overwrite=overwrite)
    write_directory(build, out, overwrite=overwrite, owner="deepview")
    return out / SITE_INDEX


def summary_lines(data: Any, index_html: Path) -> list[str]:
    """The table printed at the end of a run."""
    rows = [("rows", f"{len(data):,}")]
    parsed = {c: columns.parse(str(c)) for c in data.columns}
    for column, c in parsed.items():
        if c is None and column not in columns.RESERVED:  # a label dimension
            rows.append((f"label '{column}'", f"{data[column].nunique():,} values"))
    if columns.TEXT in data.columns:
        texts = int((data[columns.TEXT] != "").sum())
        rows.append(("text", f"{texts:,} samples with text"))
    for column, c in parsed.items():
        if c is None or c.kind != columns.DUPLICATES:
            continue
        member = (data[column] >= 0).to_numpy()
        exact_column = columns.duplicates_exact(c.response)
        exact = (data[exact_column].to_numpy() if exact_column in data
                 else np.zeros_like(member))
        for kind, rows_of in (("exact", member & exact), ("near", member & ~exact)):
            groups = data[column][rows_of]
            rows.append((f"{column} ({kind})",
                         f"{groups.nunique():,} groups, {len(groups):,} samples"))
    for column, c in parsed.items():
        if c is not None and c.kind == columns.FAMILIARITY:
            least = data.nsmallest(5, column)[columns.ID].tolist()
            rows.append((f"least familiar ({column})", ", ".join(map(str, least))))
    rows.append(("report", str(index_html)))
    width = max(len(key) for key, _ in rows)
    return [f"  {key:<{width}}  {value}" for key, value in rows]


def _cell(value: Any, *, score: bool = False) -> str:
    """A cell of the issues table (missing: "not measured" scores, "-" counts)."""
    try:
        missing = value is None or bool(value != value) or math.isnan(float(value))
    except (TypeError, ValueError):
        missing = False
    if score:
        return "not measured" if missing else f"{float(value):.3f}"
    if missing:
        return "-"
    return f"{int(value):,}" if isinstance(value, (int, np.integer)) else str(value)


def issues_lines(table: Any, width: int | None = None) -> list[str]:
    """``report.issues()`` as a fixed-width table, the detail wrapped to ``width``."""
    if width is None:
        width = max(100, shutil.get_terminal_size((100, 24)).columns)
    names = ["issue", "label", "flagged", "score"]
    if len({str(r) for r in table["response"] if r}) > 1:
        names.insert(1, "response")
    rows = [[_cell(row[c], score=c == "score") for c in names] for _, row in table.iterrows()]
    widths = [max([len(c), *(len(r[k]) for r in rows)]) for k, c in enumerate(names)]
    right = {"flagged", "score"}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if n in right else c.ljust(w)
                         for c, w, n in zip(cells, widths, names))

    indent = 2 + sum(widths) + 2 * len(widths)
    room = max(30, width - indent)
    out = ["  " + line(names) + "  detail", "  " + line(["-" * w for w in widths]) + "  " +
           "-" * min(room, 40)]
    for cells, detail in zip(rows, table["detail"].astype(str)):
        wrapped = textwrap.wrap(detail, room) or [""]
        out.append("  " + line(cells) + "  " + wrapped[0])
        out.extend(" " * indent + more for more in wrapped[1:])
    return out
