"""Helpers for the report site tests: a planted report table and a decoder of written sites."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HOSTILE = "<script>alert(1)</script>"
N_PLANTED = 120
#: rows whose familiarity is planted lowest, in increasing order of score
LEAST = [17, 4, 99, 60, 33]
#: planted duplicate groups
GROUPS = {0: [3, 8, 40], 1: [50, 51]}
#: rows with image files (absolute paths as ids)
N_IMAGES = 6


def planted_frame(image_dir: Path) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    from PIL import Image

    ids = []
    for i in range(N_PLANTED):
        if i < N_IMAGES:
            path = image_dir / f"img {i}.png"
            Image.fromarray(rng.integers(0, 255, (40, 90, 3), dtype=np.uint8)).save(path)
            ids.append(str(path.resolve()))
        else:
            ids.append(f"sample-{i:03d}")
    # class: 60 "cat", 36 "dog", 24 hostile; cluster: left half (x < 0) rows 0..69
    cls = np.array(["cat"] * 60 + ["dog"] * 36 + [HOSTILE] * 24, dtype=object)
    cls = cls[rng.permutation(N_PLANTED)]
    x = np.where(np.arange(N_PLANTED) < 70, -10.0, 10.0) + rng.normal(0, 1, N_PLANTED)
    y = rng.normal(0, 1, N_PLANTED)
    fam = rng.uniform(0.0, 1.0, N_PLANTED)
    fam[LEAST] = [-5.0, -4.0, -3.0, -2.0, -1.0]
    dup = np.full(N_PLANTED, -1, dtype=np.int32)
    for g, rows in GROUPS.items():
        dup[rows] = g
    split = [{"cat": float(f) + 0.5, "dog": float(f) - 0.5} for f in fam]
    return pd.DataFrame({
        "id": ids,
        "class": cls,
        "split": np.where(np.arange(N_PLANTED) % 3 == 0, "test", "train"),
        "duplicates_resp": dup,
        "projection_resp_x": x,
        "projection_resp_y": y,
        "familiarity_resp": fam,
        "splitFamiliarity_resp_byAttr_class": split,
    })


_TYPES = {"u8": np.uint8, "u16": np.uint16, "i8": np.int8, "i32": np.int32, "f32": np.float32}
_DATA = re.compile(r"window\.DEEPVIEW_DATA = (.*);$", re.M)
_CHUNK = re.compile(r'DEEPVIEW_CHUNK\("(\w+)",(\d+),(.*)\);$', re.M)


def read_site(site: Path | str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary (data.js) and every per-sample column of a written site (a folder) or of
    a standalone page (HTML text), each column whole: a numpy array ((n, width) when it holds
    several values per row) or a list of str."""
    if isinstance(site, Path):
        texts = [(site / "data.js").read_text(encoding="utf-8")]
        texts += [p.read_text(encoding="utf-8") for p in sorted((site / "chunks").glob("*.js"))]
        text = "\n".join(texts)
    else:
        text = site
    meta = json.loads(_DATA.search(text).group(1))  # type: ignore[union-attr]
    parts: dict[str, dict[int, dict[str, Any]]] = {}
    for tier, k, body in _CHUNK.findall(text):
        parts.setdefault(tier, {})[int(k)] = json.loads(body)
    out: dict[str, Any] = {}
    for name, info in meta["columns"].items():
        chunks = parts.get(info["tier"], {})
        pieces = [chunks[k][name] for k in sorted(chunks)]
        if info["dtype"] == "str":
            out[name] = [v for piece in pieces for v in piece]
        else:
            arr = np.concatenate([decode(p, _TYPES[info["dtype"]]) for p in pieces]) if pieces \
                else np.zeros(0, _TYPES[info["dtype"]])
            out[name] = arr.reshape(-1, info["width"]) if info["width"] > 1 else arr
    return meta, out


