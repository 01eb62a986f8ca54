"""Dataset audit kernels: label issues from neighbours (and predictions), leakage between
splits, label balance.  Pure numpy on integer codes; the report turns them into columns.

Label codes are ``int`` arrays with ``-1`` for a missing label.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

__all__ = [
    "LABEL_ISSUE_RATIO",
    "LabelIssues",
    "balance",
    "label_issues",
    "leaking_groups",
    "neighbour_label_probabilities",
    "split_pair_counts",
]

#: a label is flagged when another class is this many times likelier than the given one
#: (after each class's probabilities are divided by their mean over the samples labelled with
#: it), i.e. score > 2/3.  Measured on the real-data audit harness
#: (benchmarks/realdata/audit.py): digits CNN 5 % flips, recall 1.00 at precision 0.88.
LABEL_ISSUE_RATIO = 2.0
#: pseudo-samples at the overall mean that each class's mean probability is shrunk towards
TYPICAL_PRIOR = 10.0
#: the j-th nearest neighbour's vote weighs ``j ** -RANK_WEIGHT_POWER``.  On the 12k docstring
#: harness (benchmarks/realdata/audit.py, three flip seeds) it lifts label-issue recall at
#: precision 0.8 from 0.727 to 0.738 (neighbours alone) and from 0.779 to 0.804 (with
#: predictions) over equal votes; power 1 or Gaussian distance weights did no better.
RANK_WEIGHT_POWER = 0.5
#: rows per block in label_issues
_BLOCK_ROWS = 65536


def neighbour_label_probabilities(neighbours: np.ndarray, codes: np.ndarray,
                                  n_classes: int) -> np.ndarray:
    """``(n, n_classes)`` class probabilities of each sample from its neighbours' labels.

    ``neighbours`` is ``(n, k)`` row indices sorted nearest first, the sample itself excluded.
    The ``j``-th nearest neighbour's label adds a vote of ``j ** -RANK_WEIGHT_POWER``
    (the nearest count most); a prior of the mean vote is spread evenly over the classes (so
    a sample whose neighbours are all unlabelled gets the uniform distribution).
    """
    n, k = neighbours.shape
    weights = np.arange(1, k + 1, dtype=np.float64) ** -RANK_WEIGHT_POWER
    votes = np.zeros((n, n_classes), dtype=np.float64)
    neighbour_codes = codes[neighbours]
    labelled = neighbour_codes >= 0
    rows = np.broadcast_to(np.arange(n)[:, None], (n, k))[labelled]
    rank_weights = np.broadcast_to(weights, (n, k))[labelled]
    np.add.at(votes, (rows, neighbour_codes[labelled]), rank_weights)
    votes += (weights.mean() if k else 1.0) / n_classes
    return votes / votes.sum(axis=1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class LabelIssues:
    """Per sample: ``score`` in [0, 1] (NaN when unlabelled) that the label is wrong,
    ``flag`` (bool) and ``suspected`` (int code of the likeliest other class where it is
    likelier than the given one, else -1)."""

    score: np.ndarray
    flag: np.ndarray
    suspected: np.ndarray


def label_issues(probabilities: np.ndarray, codes: np.ndarray, *,
                 ratio: float = LABEL_ISSUE_RATIO) -> LabelIssues:
    """Score = q_other / (q_other + q_given), where ``q`` are the class probabilities divided
    by each class's mean probability over the samples labelled with it (so a class that the
    evidence always spreads thin, e.g. one that reads like another, is not suspected more
    than a crisp one) and ``q_other`` is the likeliest other class: 0.5 when the evidence
    is balanced between the given label and another, near 1 when it all points elsewhere.
    Flagged when ``q_other > ratio * q_given``."""
    n, n_classes = probabilities.shape
    labelled = codes >= 0
    score = np.full(n, np.nan)
    flag = np.zeros(n, dtype=bool)
    suspected = np.full(n, -1, dtype=np.int64)
    if n_classes < 2 or not labelled.any():
        return LabelIssues(score, flag, suspected)
    rows = np.flatnonzero(labelled)
    given_codes = codes[rows]
    own = probabilities[rows, given_codes]
    sums = np.bincount(given_codes, weights=own, minlength=n_classes)
    counts = np.bincount(given_codes, minlength=n_classes)
    # shrunk towards the overall mean by TYPICAL_PRIOR pseudo-samples: a class of one or two
    # members says little about how crisp it is (and a lone mislabelled member would
    # otherwise set its class's scale, never be flagged, and be suggested for everyone)
    typical = (sums + TYPICAL_PRIOR * own.mean()) / (counts + TYPICAL_PRIOR)
    scale = np.maximum(typical, 1e-12)
    for start in range(0, len(rows), _BLOCK_ROWS):  # row by row: blocks bound the copies
        block = rows[start:start + _BLOCK_ROWS]
        block_codes = given_codes[start:start + _BLOCK_ROWS]
        q = probabilities[block] / scale
        at = np.arange(len(block))
        given = q[at, block_codes]
        others = q.copy()
        others[at, block_codes] = -np.inf
        best_other = others.argmax(axis=1)
        other = others[at, best_other]
        score[block] = other / (other + given)
        flag[block] = other > ratio * given
        # a suggestion only where another class is likelier than the given one
        suspected[block] = np.where(other > given, best_other, -1)
    return LabelIssues(score, flag, suspected)


def leaking_groups(groups: np.ndarray, splits: np.ndarray) -> np.ndarray:
    """Per sample: its duplicate group number when that group holds samples of at least two
    split values (codes ``>= 0``), else ``-1``."""
    out = np.full(len(groups), -1, dtype=np.int32)
    member = (groups >= 0) & (splits >= 0)
    if not member.any():
        return out
    pairs = np.unique(np.stack([groups[member], splits[member]], axis=1), axis=0)
    spanning = np.unique(pairs[:, 0], return_counts=True)
    leaking = spanning[0][spanning[1] > 1]
    hit = np.isin(groups, leaking) & (groups >= 0)
    out[hit] = groups[hit]
    return out


def split_pair_counts(leaks: np.ndarray, splits: np.ndarray,
                      names: list[str]) -> list[dict[str, object]]:
    """For each pair of split values (a, b) that share duplicate groups: the number of such
    groups and of samples of ``a`` / of ``b`` in them (e.g. test samples with a copy in
    train).  Sorted by the number of groups, largest first.  One pass over the samples:
    O(n + groups x splits^2)."""
    rows: list[dict[str, object]] = []
    member = (leaks >= 0) & (splits >= 0)
    if not member.any():
        return rows
    groups, group_code = np.unique(leaks[member], return_inverse=True)
    counts = np.zeros((len(groups), len(names)), dtype=np.int64)
    np.add.at(counts, (group_code.ravel(), splits[member]), 1)
    present = counts > 0
    for a, b in itertools.combinations(range(len(names)), 2):
        shared = present[:, a] & present[:, b]
        if not shared.any():
            continue
        rows.append({"a": names[a], "b": names[b], "groups": int(shared.sum()),
                     "samples_a": int(counts[shared, a].sum()),
                     "samples_b": int(counts[shared, b].sum())})
    rows.sort(key=lambda r: (-int(r["groups"]), str(r["a"]), str(r["b"])))  # type: ignore[call-overload]
    return rows


def balance(counts: np.ndarray) -> float:
    """Normalised entropy of the label counts: 1 = every value equally common, 0 = one value
    holds every sample (NaN with fewer than two values)."""
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    if len(counts) < 2:
        return float("nan")
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() / np.log(len(p)))
