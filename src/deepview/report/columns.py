"""Column names of ``DatasetReport.data``, built and parsed here only (``R``: the response
name made safe by :func:`response_part`).

Examples
--------
>>> from deepview.report import columns
>>> columns.familiarity(columns.response_part("penultimate layer"))
'familiarity_penultimate_layer'
>>> columns.parse("splitFamiliarity_emb_byAttr_class")
Column(kind='splitFamiliarity', response='emb', detail='class')
>>> columns.parse("class") is None
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "CLUSTER", "DUPLICATES", "DUPLICATES_EXACT", "FAMILIARITY", "FAMILIARITY_PERCENTILE",
    "FILENAME", "ID", "LABEL_ISSUE", "LABEL_ISSUE_FLAG", "LABEL_ISSUE_SUGGESTED", "LEAKAGE",
    "LEAKAGE_FLAG", "PATH", "PROJECTION", "RESERVED", "SPLIT_FAMILIARITY", "TEXT", "Column",
    "cluster", "duplicates", "duplicates_exact", "familiarity", "familiarity_percentile",
    "label_columns", "label_issue", "label_issue_flag", "label_issue_suggested", "leakage",
    "leakage_flag", "parse", "projection", "response_part", "split_familiarity",
]

#: ``str(identifier)`` of each sample
ID = "id"
#: file path of each sample (``Batch.StdKeys.PATH``)
PATH = "path"
#: text of each sample (``Batch.StdKeys.TEXT``): shown with the sample, never a label
TEXT = "text"
#: label dimension of this name is shown as a column, not used as a label
FILENAME = "filename"
#: sample columns that are never label dimensions (a label of one of these names is refused)
RESERVED = frozenset({ID, PATH, TEXT, FILENAME})

# component kinds (the prefix of their columns)
DUPLICATES = "duplicates"
DUPLICATES_EXACT = "duplicatesExact"
PROJECTION = "projection"
FAMILIARITY = "familiarity"
FAMILIARITY_PERCENTILE = "familiarityPercentile"
SPLIT_FAMILIARITY = "splitFamiliarity"
LABEL_ISSUE = "labelIssue"
LABEL_ISSUE_FLAG = "labelIssueFlag"
LABEL_ISSUE_SUGGESTED = "labelIssueSuggested"
LEAKAGE = "leakage"
LEAKAGE_FLAG = "leakageFlag"
CLUSTER = "cluster"

# a name matches at most one pattern
_PATTERNS = (
    *((kind, re.compile(rf"^{kind}_(?P<r>.+?)_byAttr_(?P<d>.+)$")) for kind in (
        SPLIT_FAMILIARITY, LABEL_ISSUE, LABEL_ISSUE_FLAG, LABEL_ISSUE_SUGGESTED, LEAKAGE,
        LEAKAGE_FLAG)),
    (PROJECTION, re.compile(rf"^{PROJECTION}_(?P<r>.+)_(?P<d>[xy])$")),
    *((kind, re.compile(rf"^{kind}_(?P<r>.+)$")) for kind in (
        DUPLICATES, DUPLICATES_EXACT, FAMILIARITY_PERCENTILE, FAMILIARITY, CLUSTER)),
)


class Column(NamedTuple):
    """A parsed component column: ``kind``, ``response`` and ``detail`` (the projection axis or
    the label dimension; else ``None``)."""

    kind: str
    response: str
    detail: str | None = None


def response_part(name: str) -> str:
    """Field name as used in column names: spaces -> ``_``, then only ``[A-Za-z0-9_-]``."""
    return re.sub(r"[^A-Za-z0-9_-]", "", name.replace(" ", "_"))


def duplicates(response: str) -> str:
    return f"{DUPLICATES}_{response}"


def duplicates_exact(response: str) -> str:
    return f"{DUPLICATES_EXACT}_{response}"


def projection(response: str) -> tuple[str, str]:
    return f"{PROJECTION}_{response}_x", f"{PROJECTION}_{response}_y"


def familiarity(response: str) -> str:
    return f"{FAMILIARITY}_{response}"


def cluster(response: str) -> str:
    return f"{CLUSTER}_{response}"


def familiarity_percentile(response: str) -> str:
    return f"{FAMILIARITY_PERCENTILE}_{response}"


def split_familiarity(response: str, dim: str) -> str:
    return f"{SPLIT_FAMILIARITY}_{response}_byAttr_{dim}"


def label_issue(response: str, dim: str) -> str:
    return f"{LABEL_ISSUE}_{response}_byAttr_{dim}"


def label_issue_flag(response: str, dim: str) -> str:
    return f"{LABEL_ISSUE_FLAG}_{response}_byAttr_{dim}"


def label_issue_suggested(response: str, dim: str) -> str:
    return f"{LABEL_ISSUE_SUGGESTED}_{response}_byAttr_{dim}"


def leakage(response: str, dim: str) -> str:
    return f"{LEAKAGE}_{response}_byAttr_{dim}"


def leakage_flag(response: str, dim: str) -> str:
    return f"{LEAKAGE_FLAG}_{response}_byAttr_{dim}"


def label_columns(names: Iterable[str]) -> list[str]:
    """The label dimensions among column ``names``: neither :data:`RESERVED` nor a component
    column of a response that has one (``cluster_id`` is a label unless there is a response
    ``id`` with a projection)."""
    names = [str(c) for c in names]
    responses = {c.response for n in names if (c := parse(n)) is not None and c.kind != CLUSTER}
    return [n for n in names if n not in RESERVED and (
        (c := parse(n)) is None or (c.kind == CLUSTER and c.response not in responses))]


def parse(column: str) -> Column | None:
    """The component column ``column`` names, or ``None`` for any other column."""
    for kind, pattern in _PATTERNS:
        match = pattern.match(column)
        if match is not None:
            return Column(kind, match["r"], match.groupdict().get("d"))
    return None
