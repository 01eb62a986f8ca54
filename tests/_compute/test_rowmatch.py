"""Row recognition kernels: exact lookup and tolerant fingerprints."""

from __future__ import annotations

import numpy as np

from deepview._compute.rowmatch import ExactRowIndex, RowFingerprints, hash_rows


def test_exact_row_index_finds_copies_only(rng):
    train = rng.normal(size=(500, 7)).astype(np.float32)
    train[10] = train[3]  # duplicate row: the first occurrence is returned
    index = ExactRowIndex(train)
    order = rng.permutation(500)
    found = index.lookup(train[order].astype(np.float64))
    expected = np.where(order == 10, 3, order)
    np.testing.assert_array_equal(found, expected)
    near = train[:20] + np.float32(1e-3)
    assert np.all(index.lookup(near) == -1)
    assert np.all(index.lookup(rng.normal(size=(5, 6))) == -1)  # wrong width


def test_negative_zero_equals_zero():
    train = np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32)
    index = ExactRowIndex(train)
    assert index.lookup(np.array([[-0.0, 1.0]])).tolist() == [0]
    assert hash_rows(np.zeros((3, 0), dtype=np.float32)).tolist() == [0, 0, 0]


def test_fingerprints_tolerate_noise_but_not_other_samples(rng):
    x = rng.normal(size=(300, 16)) + 50.0
    fp = RowFingerprints()
    for start in range(0, 300, 64):
        fp.update(x[start:start + 64])
    fp.finalize()
    rows = np.arange(300)
    assert fp.matches(rows, x * (1 + 1e-6)).all()
    assert fp.matches(rows, x.astype(np.float32)).all()
    shuffled = rng.permutation(300)
    moved = shuffled != rows
    assert not fp.matches(rows, x[shuffled])[moved].any()
