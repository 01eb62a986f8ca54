"""Clusters of a report's 2-D map, found on the map and named from the samples' texts or labels.

:func:`find_clusters` runs HDBSCAN on a seeded sample of the map (every other point takes the
cluster of its nearest sampled point), clusters holding :data:`MIN_SHARE` to :data:`MAX_SHARE`
of the points: tens per map.  :func:`cluster_names` names each by its most specific terms (words;
character pairs in scripts written without spaces, so no stop-word list is needed), else by a
label's dominant value and its share.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepview.report._audit import label_codes

__all__ = ["FIT_ROWS", "MIN_SHARE", "cluster_names", "find_clusters", "tokens"]

#: clusters are found on at most this many points of the map (a seeded sample)
FIT_ROWS = 20_000
#: the smallest cluster holds this share of the fitted points (at least MIN_POINTS)
MIN_SHARE = 0.01
MIN_POINTS = 10
#: and the largest at most this share, or MAX_POINTS (a larger one is split into the clusters
#: within it)
MAX_SHARE = 0.1
MAX_POINTS = 1000
#: a cluster's name holds its most specific terms, at most this many
NAME_TERMS = 3
#: a naming term is in at least this share of the cluster's texts (and in two of them)
MIN_TERM_SHARE = 0.05
#: a naming term is at least this many times more common in the cluster's texts than in all
MIN_LIFT = 2.0
#: texts read per cluster to name it (a seeded sample of larger clusters)
NAME_TEXTS = 2000
#: scripts written without spaces between words: their text is cut into character pairs
_SPACELESS = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff]+")
#: what separates words: spaces, digits, punctuation and symbols (letters and marks of every
#: script are kept)
_SEPARATORS = re.compile(
    "[\\s\\d!-/:-@\\[-`{-~\u00a0-\u00bf\u2000-\u2bff\u3000-\u303f\uff00-\uff20"
    "\uff3b-\uff40\uff5b-\uff65]+")


def find_clusters(xy: np.ndarray, seed: int | None = None) -> np.ndarray:
    """Each point's cluster (int32, numbered by decreasing size from 0; -1: in none) on the
    (n, 2) map ``xy`` (rows with a missing coordinate are in none)."""
    from sklearn.cluster import HDBSCAN
    from sklearn.neighbors import NearestNeighbors

    n = len(xy)
    out = np.full(n, -1, dtype=np.int32)
    valid = np.flatnonzero(np.isfinite(xy).all(axis=1))
    rng = np.random.default_rng(0 if seed is None else seed)
    fit = valid if len(valid) <= FIT_ROWS else np.sort(rng.choice(valid, FIT_ROWS, replace=False))
    size = max(MIN_POINTS, int(MIN_SHARE * len(fit)))
    if len(fit) < 2 * size:
        return out
    points = np.asarray(xy[fit], dtype=np.float64)
    found = HDBSCAN(min_cluster_size=size, min_samples=MIN_POINTS, copy=True,
                    max_cluster_size=max(MAX_POINTS, int(MAX_SHARE * len(fit)))).fit_predict(points)
    if found.max() < 0:
        return out
    # each cluster's place by decreasing size (ties: by number)
    rank = np.argsort(np.argsort(-np.bincount(found[found >= 0]), kind="stable"))
    found = np.where(found >= 0, rank[np.maximum(found, 0)], -1).astype(np.int32)
    out[fit] = found
    rest = np.setdiff1d(valid, fit, assume_unique=True)
    if len(rest):
        index = NearestNeighbors(n_neighbors=1).fit(points)
        for start in range(0, len(rest), 1 << 16):
            part = rest[start:start + (1 << 16)]
            near = index.kneighbors(np.asarray(xy[part], dtype=np.float64),
                                    return_distance=False)[:, 0]
            out[part] = found[near]
    return out


def tokens(text: str) -> list[str]:
    """The distinct terms of ``text``: lower-cased words of two or more letters, and each pair
    of neighbouring characters in runs of a script written without spaces."""
    out: set[str] = set()
    for word in _SEPARATORS.split(str(text).lower()):
        pieces = _SPACELESS.split(word)
        out.update(p for p in pieces if len(p) > 1)
        for run in _SPACELESS.findall(word):
            out.update([run] if len(run) < 3 else [run[i:i + 2] for i in range(len(run) - 1)])
    return sorted(out)


def _text_names(codes: np.ndarray, count: int, texts: Any, rng: np.random.Generator
                ) -> list[list[str]]:
    from sklearn.feature_extraction.text import CountVectorizer

    members = [np.flatnonzero(codes == c) for c in range(count)]
    rows = np.sort(np.concatenate([m if len(m) <= NAME_TEXTS else
                                   rng.choice(m, NAME_TEXTS, replace=False) for m in members]))
    docs = ["" if t is None or t != t else str(t) for t in np.asarray(texts, dtype=object)[rows]]
    try:
        counts = CountVectorizer(analyzer=tokens, binary=True, min_df=2).fit(docs)
    except ValueError:  # no term in two texts
        return [[] for _ in range(count)]
    matrix = counts.transform(docs).tocsc()
    vocabulary = counts.get_feature_names_out()
    member = codes[rows]
    overall = np.asarray(matrix.sum(axis=0)).ravel() / len(rows)
    names = []
    for c in range(count):
        inside = member == c
        df = np.asarray(matrix[inside].sum(axis=0)).ravel()
        share = df / max(int(inside.sum()), 1)
        ok = (df >= 2) & (share >= MIN_TERM_SHARE) & (share >= MIN_LIFT * overall)
        lift = np.where(ok, share / np.maximum(overall, 1e-12), 1.0)
        score = np.where(ok, share * np.log(lift) * -np.log(np.minimum(overall, 0.5)), -np.inf)
        best = np.argsort(-score, kind="stable")[:NAME_TERMS]
        names.append([str(vocabulary[j]) for j in best if np.isfinite(score[j])])
    return names


def _label_names(codes: np.ndarray, count: int, labels: Mapping[str, Any]) -> list[str | None]:
    """Per cluster, the dominant value of the first label that it has values of, and its
    share of the cluster ("red (92 %)"); None where no label has a value."""
    names: list[str | None] = [None] * count
    inside = codes >= 0
    sizes = np.bincount(codes[inside], minlength=count)
    for values in labels.values():
        given, uniques = label_codes(values)
        both = inside & (given >= 0)
        table = np.bincount(codes[both].astype(np.int64) * len(uniques) + given[both],
                            minlength=count * len(uniques)).reshape(count, len(uniques))
        for c in range(count):
            if names[c] is None and table[c].any():
                top = int(np.argmax(table[c]))  # ties: the first value in sorted order
                names[c] = f"{uniques[top]} ({math.floor(100 * table[c, top] / sizes[c])} %)"
    return names


def cluster_names(codes: np.ndarray, *, texts: Sequence[str] | None = None,
                  labels: Mapping[str, Sequence[Any]] | None = None,
                  seed: int | None = None) -> list[str]:
    """A distinct name per cluster of ``codes`` (:func:`find_clusters`): its most specific
    terms (``texts``, one per row), else the dominant value of the first of ``labels``
    (dimension -> one value per row; labels with 2 to 1000 values are the useful ones) and
    its share, else ``"cluster <number>"``."""
    count = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(0 if seed is None else seed)
    terms = _text_names(codes, count, texts, rng) if texts is not None and count else []
    unnamed = len(terms) < count or not all(terms)
    by_label = _label_names(codes, count, labels) if labels and unnamed else [None] * count
    names: list[str] = []
    for c in range(count):
        name = ", ".join(terms[c]) if c < len(terms) and terms[c] else by_label[c]
        name = name or f"cluster {c + 1}"
        base, k = name, 1
        while name in names:  # a second cluster of the same name: "name #2"
            k += 1
            name = f"{base} #{k}"
        names.append(name)
    return names
