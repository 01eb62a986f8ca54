"""Audit kernels: label issues from neighbours, leakage groups, balance."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from deepview._compute.audit import (
    balance,
    label_issues,
    label_issues_in_blocks,
    leaking_groups,
    neighbour_label_probabilities,
    split_pair_counts,
)


def _neighbours(x: np.ndarray, k: int) -> np.ndarray:
    return NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)[1][:, 1:]


def test_flipped_labels_in_clean_clusters_are_found_with_their_true_class() -> None:
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 100)
    x = rng.normal(size=(400, 8)) + 6.0 * np.eye(8)[truth]
    codes = truth.copy()
    flipped = rng.choice(400, 20, replace=False)
    codes[flipped] = (truth[flipped] + 1 + rng.integers(0, 3, 20)) % 4
    issues = label_issues(_neighbours(x, 10), codes, 4)
    assert issues.predictability is not None and issues.predictability.predictable
    assert set(np.flatnonzero(issues.flag)) == set(flipped.tolist())
    np.testing.assert_array_equal(issues.suspected[flipped], truth[flipped])
    assert issues.score.min() >= 0 and issues.score.max() <= 1
    # the flipped ones rank first
    assert set(np.argsort(-issues.score)[:20].tolist()) == set(flipped.tolist())


def test_label_issues_in_blocks_equal_the_whole_array() -> None:
    """Rows in blocks (the probabilities asked for three times per block, never held whole:
    real and shuffled labels, then the scores): the classes' scales and the label's
    predictability come from all blocks, so the results are those of the whole array."""
    rng = np.random.default_rng(1)
    truth = np.repeat(np.arange(5), 80)
    x = rng.normal(size=(400, 6)) + 4.0 * np.eye(6)[truth]
    codes = truth.copy()
    codes[rng.choice(400, 30, replace=False)] = -1  # unlabelled
    flipped = rng.choice(np.flatnonzero(codes >= 0), 25, replace=False)
    codes[flipped] = (codes[flipped] + 2) % 5
    neighbours = _neighbours(x, 10)
    whole = label_issues(neighbours, codes, 5)
    asked: list[tuple[int, int, bool]] = []

    def block(start: int, stop: int, labels: np.ndarray) -> np.ndarray:
        asked.append((start, stop, labels is codes))
        return neighbour_label_probabilities(neighbours[start:stop], labels, 5)

    blocks = label_issues_in_blocks(block, codes, 5, block_rows=64)
    spans = [(0, 64), (64, 128), (128, 192), (192, 256), (256, 320), (320, 384), (384, 400)]
    assert asked == [(a, b, real) for a, b in spans for real in (True, False)] + [
        (a, b, True) for a, b in spans]
    np.testing.assert_allclose(blocks.score, whole.score, rtol=1e-12)
    np.testing.assert_array_equal(blocks.flag, whole.flag)
    np.testing.assert_array_equal(blocks.suspected, whole.suspected)
    assert blocks.predictability is not None and whole.predictability is not None
    assert blocks.predictability.agreement == pytest.approx(whole.predictability.agreement)
    assert blocks.predictability.chance == pytest.approx(whole.predictability.chance)
    np.testing.assert_array_equal(blocks.predictability.classes, whole.predictability.classes)
    assert set(flipped.tolist()) <= set(np.flatnonzero(blocks.flag).tolist())
    assert np.isnan(blocks.score[codes < 0]).all()


def test_unlabelled_samples_get_no_score_and_are_not_votes() -> None:
    neighbours = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])
    codes = np.array([0, 0, -1, 1])
    p = neighbour_label_probabilities(neighbours, codes, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # the nearest neighbour's vote (weight 1) for class 0, the second unlabelled; the prior is
    # the mean weight (1 + 2 ** -0.5) / 2, spread over the two classes
    prior = (1 + 2 ** -0.5) / 2
    np.testing.assert_allclose(p[0], [(1 + prior / 2) / (1 + prior), prior / 2 / (1 + prior)])
    rng = np.random.default_rng(5)
    truth = np.repeat(np.arange(2), 100)
    x = rng.normal(size=(200, 4)) + 6.0 * np.eye(4)[truth]
    codes = truth.copy()
    codes[::10] = -1
    codes[1] = 1  # a flip among class 0
    issues = label_issues(_neighbours(x, 10), codes, 2)
    assert np.isnan(issues.score[codes < 0]).all() and not issues.flag[codes < 0].any()
    assert (issues.suspected[codes < 0] == -1).all()
    assert list(np.flatnonzero(issues.flag)) == [1] and issues.suspected[1] == 0
    single = label_issues(_neighbours(x, 10), np.zeros(200, dtype=int), 1)
    assert np.isnan(single.score).all() and not single.flag.any()
    assert single.predictability is None


@pytest.mark.parametrize("n_classes", [2, 10, 40])
def test_a_label_the_neighbours_do_not_predict_flags_nothing(n_classes: int) -> None:
    """A label drawn independently of the vectors: its neighbours agree with it no more than
    chance, so nothing is scored or flagged (it was 62 % of the samples), whatever the
    number of classes; a clustered label on the same vectors is predictable."""
    rng = np.random.default_rng(n_classes)
    truth = rng.integers(0, 6, 3000)
    x = rng.normal(size=(3000, 8)) + 3.0 * np.eye(8)[truth]
    neighbours = _neighbours(x, 20)
    random_label = rng.integers(0, n_classes, 3000)
    issues = label_issues(neighbours, random_label, n_classes)
    found = issues.predictability
    assert found is not None and not found.predictable
    assert abs(found.agreement - found.chance) < 0.02 and abs(found.lift) < 0.05
    assert not issues.flag.any() and np.isnan(issues.score).all()
    assert (issues.suspected == -1).all()
    clustered = label_issues(neighbours, truth, 6).predictability
    assert clustered is not None and clustered.predictable and clustered.lift > 0.5
    assert clustered.classes.all()


def test_only_predictable_classes_are_suggested() -> None:
    """Three classes that the vectors separate and one spread at random over them (a
    'misc' class), plus a class of three members: neither is ever suggested, and each is
    listed as not predictable; flips among the separated classes are still found."""
    rng = np.random.default_rng(3)
    truth = np.repeat(np.arange(3), 300)
    x = rng.normal(size=(900, 6)) + 6.0 * np.eye(6)[truth]
    codes = truth.copy()
    codes[rng.choice(900, 150, replace=False)] = 3  # misc: anywhere
    codes[[7, 8, 9]] = 4  # a tiny class inside class 0
    members = np.flatnonzero(codes < 3)
    flipped = rng.choice(members, 20, replace=False)
    codes[flipped] = (truth[flipped] + 1) % 3
    issues = label_issues(_neighbours(x, 20), codes, 5)
    found = issues.predictability
    assert found is not None and found.predictable
    np.testing.assert_array_equal(found.classes, [True, True, True, False, False])
    assert not np.isin(issues.suspected, [3, 4]).any()
    hit = set(np.flatnonzero(issues.flag).tolist())
    assert set(flipped.tolist()) <= hit
    np.testing.assert_array_equal(issues.suspected[flipped], truth[flipped])


def test_leaking_groups_and_split_pair_counts() -> None:
    groups = np.array([0, 0, 0, 1, 1, 2, 2, -1, -1])
    splits = np.array([0, 1, 1, 0, 0, 1, 2, 0, 1])  # names: train, test, val
    leaks = leaking_groups(groups, splits)
    np.testing.assert_array_equal(leaks, [0, 0, 0, -1, -1, 2, 2, -1, -1])
    counts = split_pair_counts(leaks, splits, ["train", "test", "val"])
    assert counts == [
        {"a": "test", "b": "val", "groups": 1, "samples_a": 1, "samples_b": 1},
        {"a": "train", "b": "test", "groups": 1, "samples_a": 1, "samples_b": 2},
    ]
    assert split_pair_counts(np.full(3, -1), np.zeros(3, dtype=int), ["a"]) == []


def test_balance() -> None:
    assert balance(np.array([10, 10, 10])) == pytest.approx(1.0)
    assert balance(np.array([1000, 1])) < 0.02
    assert np.isnan(balance(np.array([5])))


def test_a_lone_member_of_its_class_inside_another_cluster_is_flagged() -> None:
    rng = np.random.default_rng(2)
    truth = np.repeat(np.arange(3), 80)
    x = rng.normal(size=(240, 6)) + 6.0 * np.eye(6)[truth]
    codes = truth.copy()
    codes[5] = 3  # a class of one member, sitting among class 0
    issues = label_issues(_neighbours(x, 20), codes, 4)
    assert issues.flag[5] and issues.suspected[5] == 0
    assert not (issues.suspected == 3).any()  # the lone class is suggested for no one
    assert issues.flag.sum() == 1


def test_nearer_neighbours_weigh_more() -> None:
    # two neighbours of class 1 then two of class 0: equal counts, but the nearer ones win
    neighbours = np.array([[1, 2, 3, 4]])
    codes = np.array([0, 1, 1, 0, 0])
    p = neighbour_label_probabilities(neighbours, codes, 2)[0]
    assert p[1] > p[0]
    weights = np.arange(1, 5) ** -0.5
    prior = weights.mean() / 2
    np.testing.assert_allclose(p, [(weights[2:].sum() + prior), (weights[:2].sum() + prior)]
                               / (weights.sum() + 2 * prior))
