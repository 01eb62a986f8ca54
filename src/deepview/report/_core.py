"""DatasetReport: duplicates, familiarity and a 2-D projection of a dataset, in one table."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from deepview._compute.spill import Workspace, take
from deepview._progress import progress_disabled
from deepview._validation import check_batch_size
from deepview.base import Producer
from deepview.exceptions import InvalidDataError, InvalidTypeError
from deepview.report import _analysis as analysis
from deepview.report import _audit as audit
from deepview.report import _clusters as clusters
from deepview.report import _ray as ray_engine
from deepview.report import columns as col
from deepview.report._collect import Collected, collect
from deepview.report._config import ReportConfig
from deepview.report._persist import read_report, write_report
from deepview.report._site import notebook_html, site_neighbours, write_site

logger = logging.getLogger(__name__)

__all__ = ["DatasetReport"]

_OWNER = "DatasetReport"


@dataclasses.dataclass(frozen=True)
class DatasetReport:
    """A table describing every sample of a dataset: labels, near-duplicate groups,
    familiarity (overall and per label value), a 2-D projection and the audit columns.

    Build one with :meth:`introspect` (or :meth:`from_disk`), read :attr:`data`, save it with
    :meth:`to_disk` and explore it with :meth:`export_site` (or inline in Jupyter).  The
    producer's batches hold 2-D response fields and, as metadata, ``Batch.StdKeys.IDENTIFIER``
    and optional ``LABELS``, ``PATH`` and ``TEXT``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per sample, in producer order: ``id``, one ``category`` column per label,
        ``filename`` / ``path`` / ``text`` when given, then the component columns
        (``duplicates_R``, ``familiarity_R``, ``labelIssue_R_byAttr_<dim>`` ...; ``R`` = the
        response name) listed in the DatasetReport guide.

    Examples
    --------
    >>> import numpy as np
    >>> from deepview.base import ArrayProducer
    >>> from deepview.introspectors import DimensionReduction
    >>> from deepview.report import DatasetReport, ReportConfig
    >>> producer = ArrayProducer(np.random.default_rng(0).normal(size=(300, 8)),
    ...                          labels={"class": ["a", "b", "c"] * 100})
    >>> config = ReportConfig(projection=DimensionReduction.Strategy.PCA(2))
    >>> report = DatasetReport.introspect(producer, config=config)
    >>> report.data[["id", "class", "familiarity_responses"]].shape
    (300, 3)
    """

    data: pd.DataFrame
    #: per response: each sample's nearest samples, ``(n, 8)`` int32 rows and float32 distances
    neighbours: Mapping[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False)
    #: per audit column: what its check measured (e.g. whether the label is predictable)
    audit_notes: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, pd.DataFrame):
            raise InvalidTypeError(
                f"{_OWNER}: 'data' must be a pandas DataFrame; got {type(self.data).__name__}. "
                "Build reports with DatasetReport.introspect(producer).")

    @staticmethod
    def introspect(producer: Producer, *, config: ReportConfig | None = None,
                   batch_size: int = 1024, predictions: Any = None) -> DatasetReport:
        """Build every configured component from ``producer`` (read exactly once).

        Parameters
        ----------
        producer : Producer
            Batches of 2-D response fields with identifier/label/path/text metadata.
        config : ReportConfig, optional
            Components and strategies; default ``ReportConfig()``.
        batch_size : int, default=1024
            Samples per batch when reading the producer and in every component.
        predictions : Mapping[str, pandas.DataFrame] or pandas.DataFrame, optional
            A model's out-of-sample class probabilities, ``{label dimension: table}`` with one
            column per label value and one row per sample (in producer order, or matched by an
            ``id`` column); a bare table is for the only non-split label.  The label-issue scores
            average the neighbours' votes with them.

        Returns
        -------
        DatasetReport

        Raises
        ------
        InvalidDataError
            Fewer than 3 samples; a field that is not 2-D or holds NaN/inf; batches that
            disagree on fields, sizes, label dimensions or on having ids/paths; repeated ids.
        InvalidTypeError
            ``config`` is not a :class:`ReportConfig`.
        """
        if config is None:
            config = ReportConfig()
        if not isinstance(config, ReportConfig):
            raise InvalidTypeError(
                f"{_OWNER}.introspect: 'config' must be a ReportConfig or None; got "
                f"{type(config).__name__}.")
        batch_size = check_batch_size(batch_size, owner=f"{_OWNER}.introspect")
        with tempfile.TemporaryDirectory(prefix="deepview-report-",
                                         ignore_cleanup_errors=True) as tmp:
            with tqdm(desc=f"{_OWNER}: reading responses", unit=" samples",
                      disable=progress_disabled()) as bar:
                if ray_engine.is_ray_input(producer):  # per-row passes on the cluster
                    collected = ray_engine.collect(producer, config=config,
                                                   batch_size=batch_size,
                                                   cache_dir=Path(tmp), progress=bar)
                else:
                    collected = collect(producer, batch_size=batch_size, cache_dir=Path(tmp),
                                        progress=bar)
            work = Workspace(tmp)
            work.trim()  # what the caller's inputs and the pass over them left freed
            try:
                chosen = audit.check_predictions(predictions, collected.labels)
                near: dict[str, Any] = {}
                notes: dict[str, Any] = {}
                columns = _build_columns(collected, config, batch_size, chosen, work,
                                         neighbours=near, notes=notes)
            finally:
                collected.fields.clear()  # drop the cached fields before their files go
        # one block per column: no copy of the same-dtype ones into one block
        table = pd.DataFrame(columns, copy=False)
        del columns
        work.trim()
        return DatasetReport(table, neighbours=near, audit_notes=notes)

    def to_disk(self, directory: str | Path = "./report_save", *, overwrite: bool = False) -> Path:
        """Save as Parquet + JSON in ``directory`` (no pickle), written atomically.

        Raises
        ------
        FileExistsError
            ``directory`` exists and ``overwrite`` is False.
        """
        return write_report(self.data, Path(directory), overwrite=overwrite,
                            neighbours=self.neighbours, notes=self.audit_notes)

    @staticmethod
    def from_disk(directory: str | Path) -> DatasetReport:
        """Load a report saved with :meth:`to_disk`, or the one in a site folder written by
        ``deepview report --out DIR``.

        Raises
        ------
        FileNotFoundError
            ``directory`` or its files are missing.
        InvalidDataError
            The files are damaged or have an unsupported ``format_version``.
        """
        data, neighbours, notes = read_report(Path(directory))
        return DatasetReport(data, neighbours=neighbours, audit_notes=notes)

    def export_site(self, directory: str | Path, *, overwrite: bool = False,
                    title: str = "deepview report", image_root: str | Path | None = None
                    ) -> Path:
        """Write the interactive static site; returns the path of its ``index.html``.

        Parameters
        ----------
        directory : str or pathlib.Path
            Output folder (created; replaced only with ``overwrite=True``).
        overwrite : bool, default=False
            Replace an existing site in ``directory``.
        title : str, default="deepview report"
            Page title.
        image_root : str or pathlib.Path, optional
            Folder that relative image ids (or ``path`` values) are relative to; default the
            working directory.
        """
        return Path(write_site(self.data, Path(directory), title=title, overwrite=overwrite,
                               image_root=image_root, neighbours=self.neighbours,
                               notes=self.audit_notes))

    def issues(self) -> pd.DataFrame:
        """The audit table: one row per issue type (per response and label dimension).

        Returns
        -------
        pandas.DataFrame
            Columns ``issue``, ``response``, ``label``, ``flagged`` (samples; label values for
            ``imbalance`` and ``thin labels``), ``score`` (1 = looked for and not found, 0 = every
            sample affected, NaN = not measured) and ``detail``.
        """
        return audit.issues_of(self.data, self.audit_notes)

    def _repr_html_(self) -> str:
        """The site inline in Jupyter (a fixed random sample of 2000 rows at most)."""
        return str(notebook_html(self.data, notes=self.audit_notes))

    def __repr__(self) -> str:
        return f"DatasetReport(rows={len(self.data)}, columns={list(self.data.columns)})"


def _summary_columns(collected: Collected) -> dict[str, Any]:
    columns: dict[str, Any] = {col.ID: collected.ids, **collected.labels}
    if collected.filenames is not None:
        columns[col.FILENAME] = collected.filenames
    if collected.paths is not None:
        columns[col.PATH] = collected.paths
    if collected.texts is not None:
        columns[col.TEXT] = collected.texts
    return columns


#: a label with more distinct values than this does not stratify the projection's sample
_MAX_STRATA = 1000


def _strata(labels: Mapping[str, Any], splits: list[str]) -> np.ndarray | None:
    """Codes of the first non-split label with 2 to 1000 values (stratifies the projection)."""
    for dim, values in labels.items():
        if dim in splits:
            continue
        codes, uniques = audit.label_codes(values)
        if 2 <= len(uniques) <= _MAX_STRATA:
            return codes
    return None


def _build_columns(collected: Collected, config: ReportConfig, batch_size: int,
                   predictions: Mapping[str, Any] | None = None, work: Workspace | None = None,
                   neighbours: dict[str, Any] | None = None,
                   notes: dict[str, Any] | None = None) -> dict[str, Any]:
    summary = _summary_columns(collected)
    for option in ("dim_reduction", "projection"):
        value = getattr(config, option)
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(collected.fields))
            if unknown:
                raise InvalidDataError(
                    f"{_OWNER}: ReportConfig.{option} names field(s) {unknown} that the "
                    f"producer does not yield; its fields are {sorted(collected.fields)}.")
    parts = _Parts()
    splits = audit.split_dimensions(collected.labels, config.split_labels)
    if not config.use_dim_reduction:
        return summary
    issue_labels = config.label_issues and any(d not in splits for d in collected.labels)
    split_models = (analysis.count_split_models(collected.labels, config.split_familiarity_min)
                    if config.familiarity is not None else 0)
    per_field = 1 + sum(c is not None for c in (config.duplicates, config.projection,
                                                  config.familiarity))
    with tqdm(total=len(collected.fields) * (per_field + split_models), desc=_OWNER,
              unit=" steps", disable=progress_disabled()) as bar:
        for number, field in enumerate(list(collected.fields)):
            with (work or Workspace()).scratch(f"field{number}-") as scratch:
                _field_columns(collected, config, batch_size, predictions or {}, field,
                               collected.column_names[field], splits, bool(issue_labels),
                               scratch, bar, parts)
    if neighbours is not None:
        neighbours.update(parts.neighbours)
    if notes is not None:
        notes.update(parts.notes)
    return {**summary, **parts.duplicates, **parts.projection, **parts.familiarity,
            **parts.split, **parts.audited}


@dataclasses.dataclass
class _Parts:
    """The component columns of every field, in the report's column order."""

    duplicates: dict[str, Any] = dataclasses.field(default_factory=dict)
    projection: dict[str, Any] = dataclasses.field(default_factory=dict)
    familiarity: dict[str, Any] = dataclasses.field(default_factory=dict)
    split: dict[str, Any] = dataclasses.field(default_factory=dict)
    audited: dict[str, Any] = dataclasses.field(default_factory=dict)
    neighbours: dict[str, Any] = dataclasses.field(default_factory=dict)  # site details
    notes: dict[str, Any] = dataclasses.field(default_factory=dict)  # DatasetReport.audit_notes


