"""The report's audit columns (label issues, leakage between splits) and the issues table."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepview._compute.audit import (
    Predictability,
    balance,
    label_issues,
    leaking_groups,
    split_pair_counts,
)
from deepview.exceptions import InvalidDataError, InvalidParameterError
from deepview.report import columns as col

logger = logging.getLogger(__name__)

_OWNER = "DatasetReport"
#: label dimensions with these names, or whose values all are split names, are split labels
SPLIT_NAMES = frozenset({"split", "subset", "fold", "partition"})
SPLIT_VALUES = frozenset({"train", "training", "test", "testing", "val", "valid",
                          "validation", "dev", "holdout", "eval", "evaluation"})
#: neighbours per sample that vote on its label
LABEL_NEIGHBOURS = 20
#: a label value is "thin" for the balance check below this share of the even share
THIN_SHARE = 0.5


def split_dimensions(labels: Mapping[str, Sequence[str]], chosen: Sequence[str] | None
                     ) -> list[str]:
    """The split label dimensions: ``chosen`` (checked), else detected by name or values."""
    if chosen is not None:
        missing = [d for d in chosen if d not in labels]
        if missing:
            raise InvalidParameterError(
                f"{_OWNER}: split label(s) {missing} are not label dimensions of the producer; "
                f"its label dimensions are {sorted(labels)}.")
        return list(chosen)
    found = []
    for dim, values in labels.items():
        distinct = {str(v).strip().lower() for v in set(values)} - {""}
        if str(dim).lower() in SPLIT_NAMES or (len(distinct) >= 2 and distinct <= SPLIT_VALUES):
            found.append(dim)
    return found


#: rows per block of the label-issue computation
BLOCK_ROWS = 65536


def label_categorical(series: pd.Series) -> Any:
    """A label column as a ``Categorical`` of ``str`` with ``""`` for missing, read from the codes
    when the column is categorical (no Python ``str`` per row)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categorical = series.array
        names = [str(c) for c in categorical.categories]
        if len(set(names)) == len(names):
            codes = np.asarray(categorical.codes, dtype=np.int64)
            if (codes < 0).any():
                if "" not in names:
                    names.append("")
                codes = np.where(codes < 0, names.index(""), codes)
            return pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object))
    return pd.Categorical(series.astype(str).where(series.notna(), ""))


