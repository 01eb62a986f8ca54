"""Clusters of the report's map and their names."""

from __future__ import annotations

import numpy as np

from deepview.report._clusters import cluster_names, find_clusters, tokens


def test_tokens_are_words_and_character_pairs_without_a_stop_word_list() -> None:
    assert tokens("Return the DataFrame's index_values, 3 times.") == [
        "dataframe", "index", "return", "the", "times", "values"]
    assert tokens("数组计算") == ["数组", "组计", "计算"]
    assert tokens("numpy数组 データ") == ["numpy", "デー", "ータ", "数组"]
    assert tokens("पायथन में") == ["पायथन", "में"]  # marks stay inside their word


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    part = np.arange(2000) % 4
    return centres[part] + rng.normal(0, 1, (2000, 2)), part


def test_clusters_are_found_numbered_by_size_and_deterministic() -> None:
    xy, part = _blobs()
    xy[:3] = np.nan  # no position: in no cluster
    codes = find_clusters(xy, seed=0)
    assert codes.dtype == np.int32 and (codes[:3] == -1).all()
    assert set(np.unique(codes[3:])) <= {-1, 0, 1, 2, 3} and codes.max() == 3
    for c in range(4):  # each cluster is one blob
        assert len(np.unique(part[codes == c])) == 1
    sizes = np.bincount(codes[codes >= 0])
    assert (np.diff(sizes) <= 0).all()
    np.testing.assert_array_equal(codes, find_clusters(xy, seed=0))


def test_names_are_the_words_specific_to_each_cluster_in_any_script() -> None:
    xy, part = _blobs(1)
    codes = find_clusters(xy, seed=0)
    topics = [["the spline fits the curve", "a spline of the curve"],
              ["the tensor on the device", "a tensor of the gpu"],
              ["样条曲线的拟合", "曲线的样条插值"],
              ["データフレームの列", "列とデータフレーム"]]
    texts = [topics[p][(i // 4) % 2] for i, p in enumerate(part)]
    names = cluster_names(codes, texts=texts)
    by_part = {int(part[codes == c][0]): name for c, name in enumerate(names)}
    assert "spline" in by_part[0] and "curve" in by_part[0] and "the" not in by_part[0]
    assert "tensor" in by_part[1]
    assert "样条" in by_part[2] and "曲线" in by_part[2]
    assert "データ" in by_part[3] or "フレ" in by_part[3]


def test_without_texts_a_label_names_the_cluster_and_names_stay_distinct() -> None:
    codes = np.array([0, 0, 0, 1, 1, 1, -1], dtype=np.int32)
    labels = {"digit": ["7", "7", "1", "7", "7", "7", "3"]}
    assert cluster_names(codes, labels=labels) == ["7 (66 %)", "7 (100 %)"]
    codes = np.array([0, 0, 1, 1], dtype=np.int32)
    assert cluster_names(codes, labels={"d": ["a", "a", "a", "a"]}) == [
        "a (100 %)", "a (100 %) #2"]
    assert cluster_names(codes) == ["cluster 1", "cluster 2"]
