"""Static, self-contained report site for :class:`DatasetReport` data.

:func:`write_site` writes ``index.html``, ``assets/`` (one script, one stylesheet, both shipped
as package data), ``data.js`` (the table as compact columnar JSON assigned to a global, so the
site works opened from ``file://``) and ``thumbs/`` (resized copies of the images, named by row
number, so absolute identifiers work). :func:`notebook_html` returns the same site as one
self-contained ``<iframe srcdoc=...>`` for Jupyter.

Every string from the data reaches the page as JSON data and is inserted by the script with
``textContent``; the JSON is escaped so that it can never close its ``<script>`` element.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from deepview._optional import require
from deepview._progress import progress_disabled
from deepview._validation import check_int
from deepview.exceptions import DeepViewWarning, InvalidParameterError, InvalidTypeError
from deepview.report import _audit as audit
from deepview.report import columns
from deepview.report.files import SITE_INDEX, write_directory

__all__ = ["NOTEBOOK_MAX_ROWS", "notebook_html", "standalone_html", "write_site"]

logger = logging.getLogger(__name__)

_OWNER = "write_site"
#: Entries of a written site; on overwrite only these are replaced, index.html last.
_SITE_ENTRIES = ("assets", "data.js", "thumbs", SITE_INDEX)
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
#: A string column with more distinct values than this is shown as text, not used as a label.
_MAX_LABEL_VALUES = 1000
#: Split familiarity keeps every per-label score only while values x rows stays below this.
_MAX_SPLIT_CELLS = 2_000_000
#: notebook_html embeds thumbnails as data URIs only up to this many images.
_MAX_NOTEBOOK_THUMBS = 5000
#: notebook_html shows at most this many samples (a fixed random sample of a larger report)
NOTEBOOK_MAX_ROWS = 2000
_FORMAT_VERSION = 1
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
) -> Path:
    """Write an interactive static report site for ``data`` into ``directory``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per sample, the columns of ``DatasetReport.data``: ``id``, one str column per
        label dimension, optional ``filename``, ``path`` and ``text`` (the sample's text, shown
        in the details and on the tiles, never a label), ``duplicates_<R>``,
        ``duplicatesExact_<R>`` (optional: marks groups as exact or near),
        ``projection_<R>_x/_y``, ``familiarity_<R>``, ``familiarityPercentile_<R>`` and
        ``splitFamiliarity_<R>_byAttr_<dim>`` and the audit columns ``labelIssue*_<R>_byAttr_<dim>``
        and ``leakage*_<R>_byAttr_<split>``. Other columns are shown in the sample details.
        The page opens with the audit table (as ``DatasetReport.issues()``), and has a
        label-issue gallery per class and a leakage panel with the leaking samples of each
        split side by side.
    directory : str or os.PathLike
        Folder to create. The site is written to a temporary sibling folder and moved into
        place at the end, so an interrupted export leaves nothing that looks complete.
    title : str, optional
        Page title.
    overwrite : bool, optional
        Replace the site in an existing non-empty ``directory``. Only the site's own entries
        (``index.html``, ``data.js``, ``assets/``, ``thumbs/``) are replaced; other files stay.
    image_root : str or os.PathLike, optional
        Folder that relative identifiers (or ``path`` values) are relative to; default: the
        working directory. Ids or paths naming image files (.png, .jpg, .jpeg, .bmp, .gif,
        .tif, .tiff, .webp) get thumbnails; absolute paths work too.
    thumbnail_size : int, optional
        Longest side of the thumbnails in pixels (8 to 1024).

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
    payload, images = _prepare(data, title=title, image_root=image_root,
                               thumbnail_size=thumbnail_size)

    def build(tmp: Path) -> None:
        (tmp / "assets").mkdir()
        for name in ("app.js", "style.css"):
            (tmp / "assets" / name).write_text(_asset(name), encoding="utf-8")
        (tmp / "thumbs").mkdir()
        payload["thumbUrls"] = _write_thumbs(images, tmp / "thumbs", thumbnail_size)
        (tmp / "data.js").write_text(
            f"window.DEEPVIEW_DATA = {_script_json(payload)};\n", encoding="utf-8"
        )
        head = '<link rel="stylesheet" href="assets/style.css">'
        scripts = '<script src="data.js"></script>\n<script src="assets/app.js"></script>'
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
) -> str:
    """Return the report site as one self-contained ``<iframe>`` for Jupyter's ``_repr_html_``.

    Scripts, styles, data and thumbnails are inlined into the iframe's ``srcdoc``; the iframe
    is sandboxed (scripts only), so the report cannot touch the notebook page.  To keep the
    notebook small, a report of more than ``max_rows`` samples is shown as a fixed random
    sample of ``max_rows`` of them (the same rows every time), with a note above the frame
    saying so; :func:`write_site` (``DatasetReport.export_site``) shows them all.

    Parameters
    ----------
    data : pandas.DataFrame
        As for :func:`write_site`.
    title, image_root, thumbnail_size
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
                           thumbnail_size=thumbnail_size)
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
) -> str:
    """Return the whole site as one HTML document (assets, data and thumbnails inlined)."""
    payload, images = _prepare(data, title=title, image_root=image_root,
                               thumbnail_size=thumbnail_size)
    if len(images.sources) > _MAX_NOTEBOOK_THUMBS:
        warnings.warn(
            f"notebook_html: {len(images.sources)} images is too many to embed; showing the "
            "report without thumbnails. Use write_site(...) for a site with all thumbnails.",
            DeepViewWarning,
            stacklevel=3,
        )
        images = _Images(index=np.full(len(images.index), -1, dtype=np.int32))
        payload["thumbIndex"] = _b64(images.index, np.int32)
    payload["thumbUrls"] = _write_thumbs(images, None, thumbnail_size)
    css = _asset("style.css").replace("</", "<\\/")
    js = _asset("app.js")
    if "</" in js:  # our own asset; guarded so a later edit cannot break the inline form
        raise RuntimeError("deepview site asset app.js must not contain '</'.")
    scripts = (
        f"<script>window.DEEPVIEW_DATA = {_script_json(payload)};</script>\n<script>{js}</script>"
    )
    return _HTML.format(title=html.escape(title), head=f"<style>{css}</style>", scripts=scripts)


def _asset(name: str) -> str:
    return resources.files("deepview.report").joinpath("assets", name).read_text(
        encoding="utf-8"
    )


# --------------------------------------------------------------------------------------------
# data -> payload


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


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _as_text(value: Any) -> str:
    return "(missing)" if _is_missing(value) else str(value)


def _texts(column: pd.Series) -> list[str]:
    return [_as_text(v) for v in column.to_numpy(dtype=object)]


def _factorize(column: pd.Series) -> tuple[list[str], np.ndarray]:
    """Sorted distinct label texts and each row's code (int32)."""
    codes, uniques = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=False)
    texts = np.asarray([_as_text(u) for u in uniques], dtype=object)
    values, inverse = np.unique(texts, return_inverse=True)  # merges e.g. None and NaN
    return [str(v) for v in values], inverse.astype(np.int32)[codes]