def label_codes(values: Any) -> tuple[np.ndarray, list[str]]:
    """The report's one label coding: integer codes (-1 where the label is missing: None, NaN
    or "") and the sorted distinct values (str).  A sorted ``pandas.Categorical`` with every
    category used and none missing keeps its own codes (1-4 bytes per sample)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        values = values.array  # a categorical column: its codes, no str per row
    if not isinstance(values, pd.Categorical):
        text = pd.Series(np.asarray(values, dtype=object), dtype=object)
        values = pd.Categorical(text.where(text.notna(), "").astype(str).to_numpy(dtype=object))
    categories = [str(c) for c in values.categories]
    codes = np.asarray(values.codes)
    present = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
    uniques = sorted({c for c, p in zip(categories, present) if p} - {""})
    if uniques == categories and not (codes < 0).any():
        return codes, uniques
    position = {v: k for k, v in enumerate(uniques)}
    lut = np.array([position.get(c, -1) for c in categories] + [-1], dtype=np.int32)
    return lut[codes], uniques


def _aligned_predictions(table: Any, dim: str, classes: list[str], ids: Sequence[str]
                         ) -> np.ndarray:
    frame = pd.DataFrame(table)
    if "id" in frame.columns:
        frame = frame.set_index(frame["id"].astype(str)).drop(columns="id")
        missing_ids = [i for i in ids if i not in frame.index]
        if missing_ids:
            raise InvalidDataError(
                f"{_OWNER}: predictions for '{dim}' lack {len(missing_ids)} sample id(s), e.g. "
                f"{missing_ids[:3]}; give one row per sample.")
        frame = frame.loc[list(ids)]
    elif len(frame) != len(ids):
        raise InvalidDataError(
            f"{_OWNER}: predictions for '{dim}' have {len(frame)} rows for {len(ids)} samples; "
            "give one row per sample in producer order, or an 'id' column.")
    frame.columns = [str(c) for c in frame.columns]
    missing = [c for c in classes if c not in frame.columns]
    extra = [c for c in frame.columns if c not in classes]
    if missing or extra:
        raise InvalidDataError(
            f"{_OWNER}: predictions for '{dim}' need one column per label value {classes}; "
            f"missing {missing}, unknown {extra}.")
    probs = frame[classes].to_numpy(dtype=np.float64)
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise InvalidDataError(
            f"{_OWNER}: predictions for '{dim}' must be finite, non-negative probabilities.")
    sums = probs.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        raise InvalidDataError(f"{_OWNER}: predictions for '{dim}' have rows that sum to 0.")
    return probs / sums


def check_predictions(predictions: Any, labels: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """``predictions`` as ``{label dimension: table}`` (a bare table: the one non-split label)."""
    if predictions is None:
        return {}
    if isinstance(predictions, Mapping) and not isinstance(predictions, pd.DataFrame):
        unknown = [d for d in predictions if d not in labels]
        if unknown:
            raise InvalidParameterError(
                f"{_OWNER}: predictions for {unknown}, which are not label dimensions of the "
                f"producer ({sorted(labels)}).")
        return dict(predictions)
    candidates = [d for d in labels if d not in split_dimensions(labels, None)]
    if len(candidates) != 1:
        raise InvalidParameterError(
            f"{_OWNER}: 'predictions' is one table but the producer has label dimensions "
            f"{sorted(labels)}; pass {{dimension: table}}.")
    return {candidates[0]: predictions}


def label_issue_columns(neighbours: np.ndarray, name: str,
                        labels: Mapping[str, Sequence[str]], splits: Sequence[str],
                        predictions: Mapping[str, Any], ids: Sequence[str],
                        notes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The three label-issue columns per non-split label with two or more values; ``notes``
    gets how well the evidence predicts each label (:func:`label_note`)."""
    import pyarrow as pa

    columns: dict[str, Any] = {}
    for dim, values in labels.items():
        if dim in splits:
            continue
        codes, classes = label_codes(values)
        if len(classes) < 2:
            logger.info("%s: label '%s' has fewer than two values; no label issues.", _OWNER, dim)
            continue
        given = (_aligned_predictions(predictions[dim], dim, classes, ids)
                 if dim in predictions else None)

        issues = label_issues(neighbours, codes, len(classes), predictions=given,
                              with_self=True, block_rows=BLOCK_ROWS)
        # the suggested values as Arrow strings, taken from the value names (no str per row)
        names = pa.array([*classes, ""], type=pa.large_string())
        missing = np.where(issues.suspected < 0, len(classes), issues.suspected)
        columns[col.label_issue(name, dim)] = issues.score
        columns[col.label_issue_flag(name, dim)] = issues.flag
        if notes is not None and issues.predictability is not None:
            notes[col.label_issue_flag(name, dim)] = label_note(
                issues.predictability, classes, evidence="neighbours" if given is None
                else "neighbours and predictions")
        columns[col.label_issue_suggested(name, dim)] = pd.array(
            names.take(pa.array(missing)).to_pandas(), dtype="str")
    return columns


def label_note(found: Predictability, classes: Sequence[str], *, evidence: str
               ) -> dict[str, Any]:
    """``DatasetReport.audit_notes`` entry of a label-issue check."""
    return {"check": "label issues", "evidence": evidence,
            "agreement": round(found.agreement, 4), "chance": round(found.chance, 4),
            "lift": round(found.lift, 4), "predictable": found.predictable,
            "unpredictable": [c for c, ok in zip(classes, found.classes) if not ok]}


def _label_issue_detail(dim: str, note: Mapping[str, Any] | None, flagged: int,
                        labelled: int) -> tuple[str, bool]:
    """The label-issue row's detail, and whether the check applied."""
    if not note:
        return f"{flagged} of {labelled} labelled samples", True
    agreement = (f"{note.get('evidence', 'neighbours')} agree with it "
                 f"{float(note['agreement']):.2f}, {float(note['chance']):.2f} by chance")
    if not note.get("predictable", True):
        return (f"not measured: '{dim}' is not predictable from the responses ({agreement}); "
                "no sample is flagged"), False
    unpredictable = [str(c) for c in note.get("unpredictable") or []]
    rest = f"; never suggested (not predictable): {_listed(unpredictable)}" if unpredictable \
        else ""
    return f"{flagged} of {labelled} labelled samples ({agreement}){rest}", True


