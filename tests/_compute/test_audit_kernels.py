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
    issues = label_issues(neighbour_label_probabilities(_neighbours(x, 10), codes, 4), codes)
    assert set(np.flatnonzero(issues.flag)) == set(flipped.tolist())
    np.testing.assert_array_equal(issues.suspected[flipped], truth[flipped])
    assert issues.score.min() >= 0 and issues.score.max() <= 1
    # the flipped ones rank first
    assert set(np.argsort(-issues.score)[:20].tolist()) == set(flipped.tolist())


def test_label_issues_in_blocks_equal_the_whole_array() -> None:
    """Rows in blocks (the probabilities asked for twice per block, never held whole): the
    classes' scales come from all blocks, so the results are those of the whole array."""
    rng = np.random.default_rng(1)
    truth = np.repeat(np.arange(5), 80)
    x = rng.normal(size=(400, 6)) + 4.0 * np.eye(6)[truth]
    codes = truth.copy()
    codes[rng.choice(400, 30, replace=False)] = -1  # unlabelled
    flipped = rng.choice(np.flatnonzero(codes >= 0), 25, replace=False)
    codes[flipped] = (codes[flipped] + 2) % 5
    probs = neighbour_label_probabilities(_neighbours(x, 10), codes, 5)
    whole = label_issues(probs, codes)
    asked: list[tuple[int, int]] = []

    def block(start: int, stop: int) -> np.ndarray:
        asked.append((start, stop))
        return probs[start:stop]

    blocks = label_issues_in_blocks(block, codes, 5, block_rows=64)
    assert asked[:7] == asked[7:] == [(0, 64), (64, 128), (128, 192), (192, 256), (256, 320),
                                      (320, 384), (384, 400)]
    np.testing.assert_allclose(blocks.score, whole.score, rtol=1e-12)
    np.testing.assert_array_equal(blocks.flag, whole.flag)
    np.testing.assert_array_equal(blocks.suspected, whole.suspected)
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
    issues = label_issues(p, codes)
    assert np.isnan(issues.score[2]) and not issues.flag[2] and issues.suspected[2] == -1
    assert issues.flag[3]  # labelled 1 among class-0 neighbours
    single = label_issues(np.ones((3, 1)), np.zeros(3, dtype=int))
    assert np.isnan(single.score).all() and not single.flag.any()


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
    issues = label_issues(neighbour_label_probabilities(_neighbours(x, 20), codes, 4), codes)
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
