"""Dataset audit kernels: label issues from neighbours (and predictions), leakage between
splits, label balance.  Pure numpy on integer codes; the report turns them into columns.

Label codes are ``int`` arrays with ``-1`` for a missing label.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "LABEL_ISSUE_RATIO",
    "MIN_LIFT",
    "MIN_Z",
    "LabelIssues",
    "Predictability",
    "balance",
    "label_issue_scale",
    "label_issues",
    "label_issues_in_blocks",
    "leaking_groups",
    "neighbour_label_probabilities",
    "predictability",
    "score_label_issues",
    "split_pair_counts",
    "without_self",
]

#: a label is flagged when another class is this many times likelier than the given one
#: (after each class's probabilities are divided by their mean over the samples labelled with
#: it), i.e. score > 2/3
LABEL_ISSUE_RATIO = 2.0
#: pseudo-samples at the overall mean that each class's mean probability is shrunk towards
TYPICAL_PRIOR = 10.0
#: the j-th nearest neighbour's vote weighs ``j ** -RANK_WEIGHT_POWER``
RANK_WEIGHT_POWER = 0.5
#: rows per block in label_issues
_BLOCK_ROWS = 65536
#: a label (and each class of it) counts as predictable when the evidence's agreement with
#: it beats chance by at least this share of the way to perfect agreement (Cohen's kappa) ...
MIN_LIFT = 0.2
#: ... and by at least this many standard errors of the agreement with shuffled labels
MIN_Z = 4.0
#: the seed of the shuffle that gives the chance agreement
SHUFFLE_SEED = 0


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


@dataclasses.dataclass(frozen=True, eq=False)
class Predictability:
    """How well the evidence (neighbours' votes, predictions) predicts a label: the mean
    probability it gives each labelled sample's own label (``agreement``), the same with the
    labels shuffled among the samples (``chance``), and both per class.

    The label is ``predictable`` when its lift (Cohen's kappa, ``(agreement - chance) /
    (1 - chance)``) reaches :data:`MIN_LIFT` and the gain is :data:`MIN_Z` standard errors
    of the shuffled agreement; a class is, by the same rule on its own members
    (``classes``).  Only predictable classes are suggested, and nothing is flagged on a
    label that is not predictable: on such a label every disagreement is noise.
    """

    agreement: float
    chance: float
    standard_error: float
    class_agreement: np.ndarray
    class_chance: np.ndarray
    class_standard_error: np.ndarray

    @property
    def lift(self) -> float:
        """``(agreement - chance) / (1 - chance)``: 0 = chance, 1 = perfect agreement."""
        return _lift(self.agreement, self.chance)

    @property
    def predictable(self) -> bool:
        return bool(self.lift >= MIN_LIFT
                    and self.agreement - self.chance >= MIN_Z * self.standard_error)

    @property
    def classes(self) -> np.ndarray:
        """Per class: whether it is predictable (bool)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            lift = _lift(self.class_agreement, self.class_chance)
            gain = self.class_agreement - self.class_chance
            return np.asarray((lift >= MIN_LIFT) & (gain >= MIN_Z * self.class_standard_error)
                              & np.isfinite(lift), dtype=bool)


def _lift(agreement: Any, chance: Any) -> Any:
    return (agreement - chance) / np.maximum(1.0 - chance, 1e-12)


@dataclasses.dataclass(frozen=True, eq=False)
class LabelIssues:
    """Per sample: ``score`` in [0, 1] (NaN when unlabelled, or when the label is not
    predictable) that the label is wrong, ``flag`` (bool) and ``suspected`` (int code of the
    likeliest other class where it is likelier than the given one, else -1); and the
    label's :class:`Predictability` (None when there was nothing to measure)."""

    score: np.ndarray
    flag: np.ndarray
    suspected: np.ndarray
    predictability: Predictability | None = None

    @classmethod
    def unflagged(cls, n: int, predictability: Predictability | None = None) -> LabelIssues:
        """``n`` samples with no score, no flag and nothing suspected."""
        return cls(np.full(n, np.nan), np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int64),
                   predictability)