def _field_columns(collected: Collected, config: ReportConfig, batch_size: int,
                   predictions: Mapping[str, Any], field: str, name: str,
                   splits: list[str], issue_labels: bool, work: Workspace, bar: Any,
                   parts: _Parts) -> None:
    """Every component's columns of one field, added to ``parts``: the stages reduce, graph,
    duplicates, projection and clusters, graph readers, split familiarity in a line, their
    large arrays in ``work``, its heap trimmed between them."""
    bar.set_description(f"{_OWNER} [{name}]: reducing")
    raw = collected.fields.pop(field)
    reduced = getattr(raw, "prereduced", None)  # reduced on a Ray cluster
    if reduced is None:
        reduced = analysis.reduce_field(raw, field, config, batch_size=batch_size, work=work)
    bar.update(1)
    strategy = analysis.seeded(analysis.strategy_for(config.projection, field), config.seed)
    graph = None
    width = 1 + max(audit.LABEL_NEIGHBOURS, analysis.DUPLICATE_CANDIDATES
                    if config.duplicates is not None else 0)
    if (config.duplicates is not None or config.familiarity is not None or issue_labels
            or analysis.projects_on_graph(strategy, len(reduced.values), width)):
        bar.set_description(f"{_OWNER} [{name}]: neighbours")  # one graph for all of them
        graph = analysis.neighbours(reduced.values, width, seed=config.seed)
    kept = audit.LABEL_NEIGHBOURS + 1  # what the graph's other readers take: it is cut to that
    reps = None  # each row's first identical copy: copies are projected once
    if config.duplicates is not None and graph is not None:
        bar.set_description(f"{_OWNER} [{name}]: duplicates")
        candidates = graph[0]
        parked = work.park("graph-distances.npy", graph[1][:, :kept], np.float32)
        del graph  # the distances wait on disk while the duplicates run
        groups, exact = analysis.find_duplicates(raw, candidates, config.duplicates_threshold,
                                                  work=work)
        graph = (candidates[:, :kept].copy(), parked())
        del candidates, parked
        parts.duplicates[col.duplicates(name)] = groups
        parts.duplicates[col.duplicates_exact(name)] = exact
        parts.audited.update(audit.leakage_columns(groups, name, collected.labels, splits))
        if strategy is not None:
            reps = analysis.copy_representatives(raw, exact)
        work.trim()
        bar.update(1)
    del raw
    if strategy is not None:
        bar.set_description(f"{_OWNER} [{name}]: projection")
        xy = _projection(reduced.values, field, strategy, config, batch_size,
                         _strata(collected.labels, splits), graph, reps)
        x_column, y_column = col.projection(name)
        parts.projection[x_column] = xy[:, 0].astype(np.float64)
        parts.projection[y_column] = xy[:, 1].astype(np.float64)
        bar.set_description(f"{_OWNER} [{name}]: clusters")
        codes = clusters.find_clusters(xy, config.seed)
        del xy
        names = clusters.cluster_names(
            codes, texts=collected.texts, seed=config.seed,
            labels={d: v for d, v in collected.labels.items() if d not in splits})
        parts.projection[col.cluster(name)] = pd.Categorical.from_codes(
            codes, categories=pd.Index(names, dtype="str"))
        work.trim()
    if config.projection is not None:
        bar.update(1)
    if graph is not None:
        neighbours, distances = graph
        del graph
        if config.familiarity is not None:
            scores, percentiles = analysis.knn_familiarity(reduced, neighbours, distances)
            parts.familiarity[col.familiarity(name)] = scores
            parts.familiarity[col.familiarity_percentile(name)] = percentiles
            bar.update(1)
        if issue_labels:  # before split familiarity: its columns are the largest
            bar.set_description(f"{_OWNER} [{name}]: label issues")
            parts.audited.update(audit.label_issue_columns(
                neighbours, name, collected.labels, splits, predictions, collected.ids,
                notes=parts.notes))
        parts.neighbours[name] = site_neighbours(reduced.values, neighbours, distances,
                                                 work=work)
        del neighbours, distances
        work.trim()
    if config.familiarity is not None:
        bar.set_description(f"{_OWNER} [{name}]: split familiarity")
        by_label = analysis.split_familiarity(
            reduced, field, analysis.seeded(config.familiarity, config.seed), collected.labels,
            minimum=config.split_familiarity_min, batch_size=batch_size, progress=bar,
            work=work, seed=config.seed)
        for dim, values in by_label.items():
            parts.split[col.split_familiarity(name, dim)] = values
        work.trim()


