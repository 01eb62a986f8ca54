"""deepview.report.columns: the one place that builds and parses the report's column names."""

from __future__ import annotations

import pytest

from deepview.report import columns


def test_built_names_parse_back() -> None:
    r = columns.response_part("penultimate layer/2")
    assert r == "penultimate_layer2"
    x, y = columns.projection(r)
    built = {
        columns.duplicates(r): (columns.DUPLICATES, None),
        columns.duplicates_exact(r): (columns.DUPLICATES_EXACT, None),
        x: (columns.PROJECTION, "x"),
        y: (columns.PROJECTION, "y"),
        columns.familiarity(r): (columns.FAMILIARITY, None),
        columns.familiarity_percentile(r): (columns.FAMILIARITY_PERCENTILE, None),
        columns.split_familiarity(r, "by_Attr"): (columns.SPLIT_FAMILIARITY, "by_Attr"),
    }
    assert list(built) == [
        "duplicates_penultimate_layer2", "duplicatesExact_penultimate_layer2",
        "projection_penultimate_layer2_x", "projection_penultimate_layer2_y",
        "familiarity_penultimate_layer2", "familiarityPercentile_penultimate_layer2",
        "splitFamiliarity_penultimate_layer2_byAttr_by_Attr",
    ]
    for name, (kind, detail) in built.items():
        assert columns.parse(name) == columns.Column(kind, r, detail)


@pytest.mark.parametrize("name", ["id", "class", "duplicates", "familiarity",
                                  "projection_r_z", "duplicatesFoo", "splitFamiliarity_r"])
def test_other_columns_parse_to_none(name: str) -> None:
    assert columns.parse(name) is None


def test_reserved_sample_columns() -> None:
    assert columns.RESERVED == {"id", "path", "text", "filename"}


def test_a_label_named_like_a_cluster_column_stays_a_label() -> None:
    names = ["id", "cluster_id", "cluster_emb", "projection_emb_x", "projection_emb_y"]
    assert columns.label_columns(names) == ["cluster_id"]
    assert columns.label_columns(["cluster_emb", "familiarity_emb"]) == []
