"""Helpers for the report site tests: a planted report table and a decoder of written sites."""

from __future__ import annotations

import base64
import json
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


def load_payload(site: Path) -> dict[str, Any]:
    """Decode a written site's data.js back into Python (arrays decoded from base64)."""
    text = (site / "data.js").read_text(encoding="utf-8")
    prefix, suffix = "window.DEEPVIEW_DATA = ", ";\n"
    if not (text.startswith(prefix) and text.endswith(suffix)):
        raise ValueError("data.js has an unexpected shape")
    return json.loads(text[len(prefix):-len(suffix)])


def decode(b64: str, dtype: Any) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.dtype(dtype).newbyteorder("<"))


def expected_views(payload: dict[str, Any]) -> dict[str, Any]:
    """What the site must show for a payload, computed independently of the script."""
    n = payload["n"]
    ids = payload["ids"]
    out: dict[str, Any] = {"n": n, "ids": ids}
    resp = next((r for r in payload["responses"] if r["x"] and r["y"]), payload["responses"][0])
    if resp["familiarity"]:
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
    if resp["duplicates"]:
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
