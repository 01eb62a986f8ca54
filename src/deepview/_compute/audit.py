"""Dataset audit kernels on integer label codes (-1 = no label): label issues from neighbours
(and predictions), leakage between splits, label balance."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "LABEL_ISSUE_RATIO", "MIN_LIFT", "MIN_Z", "LabelIssues", "Predictability", "balance",
    "label_issue_scale", "label_issues", "label_issues_in_blocks", "leaking_groups",
    "neighbour_label_probabilities", "predictability", "score_label_issues",
    "split_pair_counts", "without_self",
]

#: flagged when another class is this many times likelier than the given one (score > 2/3)
LABEL_ISSUE_RATIO = 2.0
#: pseudo-samples at the overall mean that each class's mean probability is shrunk towards
TYPICAL_PRIOR = 10.0
#: the j-th nearest neighbour's vote weighs ``j ** -RANK_WEIGHT_POWER``
RANK_WEIGHT_POWER = 0.5
#: rows per block in label_issues
_BLOCK_ROWS = 65536
#: a label (or class) is predictable with at least this lift over chance (Cohen's kappa) ...
MIN_LIFT = 0.2
#: ... and by at least this many standard errors of the agreement with shuffled labels
MIN_Z = 4.0
#: the seed of the shuffle that gives the chance agreement
SHUFFLE_SEED = 0


def neighbour_label_probabilities(neighbours: np.ndarray, codes: np.ndarray,
                                  n_classes: int) -> np.ndarray:
    """``(n, n_classes)`` class probabilities from the neighbours' labels (``(n, k)``, nearest
    first): the j-th votes ``j ** -RANK_WEIGHT_POWER``, plus a uniform prior of the mean vote."""
    n, k = neighbours.shape
    weights = np.arange(1, k + 1, dtype=np.float64) ** -RANK_WEIGHT_POWER
    votes = np.zeros((n, n_classes), dtype=np.float64)
    neighbour_codes = codes[neighbours]
    labelled = neighbour_codes >= 0
    np.add.at(votes, (np.nonzero(labelled)[0], neighbour_codes[labelled]),
              np.broadcast_to(weights, (n, k))[labelled])
    votes += (weights.mean() if k else 1.0) / n_classes
    return votes / votes.sum(axis=1, keepdims=True)


@dataclasses.dataclass(frozen=True, eq=False)
class Predictability:
    """How well the evidence predicts a label: mean probability of each sample's own label
    (``agreement``), the same with shuffled labels (``chance``), and both per class.
    Predictable: lift (Cohen's kappa) at least :data:`MIN_LIFT` and :data:`MIN_Z` standard
    errors above chance."""

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
    """Per sample: ``score`` in [0, 1] (NaN: unlabelled or unpredictable label), ``flag`` and
    ``suspected`` (likeliest other class code, else -1); and the label's predictability."""

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
    """Each class's typical probability for its own members: their mean, shrunk towards the
    overall mean by :data:`TYPICAL_PRIOR` pseudo-samples."""
    overall = float(sums.sum()) / max(int(counts.sum()), 1)
    typical = (sums + TYPICAL_PRIOR * overall) / (counts + TYPICAL_PRIOR)
    return np.maximum(typical, 1e-12)


def score_label_issues(probabilities: np.ndarray, codes: np.ndarray, scale: np.ndarray, *,
                       ratio: float = LABEL_ISSUE_RATIO,
                       suggestable: np.ndarray | None = None) -> LabelIssues:
    """:func:`label_issues` of a block of rows, given the classes' ``scale``."""
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
    """Drop each row's own index (or its last neighbour where it lacks itself); rows start at
    ``start``."""
    n, k = indices.shape
    own = indices == np.arange(start, start + n)[:, None]
    own[~own.any(axis=1), k - 1] = True
    own &= np.cumsum(own, axis=1) == 1  # only the first hit
    return indices[~own].reshape(n, k - 1)


def label_issues(neighbours: np.ndarray, codes: np.ndarray, n_classes: int, *,
                 predictions: np.ndarray | None = None, with_self: bool = False,
                 ratio: float = LABEL_ISSUE_RATIO,
                 block_rows: int = _BLOCK_ROWS) -> LabelIssues:
    """Label issues from ``(n, k)`` ``neighbours`` (nearest first; with ``with_self`` each row's
    own index among them) and optional ``(n, n_classes)`` ``predictions``: score
    ``q_other / (q_other + q_given)`` of the probabilities divided by each class's scale,
    flagged above ``ratio``; nothing on a label the evidence does not predict."""
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
    """The label's :class:`Predictability`; per class the sum and count of own probabilities."""
    shuffled = np.random.default_rng(SHUFFLE_SEED).permutation(codes)
    # per class, real / shuffled labels: count, sum and sum of squares of own probabilities
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
    """:func:`label_issues` with ``probabilities(start, stop, labels)`` computed block by block
    (three calls per block), never ``(n, n_classes)`` at once."""
    n = len(codes)
    if n_classes < 2 or not (codes >= 0).any():
        return LabelIssues.unflagged(n)
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
    """Per sample: its group when the group spans two split values (codes >= 0), else -1."""
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
    """Per pair of split values sharing groups: the number of groups and of each value's samples
    in them, most groups first."""
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
    """Normalised entropy of the label counts: 1 = even, 0 = one value (NaN below two values)."""
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    if len(counts) < 2:
        return float("nan")
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() / np.log(len(p)))