def _sample_texts(column: pd.Series) -> list[str]:
    """The ``text`` column as str per row; missing texts are empty."""
    return ["" if _is_missing(v) else str(v) for v in column.to_numpy(dtype=object)]


def _exact_flags(column: pd.Series) -> np.ndarray:
    """``duplicatesExact_<R>`` as int8 per row: 1 exact group, 0 near group, -1 unknown."""
    values = column.to_numpy(dtype=object)
    out = np.full(len(values), -1, dtype=np.int8)
    for row, value in enumerate(values):
        if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating)) and not (
            _is_missing(value) or (isinstance(value, np.floating) and np.isnan(value))
        ):
            out[row] = 1 if value else 0
    return out


def _numeric(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _is_texty(column: pd.Series) -> bool:
    return bool(
        isinstance(column.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(column.dtype)
        or pd.api.types.is_bool_dtype(column.dtype)
        or pd.api.types.is_object_dtype(column.dtype)
    )


def _as_mapping(cell: Any) -> Mapping[str, Any]:
    """A split-familiarity cell as a dict: dict, JSON text or Arrow map (list of pairs)."""
    if isinstance(cell, Mapping):
        return cell
    if isinstance(cell, str):
        try:
            loaded = json.loads(cell)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    if isinstance(cell, (list, tuple, np.ndarray)):
        try:
            return {str(k): v for k, v in cell}
        except (TypeError, ValueError):
            return {}
    return {}


def _split_entry(column: pd.Series, dim: str, labels: dict[str, Any]) -> dict[str, Any]:
    """Scores of every row under each per-value model, and under its own value's model."""
    cells = [{str(k): v for k, v in _as_mapping(c).items()} for c in column.to_numpy(object)]
    names = sorted({k for c in cells for k in c})
    n = len(cells)
    own = np.full(n, np.nan)
    codes = labels[dim]["codes_np"] if dim in labels else np.full(n, -1, dtype=np.int32)
    values = labels[dim]["values"] if dim in labels else []
    entry: dict[str, Any] = {"dim": dim, "values": names, "scores": None}
    if len(names) * n <= _MAX_SPLIT_CELLS:
        frame = pd.DataFrame.from_records(cells, columns=names) if names else None
        matrix = np.stack([_numeric(frame[k]) for k in names]) if frame is not None else None
        position = {k: j for j, k in enumerate(names)}
        lut = np.asarray([position.get(v, -1) for v in values] + [-1], dtype=np.intp)
        model = lut[codes]  # row -> index of its own value's model (-1: none)
        rows = np.flatnonzero(model >= 0)
        if matrix is not None:
            own[rows] = matrix[model[rows], rows]
            entry["scores"] = [_b64(r, np.float32) for r in matrix]
    else:  # too many per-value models to ship them all: only each row's own score
        for row, cell in enumerate(cells):
            if codes[row] >= 0 and values[codes[row]] in cell:
                try:
                    own[row] = float(cell[values[codes[row]]])
                except (TypeError, ValueError):
                    pass
    entry["own"] = _b64(own, np.float32)
    return entry


def _prepare(
    data: Any, *, title: str, image_root: Any, thumbnail_size: int
) -> tuple[dict[str, Any], _Images]:
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
    data = data.reset_index(drop=True).rename(columns=str)
    n = len(data)
    if columns.ID in data.columns:
        ids = _texts(data[columns.ID])
    else:
        warnings.warn(f"{_OWNER}: 'data' has no 'id' column; rows are shown by number.",
                      DeepViewWarning, stacklevel=3)
        ids = [str(i) for i in range(n)]
    responses: dict[str, dict[str, Any]] = {}
    labels: dict[str, Any] = {}
    extras: list[dict[str, Any]] = []
    split_cols: list[tuple[str, str, str]] = []
    audit_cols: list[tuple[str, str, str, str]] = []

    def resp(name: str) -> dict[str, Any]:
        return responses.setdefault(name, {"name": name, "duplicates": None, "exact": None,
                                           "x": None, "y": None, "familiarity": None,
                                           "percentile": None, "split": [],
                                           "labelIssues": [], "leakage": []})

    parsed = {col: columns.parse(col) for col in data.columns}
    proj_axes: dict[str, set[str]] = {}
    for col, c in parsed.items():
        if c and c.kind == columns.PROJECTION and pd.api.types.is_numeric_dtype(data[col].dtype):
            proj_axes.setdefault(c.response, set()).add(str(c.detail))
    for col, c in parsed.items():
        if col in (columns.ID, columns.PATH, columns.TEXT):
            continue
        series = data[col]
        numeric = pd.api.types.is_numeric_dtype(series.dtype)
        kind, r, detail = c if c is not None else ("", "", None)
        if kind == columns.SPLIT_FAMILIARITY:
            split_cols.append((r, str(detail), col))
        elif kind == columns.DUPLICATES and numeric:
            dup = np.nan_to_num(_numeric(series), nan=-1.0)
            resp(r)["duplicates"] = _b64(np.where(dup >= 0, dup, -1), np.int32)
        elif kind == columns.DUPLICATES_EXACT:
            resp(r)["exact"] = _b64(_exact_flags(series), np.int8)
        elif kind == columns.PROJECTION and proj_axes.get(r) == {"x", "y"}:
            resp(r)[str(detail)] = _b64(_numeric(series), np.float32)
        elif kind == columns.FAMILIARITY_PERCENTILE and numeric:
            resp(r)["percentile"] = _b64(_numeric(series), np.float32)
        elif kind == columns.FAMILIARITY and numeric:
            resp(r)["familiarity"] = _b64(_numeric(series), np.float32)
        elif kind in _AUDIT_KINDS and _audit_column_ok(kind, series):
            audit_cols.append((kind, r, str(detail), col))
        elif kind not in _AUDIT_KINDS and (pd.api.types.is_bool_dtype(series.dtype) or (
            col != columns.FILENAME and _is_texty(series) and _labelish(series)
        )):
            values, codes = _factorize(series)
            labels[col] = {"name": col, "values": values, "codes_np": codes}
        elif numeric:
            extras.append({"name": col, "kind": "number",
                           "data": _b64(_numeric(series), np.float32)})
        else:
            extras.append({"name": col, "kind": "text", "data": _texts(series)})
    for r, dim, col in split_cols:
        resp(r)["split"].append(_split_entry(data[col], dim, labels))
    for r, entries in _audit_entries(data, audit_cols, labels).items():
        resp(r).update(entries)
    images = _find_images(data, ids, image_root)
    payload: dict[str, Any] = {
        "format": _FORMAT_VERSION,
        "title": title,
        "n": n,
        "ids": ids,
        "labels": [
            {"name": d["name"], "values": d["values"], "codes": _b64(d["codes_np"], np.int32)}
            for d in labels.values()
        ],
        "responses": list(responses.values()),
        "extras": extras,
        "texts": (_sample_texts(data[columns.TEXT]) if columns.TEXT in data.columns
                  else None),
        "thumbIndex": _b64(images.index, np.int32),
        "thumbUrls": [],
        "thumbSize": thumbnail_size,
        "audit": _audit_table(data),
    }
    return payload, images


# --------------------------------------------------------------------------------------------
# the audit: label issues, leakage, the issues table


def _audit_column_ok(kind: str, series: pd.Series) -> bool:
    """Whether an audit column has the type the panels read (else it is shown as a plain
    column in the sample details, never as a label)."""
    if kind in (columns.LABEL_ISSUE, columns.LEAKAGE):
        return bool(pd.api.types.is_numeric_dtype(series.dtype)
                    and not pd.api.types.is_bool_dtype(series.dtype))
    if kind in (columns.LABEL_ISSUE_FLAG, columns.LEAKAGE_FLAG):
        return bool(pd.api.types.is_bool_dtype(series.dtype)
                    or pd.api.types.is_numeric_dtype(series.dtype))
    return _is_texty(series) and not _has_containers(series)


def _has_containers(series: pd.Series) -> bool:
    return any(isinstance(v, (Mapping, list, tuple, np.ndarray)) for v in series.iloc[:100])


def _flags(series: pd.Series) -> np.ndarray:
    """A flag column as int8 0/1 (missing: 0)."""
    return (np.nan_to_num(_numeric(series.astype("float64") if pd.api.types.is_bool_dtype(
        series.dtype) else series), nan=0.0) != 0).astype(np.int8)


def _groups(series: pd.Series) -> np.ndarray:
    """A group-number column as int32 (missing or negative: -1)."""
    values = np.nan_to_num(_numeric(series), nan=-1.0)
    return np.where(values >= 0, values, -1).astype(np.int32)


def _split_rank(value: str) -> tuple[int, str]:
    return audit._SPLIT_ORDER.get(value.lower(), 2), value


def _audit_entries(data: pd.DataFrame, audit_cols: Sequence[tuple[str, str, str, str]],
                   labels: Mapping[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per response: ``labelIssues`` (per label dimension: score, flag and suggested class of
    every sample) and ``leakage`` (per split label: the leaking group of every sample, the
    split values train-first and the counts per pair of split values)."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for kind, r, dim, col in audit_cols:
        found.setdefault((r, dim), {})[kind] = col
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for (r, dim), cols in found.items():
        entries = out.setdefault(r, {"labelIssues": [], "leakage": []})
        if columns.LABEL_ISSUE in cols:
            score = _numeric(data[cols[columns.LABEL_ISSUE]])
            flag_col = cols.get(columns.LABEL_ISSUE_FLAG)
            flag = _flags(data[flag_col]) if flag_col else np.zeros(len(data), np.int8)
            suggested_col = cols.get(columns.LABEL_ISSUE_SUGGESTED)
            if suggested_col:
                values, codes = _factorize(data[suggested_col].fillna(""))
            else:
                values, codes = [""], np.zeros(len(data), dtype=np.int32)
            entries["labelIssues"].append({
                "dim": dim, "score": _b64(score, np.float32), "flag": _b64(flag, np.int8),
                "suggested": {"values": values, "codes": _b64(codes, np.int32)},
                "flagged": int(flag.sum())})
        if columns.LEAKAGE in cols:
            leaks = _groups(data[cols[columns.LEAKAGE]])
            entry: dict[str, Any] = {"dim": dim, "groups": _b64(leaks, np.int32),
                                     "pairs": [], "order": [], "values": None, "codes": None}
            if dim in data.columns:
                split_texts = [_as_text(v) for v in data[dim].to_numpy(dtype=object)]
                codes, names = audit._codes(split_texts)
                entry["pairs"] = [audit._train_first(p)
                                  for p in audit.split_pair_counts(leaks, codes, names)]
                entry["order"] = sorted(set(split_texts), key=_split_rank)
                if dim not in labels:  # not a label filter (e.g. too many values): ship it
                    entry["values"], split_codes = _factorize(data[dim])
                    entry["codes"] = _b64(split_codes, np.int32)
            entries["leakage"].append(entry)
    return out


def _audit_table(data: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``DatasetReport.issues()`` for ``data``, JSON-ready (missing counts and
    scores as ``None``).  Columns of the wrong type are left out, so any table gives a table."""
    if len(data) == 0:
        return []
    labels = [c for c in columns.label_columns(data.columns)
              if _is_texty(data[c]) and not _has_containers(data[c])]
    kept: dict[str, Any] = {c: data[c].astype(str) for c in labels}
    leak_dims: set[str] = set()
    for col in data.columns:
        c = columns.parse(col)
        if c is None:
            continue
        series = data[col]
        numeric = pd.api.types.is_numeric_dtype(series.dtype)
        if c.kind == columns.DUPLICATES and numeric:
            kept[col] = _groups(series)
        elif c.kind == columns.DUPLICATES_EXACT:
            kept[col] = _exact_flags(series) == 1
        elif c.kind == columns.LEAKAGE and c.detail in labels and _audit_column_ok(c.kind,
                                                                                  series):
            kept[col] = _groups(series)
            leak_dims.add(str(c.detail))
        elif c.kind == columns.LABEL_ISSUE_FLAG and c.detail in labels and _audit_column_ok(
                c.kind, series):
            kept[col] = _flags(series).astype(bool)
        elif c.kind == columns.SPLIT_FAMILIARITY and c.detail in labels:
            kept[col] = [dict(_as_mapping(v)) for v in series.to_numpy(dtype=object)]
    frame = pd.DataFrame(kept, index=data.index)
    splits = sorted(leak_dims) or audit.split_dimensions(
        {d: frame[d].tolist() for d in labels}, None)
    table = audit.issues_table(frame, labels, splits)
    rows: list[dict[str, Any]] = []
    for record in table.to_dict("records"):
        flagged: Any = record["flagged"]
        score = float(record["score"])
        rows.append({
            "issue": str(record["issue"]), "response": str(record["response"]),
            "label": str(record["label"]), "detail": str(record["detail"]),
            "flagged": None if _is_missing(flagged) else int(flagged),
            "score": None if math.isnan(score) else score})
    return rows


def _labelish(series: pd.Series) -> bool:
    """A text column is a label dimension when its values are scalars with few distinct values."""
    sample = series.dropna()
    if any(isinstance(v, (Mapping, list, tuple, np.ndarray)) for v in sample.iloc[:100]):
        return False
    try:
        return int(series.nunique(dropna=False)) <= _MAX_LABEL_VALUES
    except TypeError:  # unhashable cells further down
        return False


# --------------------------------------------------------------------------------------------
# thumbnails


def _find_images(data: pd.DataFrame, ids: Sequence[str], image_root: Any) -> _Images:
    """Source image of each row: the ``path`` column if present, else the id (relative ones
    under ``image_root``); only names with an image suffix (.png, .jpg, ...) are considered."""
    n = len(ids)
    root = None if image_root is None else Path(image_root).expanduser()
    if root is not None and not root.is_dir():
        raise InvalidParameterError(
            f"{_OWNER}: 'image_root' must be an existing directory; got '{image_root}'."
        )
    names = _texts(data[columns.PATH]) if columns.PATH in data.columns else list(ids)
    suffixes = tuple(_IMAGE_SUFFIXES)
    candidates = [v if v.lower().endswith(suffixes) else None for v in names]
    index = np.full(n, -1, dtype=np.int32)
    sources: list[Path] = []
    seen: dict[Path, int] = {}
    missing: list[str] = []
    for row, cand in enumerate(candidates):
        if not cand:
            continue
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
