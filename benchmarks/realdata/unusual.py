"""Unusual-sample rankings side by side (issue 21): the report's familiarity column against
k-NN distance and its variants, on real feature sets with planted anomalies.

Cases (each: vectors, which rows are planted anomalies, optional labels):

- ``text``: the real-data harness's MiniLM docstrings (``corpus.py`` + ``embed_text.py``),
  anomalies = the planted out-of-domain texts; labels = the source package.
- ``digits-cnn``: the demo CNN's penultimate responses (``make_digits.py``), anomalies = the
  out-of-domain and corrupted inputs; labels = the digit.
- ``digits-pixels``: the same inputs as raw 8x8 pixels (another image feature set).
- ``breast-cancer``: scikit-learn's breast cancer table (30 features, standardised), the
  benign tumours plus 5 % malignant ones as anomalies.
- ``text-random-label``: ``text`` with a 10-class label drawn independently of the vectors.

Methods (low score = unusual): ``report`` (``DatasetReport``'s ``familiarity_R`` column),
``gmm`` (``Familiarity`` GMM on the raw vectors), ``knn`` (minus the mean distance to the 10
nearest neighbours), ``knn-l2`` (the same on L2-normalised vectors), ``knn-pca`` (on the
report's 40-d PCA), ``maha-l2`` (minus the Mahalanobis distance on L2-normalised vectors)
``report+knn`` (the mean of the report's and knn's percentile ranks) and ``knn-subspace``
(minus the mean squared distance to the 10 nearest neighbours in the report's 40-d PCA,
plus the sample's and the neighbours' mean squared residual off it). For each: AUROC
of the anomalies and their recall in the 1 % lowest scores::

    .venv/bin/python benchmarks/realdata/unusual.py benchmarks/out/realdata
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

K = 10


def cases(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray, dict[str, list[str]]]]:
    out: dict[str, tuple[np.ndarray, np.ndarray, dict[str, list[str]]]] = {}
    text = root / "text"
    if (text / "emb.npy").exists():
        x = np.load(text / "emb.npy", allow_pickle=False)
        meta = pd.read_csv(text / "meta.csv", keep_default_na=False)
        planted = (meta["kind"] == "ood").to_numpy()
        out["text"] = (x, planted, {"source": meta["source"].astype(str).tolist()})
        rng = np.random.default_rng(0)
        out["text-random-label"] = (x, planted, {
            "random": rng.integers(0, 10, len(x)).astype(str).tolist()})
    digits = root / "digits"
    if (digits / "emb.npy").exists():
        x = np.load(digits / "emb.npy", allow_pickle=False)
        meta = pd.read_csv(digits / "meta.csv", keep_default_na=False)
        planted = meta["kind"].isin(["ood", "corrupt"]).to_numpy()
        labels = {"digit": meta["digit"].astype(str).tolist()}
        out["digits-cnn"] = (x, planted, labels)
        pixels = np.load(digits / "inputs.npy", allow_pickle=False).reshape(len(x), -1)
        out["digits-pixels"] = (pixels.astype(np.float32), planted, labels)
    from sklearn.datasets import load_breast_cancer

    table = load_breast_cancer()
    rng = np.random.default_rng(0)
    benign = np.flatnonzero(table.target == 1)
    malignant = rng.choice(np.flatnonzero(table.target == 0), int(0.05 * len(benign)),
                           replace=False)
    rows = np.concatenate([benign, malignant])
    x = table.data[rows]
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    planted = np.zeros(len(rows), dtype=bool)
    planted[len(benign):] = True
    out["breast-cancer"] = (x, planted, {})
    return out


def knn_score(x: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    dist, _ = NearestNeighbors(n_neighbors=K + 1).fit(x).kneighbors(x)
    return -dist[:, 1:].mean(axis=1)


def l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def mahalanobis(x: np.ndarray) -> np.ndarray:
    from sklearn.covariance import LedoitWolf

    model = LedoitWolf().fit(x)
    return -model.mahalanobis(x)


def ranks(score: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(score) / len(score)


def report_scores(x: np.ndarray, labels: dict[str, list[str]]) -> dict[str, np.ndarray]:
    from deepview.base import ArrayProducer
    from deepview.introspectors import DatasetReport, ReportConfig

    producer = ArrayProducer({"emb": x}, labels=labels or None)
    report = DatasetReport.introspect(producer, config=ReportConfig(
        projection=None, duplicates=None, label_issues=False))
    out = {"report": report.data["familiarity_emb"].to_numpy()}
    from sklearn.decomposition import PCA  # the report's reduction: PCA(40) when wider

    if x.shape[1] > 40:
        pca = PCA(40, random_state=0).fit(x)
        reduced = pca.transform(x)
        residual = ((x - pca.inverse_transform(reduced)) ** 2).sum(axis=1)
    else:
        reduced, residual = x, np.zeros(len(x))
    out["knn-pca"] = knn_score(reduced)
    from sklearn.neighbors import NearestNeighbors

    dist, rows = NearestNeighbors(n_neighbors=K + 1).fit(reduced).kneighbors(reduced)
    # the mean squared distance to the 10 nearest neighbours found in the reduced space, the
    # off-subspace part taken as the sample's and each neighbour's residual added
    out["knn-subspace"] = -((dist[:, 1:] ** 2).mean(axis=1) + residual
                            + residual[rows[:, 1:]].mean(axis=1))
    return out


def evaluate(x: np.ndarray, planted: np.ndarray, labels: dict[str, list[str]]
             ) -> list[dict[str, Any]]:
    from sklearn.metrics import roc_auc_score

    from deepview.base import ArrayProducer
    from deepview.introspectors import Familiarity

    scores = report_scores(x, labels)
    fam = Familiarity.introspect(ArrayProducer(x, field="emb"),
                                 strategy=Familiarity.Strategy.GMM(random_state=0))
    scores["gmm"] = np.asarray(fam.score(x)["emb"], dtype=np.float64)
    scores["knn"] = knn_score(x)
    scores["knn-l2"] = knn_score(l2(x))
    scores["maha-l2"] = mahalanobis(l2(x))
    scores["report+knn"] = (ranks(scores["report"]) + ranks(scores["knn"])) / 2
    low = int(np.ceil(len(x) / 100))
    rows = []
    for name, score in scores.items():
        order = np.argsort(score, kind="stable")
        rows.append({"method": name, "AUROC": roc_auc_score(planted, -score),
                     "recall in 1 % lowest": planted[order[:low]].sum() / planted.sum()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder holding text/ and digits/")
    args = parser.parse_args()
    for name, (x, planted, labels) in cases(args.root).items():
        start = time.perf_counter()
        rows = evaluate(x, planted, labels)
        print(f"\n### {name}: {len(x)} x {x.shape[1]}, {planted.sum()} planted anomalies "
              f"({time.perf_counter() - start:.0f} s)")
        print("| method | AUROC | recall in 1 % lowest |\n|---|---|---|")
        for row in rows:
            print(f"| {row['method']} | {row['AUROC']:.3f} | {row['recall in 1 % lowest']:.2f} |")


if __name__ == "__main__":
    main()