def load_payload(site: Path | str) -> dict[str, Any]:
    """A written site decoded back into Python, in the shape of the whole table: every
    per-sample value as a full column (numpy arrays, lists of str), from the chunks."""
    meta, cols = read_site(site)
    n = meta["n"]
    out: dict[str, Any] = {
        "n": n, "title": meta["title"], "ids": cols[meta["ids"]], "audit": meta["audit"],
        "thumbUrls": meta["thumbUrls"],
        "thumbIndex": cols[meta["thumbs"]] if meta["thumbs"] else np.full(n, -1, np.int32),
        "texts": cols[meta["texts"]] if meta["texts"] else None,
        "labels": [{"name": lab["name"], "values": lab["values"], "codes": cols[lab["col"]],
                    "counts": lab["counts"]} for lab in meta["labels"]],
        "extras": [{"name": e["name"], "kind": e["kind"], "data": cols[e["col"]]}
                   for e in meta["extras"]],
        "responses": [],
    }
    for r in meta["responses"]:
        resp: dict[str, Any] = {"name": r["name"], "x": None, "y": None, "familiarity": None,
                                "duplicates": None, "exact": None, "meta": r}
        if r["xy"]:
            resp["x"], resp["y"] = cols[r["xy"]["exactX"]], cols[r["xy"]["exactY"]]
            resp["qx"], resp["qy"] = cols[r["xy"]["x"]], cols[r["xy"]["y"]]
        if r["fam"]:
            resp["familiarity"] = cols[r["fam"]["exact"]]
            resp["famBin"] = cols[r["fam"]["bin"]]
            resp["famRank"] = cols[r["fam"]["rank"]]
        resp["percentile"] = cols[r["percentile"]] if r["percentile"] else None
        if r["dup"]:
            d = r["dup"]
            ids, starts = decode(d["ids"], np.int32), decode(d["starts"], np.int32)
            members, flags = decode(d["members"], np.int32), decode(d["exact"], np.int8)
            groups = np.full(n, -1, np.int32)
            for g, a, b in zip(ids, starts[:-1], starts[1:]):
                groups[members[a:b]] = g
            resp["duplicates"] = groups
            resp["groupOrder"] = ids.tolist()
            if d["known"]:
                exact = np.full(n, -1, np.int8)
                exact[members] = flags
                resp["exact"] = exact
        resp["split"] = [{"dim": s["dim"], "values": s["values"], "own": cols[s["own"]],
                          "rank": cols[s["rank"]],
                          "scores": None if s["scores"] is None else list(cols[s["scores"]].T)}
                         for s in r["split"]]
        resp["labelIssues"] = []
        for q in r["labelIssues"]:
            rows = decode(q["list"]["rows"], np.int32)
            flag = np.zeros(n, np.int8)
            flag[rows] = decode(q["list"]["flag"], np.int8)
            resp["labelIssues"].append({
                "dim": q["dim"], "flagged": q["flagged"], "score": cols[q["score"]],
                "flag": flag, "listed": rows,
                "suggested": {"values": q["sugValues"], "codes": cols[q["suggested"]]}})
        resp["leakage"] = []
        for q in r["leakage"]:
            groups = np.full(n, -1, np.int32)
            groups[decode(q["rows"], np.int32)] = decode(q["groups"], np.int32)
            resp["leakage"].append({"dim": q["dim"], "order": q["order"], "pairs": q["pairs"],
                                    "values": q["values"], "groups": groups})
        nb = r["neighbours"]
        resp["neighbours"] = None if nb is None else (cols[nb["rows"]], cols[nb["dist"]])
        out["responses"].append(resp)
    return out


def decode(b64: Any, dtype: Any) -> np.ndarray:
    """base64 little-endian bytes (or an already decoded array) as a numpy array."""
    if isinstance(b64, np.ndarray):
        return b64.astype(dtype, copy=False)
    return np.frombuffer(base64.b64decode(b64), dtype=np.dtype(dtype).newbyteorder("<"))