def _listed(items: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` items, then how many more."""
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" and {more:,} more" if more > 0 else "")


def leakage_columns(groups: np.ndarray, name: str, labels: Mapping[str, Sequence[str]],
                    splits: Sequence[str]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for dim in splits:
        codes, _ = label_codes(labels[dim])
        leaks = leaking_groups(groups, codes)
        columns[col.leakage(name, dim)] = leaks
        columns[col.leakage_flag(name, dim)] = leaks >= 0
    return columns


SPLIT_ORDER = {"train": 0, "training": 0, "val": 1, "valid": 1, "validation": 1, "dev": 1}


def train_first(pair: dict[str, Any]) -> dict[str, Any]:
    """``train/test`` rather than ``test/train``."""
    rank = [SPLIT_ORDER.get(str(pair[k]).lower(), 2) for k in ("a", "b")]
    if rank[1] < rank[0]:
        return {"a": pair["b"], "b": pair["a"], "groups": pair["groups"],
                "samples_a": pair["samples_b"], "samples_b": pair["samples_a"]}
    return pair


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _row(issue: str, response: str, label: str, flagged: Any, score: Any,
         detail: str) -> dict[str, Any]:
    return {"issue": issue, "response": response, "label": label, "flagged": flagged,
            "score": score, "detail": detail}


def as_mapping(cell: Any) -> Mapping[str, Any]:
    """A split-familiarity cell as a dict: dict, JSON text or Arrow map (list of pairs)."""
    if isinstance(cell, Mapping):
        return cell
    if isinstance(cell, str):
        try:
            loaded = json.loads(cell)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    if isinstance(cell, (list, tuple, np.ndarray)):
        try:
            return {str(k): v for k, v in cell}
        except (TypeError, ValueError):
            return {}
    return {}


def split_model_values(column: pd.Series) -> list[str]:
    """The label values with a split-familiarity model, sorted (a struct's fields)."""
    if isinstance(column.dtype, pd.ArrowDtype):
        import pyarrow as pa

        kind = column.dtype.pyarrow_dtype
        if pa.types.is_struct(kind):
            return sorted(kind.field(j).name for j in range(kind.num_fields))
    return sorted({str(k) for c in column.to_numpy(dtype=object) for k in as_mapping(c)})


@dataclasses.dataclass(frozen=True)
class Audited:
    """What every check reads: the report's table, its label and split dimensions and the
    notes of the checks that ran while it was built (``DatasetReport.audit_notes``)."""

    data: pd.DataFrame
    labels: Sequence[str]
    splits: Sequence[str]
    notes: Mapping[str, Mapping[str, Any]]

    def columns_of(self, kind: str) -> list[tuple[str, col.Column]]:
        """The table's columns of one kind (:mod:`~deepview.report.columns`), with what their
        names say."""
        return [(str(name), c) for name in self.data.columns
                if (c := col.parse(str(name))) is not None and c.kind == kind]

    def responses(self, kind: str) -> list[str]:
        return [c.response for _, c in self.columns_of(kind)]


class Check:
    """One check of the audit: from the report's columns, its rows of
    ``DatasetReport.issues()`` (which the CLI prints and the site shows)."""

    def rows(self, a: Audited) -> list[dict[str, Any]]:
        raise NotImplementedError


class DuplicatesCheck(Check):
    """Exact and near duplicates per response."""

    def rows(self, a: Audited) -> list[dict[str, Any]]:
        out, n = [], len(a.data)
        for r in a.responses(col.DUPLICATES):
            group = a.data[col.duplicates(r)].to_numpy()
            exact = (a.data[col.duplicates_exact(r)].to_numpy(dtype=bool)
                     if col.duplicates_exact(r) in a.data else np.zeros(n, dtype=bool))
            member = group >= 0
            exact_groups = len(np.unique(group[member & exact]))
            near_groups = len(np.unique(group[member & ~exact]))
            out.append(_row("exact duplicates", r, "", int((member & exact).sum()),
                            1 - (member & exact).sum() / n,
                            f"{_count(exact_groups, 'group')} holding identical samples; "
                            f"{int(member.sum()) - len(np.unique(group[member])):,} samples "
                            "would go if every duplicate group (exact or near) kept one"))
            out.append(_row("near duplicates", r, "", int((member & ~exact).sum()),
                            1 - (member & ~exact).sum() / n,
                            f"{_count(near_groups, 'group')} holding samples with no "
                            "identical copy, only close ones"))
        return out


#: a cluster of the map whose samples are at least this share duplicates is an issue
DUPLICATE_CLUSTER_SHARE = 0.5


class DuplicateClustersCheck(Check):
    """The map's clusters made mostly of duplicates (a row only where there is one)."""

    def rows(self, a: Audited) -> list[dict[str, Any]]:
        out = []
        for r in a.responses(col.CLUSTER):
            if col.duplicates(r) not in a.data:
                continue
            clusters = a.data[col.cluster(r)]
            member = pd.Series(a.data[col.duplicates(r)].to_numpy() >= 0, index=clusters.index)
            shares = member.groupby(clusters.astype(object), observed=True).agg(["mean", "size"])
            found = shares[shares["mean"] >= DUPLICATE_CLUSTER_SHARE].sort_values(
                ["size"], ascending=False, kind="stable")
            if found.empty:
                continue
            flagged = int(found["size"].sum())
            out.append(_row("duplicate clusters", r, "", flagged, 1 - flagged / len(clusters),
                            "clusters of the map made mostly of duplicates: " + _listed(
                                [f"'{name}' ({int(row['size']):,} samples, "
                                 f"{row['mean']:.0%} duplicates)"
                                 for name, row in found.iterrows()])))
        return out


class LeakageCheck(Check):
    """Duplicate groups that span two values of a split label."""

    def rows(self, a: Audited) -> list[dict[str, Any]]:
        out, n, data = [], len(a.data), a.data
        leaks_of = a.columns_of(col.LEAKAGE)
        if a.splits and not a.responses(col.DUPLICATES):
            out.append(_row("leakage", "", ", ".join(a.splits), np.nan, np.nan,
                            "not measured: leaks are duplicates across splits, and the "
                            "duplicate search was off (ReportConfig.duplicates=None, CLI "
                            "--no-duplicates)"))
        for r in a.responses(col.DUPLICATES):
            for column, dim in [(name, str(c.detail)) for name, c in leaks_of if c.response == r]:
                leaks = data[column].to_numpy()
                codes, names = label_codes(label_categorical(data[dim]))
                pairs = [train_first(p) for p in split_pair_counts(leaks, codes, names)]
                detail = "; ".join(f"{p['a']}/{p['b']}: {_count(int(p['groups']), 'group')} "
                                   f"({p['samples_a']} {p['a']}, {p['samples_b']} {p['b']})"
                                   for p in pairs) or "no duplicate spans two splits"
                out.append(_row("leakage", r, dim, int((leaks >= 0).sum()),
                                1 - (leaks >= 0).sum() / n, detail))
            if not a.splits:
                out.append(_row("leakage", r, "", np.nan, np.nan,
                                "not measured: no split label (name one with split_labels=, "
                                "CLI --split-label)"))
        return out


class LabelIssuesCheck(Check):
    """Samples whose neighbours (and predictions) point at another value of their label."""

    def rows(self, a: Audited) -> list[dict[str, Any]]:
        out = []
        issue_columns = a.columns_of(col.LABEL_ISSUE_FLAG)
        for column, parsed in issue_columns:
            r, dim = parsed.response, str(parsed.detail)
            flags = a.data[column].to_numpy(dtype=bool)
            given = label_categorical(a.data[dim])
            labelled = int((~np.isin(given.codes, np.flatnonzero(given.categories == ""))).sum())
            detail, applies = _label_issue_detail(dim, a.notes.get(column),
                                                  int(flags.sum()), labelled)
            out.append(_row("label issues", r, dim, int(flags.sum()) if applies else np.nan,
                            1 - flags.sum() / max(labelled, 1) if applies else np.nan, detail))
        if not issue_columns:
            why = ("no label dimensions" if not a.labels else
                   "no label-issue columns (turned off with label_issues=False / "
                   "--no-label-issues, or no label dimension with two or more values outside "
                   "the split labels)")
            out.append(_row("label issues", "", "", np.nan, np.nan, f"not measured: {why}"))
        return out


class BalanceCheck(Check):
    """Per label (not a split label): values below half the even share ("imbalance") and
    values too small for a familiarity model of their own ("thin labels")."""

    def rows(self, a: Audited) -> list[dict[str, Any]]:
        out, data = [], a.data
        for dim in [d for d in a.labels if d not in a.splits]:  # splits are uneven
            counts = pd.Series(label_categorical(data[dim])).value_counts()
            counts = counts[(counts > 0) & (counts.index.astype(str) != "")]
            counts.index = counts.index.astype(str)
            even = counts.sum() / max(len(counts), 1)
            if len(counts) < 2 or (len(counts) > 2 and even < 2):
                why = ("one value only: balance not defined" if len(counts) < 2 else
                       f"'{dim}' has {len(counts):,} values for {int(counts.sum()):,} samples, "
                       "mostly one each (an identifier or free text, not classes)")
                out.append(_row("imbalance", "", dim, np.nan, np.nan, f"not measured: {why}"))
                continue
            thin = counts[counts < THIN_SHARE * even]
            out.append(_row("imbalance", "", dim, len(thin), balance(counts.to_numpy()),
                            f"{len(counts)} values; below half the even share of {even:,.0f}: "
                            + _listed([f"{k} ({v})" for k, v in thin.items()]) if len(thin)
                            else f"{len(counts)} values, none below half the even share of "
                            f"{even:,.0f}"))
            split_models = [name for name, c in a.columns_of(col.SPLIT_FAMILIARITY)
                            if c.detail == dim]
            if split_models:
                modelled = split_model_values(data[split_models[0]])
                few = counts[~counts.index.isin(list(modelled))]
                out.append(_row("thin labels", "", dim, len(few),
                                1 - few.sum() / max(counts.sum(), 1),
                                ("too few samples for an own familiarity model: " +
                                 _listed([f"{k} ({v})" for k, v in few.items()]))
                                if len(few) else "every value has its own familiarity model"))
        if not a.labels:
            out.append(_row("imbalance", "", "", np.nan, np.nan, "not measured: no labels"))
        return out


#: the audit's checks, in the order of their rows
CHECKS: tuple[Check, ...] = (DuplicatesCheck(), DuplicateClustersCheck(), LeakageCheck(),
                             LabelIssuesCheck(), BalanceCheck())


def issues_table(data: pd.DataFrame, label_columns: Sequence[str], split_columns: Sequence[str],
                 notes: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One row per issue type (and response / label), from :data:`CHECKS`: see
    ``DatasetReport.issues``."""
    audited = Audited(data, list(label_columns), list(split_columns), notes or {})
    rows = [row for check in CHECKS for row in check.rows(audited)]
    table = pd.DataFrame(rows, columns=["issue", "response", "label", "flagged", "score",
                                        "detail"])
    table["flagged"] = table["flagged"].astype("Int64")
    table["score"] = table["score"].astype(np.float64)
    return table


# --------------------------------------------------------------------------------------------
# reading a report table's columns (any table: a column of the wrong type is left out)


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def numeric(column: pd.Series) -> np.ndarray:
    """A column as float64 (NaN where missing or not a number)."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def is_texty(column: pd.Series) -> bool:
    return bool(
        isinstance(column.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(column.dtype)
        or pd.api.types.is_bool_dtype(column.dtype)
        or pd.api.types.is_object_dtype(column.dtype)
    )


def has_containers(series: pd.Series) -> bool:
    return any(isinstance(v, (Mapping, list, tuple, np.ndarray)) for v in series.iloc[:100])


def is_struct(series: pd.Series) -> bool:
    import pyarrow as pa

    return isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_struct(
        series.dtype.pyarrow_dtype)


def column_ok(kind: str, series: pd.Series) -> bool:
    """Whether an audit column of ``kind`` has the type the audit reads (else it is shown as a
    plain column, never as a label)."""
    if kind in (col.LABEL_ISSUE, col.LEAKAGE):
        return bool(pd.api.types.is_numeric_dtype(series.dtype)
                    and not pd.api.types.is_bool_dtype(series.dtype))
    if kind in (col.LABEL_ISSUE_FLAG, col.LEAKAGE_FLAG):
        return bool(pd.api.types.is_bool_dtype(series.dtype)
                    or pd.api.types.is_numeric_dtype(series.dtype))
    return is_texty(series) and not has_containers(series)


def flags(series: pd.Series) -> np.ndarray:
    """A flag column as int8 0/1 (missing: 0)."""
    return (np.nan_to_num(numeric(series.astype("float64") if pd.api.types.is_bool_dtype(
        series.dtype) else series), nan=0.0) != 0).astype(np.int8)


def group_numbers(series: pd.Series) -> np.ndarray:
    """A group-number column as int32 (missing or negative: -1)."""
    values = np.nan_to_num(numeric(series), nan=-1.0)
    return np.where(values >= 0, values, -1).astype(np.int32)


def exact_flags(column: pd.Series) -> np.ndarray:
    """``duplicatesExact_<R>`` as int8 per row: 1 exact group, 0 near group, -1 unknown."""
    if pd.api.types.is_bool_dtype(column.dtype) and not column.hasnans:
        return column.to_numpy(dtype=bool).astype(np.int8)
    values = column.to_numpy(dtype=object)
    out = np.full(len(values), -1, dtype=np.int8)
    for row, value in enumerate(values):
        if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating)) and not (
            is_missing(value) or (isinstance(value, np.floating) and np.isnan(value))
        ):
            out[row] = 1 if value else 0
    return out


def issues_of(data: pd.DataFrame, notes: Mapping[str, Mapping[str, Any]] | None = None
              ) -> pd.DataFrame:
    """``DatasetReport.issues()`` of the report table ``data`` (and its ``notes``), read by the
    CLI and the site alike: its label and split dimensions found once, columns of the wrong
    type left out, so any table gives a table."""
    labels = [c for c in col.label_columns(data.columns)
              if is_texty(data[c]) and not has_containers(data[c])]
    kept: dict[str, Any] = {}
    distinct: dict[str, list[str]] = {}
    for dim in labels:  # categorical codes: the checks read them, no str per row
        codes, values = label_codes(data[dim])
        distinct[dim] = values
        kept[dim] = pd.Series(pd.Categorical.from_codes(
            codes, categories=pd.Index(values, dtype=object)), index=data.index)
    leak_dims: set[str] = set()
    for name in data.columns:
        c = col.parse(str(name))
        if c is None:
            continue
        series = data[name]
        if c.kind == col.DUPLICATES and pd.api.types.is_numeric_dtype(series.dtype):
            kept[name] = group_numbers(series)
        elif c.kind == col.DUPLICATES_EXACT:
            kept[name] = exact_flags(series) == 1
        elif c.kind == col.LEAKAGE and c.detail in labels and column_ok(c.kind, series):
            kept[name] = group_numbers(series)
            leak_dims.add(str(c.detail))
        elif c.kind == col.LABEL_ISSUE_FLAG and c.detail in labels and column_ok(c.kind,
                                                                                series):
            kept[name] = flags(series).astype(bool)
        elif c.kind == col.CLUSTER and name not in labels and is_texty(series):
            kept[name] = series
        elif c.kind == col.SPLIT_FAMILIARITY and c.detail in labels:
            # the checks read only which values have a model (a struct column's field names);
            # other columns: one row names them
            if is_struct(series):
                kept[name] = series
            else:
                modelled = {k: 0.0 for k in split_model_values(series)}
                kept[name] = [modelled] + [None] * (len(data) - 1)
    frame = pd.DataFrame(kept, index=data.index)
    splits = sorted(leak_dims) or split_dimensions(distinct, None)  # reads values only
    return issues_table(frame, labels, splits, notes=notes)