def label_issue_scale(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each class's typical probability for its own members (what :func:`label_issues`
    divides by), from the per-class sums and counts of its members' own probabilities: their
    mean, shrunk towards the overall mean by :data:`TYPICAL_PRIOR` pseudo-samples (a lone
    mislabelled member must not set its class's scale)."""
    overall = float(sums.sum()) / max(int(counts.sum()), 1)
    typical = (sums + TYPICAL_PRIOR * overall) / (counts + TYPICAL_PRIOR)
    return np.maximum(typical, 1e-12)


def score_label_issues(probabilities: np.ndarray, codes: np.ndarray, scale: np.ndarray, *,
                       ratio: float = LABEL_ISSUE_RATIO,
                       suggestable: np.ndarray | None = None) -> LabelIssues:
    """:func:`label_issues` of a block of rows, given the classes' ``scale`` found over all
    rows (:func:`label_issue_scale`): each row's result depends on its own row only.  Only
    the classes where ``suggestable`` is True (default all) can be the other class."""
    out = LabelIssues.unflagged(len(codes))
    rows = np.flatnonzero(codes >= 0)
    given_codes = codes[rows]
    q = probabilities[rows] / scale
    at = np.arange(len(rows))
    given = q[at, given_codes]
    if suggestable is not None:
        q[:, ~suggestable] = -np.inf
    q[at, given_codes] = -np.inf  # the other classes
    best_other = q.argmax(axis=1)
    other = np.maximum(q[at, best_other], 0.0)  # 0 where no class can be suggested
    out.score[rows] = other / (other + given)
    out.flag[rows] = other > ratio * given
    # a suggestion only where another class is likelier than the given one
    out.suspected[rows] = np.where(other > given, best_other, -1)
    return out


def without_self(indices: np.ndarray, start: int = 0) -> np.ndarray:
    """Drop each row's own index (or its last neighbour when the row lacks itself, which
    happens among identical copies); ``indices`` are the neighbour lists of rows ``start``,
    ``start + 1``, ..."""
    n, k = indices.shape
    own = indices == np.arange(start, start + n)[:, None]
    own[~own.any(axis=1), k - 1] = True
    own &= np.cumsum(own, axis=1) == 1  # only the first hit
    return indices[~own].reshape(n, k - 1)


def label_issues(neighbours: np.ndarray, codes: np.ndarray, n_classes: int, *,
                 predictions: np.ndarray | None = None, with_self: bool = False,
                 ratio: float = LABEL_ISSUE_RATIO,
                 block_rows: int = _BLOCK_ROWS) -> LabelIssues:
    """Label issues from each sample's ``neighbours`` (``(n, k)`` row indices, nearest first;
    with ``with_self`` each row's own index among them, dropped by :func:`without_self`; a
    memory-mapped array is read block by block) and optional ``(n, n_classes)``
    ``predictions``, averaged with the neighbours' votes: :func:`label_issues_in_blocks`.

    Score = q_other / (q_other + q_given), where ``q`` are the class probabilities divided
    by each class's mean probability over the samples labelled with it (so a class that the
    evidence always spreads thin, e.g. one that reads like another, is not suspected more
    than a crisp one; :func:`label_issue_scale`) and ``q_other`` is the likeliest other
    predictable class (:class:`Predictability`): 0.5 when the evidence is balanced between
    the given label and another, near 1 when it all points elsewhere.  Flagged when
    ``q_other > ratio * q_given``; nothing is scored or flagged on a label that the evidence
    does not predict."""
    def probabilities(start: int, stop: int, labels: np.ndarray) -> np.ndarray:
        rows = np.asarray(neighbours[start:stop])
        votes = neighbour_label_probabilities(without_self(rows, start) if with_self else rows,
                                              labels, n_classes)
        return votes if predictions is None else (votes + predictions[start:stop]) / 2

    return label_issues_in_blocks(probabilities, codes, n_classes, ratio=ratio,
                                  block_rows=block_rows)


def predictability(probabilities: Callable[[int, int, np.ndarray], np.ndarray],
                   codes: np.ndarray, n_classes: int, blocks: list[tuple[int, int]]
                   ) -> tuple[Predictability, np.ndarray, np.ndarray]:
    """The label's :class:`Predictability` (its labels shuffled with :data:`SHUFFLE_SEED`),
    and per class the sum of the probabilities its labelled samples get for it and their
    number (of the real labels)."""
    shuffled = np.random.default_rng(SHUFFLE_SEED).permutation(codes)
    # per class and for the real / shuffled labels: count, sum and sum of squares of the
    # probability that its labelled samples get for it
    real, chance = np.zeros((3, n_classes)), np.zeros((3, n_classes))
    for start, stop in blocks:
        for labels, totals in ((codes, real), (shuffled, chance)):
            block = labels[start:stop]
            rows = np.flatnonzero(block >= 0)
            own = probabilities(start, stop, labels)[rows, block[rows]]
            for power in range(3):
                totals[power] += np.bincount(block[rows], weights=own ** power,
                                             minlength=n_classes)
    counts, sums = real[0], real[1]
    chance_sums, chance_squares = chance[1], chance[2]
    total = max(int(counts.sum()), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.maximum(counts, 1)
        chance = chance_sums / per
        spread = np.maximum(chance_squares / per - chance ** 2, 0.0)
        overall_chance = float(chance_sums.sum()) / total
        overall_spread = max(float(chance_squares.sum()) / total - overall_chance ** 2, 0.0)
        found = Predictability(
            agreement=float(sums.sum()) / total, chance=overall_chance,
            standard_error=float(np.sqrt(overall_spread / total)),
            class_agreement=np.where(counts > 0, sums / per, np.nan),
            class_chance=np.where(counts > 0, chance, np.nan),
            class_standard_error=np.sqrt(spread / per))
    return found, sums, counts


def label_issues_in_blocks(probabilities: Callable[[int, int, np.ndarray], np.ndarray],
                           codes: np.ndarray, n_classes: int, *,
                           ratio: float = LABEL_ISSUE_RATIO,
                           block_rows: int = _BLOCK_ROWS) -> LabelIssues:
    """:func:`label_issues` for data too large to hold ``(n, n_classes)`` probabilities:
    ``probabilities(start, stop, labels)`` gives those of rows ``start:stop`` when the
    samples carry ``labels`` (the codes, or the codes shuffled for the chance level).  It is
    called three times per block of ``block_rows`` rows: the label's predictability (real
    and shuffled labels) with the classes' scales, then the scores."""
    n = len(codes)
    out = LabelIssues.unflagged(n)
    if n_classes < 2 or not (codes >= 0).any():
        return out
    blocks = [(start, min(n, start + block_rows)) for start in range(0, n, block_rows)]
    found, sums, counts = predictability(probabilities, codes, n_classes, blocks)
    out = LabelIssues.unflagged(n, found)
    if not found.predictable:
        return out
    scale = label_issue_scale(sums, counts)
    suggestable = found.classes
    for start, stop in blocks:
        block = score_label_issues(probabilities(start, stop, codes), codes[start:stop], scale,
                                   ratio=ratio, suggestable=suggestable)
        out.score[start:stop] = block.score
        out.flag[start:stop] = block.flag
        out.suspected[start:stop] = block.suspected
    return out


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
