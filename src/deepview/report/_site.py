"""The static report site of :class:`DatasetReport` data: :func:`write_site` (a folder that
works from ``file://``), :func:`notebook_html` and :func:`standalone_html` (one document).

The per-sample data is written in chunks of :data:`TIER_ROWS` rows, one script per chunk
(``chunks/<tier>-<k>.js``, calling ``window.DEEPVIEW_CHUNK``): ``points`` (what the map
draws, filters and ranks on: loaded with the page), ``ranks`` (per-label familiarity ranks,
loaded after the first render), ``rows`` (what a tile shows), ``details`` (the rest of a
sample), ``search`` (the ids sorted) and one ``colour<j>`` tier per numeric column the map
can be coloured by.  Every string from the data reaches the page as JSON data and is inserted
with ``textContent``; the JSON can never close its ``<script>`` element.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from deepview._compute.spill import FileRows, Pages, Workspace, take
from deepview._optional import require
from deepview._progress import progress_disabled
from deepview._validation import check_int
from deepview.exceptions import DeepViewWarning, InvalidParameterError, InvalidTypeError
from deepview.report import _audit as audit
from deepview.report import columns
from deepview.report.files import SITE_INDEX, write_directory

__all__ = ["NEIGHBOURS_SHOWN", "NOTEBOOK_MAX_ROWS", "TIER_ROWS", "notebook_html",
           "site_neighbours", "standalone_html", "write_site"]

logger = logging.getLogger(__name__)

_OWNER = "write_site"
#: Entries of a written site; on overwrite only these are replaced, index.html last.
_SITE_ENTRIES = ("assets", "data.js", "chunks", "thumbs", SITE_INDEX)
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
#: A string column with more distinct values than this is shown as text, not used as a label.
_MAX_LABEL_VALUES = 1000
#: Split familiarity keeps every per-label score only while values x rows stays below this.
_MAX_SPLIT_CELLS = 2_000_000
#: notebook_html embeds thumbnails as data URIs only up to this many images.
_MAX_NOTEBOOK_THUMBS = 5000
#: notebook_html shows at most this many samples (a fixed random sample of a larger report)
NOTEBOOK_MAX_ROWS = 2000
_FORMAT_VERSION = 2
#: rows per chunk of each tier (see the module docstring)
TIER_ROWS = {"points": 1 << 18, "ranks": 1 << 18, "rows": 1 << 14, "details": 1 << 13,
             "search": 1 << 16}
#: sites of at most this many rows load every chunk before the first render
PRELOAD_ROWS = 20_000
#: a missing quantised coordinate or rank
_MISSING16 = 65535
#: rows of the exact familiarity order shipped at each end when ranks are quantiles
_EXTREMES = 2048
#: bins of the familiarity histogram between its robust range (plus one under, one over)
_HIST_BINS = 32
#: a robust range (the histogram's, a colour scale's, the map's first view): these quantiles,
#: widened by ROBUST_MARGIN of their range, where the full range is ROBUST_GAIN times wider
ROBUST_QUANTILES = (0.005, 0.995)
ROBUST_MARGIN = 0.25
ROBUST_GAIN = 1.5
#: a label-issue score from here on is borderline (another class is as likely)
BORDERLINE = 0.5
#: how the site shows a missing value (a label's included)
MISSING = "(missing)"
#: the cluster label's value for samples in no cluster
NO_CLUSTER = "(no cluster)"
#: stacks of identical samples marked on the map, the largest first
STACKS_SHOWN = 2000
#: constants the page's script reads from data.js ("constants"), written once here
SHARED_CONSTANTS = ("ROBUST_QUANTILES", "ROBUST_MARGIN", "ROBUST_GAIN", "BORDERLINE",
                    "NO_CLUSTER")
#: nearest neighbours shown per sample
NEIGHBOURS_SHOWN = 8
#: audit columns: shown in the audit panels and the sample details, never labels
_AUDIT_KINDS = frozenset({columns.LABEL_ISSUE, columns.LABEL_ISSUE_FLAG,
                          columns.LABEL_ISSUE_SUGGESTED, columns.LEAKAGE, columns.LEAKAGE_FLAG})

_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="deepview">
<title>{title}</title>
<link rel="icon" href="data:,">
{head}
</head>
<body>
<div id="app" class="dv-app"><p class="dv-loading">Loading report&hellip;</p></div>
<noscript>This report needs JavaScript.</noscript>
{scripts}
</body>
</html>
"""


@dataclass
class _Images:
    """Per-row thumbnail index (-1: none) and the source file of each thumbnail."""

    index: np.ndarray
    sources: list[Path] = field(default_factory=list)


