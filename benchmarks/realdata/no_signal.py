"""Label issues on labels that carry no signal (issue 21): how many samples the report flags
when the label is a random permutation of the real one, a random 10-class label, or a
year-like label (19 values, skewed towards recent years) drawn independently of the vectors;
the real label beside them for comparison.  Reads an ``audit.py prepare`` folder::

    .venv/bin/python benchmarks/realdata/no_signal.py benchmarks/out/audit/text [...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", type=Path, nargs="+")
    args = parser.parse_args()
    from deepview.base import ArrayProducer
    from deepview.introspectors import DatasetReport, ReportConfig

    for directory in args.dirs:
        x = np.load(directory / "emb.npy", allow_pickle=False)
        meta = pd.read_csv(directory / "meta.csv", keep_default_na=False)
        rng = np.random.default_rng(0)
        real = meta["label"].astype(str).to_numpy()
        years = np.arange(2008, 2027)
        labels = {
            "real": real.tolist(),
            "permuted": rng.permutation(real).tolist(),
            "random10": rng.integers(0, 10, len(x)).astype(str).tolist(),
            "year": rng.choice(years, len(x), p=(years - 2007) / (years - 2007).sum())
                       .astype(str).tolist(),
        }
        report = DatasetReport.introspect(
            ArrayProducer({"emb": x}, labels=labels),
            config=ReportConfig(projection=None, familiarity=None))
        issues = report.issues().set_index(["issue", "label"])
        print(f"\n### {directory.name}: {len(x)} samples")
        print("| label | flagged | share | audit detail |\n|---|---|---|---|")
        for dim in labels:
            flags = report.data.get(f"labelIssueFlag_emb_byAttr_{dim}")
            flagged = int(flags.sum()) if flags is not None else 0
            detail = issues.loc[("label issues", dim), "detail"]
            print(f"| {dim} | {flagged} | {flagged / len(x):.1%} | {detail} |")


if __name__ == "__main__":
    main()