#: the projection leaves identical copies out of its input up to this many rows
STACKED_FIT_ROWS = 200_000


def _projection(values: np.ndarray, field: str, strategy: Any, config: ReportConfig,
                batch_size: int, strata: np.ndarray | None,
                graph: tuple[np.ndarray, np.ndarray] | None, reps: np.ndarray | None
                ) -> np.ndarray:
    """The field's 2-D projection with identical vectors on one spot: up to
    :data:`STACKED_FIT_ROWS` rows each set is projected once (a copy of the distinct rows),
    above that every row is projected (the fit is a sample anyway) and the copies are moved
    onto their first row."""
    n = len(values)
    if reps is None or n > STACKED_FIT_ROWS:
        xy = analysis.project(values, field, strategy, batch_size=batch_size, strata=strata,
                              seed=config.seed, graph=graph)
        return xy if reps is None else xy[reps]
    unique = np.flatnonzero(reps == np.arange(n))
    if graph is not None:
        graph = analysis.representatives_graph(graph, reps, unique)
    xy = analysis.project(take(values, unique), field, strategy, batch_size=batch_size,
                          strata=None if strata is None else strata[unique], seed=config.seed,
                          graph=graph, represents=n)
    position = np.empty(n, dtype=np.int64)
    position[unique] = np.arange(len(unique))
    return xy[position[reps]]
