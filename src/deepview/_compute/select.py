"""Exact order statistics of non-negative floats streamed block by block, by counting their
bit patterns' 16-bit digits (``blocks()`` is called once per pass).

Examples
--------
>>> import numpy as np
>>> values = np.array([3.0, 0.5, 2.0, 9.0], dtype=np.float32)
>>> median(lambda: [values[:2], values[2:]])
(2.5, 4)
>>> median(lambda: [values[:2], values[2:]], select_rows=1)  # 16 bits at a time
(2.5, 4)
>>> median(lambda: [])
(0.0, 0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["SELECT_ROWS", "median"]

#: the candidates of a rank are sorted once at most this many remain
SELECT_ROWS = 1 << 20

Blocks = Callable[[], Iterable[np.ndarray]]


def _keys(block: np.ndarray) -> np.ndarray:
    """The bit patterns of a float32 or float64 block (``uint32`` / ``uint64``)."""
    block = np.ascontiguousarray(block).reshape(-1)
    return block.view(np.uint32 if block.dtype.itemsize == 4 else np.uint64)


def _value(key: int, width: int) -> float:
    dtype = (np.uint32, np.float32) if width == 32 else (np.uint64, np.float64)
    return float(np.array([key], dtype=dtype[0]).view(dtype[1])[0])


def median(blocks: Blocks, *, select_rows: int = SELECT_ROWS) -> tuple[float, int]:
    """``(np.median(values), len(values))`` of what ``blocks()`` yields; ``(0.0, 0)`` if none."""
    counts = np.zeros(1 << 16, dtype=np.int64)
    width = 32
    for block in blocks():
        keys = _keys(block)
        width = 8 * keys.dtype.itemsize
        counts += np.bincount((keys >> (width - 16)).astype(np.intp), minlength=1 << 16)
    total = int(counts.sum())
    if not total:
        return 0.0, 0
    ranks = [total // 2] if total % 2 else [total // 2 - 1, total // 2]
    found = _select(blocks, counts, width - 16, 0, ranks, select_rows)
    middle = np.array([_value(key, width) for key in found], dtype=np.float64)
    return float(np.mean(middle)), total


def _select(blocks: Blocks, counts: np.ndarray, shift: int, prefix: int, ranks: list[int],
            select_rows: int) -> list[int]:
    """The keys of ``ranks`` among keys with ``prefix``, given their digit counts at ``shift``."""
    cumulative = np.cumsum(counts)
    digits = [int(np.searchsorted(cumulative, rank, side="right")) for rank in ranks]
    if len(set(digits)) > 1:  # the ranks lie under different digits: one at a time
        return [key for rank in ranks
                for key in _select(blocks, counts, shift, prefix, [rank], select_rows)]
    digit = digits[0]
    ranks = [rank - (int(cumulative[digit - 1]) if digit else 0) for rank in ranks]
    prefix = (prefix << 16) | digit
    if shift == 0:  # every candidate has this pattern
        return [prefix] * len(ranks)
    if counts[digit] <= select_rows:
        found = np.sort(np.concatenate([keys[(keys >> shift) == prefix]
                                        for keys in map(_keys, blocks())]))
        return [int(found[rank]) for rank in ranks]
    counts = np.zeros(1 << 16, dtype=np.int64)
    for keys in map(_keys, blocks()):
        keys = keys[(keys >> shift) == prefix]
        counts += np.bincount(((keys >> (shift - 16)) & 0xFFFF).astype(np.intp),
                              minlength=1 << 16)
    return _select(blocks, counts, shift - 16, prefix, ranks, select_rows)
