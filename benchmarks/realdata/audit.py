"""Audit harness (issue 13): label issues and train/test leakage, deepview vs cleanlab Datalab.

Builds on a real-data directory of ``harness.py`` (``corpus.py`` + ``embed_text.py``, or
``make_digits.py``): the natural rows with 5 % of their labels flipped to another class at
random, a split label (digits: scikit-learn's train/test split of the demo; texts: 80/20 at
random), and planted cross-split duplicates: every planted edit and bulk copy is put in the
other split than its original (so each is a leak of a known pair).  Out-of-domain and
corrupted rows are left out.  Steps::

    .venv/bin/python audit.py prepare ../out/realdata/text ../out/audit/text
    .venv/bin/python audit.py run deepview ../out/audit/text          # neighbours only
    .venv/bin/python audit.py run deepview-pred ../out/audit/text     # + predictions
    ~/.cache/peers/bin/python audit.py run cleanlab ../out/audit/text
    .venv/bin/python audit.py evaluate ../out/audit/text [...]

``probs.npy`` (written by ``prepare``) holds out-of-fold class probabilities of a logistic
regression on the embeddings with the noisy labels (5-fold ``cross_val_predict``): the
predictions a user would pass to both tools.  ``cleanlab`` runs ``Datalab.find_issues`` with
``pred_probs`` for ``label`` and ``features`` for ``near_duplicate`` (with only features, its
label check fails on the text set: "Values in pred_probs must be between 0 and 1").
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

FLIP_RATE = 0.05
#: ``--label subpackage`` (texts): a second, topical labelling of the same docstrings, by the
#: subpackage they come from (classes of 100+ docstrings whose names say what they are about;
#: the tensor-type and catch-all namespaces such as ``torch.cuda`` or ``pandas.core`` left out)
SUBPACKAGES = ("scipy.stats", "numpy.distutils", "numpy.ma", "pandas.io", "scipy.signal",
               "torch.distributed", "numpy.polynomial", "torch.fx", "torch.nn", "numpy.random",
               "sklearn.metrics", "scipy.spatial", "scipy.sparse", "scipy.linalg")


def _subpackage(ids: pd.Series) -> pd.Series:
    return ids.str.split(".").str[:2].str.join(".")


def prepare(source: Path, out: Path, seed: int = 0, label_kind: str = "default") -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    x = np.load(source / "emb.npy", allow_pickle=False)
    meta = pd.read_csv(source / "meta.csv", dtype=str, keep_default_na=False)
    label = "source" if "source" in meta else "digit"
    if label_kind == "subpackage" and "text" not in meta:
        raise SystemExit("--label subpackage needs the text set")
    rng = np.random.default_rng(seed)
    meta["row"] = np.arange(len(meta))
    keep = meta["kind"].isin(["natural", "edit", "bulk"]).to_numpy().copy()
    if label_kind == "subpackage":
        originals = meta["pair_of"].where(meta["pair_of"] != "", meta["id"])
        meta["subpackage"] = _subpackage(originals)
        label = "subpackage"
        keep &= meta["subpackage"].isin(SUBPACKAGES).to_numpy()
    meta, x = meta[keep].reset_index(drop=True), x[keep]
    if "split" not in meta:
        meta["split"] = np.where(rng.random(len(meta)) < 0.8, "train", "test")
    split_of = dict(zip(meta["id"], meta["split"]))
    planted = meta["kind"] != "natural"
    meta.loc[planted, "split"] = [("test" if split_of[p] == "train" else "train")
                                  for p in meta.loc[planted, "pair_of"]]
    classes = sorted(meta[label].unique())
    meta["true_label"] = meta[label]
    natural = np.flatnonzero(meta["kind"] == "natural")
    flips = rng.choice(natural, int(round(FLIP_RATE * len(natural))), replace=False)
    for i in flips:
        others = [c for c in classes if c != meta.at[i, label]]
        meta.at[i, label] = others[int(rng.integers(len(others)))]
    meta["label"] = meta[label]
    meta["flipped"] = meta["label"] != meta["true_label"]
    probs = cross_val_predict(LogisticRegression(max_iter=2000), x, meta["label"], cv=5,
                              method="predict_proba")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "emb.npy", x, allow_pickle=False)
    np.save(out / "probs.npy", probs.astype(np.float64), allow_pickle=False)
    if (source / "inputs.npy").exists():
        inputs = np.load(source / "inputs.npy", allow_pickle=False)
        np.save(out / "inputs.npy", inputs[meta["row"].to_numpy()], allow_pickle=False)
    columns = ["id", "label", "true_label", "flipped", "split", "kind", "pair_of"]
    meta[columns + (["text"] if "text" in meta else [])].to_csv(out / "meta.csv", index=False)
    (out / "classes.json").write_text(json.dumps(classes))
    print(f"{len(meta)} rows, {int(meta['flipped'].sum())} flipped labels, "
          f"{int(planted.sum())} planted cross-split copies; {len(classes)} classes")


# ----------------------------------------------------------------------------- the tools
def _deepview(x: np.ndarray, meta: pd.DataFrame, probs: np.ndarray | None,
              classes: list[str]) -> dict[str, Any]:
    from deepview.base import ArrayProducer
    from deepview.introspectors import DatasetReport, ReportConfig

    producer = ArrayProducer({"emb": x}, identifiers=meta["id"].tolist(),
                             labels={"label": meta["label"].tolist(),
                                     "split": meta["split"].tolist()})
    predictions = None if probs is None else {"label": pd.DataFrame(probs, columns=classes)}
    start = time.perf_counter()
    report = DatasetReport.introspect(producer, config=ReportConfig(projection=None),
                                      predictions=predictions)
    seconds = time.perf_counter() - start
    data = report.data
    return {"label_score": data["labelIssue_emb_byAttr_label"].tolist(),
            "label_flag": data["labelIssueFlag_emb_byAttr_label"].astype(bool).tolist(),
            "leak_group": data["leakage_emb_byAttr_split"].tolist(),
            "seconds": seconds}


def _cleanlab(x: np.ndarray, meta: pd.DataFrame, probs: np.ndarray | None,
              classes: list[str]) -> dict[str, Any]:
    from cleanlab import Datalab

    start = time.perf_counter()
    lab = Datalab(data={"label": meta["label"].tolist()}, label_name="label", verbosity=0)
    lab.find_issues(features=x, pred_probs=probs,
                    issue_types={"label": {}, "near_duplicate": {}})
    seconds = time.perf_counter() - start
    label = lab.get_issues("label")
    near = lab.get_issues("near_duplicate")
    groups = np.full(len(x), -1)
    number = 0
    seen: set[int] = set()
    for i in np.flatnonzero(near["is_near_duplicate_issue"].to_numpy()):
        if i in seen:
            continue
        members = {int(i), *map(int, near["near_duplicate_sets"].iat[i])}
        stack = list(members)
        while stack:  # cleanlab's sets are per sample: close them transitively
            j = stack.pop()
            for m in near["near_duplicate_sets"].iat[j]:
                if int(m) not in members:
                    members.add(int(m))
                    stack.append(int(m))
        for m in members:
            groups[m] = number
        seen |= members
        number += 1
    split = meta["split"].to_numpy()
    leak = groups.copy()
    for g in range(number):
        if len(set(split[groups == g])) < 2:
            leak[groups == g] = -1
    return {"label_score": (1 - label["label_score"]).tolist(),
            "label_flag": label["is_label_issue"].astype(bool).tolist(),
            "leak_group": leak.tolist(), "seconds": seconds}


TOOLS = {"deepview": (_deepview, False), "deepview-pred": (_deepview, True),
         "cleanlab": (_cleanlab, True)}


def run(tool: str, directory: Path) -> None:
    x = np.load(directory / "emb.npy", allow_pickle=False)
    meta = pd.read_csv(directory / "meta.csv", keep_default_na=False, dtype=str)
    classes = json.loads((directory / "classes.json").read_text())
    function, with_probs = TOOLS[tool]
    probs = np.load(directory / "probs.npy", allow_pickle=False) if with_probs else None
    result = function(x, meta, probs, classes)
    (directory / f"audit-{tool}.json").write_text(json.dumps(result))
    print(f"{tool}: {result['seconds']:.1f} s")


# ----------------------------------------------------------------------------- metrics
def _similar(meta: pd.DataFrame, inputs: np.ndarray | None, a: int, b: int) -> bool:
    if "text" in meta:
        ta, tb = meta["text"].iat[a], meta["text"].iat[b]
        return ta == tb or difflib.SequenceMatcher(None, ta, tb).ratio() >= 0.85
    assert inputs is not None
    return bool(np.abs(inputs[a] - inputs[b]).max() <= 2 / 16 + 1e-6)


def _recall_at_precision(score: np.ndarray, truth: np.ndarray, precision: float = 0.8) -> float:
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
    hits = np.cumsum(truth[order])
    ok = hits / np.arange(1, len(order) + 1) >= precision
    return float((hits[ok] / truth.sum()).max()) if ok.any() else 0.0


def evaluate(directory: Path) -> str:
    meta = pd.read_csv(directory / "meta.csv", keep_default_na=False, dtype=str)
    inputs_path = directory / "inputs.npy"
    inputs = (np.load(inputs_path, allow_pickle=False).reshape(len(meta), -1)
              if inputs_path.exists() else None)
    flipped = meta["flipped"].to_numpy() == "True"
    split = meta["split"].to_numpy()
    position = {i: k for k, i in enumerate(meta["id"])}
    planted = [(k, position[p]) for k, p in enumerate(meta["pair_of"]) if p]
    lines = [f"### {directory.name}: {len(meta)} samples; {int(flipped.sum())} flipped labels "
             f"({FLIP_RATE:.0%}), {len(planted)} planted cross-split copies",
             "| tool | label issues: recall at precision >= 0.8 | flagged | flag precision | "
             "flag recall | leak pairs found | leak pair precision | s |",
             "|---|---|---|---|---|---|---|---|"]
    for tool in TOOLS:
        path = directory / f"audit-{tool}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        score = np.array(result["label_score"], dtype=np.float64)
        flag = np.array(result["label_flag"], dtype=bool)
        leak = np.array(result["leak_group"])
        found = np.mean([leak[a] >= 0 and leak[a] == leak[b] for a, b in planted])
        pairs = [(a, b) for g in np.unique(leak[leak >= 0])
                 for a, b in itertools.combinations(np.flatnonzero(leak == g), 2)
                 if split[a] != split[b]]
        precision = np.mean([_similar(meta, inputs, a, b) for a, b in pairs]) if pairs else 0
        lines.append(
            f"| {tool} | {_recall_at_precision(score, flipped):.3f} | {int(flag.sum())} | "
            f"{(flag & flipped).sum() / max(flag.sum(), 1):.3f} | "
            f"{(flag & flipped).sum() / flipped.sum():.3f} | {found:.3f} | "
            f"{precision:.3f} ({len(pairs)} pairs) | {result['seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("source", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0, help="seed of the flips and the split")
    p.add_argument("--label", choices=["default", "subpackage"], default="default",
                   help="texts: the source package (default) or the subpackage")
    r = sub.add_parser("run")
    r.add_argument("tool", choices=sorted(TOOLS))
    r.add_argument("dir", type=Path)
    e = sub.add_parser("evaluate")
    e.add_argument("dirs", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.source, args.out, args.seed, args.label)
    elif args.command == "run":
        run(args.tool, args.dir)
    else:
        print("\n\n".join(evaluate(d) for d in args.dirs))


if __name__ == "__main__":
    main()