def expected_views(payload: dict[str, Any]) -> dict[str, Any]:
    """What the site must show for a payload, computed independently of the script."""
    n = payload["n"]
    ids = payload["ids"]
    out: dict[str, Any] = {"n": n, "ids": ids}
    resp = next((r for r in payload["responses"] if r["x"] is not None),
                payload["responses"][0])
    if resp["familiarity"] is not None:
        fam = decode(resp["familiarity"], np.float32)
        finite = np.flatnonzero(np.isfinite(fam))
        order = finite[np.lexsort((finite, fam[finite]))]
        out["least"] = [ids[i] for i in order[:12]]
        if payload["labels"]:
            codes = decode(payload["labels"][0]["codes"], np.int32)
            out["least_by_label"] = {
                v: [ids[i] for i in order if codes[i] == k][:12]
                for k, v in enumerate(payload["labels"][0]["values"])
            }
    if resp["duplicates"] is not None:
        dup = decode(resp["duplicates"], np.int32)
        if (dup >= 0).any():
            g = int(dup[dup >= 0].min())
            out["group"] = (g, sorted(ids[i] for i in np.flatnonzero(dup == g)))
    if payload["labels"]:
        lab = payload["labels"][0]
        codes = decode(lab["codes"], np.int32)
        out["label_counts"] = {v: int((codes == k).sum()) for k, v in enumerate(lab["values"])}
    return out


#: the audit frame: rows of each class, in blocks
AUDIT_CLASSES = {"cat": 26, "dog": 26, HOSTILE: 8}
#: duplicate groups: 0 exact (train 3 / test 50, a leak), 1 near within train (no leak),
#: 2 near (train 20, 21 / test 55, a leak)
AUDIT_GROUPS = {0: [3, 50], 1: [10, 11], 2: [20, 21, 55]}
AUDIT_LEAKS = {0: [3, 50], 2: [20, 21, 55]}
#: planted label issues: row -> (score, flagged, suggested class)
AUDIT_ISSUES = {7: (0.95, True, "dog"), 8: (0.9, True, HOSTILE), 30: (0.8, True, "cat"),
                13: (0.55, False, "dog"), 55: (0.97, True, "cat")}
N_AUDIT = 60
N_TRAIN = 45


def audit_frame() -> pd.DataFrame:
    """A report table with the audit columns: a hostile class value (thin: 8 of 60 rows), a
    train/test split (rows >= 45 are test), leaking and non-leaking duplicate groups and
    planted label issues."""
    rng = np.random.default_rng(11)
    cls = np.concatenate([[k] * v for k, v in AUDIT_CLASSES.items()]).astype(object)
    dup = np.full(N_AUDIT, -1, dtype=np.int32)
    for g, rows in AUDIT_GROUPS.items():
        dup[rows] = g
    leak = np.full(N_AUDIT, -1, dtype=np.int32)
    for g, rows in AUDIT_LEAKS.items():
        leak[rows] = g
    exact = np.isin(np.arange(N_AUDIT), AUDIT_GROUPS[0])
    score = rng.uniform(0.0, 0.3, N_AUDIT)
    flag = np.zeros(N_AUDIT, dtype=bool)
    suggested = np.array([""] * N_AUDIT, dtype=object)
    for row, (s, f, c) in AUDIT_ISSUES.items():
        score[row], flag[row], suggested[row] = s, f, c
    return pd.DataFrame({
        "id": [f"a{i:02d}" for i in range(N_AUDIT)],
        "class": cls,
        "split": np.where(np.arange(N_AUDIT) < N_TRAIN, "train", "test"),
        "duplicates_resp": dup,
        "duplicatesExact_resp": exact,
        "projection_resp_x": rng.normal(size=N_AUDIT),
        "projection_resp_y": rng.normal(size=N_AUDIT),
        "familiarity_resp": rng.normal(size=N_AUDIT),
        "leakage_resp_byAttr_split": leak,
        "leakageFlag_resp_byAttr_split": leak >= 0,
        "labelIssue_resp_byAttr_class": score,
        "labelIssueFlag_resp_byAttr_class": flag,
        "labelIssueSuggested_resp_byAttr_class": pd.array(suggested.tolist(), dtype="str"),
    })
