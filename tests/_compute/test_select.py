"""Exact medians of values streamed block by block."""

from __future__ import annotations

import numpy as np
import pytest

from deepview._compute.select import median


@pytest.mark.parametrize("select_rows", [3, 1 << 20])  # 16 bits at a time / one sort
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_median_of_blocks_equals_numpy(select_rows: int, dtype: type) -> None:
    rng = np.random.default_rng(0)
    values = np.sqrt(rng.gamma(2.0, 3.0, size=(101, 10))).astype(dtype)
    values[5:40, 1] = 0.0  # zeros
    values[40:60, 2:5] = 2.5  # ties
    values[60:62, 3] = 1e-9  # tiny values
    for rows in (101, 100, 1):
        flat = values[:rows].reshape(-1)
        for lower in (0.0, 1e-6 * float(flat.max()), 2.5, float(np.median(flat))):
            above = flat[flat > lower]
            found = median(lambda: (b[b > lower] for b in np.array_split(flat, 13)),  # noqa: B023
                           select_rows=select_rows)
            assert found == (float(np.median(above.astype(np.float64))), len(above))
    same = np.full(90, 4.0, dtype=dtype)  # every candidate has one bit pattern
    assert median(lambda: [same[:50], same[50:]], select_rows=select_rows) == (4.0, 90)
    assert median(lambda: [same[:0]], select_rows=select_rows) == (0.0, 0)


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 1001])
def test_median_of_positive_neighbour_distances(n: int) -> None:
    """The scale the kNN finish uses: the median of the positive squared distances to other
    points, chunk by chunk."""
    from deepview._compute import knn

    rng = np.random.default_rng(n)
    idx = rng.integers(0, n, size=(n, 4)).astype(np.int32)
    idx[:, 0] = np.arange(n)  # the point itself first
    d2 = (rng.random((n, 4)) ** 3 * 10).astype(np.float32)
    d2[:, 0] = 0.0
    d2[rng.random((n, 4)) < 0.2] = 0.0  # some zeros (identical copies) are left out
    keep = (idx != np.arange(n)[:, None]) & (d2 > 0)
    positive = d2[keep].astype(np.float64)
    expected = float(np.median(positive)) if len(positive) else 0.0
    assert median(lambda: knn._positive_blocks(idx, d2))[0] == expected