def write_site(
    data: pd.DataFrame,
    directory: str | os.PathLike[str],
    *,
    title: str = "deepview report",
    overwrite: bool = False,
    image_root: str | os.PathLike[str] | None = None,
    thumbnail_size: int = 64,
    neighbours: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    notes: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write an interactive static report site for ``data`` into ``directory``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per sample, with the columns of ``DatasetReport.data`` (see
        :mod:`deepview.report.columns`); other columns are shown in the sample details.
    directory : str or os.PathLike
        Folder to create, written whole or not at all.
    title : str, optional
        Page title.
    overwrite : bool, optional
        Replace the site in an existing non-empty ``directory``. Only the site's own entries
        (``index.html``, ``data.js``, ``assets/``, ``chunks/``, ``thumbs/``) are replaced;
        other files stay.
    image_root : str or os.PathLike, optional
        Folder that relative ids or ``path`` values naming image files are relative to
        (default: the working directory); those images get thumbnails.
    thumbnail_size : int, optional
        Longest side of the thumbnails in pixels (8 to 1024).
    neighbours : mapping of str to (indices, distances), optional
        ``DatasetReport.neighbours``: listed in the sample details.
    notes : mapping, optional
        ``DatasetReport.audit_notes``: read by the audit table.

    Returns
    -------
    pathlib.Path
        Path of the written ``index.html``; open it in a browser (no server needed).

    Raises
    ------
    FileExistsError
        ``directory`` exists and is not empty (or is a file) and ``overwrite`` is False.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> df = pd.DataFrame({"id": ["a", "b"], "color": ["red", "blue"],
    ...                    "projection_r_x": [0.0, 1.0], "projection_r_y": [1.0, 0.0]})
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "site"
    >>> write_site(df, out).name
    'index.html'
    """
    plan = _plan(data, title=title, image_root=image_root, thumbnail_size=thumbnail_size,
                 neighbours=neighbours, notes=notes)
    Workspace.trim()  # the plan's temporaries (float64 copies, sort orders)

    def build(tmp: Path) -> None:
        (tmp / "assets").mkdir()
        for name in ("app.js", "style.css"):
            (tmp / "assets" / name).write_text(_asset(name), encoding="utf-8")
        (tmp / "thumbs").mkdir()
        (tmp / "chunks").mkdir()
        plan.meta["thumbUrls"] = _write_thumbs(plan.images, tmp / "thumbs", thumbnail_size)
        points = []
        for tier, k, text in plan.chunk_scripts():
            name = f"chunks/{tier}-{k}.js"
            (tmp / name).write_text(text, encoding="utf-8")
            if tier == "points" or plan.meta["preload"]:
                points.append(f'<script src="{name}"></script>')
        (tmp / "data.js").write_text(plan.data_script(), encoding="utf-8")
        head = '<link rel="stylesheet" href="assets/style.css">'
        scripts = "\n".join(['<script src="data.js"></script>', *points,
                             '<script src="assets/app.js"></script>'])
        (tmp / SITE_INDEX).write_text(
            _HTML.format(title=html.escape(title), head=head, scripts=scripts), encoding="utf-8"
        )

    target = write_directory(build, directory, overwrite=overwrite, owner=_OWNER,
                             entries=_SITE_ENTRIES)
    logger.info("report site written to %s", target)
    return target / SITE_INDEX


def notebook_html(
    data: pd.DataFrame,
    *,
    title: str = "deepview report",
    image_root: str | os.PathLike[str] | None = None,
    thumbnail_size: int = 64,
    height: int = 700,
    max_rows: int | None = NOTEBOOK_MAX_ROWS,
    notes: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The report site as one sandboxed, self-contained ``<iframe>`` for Jupyter; more than
    ``max_rows`` samples are shown as a fixed random sample of them, with a note saying so.

    Parameters
    ----------
    data : pandas.DataFrame
        As for :func:`write_site`.
    title, image_root, thumbnail_size, notes
        As for :func:`write_site`.
    height : int, optional
        Height of the iframe in CSS pixels (100 to 10000).
    max_rows : int or None, default=NOTEBOOK_MAX_ROWS (2000)
        Most samples embedded; ``None`` embeds them all.

    Returns
    -------
    str
        HTML of an ``<iframe>`` element, after a ``<p class="deepview-note">`` when the
        report is sampled.

    Examples
    --------
    >>> import pandas as pd
    >>> notebook_html(pd.DataFrame({"id": ["a"]})).startswith("<iframe")
    True
    >>> page = notebook_html(pd.DataFrame({"id": [str(i) for i in range(50)]}), max_rows=20)
    >>> page[:page.index("</p>")].split(">")[-1]
    'Showing 20 of 50 samples (a fixed random sample). Write the site with report.export_site(DIR) to see them all.'
    """  # noqa: E501
    height = check_int(height, name="height", owner="notebook_html", min_value=100,
                       max_value=10000)
    note = ""
    if max_rows is not None:
        max_rows = check_int(max_rows, name="max_rows", owner="notebook_html", min_value=1)
        if isinstance(data, pd.DataFrame) and len(data) > max_rows:
            rows = np.random.default_rng(0).choice(len(data), size=max_rows, replace=False)
            note = (
                '<p class="deepview-note">'
                f"Showing {max_rows:,} of {len(data):,} samples (a fixed random sample). Write "
                "the site with report.export_site(DIR) to see them all.</p>"
            )
            data = data.iloc[np.sort(rows)]
    page = standalone_html(data, title=title, image_root=image_root,
                           thumbnail_size=thumbnail_size, notes=notes)
    return (
        f'{note}<iframe class="deepview-report" title="{html.escape(title)}" '
        f'sandbox="allow-scripts" style="width:100%;height:{height}px;border:0" '
        f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
    )


def standalone_html(
    data: pd.DataFrame,
    *,
    title: str = "deepview report",
    image_root: str | os.PathLike[str] | None = None,
    thumbnail_size: int = 64,
    neighbours: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    notes: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Return the whole site as one HTML document (assets, data and thumbnails inlined)."""
    plan = _plan(data, title=title, image_root=image_root, thumbnail_size=thumbnail_size,
                 neighbours=neighbours, notes=notes, inline=True)
    images = plan.images
    if len(images.sources) > _MAX_NOTEBOOK_THUMBS:
        warnings.warn(
            f"notebook_html: {len(images.sources)} images is too many to embed; showing the "
            "report without thumbnails. Use write_site(...) for a site with all thumbnails.",
            DeepViewWarning,
            stacklevel=3,
        )
        images.index[:] = -1
        images.sources = []
    plan.meta["thumbUrls"] = _write_thumbs(images, None, thumbnail_size)
    css = _asset("style.css").replace("</", "<\\/")
    js = _asset("app.js")
    if "</" in js:  # our own asset; guarded so a later edit cannot break the inline form
        raise RuntimeError("deepview site asset app.js must not contain '</'.")
    parts = [f"<script>{plan.data_script()}</script>"]
    parts += [f"<script>{text}</script>" for _, _, text in plan.chunk_scripts()]
    parts.append(f"<script>{js}</script>")
    return _HTML.format(title=html.escape(title), head=f"<style>{css}</style>",
                        scripts="\n".join(parts))


def _asset(name: str) -> str:
    return resources.files("deepview.report").joinpath("assets", name).read_text(
        encoding="utf-8"
    )


# --------------------------------------------------------------------------------------------
# encoding helpers


def _script_json(payload: Mapping[str, Any]) -> str:
    """JSON that is safe inside ``<script>``: no ``</``, ``<!--``, U+2028 or U+2029 survive."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def _b64(values: Any, dtype: type[np.generic]) -> str:
    """Little-endian typed-array bytes, base64: decoded by the script into a TypedArray."""
    arr = np.ascontiguousarray(np.asarray(values, dtype=dtype)).astype(
        np.dtype(dtype).newbyteorder("<"), copy=False
    )
    return base64.b64encode(arr.tobytes()).decode("ascii")


def _as_text(value: Any) -> str:
    return MISSING if audit.is_missing(value) else str(value)


def _texts(column: pd.Series) -> list[str]:
    return [_as_text(v) for v in column.to_numpy(dtype=object)]


def _factorize(column: pd.Series) -> tuple[list[str], np.ndarray]:
    """Sorted distinct label texts (with :data:`MISSING` for missing labels) and each row's
    code (int32), from the report's one label coding (:func:`_audit.label_codes`)."""
    codes, uniques = audit.label_codes(column)
    if not (codes < 0).any():
        return uniques, codes.astype(np.int32)
    shown = sorted({*uniques, MISSING})
    position = np.array([shown.index(v) for v in [*uniques, MISSING]], dtype=np.int32)
    return shown, position[codes]  # code -1 (missing) -> the last entry: MISSING


def _sample_texts(column: pd.Series) -> list[str]:
    """The ``text`` column as str per row; missing texts are empty."""
    return ["" if audit.is_missing(v) else str(v) for v in column.to_numpy(dtype=object)]


# --------------------------------------------------------------------------------------------
# data -> the site's summary (data.js) and its chunks


_DTYPES: dict[str, type[np.generic]] = {"u8": np.uint8, "u16": np.uint16, "i8": np.int8,
                                         "i32": np.int32, "f32": np.float32}


@dataclass
class _Column:
    """One per-sample column of a tier: ``get(a, b)`` gives rows ``a:b`` (a typed array of
    ``dtype``, ``width`` values per row, or a list of str when ``dtype`` is ``"str"``)."""

    tier: str
    dtype: str
    get: Callable[[int, int], Any]
    width: int = 1


@dataclass
class _Plan:
    """The summary written to data.js and the columns written chunk by chunk."""

    n: int
    meta: dict[str, Any]
    columns: dict[str, _Column]
    images: _Images
    rows: dict[str, int] = field(default_factory=lambda: dict(TIER_ROWS))

    def add(self, tier: str, dtype: str, get: Callable[[int, int], Any], width: int = 1) -> str:
        name = f"c{len(self.columns)}"
        self.columns[name] = _Column(tier, dtype, get, width)
        return name

    def dense(self, tier: str, dtype: str, values: np.ndarray) -> str:
        """A column held whole (a few bytes per row), written slice by slice."""
        array = np.ascontiguousarray(values, dtype=_DTYPES[dtype])
        return self.add(tier, dtype, lambda a, b: array[a:b],
                        1 if array.ndim == 1 else int(array.shape[1]))

    def tiers(self) -> dict[str, dict[str, int]]:
        used = {c.tier for c in self.columns.values()}
        return {t: {"rows": r, "count": -(-self.n // r) if t in used else 0}
                for t, r in self.rows.items()}

    def data_script(self) -> str:
        meta = dict(self.meta)
        meta["tiers"] = self.tiers()
        meta["columns"] = {name: {"tier": c.tier, "dtype": c.dtype, "width": c.width}
                           for name, c in self.columns.items()}
        return (
            "window.DEEPVIEW_CHUNKS = window.DEEPVIEW_CHUNKS || {};\n"
            "window.DEEPVIEW_CHUNK = window.DEEPVIEW_CHUNK || function (tier, k, cols) {\n"
            "  (window.DEEPVIEW_CHUNKS[tier] = window.DEEPVIEW_CHUNKS[tier] || {})[k] = cols;\n"
            "  if (window.DEEPVIEW_ONCHUNK) window.DEEPVIEW_ONCHUNK(tier, k);\n"
            "};\n"
            f"window.DEEPVIEW_DATA = {_script_json(meta)};\n"
        )

    def chunk_scripts(self) -> Iterator[tuple[str, int, str]]:
        """``(tier, k, script)`` of every chunk, built one at a time."""
        for tier, info in self.tiers().items():
            cols = {name: c for name, c in self.columns.items() if c.tier == tier}
            for k in range(info["count"]):
                a, b = k * info["rows"], min(self.n, (k + 1) * info["rows"])
                payload = {}
                for name, c in cols.items():
                    values = c.get(a, b)
                    payload[name] = (list(values) if c.dtype == "str"
                                     else _b64(values, _DTYPES[c.dtype]))
                yield tier, k, (f"DEEPVIEW_CHUNK({json.dumps(tier)},{k},"
                                f"{_script_json(payload)});\n")


def _quantise(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """uint16 codes 0..65534 over [min, max] of the finite values (65535: missing)."""
    finite = np.isfinite(values)
    out = np.full(len(values), _MISSING16, dtype=np.uint16)
    if not finite.any():
        return out, 0.0, 1.0
    lo, hi = float(values[finite].min()), float(values[finite].max())
    scale = (_MISSING16 - 1) / (hi - lo) if hi > lo else 0.0
    out[finite] = np.rint((values[finite] - lo) * scale).astype(np.uint16)
    return out, lo, hi


def _ranks(values: np.ndarray) -> tuple[np.ndarray, list[int], list[int]]:
    """Each row's rank among the finite ``values`` (ascending, ties by row) as uint16: exact up
    to 65 535 finite values, else its 1/65 535 quantile (65535: missing); with quantiles, the
    exact order of the :data:`_EXTREMES` lowest and highest rows too."""
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    m = len(order)
    ranks = np.full(len(values), _MISSING16, dtype=np.uint16)
    steps = np.arange(m, dtype=np.int64)
    ranks[order] = (steps if m < _MISSING16 else steps * (_MISSING16 - 1) // m).astype(np.uint16)
    if m < _MISSING16:
        return ranks, [], []
    return ranks, order[:_EXTREMES].tolist(), order[-_EXTREMES:].tolist()


def _robust_range(f: np.ndarray) -> tuple[float, float]:
    """The quantiles :data:`ROBUST_QUANTILES` of the finite values ``f`` widened by
    :data:`ROBUST_MARGIN` of their range (never past the extremes), or the full range
    unless it is more than :data:`ROBUST_GAIN` times wider."""
    lo_all, hi_all = float(f.min()), float(f.max())
    q_lo, q_hi = (float(q) for q in np.quantile(f, ROBUST_QUANTILES))
    margin = (q_hi - q_lo) * ROBUST_MARGIN
    lo, hi = max(lo_all, q_lo - margin), min(hi_all, q_hi + margin)
    if not hi > lo or hi_all - lo_all <= ROBUST_GAIN * (hi - lo):
        return lo_all, hi_all
    return lo, hi


def _histogram(values: np.ndarray) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Each row's histogram bin (uint8: 0 below the range, 1.._HIST_BINS, _HIST_BINS + 1 above
    it, 255 missing) and the range: the robust range (quantiles plus a margin) when the full
    range is more than 1.5 times wider, so a few outliers do not squash the rest into one bar;
    the outliers are then counted in the two outer bars."""
    finite = np.isfinite(values)
    bins = np.full(len(values), 255, dtype=np.uint8)
    if not finite.any():
        return bins, None
    f = values[finite]
    lo_all, hi_all = float(f.min()), float(f.max())
    lo, hi = _robust_range(f)
    width = (hi - lo) or 1.0
    b = np.clip(np.floor((f - lo) / width * _HIST_BINS), 0, _HIST_BINS - 1).astype(np.int64) + 1
    b[f < lo] = 0
    b[f > hi] = _HIST_BINS + 1
    bins[finite] = b.astype(np.uint8)
    return bins, {"bins": _HIST_BINS, "lo": lo, "hi": hi, "min": lo_all, "max": hi_all}


def _code_dtype(count: int) -> str:
    return "u8" if count <= 256 else "u16" if count <= 65536 else "i32"


def _groups_csr(groups: np.ndarray, exact: np.ndarray | None) -> dict[str, Any]:
    """Duplicate groups as members (row numbers) listed group after group, largest group first
    (ties: lower number), with ``starts`` (offsets), ``ids`` (group numbers) and per member its
    exact flag (1 identical copy in the group, 0 near only, -1 unknown)."""
    members = np.flatnonzero(groups >= 0)
    gid = groups[members]
    ids, inverse, counts = np.unique(gid, return_inverse=True, return_counts=True)
    group_order = np.lexsort((ids, -counts))
    position = np.empty(len(ids), dtype=np.int64)
    position[group_order] = np.arange(len(ids))
    order = np.lexsort((members, position[inverse]))
    members = members[order]
    starts = np.concatenate([[0], np.cumsum(counts[group_order])])
    flags = (exact[members] if exact is not None
             else np.full(len(members), -1, dtype=np.int8))
    return {"ids": _b64(ids[group_order], np.int32), "starts": _b64(starts, np.int32),
            "members": _b64(members, np.int32), "exact": _b64(flags, np.int8),
            "known": exact is not None, "count": int(len(ids))}


def _id_strings(data: pd.DataFrame) -> Any:
    """The ids as an Arrow string array (missing: :data:`MISSING`; no id column: numbers)."""
    import pyarrow as pa

    n = len(data)
    if columns.ID not in data.columns:
        warnings.warn(f"{_OWNER}: 'data' has no 'id' column; rows are shown by number.",
                      DeepViewWarning, stacklevel=4)
        return pa.array(np.arange(n).astype(str), type=pa.string())
    series = data[columns.ID]
    if isinstance(series.dtype, pd.StringDtype) or (
            isinstance(series.dtype, pd.ArrowDtype)
            and pd.api.types.is_string_dtype(series.dtype)):
        if not series.hasnans:  # the column's own Arrow strings (no copy)
            return pa.chunked_array(pa.array(series))
        return pa.chunked_array(pa.array(series.fillna(MISSING)))
    return pa.array(_texts(series), type=pa.string())


def _struct_matrix(column: pd.Series, a: int, b: int,
                   names: Sequence[str]) -> np.ndarray:
    """Rows ``a:b`` of a split-familiarity column as a float32 (rows, names) matrix."""
    out = np.full((b - a, len(names)), np.nan, dtype=np.float32)
    if not names:
        return out
    if isinstance(column.dtype, pd.ArrowDtype):
        import pyarrow as pa

        chunk = pa.array(column.iloc[a:b].array)
        if pa.types.is_struct(chunk.type):
            fields = {chunk.type.field(j).name: j for j in range(chunk.type.num_fields)}
            for j, name in enumerate(names):
                if name in fields:
                    out[:, j] = chunk.field(fields[name]).to_numpy(zero_copy_only=False)
            return out
    position = {k: j for j, k in enumerate(names)}
    for row, cell in enumerate(column.iloc[a:b].to_numpy(dtype=object)):
        for key, value in audit.as_mapping(cell).items():
            at = position.get(str(key))
            if at is not None:
                try:
                    out[row, at] = float(value)
                except (TypeError, ValueError):
                    pass
    return out


def _blockwise(n: int, fn: Callable[[int, int], np.ndarray], dtype: type[np.generic],
               block: int = 1 << 16) -> np.ndarray:
    out = np.empty(n, dtype=dtype)
    for a in range(0, n, block):
        out[a:a + block] = fn(a, min(n, a + block))
    return out


def _plan(data: Any, *, title: str, image_root: Any, thumbnail_size: int,
          neighbours: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
          notes: Mapping[str, Mapping[str, Any]] | None = None,
          inline: bool = False) -> _Plan:
    if not isinstance(data, pd.DataFrame):
        raise InvalidTypeError(
            f"{_OWNER}: 'data' must be a pandas DataFrame such as DatasetReport.data; got "
            f"{type(data).__name__}. Pass report.data."
        )
    if not isinstance(title, str):
        raise InvalidTypeError(f"{_OWNER}: 'title' must be a str; got {type(title).__name__}.")
    check_int(thumbnail_size, name="thumbnail_size", owner=_OWNER, min_value=8, max_value=1024)
    if len(set(map(str, data.columns))) != data.shape[1]:
        raise InvalidParameterError(
            f"{_OWNER}: 'data' has duplicate column names: got {list(data.columns)}. Rename them."
        )
    if neighbours is not None and not isinstance(neighbours, Mapping):
        raise InvalidTypeError(
            f"{_OWNER}: 'neighbours' must be a mapping of response name to (indices, "
            f"distances); got {type(neighbours).__name__}. Pass report.neighbours."
        )
    data = data.reset_index(drop=True).rename(columns=str)
    n = len(data)
    ids = _id_strings(data)
    plan = _Plan(n=n, meta={}, columns={}, images=_Images(np.full(n, -1, np.int32)))
    meta = plan.meta
    labels: dict[str, dict[str, Any]] = {}
    extras: list[dict[str, Any]] = []
    numbers: list[dict[str, Any]] = []
    split_cols: list[tuple[str, str, str]] = []
    audit_cols: list[tuple[str, str, str, str]] = []
    responses: dict[str, dict[str, Any]] = {}

    def resp(name: str) -> dict[str, Any]:
        return responses.setdefault(name, {
            "name": name, "xy": None, "fam": None, "percentile": None, "dup": None,
            "stacks": None, "clusters": None,
            "split": [], "labelIssues": [], "leakage": [], "neighbours": None})

    plan.add("rows", "str", lambda a, b: ids.slice(a, b - a).to_pylist())
    parsed = {col: columns.parse(col) for col in data.columns}
    proj: dict[str, dict[str, str]] = {}
    for col, c in parsed.items():
        if c and c.kind == columns.PROJECTION and pd.api.types.is_numeric_dtype(data[col].dtype):
            proj.setdefault(c.response, {})[str(c.detail)] = col
    dup_cols: dict[str, tuple[str | None, str | None]] = {}
    for col, c in parsed.items():
        if col in (columns.ID, columns.PATH, columns.TEXT):
            continue
        series = data[col]
        numeric = pd.api.types.is_numeric_dtype(series.dtype)
        kind, r, detail = c if c is not None else ("", "", None)
        if kind == columns.LABEL_ISSUE and audit.column_ok(kind, series):
            numbers.append(_colour_column(plan, f"label-issue score ({detail})",
                                          audit.numeric(series)))
        if kind == columns.SPLIT_FAMILIARITY:
            split_cols.append((r, str(detail), col))
        elif kind == columns.DUPLICATES and numeric:
            dup_cols[r] = (col, dup_cols.get(r, (None, None))[1])
        elif kind == columns.DUPLICATES_EXACT:
            dup_cols[r] = (dup_cols.get(r, (None, None))[0], col)
        elif kind == columns.PROJECTION and set(proj.get(r, {})) == {"x", "y"}:
            resp(r)
        elif kind == columns.FAMILIARITY_PERCENTILE and numeric:
            resp(r)["percentile"] = plan.dense("details", "f32", audit.numeric(series))
        elif kind == columns.FAMILIARITY and numeric:
            resp(r)["fam"] = _familiarity(plan, audit.numeric(series))
        elif kind in _AUDIT_KINDS and audit.column_ok(kind, series):
            audit_cols.append((kind, r, str(detail), col))
        elif kind not in _AUDIT_KINDS and (pd.api.types.is_bool_dtype(series.dtype) or (
            col != columns.FILENAME and audit.is_texty(series) and _labelish(series)
        )):
            values, codes = _factorize(series)
            cluster = kind == columns.CLUSTER and set(proj.get(r, {})) == {"x", "y"}
            if cluster:  # the map's clusters (not a label that happens to be named so)
                values = [NO_CLUSTER if v == MISSING else v for v in values]
            labels[col] = {"name": col, "values": values, "codes_np": codes,
                           "cluster": r if cluster else None}
        elif numeric:
            extras.append({"name": col, "kind": "number",
                           "col": plan.dense("details", "f32", audit.numeric(series))})
            numbers.append(_colour_column(plan, col, audit.numeric(series)))
        else:
            extras.append({"name": col, "kind": "text",
                           "col": plan.add("details", "str", _text_slices(series))})
    proj_q: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for r, axes in proj.items():
        if set(axes) != {"x", "y"}:
            continue
        x, y = audit.numeric(data[axes["x"]]), audit.numeric(data[axes["y"]])
        qx, x0, x1 = _quantise(x)
        qy, y0, y1 = _quantise(y)
        proj_q[r] = (qx, qy)
        resp(r)["xy"] = {"x": plan.dense("points", "u16", qx), "y": plan.dense("points", "u16", qy),
                         "x0": x0, "x1": x1, "y0": y0, "y1": y1,
                         "exactX": plan.dense("details", "f32", x),
                         "exactY": plan.dense("details", "f32", y)}
    for r, (group_col, exact_col) in dup_cols.items():
        if group_col is None:
            continue
        groups = audit.group_numbers(data[group_col])
        exact = audit.exact_flags(data[exact_col]) if exact_col else None
        resp(r)["dup"] = _groups_csr(groups, exact)
        if exact is not None and set(proj.get(r, {})) == {"x", "y"}:
            resp(r)["stacks"] = _stacks(groups, exact, audit.numeric(data[proj[r]["x"]]),
                                        audit.numeric(data[proj[r]["y"]]))
    meta_labels = []
    for d in labels.values():
        codes = d["codes_np"]
        meta_labels.append({
            "name": d["name"], "values": d["values"],
            "counts": np.bincount(codes, minlength=len(d["values"])).tolist(),
            "col": plan.dense("points", _code_dtype(len(d["values"])), codes)})
        r = d["cluster"]
        if r is not None and r in responses and responses[r]["xy"] is not None:
            responses[r]["clusters"] = _cluster_places(
                len(meta_labels) - 1, d["values"], codes, *proj_q[r])
    for r, dim, col in split_cols:
        resp(r)["split"].append(_split_entry(plan, data[col], dim, labels))
    for r, entries in _audit_entries(plan, data, audit_cols, labels).items():
        resp(r).update(entries)
    for r, value in (neighbours or {}).items():
        if str(r) in responses and value is not None:
            resp(str(r))["neighbours"] = _neighbour_entry(plan, value, n)
    texts = (plan.add("rows", "str", lambda a, b: _sample_texts(data[columns.TEXT].iloc[a:b]))
             if columns.TEXT in data.columns else None)
    images = _find_images(data, ids, image_root)
    plan.images = images
    thumbs = plan.dense("rows", "i32", images.index) if images.sources else None
    order = np.asarray(_sort_ids(ids), dtype=np.int32)
    search_rows = plan.rows["search"]
    search_ids = plan.add("search", "str", lambda a, b: ids.take(order[a:b]).to_pylist())
    search_at = plan.add("search", "i32", lambda a, b: order[a:b])
    meta.update({
        "format": _FORMAT_VERSION,
        "constants": {name: globals()[name] for name in SHARED_CONSTANTS},
        "title": title,
        "n": n,
        "preload": bool(inline or n <= PRELOAD_ROWS),
        "ids": "c0",
        "texts": texts,
        "thumbs": thumbs,
        "thumbUrls": [],
        "thumbSize": thumbnail_size,
        "labels": meta_labels,
        "responses": list(responses.values()),
        "extras": extras,
        "numbers": numbers,
        "search": {"ids": search_ids, "rows": search_at,
                   "first": [ids[int(order[a])].as_py() for a in range(0, n, search_rows)]},
        "audit": _audit_rows(data, notes),
    })
    return plan


def _colour_column(plan: _Plan, name: str, values: np.ndarray) -> dict[str, Any]:
    """A numeric column as a colour scale: uint8 steps 0..254 over its robust range (255:
    missing) in a tier of its own, loaded when the map is coloured by it."""
    finite = np.isfinite(values)
    lo, hi = _robust_range(values[finite]) if finite.any() else (0.0, 1.0)
    steps = np.full(len(values), 255, dtype=np.uint8)
    scale = 254 / (hi - lo) if hi > lo else 0.0
    steps[finite] = np.rint(np.clip((values[finite] - lo) * scale, 0, 254)).astype(np.uint8)
    tier = f"colour{sum(t.startswith('colour') for t in plan.rows)}"
    plan.rows[tier] = TIER_ROWS["points"]
    return {"name": name, "col": plan.dense(tier, "u8", steps), "tier": tier, "lo": lo, "hi": hi}


def _stacks(groups: np.ndarray, exact: np.ndarray, x: np.ndarray, y: np.ndarray
            ) -> dict[str, Any] | None:
    """Identical samples drawn on one spot: per stack (an exact duplicate group's members
    at one position, two or more) its first row and its size, largest first (at most
    :data:`STACKS_SHOWN`)."""
    rows = np.flatnonzero((groups >= 0) & (exact == 1) & np.isfinite(x) & np.isfinite(y))
    if len(rows) < 2:
        return None
    keys = np.rec.fromarrays([groups[rows], x[rows], y[rows]])
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    keep = np.flatnonzero(counts > 1)
    order = keep[np.lexsort((rows[first[keep]], -counts[keep]))][:STACKS_SHOWN]
    if not len(order):
        return None
    return {"rows": _b64(rows[first[order]], np.int32), "counts": _b64(counts[order], np.int32),
            "count": int(len(order))}


def _cluster_places(label: int, values: Sequence[str], codes: np.ndarray, qx: np.ndarray,
                    qy: np.ndarray) -> dict[str, Any]:
    """Where the map names each cluster: per value of the cluster label (other than
    :data:`NO_CLUSTER`) its size and the member nearest to its members' median position."""
    items: list[tuple[int, int, str, int]] = []
    for code, name in enumerate(values):
        if name == NO_CLUSTER:
            continue
        members = np.flatnonzero((codes == code) & (qx != _MISSING16) & (qy != _MISSING16))
        if not len(members):
            continue
        mx, my = np.median(qx[members]), np.median(qy[members])
        d = (qx[members] - float(mx)) ** 2 + (qy[members] - float(my)) ** 2
        items.append((-len(members), code, name, int(members[int(np.argmin(d))])))
    return {"label": label, "items": [{"code": code, "name": name, "size": -size, "row": row}
                                      for size, code, name, row in sorted(items)]}


def _text_slices(series: pd.Series) -> Callable[[int, int], list[str]]:
    return lambda a, b: _texts(series.iloc[a:b])


def _sort_ids(ids: Any) -> np.ndarray:
    """Row numbers in the order of their ids (by code point; ties by row)."""
    import pyarrow.compute as pc

    return np.asarray(pc.sort_indices(ids), dtype=np.int64)


def _familiarity(plan: _Plan, scores: np.ndarray) -> dict[str, Any]:
    bins, hist = _histogram(scores)
    ranks, lowest, highest = _ranks(scores)
    return {"bin": plan.dense("points", "u8", bins), "rank": plan.dense("points", "u16", ranks),
            "lowest": lowest, "highest": highest, "hist": hist,
            "exact": plan.dense("rows", "f32", scores)}


def site_neighbours(values: Any, indices: np.ndarray, distances: np.ndarray | None = None,
                    keep: int = NEIGHBOURS_SHOWN, block: int = 1 << 15, *,
                    work: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``keep`` neighbours of each row other than itself, from ``(n, k)`` neighbour
    lists (nearest first, e.g. the report's label-issue kNN), with their Euclidean distances:
    taken from ``distances`` (the lists' own, ``(n, k)``) when given, else computed in
    ``values`` (the ``(n, d)`` rows the lists were found in: an array, a memory-mapped one
    or :class:`~deepview._compute.spill.FileRows`, gathered a block at a time).  Returns
    ``int32`` rows (-1: none) and ``float32`` distances, ``keep`` per row (64 bytes per
    sample for 8; worked out in blocks of ``block`` rows).  The two arrays come from ``work``
    (detached: they outlive its folder), their pages given back as they are written."""
    indices = np.asarray(indices)
    n = len(indices)
    keep = max(0, min(keep, indices.shape[1] - 1 if indices.ndim == 2 else 0))
    if keep == 0 or n == 0:
        return np.full((n, keep), -1, dtype=np.int32), np.full((n, keep), np.nan, np.float32)
    work = work or Workspace()
    rows = work.array("site-neighbour-rows.i32", (n, keep), np.int32, detached=True)
    dist = work.array("site-neighbour-distances.f32", (n, keep), np.float32, detached=True)
    for a, b in work.blocks(n, block, rows, dist):
        idx = np.asarray(indices[a:b], dtype=np.int64)
        others = (idx != np.arange(a, b)[:, None]) & (idx >= 0) & (idx < n)
        order = np.argsort(~others, axis=1, kind="stable")[:, :keep]
        valid = np.take_along_axis(others, order, axis=1)
        picked = np.where(valid, np.take_along_axis(idx, order, axis=1), -1)
        if distances is not None:
            d = np.take_along_axis(np.asarray(distances[a:b], dtype=np.float32), order, axis=1)
        else:
            own = (values.rows_at(np.arange(a, b)) if isinstance(values, FileRows)
                   else np.asarray(values[a:b]))
            near = take(values, np.maximum(picked, 0).ravel()).reshape(b - a, keep, -1)
            d = np.linalg.norm(near.astype(np.float32) - own.astype(np.float32)[:, None, :],
                               axis=2)
        rows[a:b] = picked
        dist[a:b] = np.where(valid, d, np.nan)
    return rows, dist


def _neighbour_entry(plan: _Plan, value: Any, n: int) -> dict[str, Any] | None:
    try:
        indices, distances = value
    except (TypeError, ValueError):
        raise InvalidTypeError(
            f"{_OWNER}: each 'neighbours' value must be a pair (indices, distances) of (n, k) "
            "arrays."
        ) from None
    indices = np.asarray(indices)
    distances = np.asarray(distances)
    if indices.ndim != 2 or indices.shape != distances.shape or len(indices) != n:
        raise InvalidParameterError(
            f"{_OWNER}: 'neighbours' arrays must both be ({n}, k), one row per sample; got "
            f"{indices.shape} and {distances.shape}."
        )
    k = min(NEIGHBOURS_SHOWN, indices.shape[1])
    if k == 0:
        return None
    idx, dist = indices[:, :k], distances[:, :k]
    pages = Pages(*value, rows=1)  # a block at a time: the lists may be spilled

    def rows_of(a: int, b: int) -> np.ndarray:
        block = np.asarray(idx[a:b])
        pages.add(b - a)
        return np.where((block >= 0) & (block < n), block, -1).astype(np.int32)

    def dist_of(a: int, b: int) -> np.ndarray:
        out = np.ascontiguousarray(dist[a:b], dtype=np.float32)
        pages.add(b - a)
        return out

    return {"k": k, "rows": plan.add("details", "i32", rows_of, k),
            "dist": plan.add("details", "f32", dist_of, k)}


def _split_entry(plan: _Plan, column: pd.Series, dim: str,
                 labels: dict[str, Any]) -> dict[str, Any]:
    """Scores of every row under its own value's model (ranked, for the per-label galleries)
    and, while values x rows stays below :data:`_MAX_SPLIT_CELLS`, under each model."""
    names = audit.split_model_values(column)
    n = len(column)
    codes = labels[dim]["codes_np"] if dim in labels else np.full(n, -1, dtype=np.int32)
    values = labels[dim]["values"] if dim in labels else []
    position = {k: j for j, k in enumerate(names)}
    lut = np.asarray([position.get(v, -1) for v in values] + [-1], dtype=np.intp)

    def own_of(a: int, b: int) -> np.ndarray:
        matrix = _struct_matrix(column, a, b, names)
        model = lut[codes[a:b]]
        out = np.full(b - a, np.nan, dtype=np.float32)
        rows = np.flatnonzero(model >= 0)
        out[rows] = matrix[rows, model[rows]]
        return out

    own = _blockwise(n, own_of, np.float32).astype(np.float64)
    ranks, lowest, highest = _ranks(own)
    entry: dict[str, Any] = {"dim": dim, "values": names, "scores": None,
                             "rank": plan.dense("ranks", "u16", ranks), "lowest": lowest,
                             "highest": highest, "own": plan.dense("rows", "f32", own)}
    if names and len(names) * n <= _MAX_SPLIT_CELLS:
        entry["scores"] = plan.add("details", "f32",
                                   lambda a, b: _struct_matrix(column, a, b, names), len(names))
    return entry


# --------------------------------------------------------------------------------------------
# the audit: label issues, leakage, the issues table


def _split_rank(value: str) -> tuple[int, str]:
    return audit.SPLIT_ORDER.get(value.lower(), 2), value


def _audit_entries(plan: _Plan, data: pd.DataFrame,
                   audit_cols: Sequence[tuple[str, str, str, str]],
                   labels: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per response: ``labelIssues`` (per label dimension: the flagged and borderline samples,
    most suspicious last, with their scores and suggested classes; a bit per dimension in a
    points column saying which samples were scored) and ``leakage`` (per split label: the
    leaking samples and their groups, the split values train-first and the counts per pair of
    split values)."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for kind, r, dim, col in audit_cols:
        found.setdefault((r, dim), {})[kind] = col
    out: dict[str, dict[str, Any]] = {}
    measured: dict[str, np.ndarray] = {}
    for (r, dim), cols in found.items():
        entries = out.setdefault(r, {"labelIssues": [], "leakage": []})
        score = (audit.numeric(data[cols[columns.LABEL_ISSUE]]) if columns.LABEL_ISSUE in cols
                 else np.array([]))
        if np.isfinite(score).any():  # not measured (e.g. the label is not predictable): none
            flag_col = cols.get(columns.LABEL_ISSUE_FLAG)
            flag = audit.flags(data[flag_col]) if flag_col else np.zeros(len(data), np.int8)
            suggested_col = cols.get(columns.LABEL_ISSUE_SUGGESTED)
            if suggested_col:
                values, codes = _factorize(data[suggested_col])
                values = ["" if v == MISSING else v for v in values]  # "": no suggestion
            else:
                values, codes = [""], np.zeros(len(data), dtype=np.int32)
            bit = len(entries["labelIssues"])
            bits = measured.setdefault(r, np.zeros(len(data), dtype=np.uint16))
            if bit < 16:
                bits[np.isfinite(score)] |= np.uint16(1 << bit)
            listed = np.flatnonzero((flag == 1) | (score >= BORDERLINE))
            listed = listed[np.argsort(score[listed], kind="stable")]
            entries["labelIssues"].append({
                "dim": dim, "bit": bit if bit < 16 else None, "flagged": int(flag.sum()),
                "score": plan.dense("rows", "f32", score),
                "suggested": plan.dense("rows", _code_dtype(len(values)), codes),
                "sugValues": values,
                "list": {"rows": _b64(listed, np.int32), "score": _b64(score[listed], np.float32),
                         "flag": _b64(flag[listed], np.int8),
                         "sug": _b64(codes[listed], np.int32)}})
        if columns.LEAKAGE in cols:
            leaks = audit.group_numbers(data[cols[columns.LEAKAGE]])
            rows = np.flatnonzero(leaks >= 0)
            entry: dict[str, Any] = {"dim": dim, "rows": _b64(rows, np.int32),
                                     "groups": _b64(leaks[rows], np.int32), "pairs": [],
                                     "order": [], "values": None, "codes": None,
                                     "label": list(labels).index(dim) if dim in labels else -1}
            if dim in data.columns:
                split_values, split_codes = _factorize(data[dim])
                split_texts = [split_values[c] for c in split_codes[rows]] if len(rows) else []
                codes, names = audit.label_codes(split_texts)
                entry["pairs"] = [audit.train_first(p) for p in audit.split_pair_counts(
                    leaks[rows], codes, names)]
                entry["order"] = sorted(set(split_values), key=_split_rank)
                entry["values"] = split_values
                entry["codes"] = _b64(split_codes[rows], np.int32)
            entries["leakage"].append(entry)
    for r, bits in measured.items():
        full = int(np.bitwise_or.reduce(bits)) if len(bits) else 0
        fewer = np.flatnonzero(bits != full)
        if 4 * len(fewer) < len(bits):  # most rows scored for every label: the others listed
            out[r]["measured"] = {"full": full, "rows": _b64(fewer, np.int32),
                                  "bits": _b64(bits[fewer], np.uint16)}
        else:
            out[r]["measured"] = plan.dense("points", "u8" if full < 256 else "u16", bits)
    return out


def _audit_rows(data: pd.DataFrame, notes: Mapping[str, Mapping[str, Any]] | None
                ) -> list[dict[str, Any]]:
    """The rows of ``DatasetReport.issues()`` (:func:`_audit.issues_of`), JSON-ready (missing
    counts and scores as ``None``)."""
    if len(data) == 0:
        return []
    return [{"issue": str(r["issue"]), "response": str(r["response"]), "label": str(r["label"]),
             "detail": str(r["detail"]),
             "flagged": None if audit.is_missing(r["flagged"]) else int(r["flagged"]),
             "score": None if math.isnan(float(r["score"])) else float(r["score"])}
            for r in audit.issues_of(data, notes).to_dict("records")]


def _labelish(series: pd.Series) -> bool:
    """A text column is a label dimension when its values are scalars with few distinct values."""
    if audit.has_containers(series.dropna()):
        return False
    try:
        return int(series.nunique(dropna=False)) <= _MAX_LABEL_VALUES
    except TypeError:  # unhashable cells further down
        return False


# --------------------------------------------------------------------------------------------
# thumbnails


def _find_images(data: pd.DataFrame, ids: Any, image_root: Any) -> _Images:
    """Source image of each row: the ``path`` column if present, else the id (relative ones
    under ``image_root``); only names with an image suffix (.png, .jpg, ...) are considered."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(ids)
    root = None if image_root is None else Path(image_root).expanduser()
    if root is not None and not root.is_dir():
        raise InvalidParameterError(
            f"{_OWNER}: 'image_root' must be an existing directory; got '{image_root}'."
        )
    names = (pa.array(_texts(data[columns.PATH]), type=pa.string())
             if columns.PATH in data.columns else ids)
    lower = pc.utf8_lower(names)
    hits = np.zeros(n, dtype=bool)
    for suffix in sorted(_IMAGE_SUFFIXES):
        hits |= np.asarray(pc.ends_with(lower, suffix).fill_null(False), dtype=bool)
    index = np.full(n, -1, dtype=np.int32)
    sources: list[Path] = []
    seen: dict[Path, int] = {}
    missing: list[str] = []
    for row in np.flatnonzero(hits):
        cand = str(names[int(row)].as_py())
        path = Path(cand).expanduser()
        if root is not None and not path.is_absolute():
            path = root / path
        if not path.is_file():
            missing.append(cand)
            continue
        if path not in seen:
            seen[path] = len(sources)
            sources.append(path)
        index[row] = seen[path]
    if missing:
        warnings.warn(
            f"{_OWNER}: {len(missing)} of {n} image files were not found (first: "
            f"'{missing[0]}'); those samples are shown without thumbnails. Pass image_root= "
            "if the identifiers are relative to another folder.",
            DeepViewWarning,
            stacklevel=4,
        )
    return _Images(index=index, sources=sources)


def _write_thumbs(images: _Images, folder: Path | None, size: int) -> list[str | None]:
    """Write one PNG per source into ``folder`` (or return data URIs when ``folder`` is None)."""
    if not images.sources:
        return []
    pil = require("PIL.Image", feature="Report thumbnails", extra="image")
    ops = require("PIL.ImageOps", feature="Report thumbnails", extra="image")
    urls: list[str | None] = []
    failed: list[str] = []
    for k, src in enumerate(tqdm(images.sources, desc="thumbnails", unit="img",
                                 disable=progress_disabled())):
        try:
            with pil.open(src) as im:
                im.draft("RGB", (size, size))
                thumb = ops.exif_transpose(im)
                thumb.thumbnail((size, size))
                if thumb.mode not in ("RGB", "RGBA", "L", "LA"):
                    thumb = thumb.convert("RGBA")
                if folder is None:
                    buf = io.BytesIO()
                    thumb.save(buf, format="PNG")
                    urls.append("data:image/png;base64," + base64.b64encode(buf.getvalue())
                                .decode("ascii"))
                else:
                    thumb.save(folder / f"{k}.png", format="PNG")
                    urls.append(f"thumbs/{k}.png")
        except (OSError, ValueError, pil.DecompressionBombError) as exc:
            failed.append(f"{src} ({exc})")
            urls.append(None)
    if failed:
        warnings.warn(
            f"{_OWNER}: {len(failed)} images could not be read and have no thumbnail "
            f"(first: {failed[0]}).",
            DeepViewWarning,
            stacklevel=4,
        )
    return urls
