"""Real-data quality harness: deepview vs DeepView 3.9.6 vs cleanlab Datalab, side by side.

Each tool runs in its own interpreter on the same ``DIR/emb.npy`` (+ ``DIR/meta.csv`` with the
planted cases, from ``corpus.py`` + ``embed_text.py`` or ``make_digits.py``) and writes
``DIR/result-TOOL.json`` (per-sample familiarity scores for seeds 0, 1, 2 — low = unusual —,
duplicate groups, seconds).  ``evaluate`` then prints one markdown table per data set::

    .venv/bin/python harness.py run deepview DIR
    ~/.cache/deepview-ref/bin/python harness.py run reference DIR
    ~/.cache/peers/bin/python harness.py run cleanlab DIR
    .venv/bin/python harness.py evaluate DIR [DIR ...]

What each tool runs (the path a user of that tool would take for "which samples are unusual,
which are duplicates"):

- ``deepview``: ``DatasetReport.introspect`` with the default config (PCA to 40 + the
  residual term, GMM familiarity, ``Relative()`` duplicates), projection off (it does not
  change the other columns), ``ReportConfig(seed=s)``.
- ``deepview-gmm``: ``Familiarity`` GMM on the raw vectors (no report), for comparison.
- ``reference``: DeepView 3.9.6's report pipeline by hand: ``PCA(40)`` then
  ``Familiarity`` ``GMM(_random_state=s)`` and ``Duplicates`` (defaults) on the reduced data.
- ``cleanlab``: ``Datalab.find_issues(features=X, issue_types={"outlier": {},
  "near_duplicate": {}})``; ``outlier_score`` (deterministic, so the three seeds agree).
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SEEDS = (0, 1, 2)


# ----------------------------------------------------------------------------- the tools
def _deepview(x: np.ndarray, meta: pd.DataFrame) -> dict[str, Any]:
    from deepview.base import ArrayProducer
    from deepview.introspectors import DatasetReport, ReportConfig

    labels = {c: meta[c].astype(str).tolist() for c in ("source", "digit") if c in meta}
    scores, seconds, groups = [], [], []
    for seed in SEEDS:
        producer = ArrayProducer({"emb": x}, identifiers=meta["id"].tolist(), labels=labels)
        start = time.perf_counter()
        report = DatasetReport.introspect(producer, config=ReportConfig(projection=None,
                                                                        seed=seed))
        seconds.append(time.perf_counter() - start)
        scores.append(report.data["familiarity_emb"].tolist())
        if not groups:
            column = report.data["duplicates_emb"].to_numpy()
            groups = [np.flatnonzero(column == g).tolist() for g in range(column.max() + 1)]
    return {"scores": scores, "groups": groups, "seconds": float(np.median(seconds))}


def _deepview_gmm(x: np.ndarray, meta: pd.DataFrame) -> dict[str, Any]:
    from deepview.base import ArrayProducer
    from deepview.introspectors import Familiarity

    scores, seconds = [], []
    for seed in SEEDS:
        start = time.perf_counter()
        fam = Familiarity.introspect(ArrayProducer(x, field="emb"),
                                     strategy=Familiarity.Strategy.GMM(random_state=seed))
        scores.append(fam.score(x)["emb"].tolist())
        seconds.append(time.perf_counter() - start)
    return {"scores": scores, "groups": None, "seconds": float(np.median(seconds))}


def _array_producer(array: np.ndarray) -> Any:
    """A plain DNIKit-style producer (a callable of batch size) over the rows of ``array``."""
    from deepview.base import Batch

    def produce(batch_size: int) -> Any:
        for start in range(0, len(array), batch_size):
            yield Batch({"emb": array[start:start + batch_size]})

    return produce


def _reference(x: np.ndarray, meta: pd.DataFrame) -> dict[str, Any]:
    from deepview.base import pipeline
    from deepview.introspectors import DimensionReduction, Duplicates, Familiarity

    producer = _array_producer(x)
    scores, seconds = [], []
    groups: list[list[int]] = []
    for seed in SEEDS:
        start = time.perf_counter()
        reducer = DimensionReduction.introspect(
            producer, strategies=DimensionReduction.Strategy.PCA(40), batch_size=1024)
        reduced = np.concatenate([np.asarray(b.fields["emb"])
                                  for b in pipeline(producer, reducer)(1024)])
        reduced_producer = _array_producer(reduced)
        fam = Familiarity.introspect(
            reduced_producer,
            strategy=Familiarity.Strategy.GMM(_random_state=np.random.RandomState(seed)))
        out = []
        for batch in pipeline(reduced_producer, fam)(1024):
            out += [r.score for r in batch.metadata[fam.meta_key]["emb"]]
        if not groups:
            dups = Duplicates.introspect(reduced_producer)
            groups = [list(map(int, c.indices)) for c in dups.results["emb"]]
        seconds.append(time.perf_counter() - start)
        scores.append([float(v) for v in out])
    return {"scores": scores, "groups": groups, "seconds": float(np.median(seconds))}


def _cleanlab(x: np.ndarray, meta: pd.DataFrame) -> dict[str, Any]:
    from cleanlab import Datalab

    start = time.perf_counter()
    lab = Datalab(data=pd.DataFrame({"id": meta["id"]}))
    lab.find_issues(features=x, issue_types={"outlier": {}, "near_duplicate": {}})
    seconds = time.perf_counter() - start
    score = lab.get_issues("outlier")["outlier_score"].to_numpy().tolist()
    near = lab.get_issues("near_duplicate")
    sets = near["near_duplicate_sets"]
    flagged = near["is_near_duplicate_issue"].to_numpy()
    # cleanlab gives each flagged sample its set of near-duplicates: pairs, not groups
    pairs = sorted({(min(int(i), int(j)), max(int(i), int(j))) for i in np.flatnonzero(flagged)
                    for j in sets.iloc[i]})
    return {"scores": [score] * len(SEEDS), "pairs": pairs, "groups": None,
            "seconds": seconds}


TOOLS = {"deepview": _deepview, "deepview-gmm": _deepview_gmm, "reference": _reference,
         "cleanlab": _cleanlab}


# ----------------------------------------------------------------------------- metrics
def _truth_similar(meta: pd.DataFrame, directory: Path, a: int, b: int,
                   inputs: np.ndarray | None) -> bool:
    """Ground truth for a flagged pair: text similarity >= 0.85 (texts) or no input pixel
    differing by more than two grey levels (digits)."""
    if "text" in meta:
        return difflib.SequenceMatcher(None, meta["text"].iat[a], meta["text"].iat[b]
                                       ).ratio() >= 0.85
    assert inputs is not None
    return bool(np.abs(inputs[a] - inputs[b]).max() <= 2 / 16 + 1e-6)


def _pairs_of(result: dict[str, Any], x: np.ndarray) -> list[tuple[int, int]]:
    if result.get("pairs") is not None:
        return [tuple(p) for p in result["pairs"]]
    return [p for g in result["groups"] for p in itertools.combinations(sorted(g), 2)]


def evaluate(directory: Path) -> str:
    x = np.load(directory / "emb.npy", allow_pickle=False)
    meta = pd.read_csv(directory / "meta.csv", keep_default_na=False)
    inputs_path = directory / "inputs.npy"
    inputs = (np.load(inputs_path, allow_pickle=False).reshape(len(x), -1)
              if inputs_path.exists() else None)
    from scipy.stats import spearmanr
    from sklearn.neighbors import NearestNeighbors

    n = len(x)
    dist, _ = NearestNeighbors(n_neighbors=11).fit(x).kneighbors(x)
    knn_score = -dist[:, 1:].mean(axis=1)
    ood = (meta["kind"] == "ood").to_numpy()
    anomalies = meta["kind"].isin(["ood", "corrupt"]).to_numpy()
    low = int(np.ceil(n / 100))
    position = {name: i for i, name in enumerate(meta["id"])}
    edits = meta[meta["kind"] == "edit"]
    truth = [(position[a], position[b]) for a, b in zip(edits["id"], edits["pair_of"])]
    # sets of identical vectors (size >= 2)
    _, inverse, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    identical = [np.flatnonzero(inverse.ravel() == k) for k in np.flatnonzero(counts > 1)]
    rows = []
    for tool in TOOLS:
        path = directory / f"result-{tool}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        scores = [np.asarray(s, dtype=np.float64) for s in result["scores"]]
        first = scores[0]
        order = np.argsort(first, kind="stable")
        lows = [set(np.argsort(s, kind="stable")[:100].tolist()) for s in scores]
        overlap = np.mean([len(a & b) / 100 for a, b in itertools.combinations(lows, 2)])
        row = {
            "tool": tool,
            "OOD in 1% least familiar": f"{ood[order[:low]].sum()}/{ood.sum()}",
            "planted anomalies in lowest k": f"{anomalies[order[:anomalies.sum()]].sum()}"
                                             f"/{anomalies.sum()}",
            "Spearman vs kNN": f"{spearmanr(first, knn_score)[0]:+.3f}",
            "top-100 overlap (3 seeds)": f"{overlap:.2f}",
            "s": f"{result['seconds']:.1f}",
        }
        if result.get("groups") is not None or result.get("pairs") is not None:
            pairs = _pairs_of(result, x)
            label = np.full(n, -1)
            if result.get("groups") is not None:
                for g, members in enumerate(result["groups"]):
                    label[members] = g
                found = np.mean([label[a] == label[b] != -1 for a, b in truth])
                kept = np.mean([len(set(label[m])) == 1 and label[m[0]] != -1
                                for m in identical]) if identical else float("nan")
            else:
                pair_set = set(pairs)
                found = np.mean([(min(a, b), max(a, b)) in pair_set for a, b in truth])
                kept = float("nan")
            near = [p for p in pairs if not np.array_equal(x[p[0]], x[p[1]])]
            rng = np.random.default_rng(0)
            sample = [near[i] for i in rng.choice(len(near), min(3000, len(near)),
                                                  replace=False)] if near else []
            precision = (np.mean([_truth_similar(meta, directory, a, b, inputs)
                                  for a, b in sample]) if sample else float("nan"))
            row.update({
                "near-dup pairs found": f"{found:.2f}",
                "precision of flagged pairs": f"{precision:.3f} ({len(near)} pairs)",
                "identical sets in one group": (f"{kept:.2f} of {len(identical)}"
                                                if identical and not np.isnan(kept) else "-"),
            })
        rows.append(row)
    frame = pd.DataFrame(rows).fillna("-").astype(str)
    header = (f"### {directory.name}: {n} samples x {x.shape[1]}; planted: "
              f"{ood.sum()} out-of-domain, {anomalies.sum() - ood.sum()} corrupted, "
              f"{len(truth)} edited near-duplicates, {len(identical)} identical-vector sets\n")
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in frame.itertuples(index=False)]
    return header + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("tool", choices=sorted(TOOLS))
    run.add_argument("dir", type=Path)
    ev = sub.add_parser("evaluate")
    ev.add_argument("dirs", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "run":
        x = np.load(args.dir / "emb.npy", allow_pickle=False)
        meta = pd.read_csv(args.dir / "meta.csv", keep_default_na=False)
        result = TOOLS[args.tool](x, meta)
        (args.dir / f"result-{args.tool}.json").write_text(json.dumps(result))
        print(f"{args.tool}: {result['seconds']:.1f} s")
    else:
        for directory in args.dirs:
            print(evaluate(directory))
            print()


if __name__ == "__main__":
    main()
