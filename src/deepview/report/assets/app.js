/* deepview report site.
 * One classic script (so it also runs from file://), no dependencies. It reads the table from
 * window.DEEPVIEW_DATA (written by deepview.report._site) and builds linked
 * views that share one filter/selection state. Every string from the data is inserted with
 * textContent or as a DOM property, never as HTML.
 */
(function () {
  "use strict";

  var t0 = performance.now();
  var RAW = window.DEEPVIEW_DATA;
  var app = document.getElementById("app");
  var pub = (window.deepviewState = {
    n: 0, renderedPoints: 0, shownCount: 0, firstRenderMs: null, ready: false, errors: []
  });

  var PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
    "#ff9da7", "#9c755f", "#2f4b7c", "#a0cbe8", "#ffbe7d", "#8cd17d", "#86bcb6", "#f1ce63",
    "#d37295", "#fabfd2", "#d4a6c8", "#79706e"];
  var OTHER = "#b8bec9";
  var FADE = "#e3e7ee";
  var VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
    "#6ece58", "#b5de2b", "#fde725"];
  var GALLERY_K = 12;
  var LABEL_K = 6;
  var ISSUE_K = 8;  // tiles per class in the label-issue gallery
  var ISSUE_CLASSES = 24;  // classes shown there
  var LEAK_SIDE = 6;  // tiles per split value in a leaking group
  var MAX_LABEL_ROWS = 15;
  var DUP_PAGE = 24;
  // shared with the writer (deepview.report._site.SHARED_CONSTANTS): an unflagged label-issue
  // score from BORDERLINE on (another class is as likely); the first map view covers the
  // quantiles ROBUST_LO..ROBUST_HI plus ROBUST_MARGIN of their range on each side, where
  // the full range is ROBUST_GAIN times wider
  var CONST = RAW.constants;
  var BORDERLINE = CONST.BORDERLINE;
  var ROBUST_LO = CONST.ROBUST_QUANTILES[0], ROBUST_HI = CONST.ROBUST_QUANTILES[1];
  var ROBUST_MARGIN = CONST.ROBUST_MARGIN, ROBUST_GAIN = CONST.ROBUST_GAIN;
  var TIP_TEXT = 140, TILE_TEXT = 160, TITLE_TEXT = 300;  // characters of text shown

  // ------------------------------------------------------------------------------------------
  // helpers

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function decode(b64, Type) {
    if (!b64) return new Type(0);
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }
  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "n/a";
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
    return v.toFixed(a < 1 ? 3 : a < 100 ? 2 : 1);
  }
  function snippet(text, k) {  // at most k characters, whitespace collapsed
    var t = String(text).replace(/\s+/g, " ").trim();
    return t.length > k ? t.slice(0, k - 1) + "\u2026" : t;
  }
  function plural(k, word) { return k.toLocaleString() + " " + word + (k === 1 ? "" : "s"); }
  function hexRgb(h) {
    var v = parseInt(h.slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }
  function packRgb(rgb) {  // ImageData pixel as little-endian uint32 (ABGR)
    return ((255 << 24) | (rgb[2] << 16) | (rgb[1] << 8) | rgb[0]) >>> 0;
  }
  function viridis(t) {
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    var k = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - k;
    var a = hexRgb(VIRIDIS[k]), b = hexRgb(VIRIDIS[k + 1]);
    return [0, 1, 2].map(function (c) { return Math.round(a[c] + (b[c] - a[c]) * f); });
  }
  function rgbCss(rgb) { return "rgb(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + ")"; }

  if (!RAW || typeof RAW !== "object" || RAW.format !== 2) {
    clear(app).appendChild(el("p", "dv-empty", "The report data (data.js) could not be loaded."));
    return;
  }

  // ------------------------------------------------------------------------------------------
  // data: data.js holds the summary; the per-sample columns come in chunks of rows, each a
  // script calling window.DEEPVIEW_CHUNK(tier, k, columns) (scripts work from file://). The
  // "points" chunks are in the page; "rows", "details" and "search" chunks load when needed.

  var N = RAW.n | 0;
  pub.n = N;
  var STORE = window.DEEPVIEW_CHUNKS = window.DEEPVIEW_CHUNKS || {};
  var COLS = RAW.columns, TIERS = RAW.tiers;
  var TYPES = { u8: Uint8Array, u16: Uint16Array, i8: Int8Array, i32: Int32Array, f32: Float32Array };
  var decoded = {};  // tier -> chunk -> column -> decoded values
  var waiting = {};  // "tier:k" -> callbacks
  pub.chunksLoaded = 0;
  window.DEEPVIEW_ONCHUNK = function (tier, k) {
    var key = tier + ":" + k, cbs = waiting[key];
    pub.chunksLoaded++;
    if (!cbs) return;
    delete waiting[key];
    cbs.forEach(function (f) { f(); });
  };
  function loaded(tier, k) { return !!(STORE[tier] && STORE[tier][k]); }
  var pinned = { rows: {} };  // chunks asked for by a view (the export lets the others go)
  function loadChunk(tier, k, cb, transient) {
    if (!transient && pinned[tier]) pinned[tier][k] = 1;
    if (loaded(tier, k)) { cb(); return; }
    var key = tier + ":" + k;
    if (waiting[key]) { waiting[key].push(cb); return; }
    waiting[key] = [cb];
    var s = document.createElement("script");
    s.src = "chunks/" + tier + "-" + k + ".js";
    s.onload = s.onerror = function (e) {
      s.parentNode.removeChild(s);
      if (e.type === "error") {
        pub.errors.push("could not load " + s.src);
        var cbs = waiting[key] || [];
        delete waiting[key];
        cbs.forEach(function (f) { f(); });
      }
    };
    document.head.appendChild(s);
  }
  // call cb once the chunks of `tier` holding `rows` are loaded (at once when they are)
  function need(tier, rows, cb) {
    if (!TIERS[tier] || !TIERS[tier].count) { cb(); return true; }
    var size = TIERS[tier].rows, ks = [], seen = {};
    for (var j = 0; j < rows.length; j++) {
      var i = rows[j];
      if (i < 0 || i >= N) continue;
      var k = Math.floor(i / size);
      if (!seen[k] && !loaded(tier, k)) { seen[k] = 1; ks.push(k); }
    }
    if (!ks.length) { cb(); return true; }
    var left = ks.length;
    ks.forEach(function (k) { loadChunk(tier, k, function () { if (--left === 0) cb(); }); });
    return false;
  }
  function has(tier, rows) {
    var size = TIERS[tier].rows;
    for (var j = 0; j < rows.length; j++) if (!loaded(tier, Math.floor(rows[j] / size))) return false;
    return true;
  }
  function needRows(rows, cb, details) {
    return need("rows", rows, function () { if (details) need("details", rows, cb); else cb(); });
  }
  function columnOf(name, tier, k) {
    var d = decoded[tier] || (decoded[tier] = {}), dk = d[k] || (d[k] = {});
    if (dk[name]) return dk[name];
    var raw = STORE[tier] && STORE[tier][k];
    if (!raw) return null;
    var c = COLS[name];
    return (dk[name] = c.dtype === "str" ? raw[name] : decode(raw[name], TYPES[c.dtype]));
  }
  // row i of a chunked column (a number, a str or, for a column of several values per row, an
  // array); undefined while its chunk is not loaded
  function val(name, i) {
    if (!name || i < 0 || i >= N) return undefined;
    var c = COLS[name], size = TIERS[c.tier].rows, k = Math.floor(i / size), j = i - k * size;
    var arr = columnOf(name, c.tier, k);
    if (!arr) return undefined;
    return c.width === 1 ? arr[j] : arr.subarray(j * c.width, (j + 1) * c.width);
  }
  // a whole column, as one typed array (its tier's chunks loaded: the points tier's are)
  function dense(name) {
    var c = COLS[name], info = TIERS[c.tier], out = new TYPES[c.dtype](N * c.width);
    for (var k = 0; k < info.count; k++) {
      var raw = STORE[c.tier] && STORE[c.tier][k];
      if (!raw) { pub.errors.push(c.tier + " chunk " + k + " is missing"); continue; }
      out.set(decode(raw[name], TYPES[c.dtype]), k * info.rows * c.width);
    }
    return out;
  }
  // dense(name) once its tier's chunks are loaded: returned at once when they are (else
  // null, and got(values) is called when they arrive)
  function denseWhenLoaded(name, got) {
    var tier = COLS[name].tier, all = [], out = null, waiting = false;
    for (var k = 0; k < TIERS[tier].count; k++) all.push(k * TIERS[tier].rows);
    need(tier, all, function () {
      out = dense(name);
      if (waiting) got(out);
    });
    waiting = true;
    return out;
  }
  function coords(name, lo, hi) {  // quantised uint16 -> float (NaN: missing)
    var q = dense(name), out = new Float32Array(N), s = (hi - lo) / 65534;
    for (var i = 0; i < N; i++) out[i] = q[i] === 65535 ? NaN : lo + q[i] * s;
    return out;
  }
  function idOf(i) { var v = val(RAW.ids, i); return v === undefined ? "\u2026" : String(v); }
  function labelIndex(name) { return labels.findIndex(function (l) { return l.name === name; }); }
  var labels = RAW.labels.map(function (l) {
    return { name: l.name, values: l.values, codes: dense(l.col), counts: Int32Array.from(l.counts) };
  });
  // a ranked score: rank (uint16) + the exact extremes; a rank outside the points tier (the
  // per-label familiarity: "ranks") is null until withRanks loads it
  function ranked(spec, exact) {
    var inPoints = COLS[spec.rank].tier === "points";
    return { rank: inPoints ? dense(spec.rank) : null, rankCol: spec.rank, lowest: spec.lowest || [],
      highest: spec.highest || [], exact: exact, order: null };
  }
  // true when spec.rank is there; else false, and cb() once it has arrived
  function withRanks(spec, cb) {
    spec.rank = spec.rank || denseWhenLoaded(spec.rankCol, function (rank) { spec.rank = rank; cb(); });
    return !!spec.rank;
  }
  function sparse(b64, Type) { return decode(b64, Type); }
  var responses = RAW.responses.map(function (r) {
    var out = {
      name: r.name,
      x: r.xy ? coords(r.xy.x, r.xy.x0, r.xy.x1) : null,
      y: r.xy ? coords(r.xy.y, r.xy.y0, r.xy.y1) : null,
      exactX: r.xy ? r.xy.exactX : null, exactY: r.xy ? r.xy.exactY : null,
      fam: r.fam ? ranked(r.fam, r.fam.exact) : null,
      famBin: r.fam ? dense(r.fam.bin) : null,
      hist: r.fam ? r.fam.hist : null,
      pct: r.percentile,
      dup: null, exact: null, groups: null, groupById: null,
      split: r.split.map(function (s) {
        var sp = ranked(s, s.own);
        sp.dim = s.dim;
        sp.label = labelIndex(s.dim);
        sp.values = s.values;
        sp.scores = s.scores;  // per-value model scores (details tier), or null
        return sp;
      }),
      measured: !r.measured ? null : typeof r.measured === "string" ? dense(r.measured) : (function (m) {
        var out = new Uint16Array(N).fill(m.full), rows = sparse(m.rows, Int32Array), bits = sparse(m.bits, Uint16Array);
        for (var j = 0; j < rows.length; j++) out[rows[j]] = bits[j];
        return out;
      })(r.measured),
      // label issues per label dimension: the flagged and borderline samples (ascending score)
      issues: (r.labelIssues || []).map(function (q) {
        return {
          dim: q.dim, label: labelIndex(q.dim), flagged: q.flagged | 0, bit: q.bit,
          score: q.score, sug: q.suggested, sugValues: q.sugValues,
          rows: sparse(q.list.rows, Int32Array), scores: sparse(q.list.score, Float32Array),
          flags: sparse(q.list.flag, Int8Array), sugs: sparse(q.list.sug, Int32Array)
        };
      }),
      // leakage per split label: each sample's leaking duplicate group (-1: none)
      leaks: (r.leakage || []).map(function (q) {
        var rows = sparse(q.rows, Int32Array), g = sparse(q.groups, Int32Array);
        var codes = q.codes ? sparse(q.codes, Int32Array) : null;
        var groups = new Int32Array(N).fill(-1), side = new Int32Array(N).fill(-1);
        for (var j = 0; j < rows.length; j++) {
          groups[rows[j]] = g[j];
          if (codes) side[rows[j]] = codes[j];
        }
        return {
          dim: q.dim, groups: groups, pairs: q.pairs || [], order: q.order || [],
          values: q.values || [], codes: codes ? side : null, list: null, byId: null
        };
      }),
      nbrs: r.neighbours,
      // identical samples on one spot (largest first) and the clusters named on the map
      stacks: r.stacks ? { rows: sparse(r.stacks.rows, Int32Array), counts: sparse(r.stacks.counts, Int32Array) } : null,
      clusters: r.clusters || null
    };
    if (r.dup) {  // duplicate groups, largest first, as members listed group after group
      var ids = sparse(r.dup.ids, Int32Array), starts = sparse(r.dup.starts, Int32Array);
      var members = sparse(r.dup.members, Int32Array), flags = sparse(r.dup.exact, Int8Array);
      out.dup = new Int32Array(N).fill(-1);
      out.exact = r.dup.known ? new Int8Array(N).fill(-1) : null;
      out.dupCsr = { ids: ids, starts: starts, members: members, flags: flags };
      for (var g = 0; g < ids.length; g++) {
        for (var j = starts[g]; j < starts[g + 1]; j++) {
          out.dup[members[j]] = ids[g];
          if (out.exact) out.exact[members[j]] = flags[j];
        }
      }
    }
    return out;
  });
  responses.forEach(function (r) {  // stack size per row (0: not a stack's first row)
    if (!r.stacks) return;
    r.stackOf = new Map();
    for (var j = 0; j < r.stacks.rows.length; j++) r.stackOf.set(r.stacks.rows[j], r.stacks.counts[j]);
  });
  function isCluster(d) { return responses.some(function (r) { return r.clusters && r.clusters.label === d; }); }
  var numbers = RAW.numbers || [];  // numeric columns the map can be coloured by
  var AUDIT = Array.isArray(RAW.audit) ? RAW.audit : [];
  var extras = RAW.extras;
  var hasTexts = !!RAW.texts;
  function textOf(i) { var t = RAW.texts ? val(RAW.texts, i) : ""; return t ? String(t) : ""; }
  var thumbUrls = RAW.thumbUrls || [];
  function thumbOf(i) {
    var k = RAW.thumbs ? val(RAW.thumbs, i) : -1;
    return k >= 0 && thumbUrls[k] ? thumbUrls[k] : null;
  }
  // rows with a rank, ascending by (rank, row), the exact lowest and highest rows at the ends
  function orderOf(spec) {
    if (spec.order) return spec.order;
    var rank = spec.rank, lo = spec.lowest, hi = spec.highest, i, r;
    var skip = lo.length ? new Uint8Array(N) : null;
    if (skip) {
      for (i = 0; i < lo.length; i++) skip[lo[i]] = 1;
      for (i = 0; i < hi.length; i++) skip[hi[i]] = 1;
    }
    var start = new Int32Array(65536);
    for (i = 0; i < N; i++) {
      r = rank[i];
      if (r !== 65535 && !(skip && skip[i])) start[r + 1]++;
    }
    for (r = 1; r < 65536; r++) start[r] += start[r - 1];
    var mid = start[65535];
    var o = new Int32Array(lo.length + mid + hi.length);
    o.set(lo, 0);
    for (i = 0; i < N; i++) {
      r = rank[i];
      if (r === 65535 || (skip && skip[i])) continue;
      o[lo.length + start[r]++] = i;
    }
    o.set(hi, lo.length + mid);
    spec.order = o;
    return o;
  }
  // duplicate groups, largest first (ties: lower group number), each with its kind from the
  // per-sample duplicatesExact flags: "exact" (every member has an identical copy in the
  // group), "near" (some are only near-duplicates; `copies` members still have an identical
  // copy) or "unknown" (no flags, e.g. a report saved by an older deepview)
  function groupsOf(r) {
    if (r.groups || !r.dup) return r.groups;
    var c = r.dupCsr, list = [];
    for (var g = 0; g < c.ids.length; g++) {
      var members = c.members.subarray(c.starts[g], c.starts[g + 1]), known = 0, copies = 0;
      if (r.exact) {
        for (var j = 0; j < members.length; j++) {
          var f = r.exact[members[j]];
          if (f >= 0) known++;
          if (f === 1) copies++;
        }
      }
      var kind = !known ? "unknown" : copies === members.length ? "exact" : "near";
      list.push({ id: c.ids[g], members: Array.from(members), kind: kind, copies: copies });
    }
    r.groups = list;
    r.groupById = new Map(list.map(function (q) { return [q.id, q]; }));
    return r.groups;
  }
  var KIND_TEXT = { exact: "exact", near: "near" };
  var KIND_TITLE = {
    exact: "Identical samples (exact copies, up to float rounding)",
    near: "Near-duplicates: closer than the duplicate threshold, not identical"
  };

  // ------------------------------------------------------------------------------------------
  // state

  var firstProj = responses.findIndex(function (r) { return r.x && r.y; });
  var S = {
    resp: Math.max(0, firstProj),
    filters: new Int32Array(labels.length).fill(-1),
    selection: null,
    selectionCount: 0,
    colorBy: labels.length ? "label:0" : "familiarity",
    tool: "lasso",
    detail: -1,
    famDim: 0,
    dupShown: DUP_PAGE,
    dupKind: "all",
    issueDim: null,
    leakDim: null,
    leakShown: DUP_PAGE,
    mask: new Uint8Array(N),
    shown: 0
  };
  function R() { return responses[S.resp] || null; }

  // the mask of shown samples (filters and selection): tight loops, the map's part of a frame
  function computeMask() {
    var mask = S.mask, i, d, nl = labels.length, active = [], sel = S.selection, c = 0;
    for (d = 0; d < nl; d++) if (S.filters[d] >= 0) active.push(d);
    S.counted = false;
    if (!active.length && !sel) {
      mask.fill(1);
      c = N;
    } else if (!active.length) {  // a selection only: the mask is the selection
      mask.set(sel);
      c = S.selectionCount;
    } else if (active.length === 1 && !sel) {
      var codes = labels[active[0]].codes, f = S.filters[active[0]];
      for (i = 0; i < N; i++) { var m1 = codes[i] === f ? 1 : 0; mask[i] = m1; c += m1; }
    } else {
      var na = active.length, ac = active.map(function (q) { return labels[q].codes; });
      var av = active.map(function (q) { return S.filters[q]; });
      for (i = 0; i < N; i++) {
        var m = sel ? sel[i] : 1;
        for (d = 0; d < na && m; d++) if (ac[d][i] !== av[d]) m = 0;
        mask[i] = m;
        c += m;
      }
    }
    S.shown = c;
    pub.shownCount = c;
  }
  // the shown count of every label value and familiarity bin of the current response
  function countShown() {
    if (S.counted) return;
    S.counted = true;
    var r = R(), bins = r ? r.famBin : null, nl = labels.length, i, d;
    S.labelShown = labels.map(function (l) { return new Int32Array(l.values.length); });
    S.histShown = new Int32Array(256);
    if (S.shown === N) {
      labels.forEach(function (l, d2) { S.labelShown[d2].set(l.counts); });
      if (bins) { if (!r.histAll) r.histAll = countBins(bins, null); S.histShown.set(r.histAll); }
      return;
    }
    var mask = S.mask, cnt = S.labelShown, hs = S.histShown;
    var codes = labels.map(function (l) { return l.codes; });
    for (d = 0; d < nl; d++) {
      var cd = codes[d], out = cnt[d];
      for (i = 0; i < N; i++) if (mask[i]) out[cd[i]]++;
    }
    if (bins) for (i = 0; i < N; i++) if (mask[i]) hs[bins[i]]++;
  }
  function countBins(bins, mask) {
    var out = new Int32Array(256);
    for (var i = 0; i < N; i++) if (!mask || mask[i]) out[bins[i]]++;
    return out;
  }

  function setFilter(dim, code) {
    S.filters[dim] = code;
    S.dupShown = DUP_PAGE;
    S.leakShown = DUP_PAGE;
    update(false);
  }
  function setSelection(sel, count) {
    var c = 0;
    if (sel && count === undefined) for (var i = 0; i < N; i++) c += sel[i];
    else if (sel) c = count;
    S.selection = sel && c > 0 ? sel : null;
    S.selectionCount = S.selection ? c : 0;
    S.dupShown = DUP_PAGE;
    S.leakShown = DUP_PAGE;
    update(false);
  }
  function showDetail(i, reveal) {
    S.detail = i;
    renderDetail();
    paintOverlay();
    if (reveal) {  // opened from a gallery further down: bring the panel into view
      var box = detailCard.root.getBoundingClientRect();
      if (box.bottom < 0 || box.top > window.innerHeight) {
        detailCard.root.scrollIntoView({ behavior: "smooth", block: "nearest" });
      }
    }
  }
  function resetAll() {
    S.filters.fill(-1);
    S.selection = null;
    S.selectionCount = 0;
    S.dupShown = DUP_PAGE;
    S.leakShown = DUP_PAGE;
    update(false);
  }
  pub.setFilter = setFilter;
  pub.resetAll = resetAll;
  pub.showDetail = showDetail;
  pub.pointPosition = function (i) {  // CSS pixels relative to the canvas, or null
    if (!sc.bx || !(sc.bx[i] === sc.bx[i])) return null;
    return { x: Math.round(sc.bx[i] * sc.view.k + sc.view.tx) / sc.dpr,
      y: Math.round(sc.by[i] * sc.view.k + sc.view.ty) / sc.dpr };
  };
  pub.view = function () { return { k: sc.view.k, tx: sc.view.tx, ty: sc.view.ty }; };
  pub.setView = function (k, tx, ty) { setView(k, tx, ty); };
  pub.selectRows = function (rows) {
    var sel = new Uint8Array(N);
    for (var j = 0; j < rows.length; j++) sel[rows[j]] = 1;
    setSelection(sel);
  };
  pub.idOf = function (i) { return val(RAW.ids, i); };  // undefined while not loaded
  // colour by v ("label:<d>", "familiarity", "number:<j>", "none"); a numeric column's chunks
  // load first
  pub.setColorBy = function (v) {
    S.colorBy = v;
    var q = v.indexOf("number:") === 0 ? numbers[+v.slice(7)] : null;
    if (q && !q.steps) {
      q.steps = denseWhenLoaded(q.col, function (steps) {
        q.steps = steps;
        if (S.colorBy === v) { colorPoints(); drawScatter(); }
      });
      if (!q.steps) return;
    }
    colorPoints();
    drawScatter();
  };
  pub.hoverAt = function (x, y) { setHover(nearest(x * sc.dpr, y * sc.dpr, 10 * sc.dpr)); return sc.hover; };
  pub.lassoScreen = function (pts) {  // a lasso through CSS-pixel points, as a drag would
    finishLasso(pts.map(function (p) { return [p[0] * sc.dpr, p[1] * sc.dpr]; }), "lasso");
  };

  // ------------------------------------------------------------------------------------------
  // layout

  clear(app);
  document.title = RAW.title || document.title;
  var header = el("header", "dv-header");
  var brand = el("div", "dv-brand");
  brand.appendChild(el("h1", "dv-title", RAW.title || "deepview report"));
  brand.appendChild(el("p", "dv-sub", plural(N, "sample") + " \u00b7 generated by deepview"));
  header.appendChild(brand);
  var status = el("div", "dv-status");
  var shownChip = el("span", "dv-chip");
  shownChip.dataset.testid = "shown-count";
  var resetBtn = el("button", "dv-btn", "Reset filters");
  resetBtn.type = "button";
  resetBtn.addEventListener("click", resetAll);
  status.appendChild(shownChip);
  status.appendChild(resetBtn);
  header.appendChild(status);
  app.appendChild(header);

  var topStack = el("div", "dv-stack dv-stack-top");  // the audit table, above everything
  app.appendChild(topStack);
  var toolbar = el("nav", "dv-toolbar");
  app.appendChild(toolbar);
  var grid = el("main", "dv-grid");
  app.appendChild(grid);
  var stack = el("div", "dv-stack");  // full-width cards below the grid, in page order
  app.appendChild(stack);

  function card(title, area, testid, parent) {
    var c = el("section", "dv-card dv-card-" + area);
    if (!parent) c.style.gridArea = area;
    if (testid) c.dataset.testid = testid;
    var head = el("div", "dv-card-head");
    head.appendChild(el("h2", null, title));
    var tools = el("div", "dv-card-tools");
    head.appendChild(tools);
    c.appendChild(head);
    var body = el("div", "dv-card-body");
    c.appendChild(body);
    (parent || grid).appendChild(c);
    return { root: c, tools: tools, body: body };
  }

  if (N === 0) {
    grid.appendChild(el("p", "dv-empty", "This report has no samples."));
    pub.ready = true;
    pub.firstRenderMs = performance.now();
    document.body.dataset.ready = "1";
    return;
  }

  var auditCard = AUDIT.length ? card("Audit", "audit", "audit", topStack) : null;
  var summaryCard = card("Summary", "summary", "summary");
  var scatterCard = card("Projection", "scatter", "scatter");
  var detailCard = card("Sample", "detail", "detail");
  var anyOf = function (key) { return responses.some(function (r) { return r[key].length > 0; }); };
  var issueCard = anyOf("issues") ? card("Label issues", "issues", "label-issues", stack) : null;
  var leakCard = anyOf("leaks") ? card("Leakage between splits", "leak", "leakage", stack) : null;
  var famCard = card("Familiarity", "fam", "familiarity", stack);
  var dupCard = card("Duplicates", "dups", "duplicates", stack);

  // toolbar: response choice and label filters
  var filterSelects = [], responseSelect = null;
  function buildToolbar() {
    if (responses.length > 1) {
      var wrap = el("label", "dv-field");
      wrap.appendChild(el("span", null, "Response"));
      var sel = el("select");
      responseSelect = sel;
      sel.dataset.testid = "response";
      responses.forEach(function (r, k) {
        var o = el("option", null, r.name);
        o.value = String(k);
        sel.appendChild(o);
      });
      sel.value = String(S.resp);
      sel.addEventListener("change", function () {
        S.resp = +sel.value;
        S.dupShown = DUP_PAGE;
        update(true);
      });
      wrap.appendChild(sel);
      toolbar.appendChild(wrap);
    }
    labels.forEach(function (l, d) {
      var wrap = el("label", "dv-field");
      wrap.appendChild(el("span", null, l.name));
      var sel = el("select");
      sel.dataset.testid = "filter-" + d;
      var all = el("option", null, "All (" + N.toLocaleString() + ")");
      all.value = "-1";
      sel.appendChild(all);
      l.values.forEach(function (v, k) {
        var o = el("option", null, v + " (" + l.counts[k].toLocaleString() + ")");
        o.value = String(k);
        sel.appendChild(o);
      });
      sel.addEventListener("change", function () { setFilter(d, +sel.value); });
      wrap.appendChild(sel);
      toolbar.appendChild(wrap);
      filterSelects.push(sel);
    });
    var selChip = el("button", "dv-chip dv-chip-sel");
    selChip.type = "button";
    selChip.title = "Clear the scatterplot selection";
    selChip.addEventListener("click", function () { setSelection(null); });
    toolbar.appendChild(selChip);
    toolbar.selChip = selChip;
  }

  function renderStatus() {
    shownChip.textContent = "Showing " + S.shown.toLocaleString() + " of " + N.toLocaleString();
    filterSelects.forEach(function (s, d) { s.value = String(S.filters[d]); });
    var chip = toolbar.selChip;
    chip.textContent = "Selection: " + plural(S.selectionCount, "point") + "  \u00d7";
    chip.hidden = !S.selection;
    resetBtn.disabled = !S.selection && !S.filters.some(function (f) { return f >= 0; });
  }

  // ------------------------------------------------------------------------------------------
  // summary

  function stat(name, value, testid) {
    var s = el("div", "dv-stat");
    var v = el("div", "dv-stat-value", value);
    v.dataset.testid = testid;
    s.appendChild(v);
    s.appendChild(el("div", "dv-stat-name", name));
    return s;
  }

  function renderSummary() {
    countShown();
    var body = clear(summaryCard.body), r = R(), i;
    var stats = el("div", "dv-stats");
    stats.appendChild(stat("samples", N.toLocaleString(), "stat-total"));
    stats.appendChild(stat("shown", S.shown.toLocaleString(), "stat-shown"));
    if (r && r.dup) {
      var inDup = 0, groups = 0, c = r.dupCsr, mask = S.mask;
      for (var g = 0; g < c.ids.length; g++) {
        var any = 0;
        for (i = c.starts[g]; i < c.starts[g + 1]; i++) if (mask[c.members[i]]) { inDup++; any = 1; }
        groups += any;
      }
      stats.appendChild(stat("duplicates in " + plural(groups, "group"), inDup.toLocaleString(), "stat-duplicates"));
    }
    body.appendChild(stats);
    labels.forEach(function (l, d) {
      var shown = S.labelShown[d];
      var order = l.values.map(function (_, k) { return k; })
        .sort(function (a, b) { return l.counts[b] - l.counts[a] || a - b; });
      var sec = el("div", "dv-labels");
      sec.appendChild(el("h3", null, l.name));
      var max = 1;
      for (var k0 = 0; k0 < l.counts.length; k0++) max = Math.max(max, l.counts[k0]);
      order.slice(0, MAX_LABEL_ROWS).forEach(function (k) {
        var row = el("button", "dv-bar-row" + (S.filters[d] === k ? " active" : ""));
        row.type = "button";
        row.dataset.testid = "label-count";
        row.dataset.dim = l.name;
        row.dataset.value = l.values[k];
        row.title = "Show only " + l.name + " = " + l.values[k];
        row.appendChild(el("span", "dv-bar-name", l.values[k]));
        var bar = el("span", "dv-bar");
        var full = el("span", "dv-bar-total");
        full.style.width = (100 * l.counts[k] / max) + "%";
        var part = el("span", "dv-bar-shown");
        part.style.width = (100 * shown[k] / max) + "%";
        bar.appendChild(full);
        bar.appendChild(part);
        row.appendChild(bar);
        var cnt = el("span", "dv-bar-count", shown[k].toLocaleString());
        cnt.dataset.testid = "label-shown";
        row.appendChild(cnt);
        row.addEventListener("click", function () { setFilter(d, S.filters[d] === k ? -1 : k); });
        sec.appendChild(row);
      });
      if (order.length > MAX_LABEL_ROWS) {
        sec.appendChild(el("p", "dv-note", "+ " + (order.length - MAX_LABEL_ROWS) + " more values (use the filter above)"));
      }
      body.appendChild(sec);
    });
    if (r && r.fam) body.appendChild(histogram(r, "Familiarity (higher = more typical)"));
  }

  // bins over the robust range of the scores (written by the site builder); samples beyond it
  // (outliers that would squash the rest into one bar) are counted in an outer bar each side
  function histogram(r, title) {
    var sec = el("div", "dv-hist-wrap"), h0 = r.hist, b;
    sec.appendChild(el("h3", null, title));
    if (!h0) { sec.appendChild(el("p", "dv-note", "No finite scores.")); return sec; }
    var B = h0.bins, all = r.histAll || (r.histAll = countBins(r.famBin, null)), part = S.histShown;
    var under = all[0] > 0, over = all[B + 1] > 0, w = (h0.hi - h0.lo) / B;
    var max = 1;
    for (b = 0; b <= B + 1; b++) max = Math.max(max, all[b]);
    var h = el("div", "dv-hist");
    h.dataset.testid = "familiarity-histogram";
    var bar = function (k, text, cls) {
      var col = el("div", "dv-hist-bin" + (cls ? " " + cls : ""));
      col.dataset.count = String(all[k]);
      col.dataset.shown = String(part[k]);
      col.title = text + ": " + part[k].toLocaleString() + " of " + all[k].toLocaleString() + " shown";
      var t = el("div", "dv-hist-total");
      t.style.height = (100 * all[k] / max) + "%";
      var p = el("div", "dv-hist-shown");
      p.style.height = (100 * part[k] / max) + "%";
      if (all[k]) t.style.minHeight = "2px";
      if (part[k]) p.style.minHeight = "2px";
      col.appendChild(t);
      col.appendChild(p);
      return col;
    };
    if (under) {
      var u = bar(0, "below " + fmt(h0.lo) + " (down to " + fmt(h0.min) + ")", "dv-hist-out");
      u.dataset.testid = "hist-under";
      h.appendChild(u);
    }
    for (b = 1; b <= B; b++) h.appendChild(bar(b, fmt(h0.lo + (b - 1) * w) + " to " + fmt(h0.lo + b * w)));
    if (over) {
      var o = bar(B + 1, "above " + fmt(h0.hi) + " (up to " + fmt(h0.max) + ")", "dv-hist-out");
      o.dataset.testid = "hist-over";
      h.appendChild(o);
    }
    sec.appendChild(h);
    var axis = el("div", "dv-hist-axis");
    axis.appendChild(el("span", null, under ? "\u2264 " + fmt(h0.lo) + " (min " + fmt(h0.min) + ")" : fmt(h0.lo)));
    axis.appendChild(el("span", null, over ? "\u2265 " + fmt(h0.hi) + " (max " + fmt(h0.max) + ")" : fmt(h0.hi)));
    sec.appendChild(axis);
    if (under || over) {
      var outN = all[0] + all[B + 1];
      sec.appendChild(el("p", "dv-note", "Outer bars: " + plural(outN, "sample") +
        " beyond the range that holds the bulk of the scores (the 0.5\u201399.5 % quantiles)."));
    }
    return sec;
  }

  // ------------------------------------------------------------------------------------------
  // scatter

  var sc = { W: 0, H: 0, dpr: 1, bx: null, by: null, key: null, lut: null, base: null, img: null,
    drag: null, hover: -1, offs: [], far: null, farCount: 0 };

  function buildScatter() {
    var tools = scatterCard.tools;
    var cw = el("label", "dv-field dv-field-inline");
    cw.appendChild(el("span", null, "Colour"));
    var cs = el("select");
    cs.dataset.testid = "color-by";
    labels.forEach(function (l, d) {
      var o = el("option", null, l.name);
      o.value = "label:" + d;
      cs.appendChild(o);
    });
    var of = el("option", null, "familiarity");
    of.value = "familiarity";
    cs.appendChild(of);
    numbers.forEach(function (q, j) {
      var o = el("option", null, q.name);
      o.value = "number:" + j;
      cs.appendChild(o);
    });
    var on = el("option", null, "none");
    on.value = "none";
    cs.appendChild(on);
    cs.value = S.colorBy;
    cs.addEventListener("change", function () { pub.setColorBy(cs.value); });
    cw.appendChild(cs);
    tools.appendChild(cw);
    var seg = el("div", "dv-seg");
    ["lasso", "box"].forEach(function (t) {
      var b = el("button", "dv-seg-btn" + (S.tool === t ? " active" : ""), t === "lasso" ? "Lasso" : "Box");
      b.type = "button";
      b.dataset.tool = t;
      b.addEventListener("click", function () {
        S.tool = t;
        Array.prototype.forEach.call(seg.children, function (c) { c.classList.toggle("active", c.dataset.tool === t); });
      });
      seg.appendChild(b);
    });
    tools.appendChild(seg);
    sc.resetView = el("button", "dv-btn", "Reset zoom");
    sc.resetView.type = "button";
    sc.resetView.hidden = true;
    sc.resetView.title = "Back to the first view (the bulk of the points)";
    sc.resetView.addEventListener("click", function () { setView(1, 0, 0); });
    tools.appendChild(sc.resetView);
    sc.fitAllBtn = el("button", "dv-btn", "Show all points");
    sc.fitAllBtn.type = "button";
    sc.fitAllBtn.hidden = true;
    sc.fitAllBtn.dataset.testid = "fit-all";
    sc.fitAllBtn.title = "Zoom out until every point, far ones included, is in view";
    sc.fitAllBtn.addEventListener("click", function () { setView(sc.fitAll.k, sc.fitAll.tx, sc.fitAll.ty); });
    tools.appendChild(sc.fitAllBtn);

    var body = scatterCard.body;
    sc.wrap = el("div", "dv-scatter-wrap");
    sc.canvas = el("canvas", "dv-scatter");
    sc.canvas.setAttribute("role", "img");
    sc.canvas.setAttribute("aria-label", "2-D projection of the samples; drag to select");
    sc.ctx = sc.canvas.getContext("2d");
    // rings (hover, current sample) and the lasso path on a canvas of their own, on top, so
    // that hovering never repaints the points
    sc.over = el("canvas", "dv-scatter-over");
    sc.over.setAttribute("aria-hidden", "true");
    sc.octx = sc.over.getContext("2d");
    sc.tip = el("div", "dv-tip");
    sc.tip.hidden = true;
    sc.wrap.appendChild(sc.canvas);
    sc.wrap.appendChild(sc.over);
    sc.wrap.appendChild(sc.tip);
    body.appendChild(sc.wrap);
    sc.hint = el("p", "dv-note", "Drag to select (lasso or box), click a point for details, double-click to clear the selection. Scroll to zoom, shift-drag to pan.");
    body.appendChild(sc.hint);
    sc.farNote = el("p", "dv-note dv-far-note");
    sc.farNote.dataset.testid = "far-note";
    sc.farNote.hidden = true;
    body.appendChild(sc.farNote);
    sc.legend = el("div", "dv-legend");
    sc.legend.dataset.testid = "legend";
    body.appendChild(sc.legend);
    sc.canvas.addEventListener("pointerdown", onDown);
    sc.canvas.addEventListener("pointermove", onMove);
    sc.canvas.addEventListener("pointerup", onUp);
    sc.canvas.addEventListener("pointerleave", function () { if (!sc.drag) setHover(-1); });
    sc.canvas.addEventListener("dblclick", function () { setSelection(null); });
    sc.canvas.addEventListener("wheel", onWheel, { passive: false });
    if (window.ResizeObserver) {
      var pending = false;
      new ResizeObserver(function () {
        if (pending) return;
        pending = true;
        requestAnimationFrame(function () {
          pending = false;
          if (layoutScatter()) drawScatter();
        });
      }).observe(sc.wrap);
    }
  }

  function layoutScatter() {  // returns true when the canvas size changed
    var r = R();
    var dpr = window.devicePixelRatio || 1;
    var cssW = Math.max(200, sc.wrap.clientWidth || 600);
    var cssH = Math.round(Math.min(640, Math.max(300, cssW * 0.68)));
    var W = Math.round(cssW * dpr), H = Math.round(cssH * dpr);
    var changed = W !== sc.W || H !== sc.H || sc.resp !== S.resp;
    if (!changed) return false;
    sc.W = W; sc.H = H; sc.dpr = dpr; sc.resp = S.resp;
    sc.canvas.width = W;
    sc.canvas.height = H;
    sc.canvas.style.height = cssH + "px";
    sc.over.width = W;
    sc.over.height = H;
    sc.over.style.height = cssH + "px";
    sc.img = null;
    if (!sc.bx || sc.bx.length !== N) { sc.bx = new Float32Array(N); sc.by = new Float32Array(N); }
    sc.far = new Int32Array(0);
    sc.farCount = 0;
    pub.farCount = 0;
    sc.fitAll = { k: 1, tx: 0, ty: 0 };
    sc.view = { k: 1, tx: 0, ty: 0 };
    if (sc.resetView) sc.resetView.hidden = true;
    if (sc.fitAllBtn) sc.fitAllBtn.hidden = true;
    if (!r || !r.x || !r.y) return true;
    var x = r.x, y = r.y, i;
    // first view: the robust extent, so that a few far points do not squash the rest into a
    // corner; points beyond it are "far" (drawn at the edge until the view reaches them)
    var ex = robustExtent(x), ey = robustExtent(y);
    var pad = 14 * dpr, sx = (W - 2 * pad) / ((ex[1] - ex[0]) || 1), sy = (H - 2 * pad) / ((ey[1] - ey[0]) || 1);
    var s = Math.min(sx, sy);
    ex = widen(ex, (W - 2 * pad) / s);  // the other axis uses its spare room
    ey = widen(ey, (H - 2 * pad) / s);
    var x0 = ex[0], x1 = ex[1], y0 = ey[0], y1 = ey[1];
    var ox = (W - s * (x1 - x0)) / 2, oy = (H - s * (y1 - y0)) / 2;
    var far = [], valid = 0;
    for (i = 0; i < N; i++) {  // base position (NaN: no projection)
      var xi = x[i], yi = y[i];
      if (xi === xi && yi === yi) valid++;
      // clamped so that a pixel (x 500 zoom) stays within int32 for the drawing loop
      sc.bx[i] = Math.max(-4e6, Math.min(4e6, ox + (xi - x0) * s));
      sc.by[i] = Math.max(-4e6, Math.min(4e6, H - oy - (yi - y0) * s));
      if (xi < x0 || xi > x1 || yi < y0 || yi > y1) far.push(i);
    }
    sc.far = Int32Array.from(far);
    sc.validCount = valid;
    sc.farCount = far.length;
    pub.farCount = sc.farCount;
    if (sc.farCount) {  // the view (zoom k < 1, shift t) that shows every point
      var bx0 = ox + (ex[2] - x0) * s, bx1 = ox + (ex[3] - x0) * s;
      var byTop = H - oy - (ey[3] - y0) * s, byBottom = H - oy - (ey[2] - y0) * s;
      var k = Math.min(0.999, (W - 2 * pad) / ((bx1 - bx0) || 1), (H - 2 * pad) / ((byBottom - byTop) || 1));
      sc.fitAll = { k: k, tx: W / 2 - k * (bx0 + bx1) / 2, ty: H / 2 - k * (byTop + byBottom) / 2 };
      sc.fitAllBtn.hidden = false;
    }
    // point size: a disc for small maps, a single pixel from 300k points on
    var rad = N <= 2000 ? 3.2 : N <= 20000 ? 2.2 : N <= 300000 ? 1.5 : 0.5;
    rad = Math.max(0.5, rad * dpr);
    sc.offs = [];
    var ri = Math.ceil(rad);
    for (var dy = -ri; dy <= ri; dy++) for (var dx = -ri; dx <= ri; dx++) {
      if (dx * dx + dy * dy <= rad * rad) sc.offs.push(dx, dy);
    }
    sc.rad = Math.max(rad, 1.5 * dpr);
    // far points outside the view: a ring at the canvas edge, in the direction of the point
    var outer = sc.rad + 2 * dpr, inner = outer - 1.6 * dpr, ro = Math.ceil(outer);
    sc.ringOffs = [];
    sc.ringR = ro;
    for (dy = -ro; dy <= ro; dy++) for (dx = -ro; dx <= ro; dx++) {
      var d2 = dx * dx + dy * dy;
      if (d2 <= outer * outer && d2 >= inner * inner) sc.ringOffs.push(dx, dy);
    }
    buildGrid();
    project();
    return true;
  }

  // points by cell of GRID device pixels of the first view (base positions, which pan and zoom
  // do not change): hover and lasso look only at the cells they cover; points outside the
  // first view are listed in sc.far and looked at one by one
  var GRID = 8;
  function buildGrid() {
    var gw = Math.ceil(sc.W / GRID), gh = Math.ceil(sc.H / GRID), bx = sc.bx, by = sc.by, i, c;
    var cellOf = new Int32Array(N), start = new Int32Array(gw * gh + 1);
    for (i = 0; i < N; i++) {
      var gx = Math.floor(bx[i] / GRID), gy = Math.floor(by[i] / GRID);
      c = gx >= 0 && gx < gw && gy >= 0 && gy < gh ? gy * gw + gx : -1;
      cellOf[i] = c;
      if (c >= 0) start[c + 1]++;
    }
    for (c = 0; c < gw * gh; c++) start[c + 1] += start[c];
    var items = new Int32Array(start[gw * gh]), fill = start.slice(0, gw * gh), outside = [];
    for (i = 0; i < N; i++) {
      c = cellOf[i];
      if (c >= 0) items[fill[c]++] = i;
      else if (bx[i] === bx[i] && by[i] === by[i]) outside.push(i);
    }
    sc.grid = { gw: gw, gh: gh, start: start, items: items, outside: Int32Array.from(outside) };
  }
  // visit(i) for every point whose base position may lie in [x0, x1] x [y0, y1] (base px)
  function eachIn(x0, x1, y0, y1, visit) {
    var g = sc.grid, j;
    var cx0 = Math.max(0, Math.floor(x0 / GRID)), cx1 = Math.min(g.gw - 1, Math.floor(x1 / GRID));
    var cy0 = Math.max(0, Math.floor(y0 / GRID)), cy1 = Math.min(g.gh - 1, Math.floor(y1 / GRID));
    for (var cy = cy0; cy <= cy1; cy++) {
      for (var cx = cx0; cx <= cx1; cx++) {
        var c = cy * g.gw + cx;
        for (j = g.start[c]; j < g.start[c + 1]; j++) visit(g.items[j]);
      }
    }
    for (j = 0; j < g.outside.length; j++) visit(g.outside[j]);
  }

  // [lo, hi, min, max] of the finite values: lo/hi = the ROBUST_LO..ROBUST_HI quantiles
  // widened by ROBUST_MARGIN of their range (never past min/max), or min/max themselves
  // unless those lie more than ROBUST_GAIN times further apart
  function robustExtent(v) {
    var m = 0, i, lo = Infinity, hi = -Infinity;
    for (i = 0; i < N; i++) if (v[i] === v[i]) m++;
    var stride = Math.max(1, Math.floor(m / 200000)), vals = new Float64Array(Math.ceil(m / stride));
    var k = 0, c = 0;
    for (i = 0; i < N; i++) {
      var a = v[i];
      if (!(a === a)) continue;
      if (a < lo) lo = a;
      if (a > hi) hi = a;
      if (c++ % stride === 0) vals[k++] = a;
    }
    if (!k) return [0, 1, 0, 1];
    vals = vals.subarray(0, k).sort();
    var q = function (p) {
      var pos = p * (k - 1), j = Math.floor(pos), j2 = Math.min(k - 1, j + 1);
      return vals[j] + (vals[j2] - vals[j]) * (pos - j);
    };
    var qlo = q(ROBUST_LO), qhi = q(ROBUST_HI), margin = (qhi - qlo) * ROBUST_MARGIN;
    var rlo = Math.max(lo, qlo - margin), rhi = Math.min(hi, qhi + margin);
    if (!(rhi > rlo) || hi - lo <= ROBUST_GAIN * (rhi - rlo)) return [lo, hi, lo, hi];
    return [rlo, rhi, lo, hi];
  }

  // extent e = [lo, hi, min, max] grown towards [min, max] to fill `span` data units
  function widen(e, span) {
    if (e[3] - e[2] <= span) return [e[2], e[3], e[2], e[3]];
    var extra = span - (e[1] - e[0]);
    if (!(extra > 0)) return e;
    var a = e[0] - extra / 2, b = e[1] + extra / 2;
    if (a < e[2]) { b += e[2] - a; a = e[2]; }
    if (b > e[3]) { a -= b - e[3]; b = e[3]; }
    return [a, b, e[2], e[3]];
  }

  // screen position = base position * k + t (zoom and pan), computed while drawing
  function project() {
    var v = sc.view, k = v.k, tx = v.tx, ty = v.ty;
    if (sc.resetView) sc.resetView.hidden = k === 1 && tx === 0 && ty === 0;
    if (sc.fitAllBtn) sc.fitAllBtn.disabled = k === sc.fitAll.k && tx === sc.fitAll.tx && ty === sc.fitAll.ty;
  }
  // zoom k from the "show all" level (1 without far points) to 500; at that lowest level the
  // view snaps to showing everything (the first view, without far points)
  // `later`: redraw in the next animation frame, once however many wheel or pointer events
  // arrive before it (a 4M-point redraw takes a frame's budget)
  function setView(k, tx, ty, later) {
    k = Math.min(500, Math.max(sc.fitAll.k, k));
    if (k === sc.fitAll.k) { tx = sc.fitAll.tx; ty = sc.fitAll.ty; }
    sc.view = { k: k, tx: tx, ty: ty };
    project();
    if (!later) { drawScatter(); return; }
    if (sc.drawPending) return;
    sc.drawPending = true;
    requestAnimationFrame(function () { sc.drawPending = false; drawScatter(); });
  }
  function onWheel(e) {
    if (!sc.base) return;
    e.preventDefault();
    var p = evtXY(e), v = sc.view;
    var k = Math.min(500, Math.max(sc.fitAll.k, v.k * Math.exp(-e.deltaY * 0.0015)));
    setView(k, p[0] - (p[0] - v.tx) * k / v.k, p[1] - (p[1] - v.ty) * k / v.k, true);
  }

  // the point nearest to screen position (x, y) within maxDist device pixels, preferring shown
  // points: only the grid cells within reach
  function nearest(x, y, maxDist) {
    var v = sc.view, k = v.k, qx = (x - v.tx) / k, qy = (y - v.ty) / k, rb = maxDist / k;
    var bx = sc.bx, by = sc.by, mask = S.mask, best = -1, bestD = rb * rb, bestMask = 0;
    if (!bx || !sc.grid) return -1;
    eachIn(qx - rb, qx + rb, qy - rb, qy + rb, function (i) {
      var dx = bx[i] - qx, dy = by[i] - qy, d = dx * dx + dy * dy, m = mask[i];
      if (d <= rb * rb && (m > bestMask || (m === bestMask && (d < bestD || (d === bestD && i < best))))) {
        best = i; bestD = d; bestMask = m;
      }
    });
    return best;
  }

  var legendItems = [];
  // colours come from a small table indexed by a per-sample key (label code, familiarity bin)
  function colorPoints() {
    var r = R(), i;
    legendItems = [];
    var base = packRgb(hexRgb("#4e79a7"));
    sc.key = null;
    sc.lut = new Uint32Array([base]);
    if (S.colorBy.indexOf("label:") === 0) {
      var d = +S.colorBy.slice(6), l = labels[d];
      // the most frequent values get the palette (a cluster label's "no cluster" stays grey)
      var order = l.values.map(function (_, k) { return k; })
        .filter(function (k) { return l.values[k] !== CONST.NO_CLUSTER || !isCluster(d); })
        .sort(function (a, b) { return l.counts[b] - l.counts[a] || a - b; });
      var lut = new Uint32Array(Math.max(1, l.values.length)).fill(packRgb(hexRgb(OTHER)));
      order.forEach(function (k, rank) {
        if (rank < PALETTE.length) {
          lut[k] = packRgb(hexRgb(PALETTE[rank]));
          legendItems.push({ color: PALETTE[rank], text: l.values[k], count: l.counts[k], dim: d, code: k });
        }
      });
      if (order.length > PALETTE.length) {
        legendItems.push({ color: OTHER, text: "other (" + (order.length - PALETTE.length) + " values)", count: null });
      }
      sc.key = l.codes;
      sc.lut = lut;
    } else if (S.colorBy === "familiarity" && r && r.fam && r.hist) {
      var B = r.hist.bins, steps = new Uint32Array(256).fill(packRgb(hexRgb(OTHER)));
      for (i = 0; i <= B + 1; i++) steps[i] = packRgb(viridis(Math.max(0, Math.min(1, (i - 0.5) / B))));
      sc.key = r.famBin;
      sc.lut = steps;
      legendItems = [{ gradient: true, lo: r.hist.lo, hi: r.hist.hi, low: "less familiar", high: "more familiar" }];
    } else if (S.colorBy.indexOf("number:") === 0 && numbers[+S.colorBy.slice(7)].steps) {
      var q = numbers[+S.colorBy.slice(7)], scale = new Uint32Array(256).fill(packRgb(hexRgb(OTHER)));
      for (i = 0; i < 255; i++) scale[i] = packRgb(viridis(i / 254));
      sc.key = q.steps;
      sc.lut = scale;
      legendItems = [{ gradient: true, lo: q.lo, hi: q.hi, low: q.name, high: "" }];
    }
    renderLegend();
  }

  function renderLegend() {
    var lg = clear(sc.legend);
    legendItems.forEach(function (it) {
      if (it.gradient) {
        var g = el("div", "dv-gradient");
        g.appendChild(el("span", null, it.low + " " + fmt(it.lo)));
        var bar = el("span", "dv-gradient-bar");
        bar.style.background = "linear-gradient(to right," + VIRIDIS.join(",") + ")";
        g.appendChild(bar);
        g.appendChild(el("span", null, fmt(it.hi) + (it.high ? " " + it.high : "")));
        lg.appendChild(g);
        return;
      }
      var b = el("button", "dv-legend-item" + (it.dim !== undefined && S.filters[it.dim] === it.code ? " active" : ""));
      b.type = "button";
      var sw = el("span", "dv-swatch");
      sw.style.background = it.color;
      b.appendChild(sw);
      b.appendChild(el("span", "dv-legend-text", it.text));
      if (it.count !== null) b.appendChild(el("span", "dv-legend-count", it.count.toLocaleString()));
      if (it.dim !== undefined) {
        b.title = "Show only this value";
        b.addEventListener("click", function () { setFilter(it.dim, S.filters[it.dim] === it.code ? -1 : it.code); });
      } else {
        b.disabled = true;
      }
      lg.appendChild(b);
    });
  }

  function drawScatter() {
    var r = R(), W = sc.W, H = sc.H;
    if (!W || !H) return;
    var ctx = sc.ctx;
    if (!r || !r.x || !r.y) {
      ctx.clearRect(0, 0, W, H);
      ctx.fillStyle = "#5b6475";
      ctx.font = Math.round(14 * sc.dpr) + "px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText("No projection in this report.", W / 2, H / 2);
      pub.renderedPoints = 0;
      pub.edgeMarkers = 0;
      renderFarNote(0);
      sc.base = null;
      paintOverlay();
      return;
    }
    var t0 = performance.now();
    var img = sc.img && sc.img.width === W && sc.img.height === H ? sc.img : (sc.img = ctx.createImageData(W, H));
    var buf = new Uint32Array(img.data.buffer);
    // one-pixel points (large maps) count the points of each pixel in its alpha byte (255 -
    // count, down to 0), and shadeByDensity then shades each pixel's colour by that count, so
    // that piles of points show their structure
    var single = offsMatch(sc.offs);
    buf.fill(0xffffffff);
    var offs = sc.offs, no = offs.length, fade = packRgb(hexRgb(FADE)), mask = S.mask;
    var bx = sc.bx, by = sc.by, key = sc.key, lut = sc.lut, one = lut[0], drawn = 0;
    var v = sc.view, k = v.k, tx = v.tx + 0.5, ty = v.ty + 0.5, c8;
    // one pass: a shown point takes its pixels, a faded (filtered-out) one only white pixels,
    // so the shown points stay on top whatever the order. Pixel = floor(base * k + t): "| 0"
    // after an offset of 1024 (exact for x >= -1024; further left is off the canvas anyway,
    // and NaN lands at -1024); the unsigned compare is the bounds test
    var white = 0xffffffff, x, y, at, i;
    tx += 1024; ty += 1024;
    if (single && S.shown === N) {
      if (key) {
        for (i = 0; i < N; i++) {
          x = ((bx[i] * k + tx) | 0) - 1024; y = ((by[i] * k + ty) | 0) - 1024;
          if (x >>> 0 < W && y >>> 0 < H) {
            at = y * W + x; c8 = buf[at] >>> 24;
            buf[at] = (lut[key[i]] & 0xffffff) | ((c8 ? c8 - 1 : 0) << 24);
          }
        }
      } else {
        for (i = 0; i < N; i++) {
          x = ((bx[i] * k + tx) | 0) - 1024; y = ((by[i] * k + ty) | 0) - 1024;
          if (x >>> 0 < W && y >>> 0 < H) {
            at = y * W + x; c8 = buf[at] >>> 24;
            buf[at] = (one & 0xffffff) | ((c8 ? c8 - 1 : 0) << 24);
          }
        }
      }
    } else if (single) {
      for (i = 0; i < N; i++) {
        x = ((bx[i] * k + tx) | 0) - 1024; y = ((by[i] * k + ty) | 0) - 1024;
        if (!(x >>> 0 < W && y >>> 0 < H)) continue;
        at = y * W + x;
        if (mask[i]) {
          c8 = buf[at] >>> 24;
          buf[at] = ((key ? lut[key[i]] : one) & 0xffffff) | ((c8 ? c8 - 1 : 0) << 24);
        } else if (buf[at] === white) buf[at] = fade;
      }
    } else {
      for (i = 0; i < N; i++) {
        var bxi = bx[i];
        if (!(bxi === bxi)) continue;  // no projection
        x = ((bxi * k + tx) | 0) - 1024; y = ((by[i] * k + ty) | 0) - 1024;
        var shown = mask[i], col = shown ? (key ? lut[key[i]] : one) : fade;
        for (var o = 0; o < no; o += 2) {
          var xx = x + offs[o], yy = y + offs[o + 1];
          if (xx >>> 0 < W && yy >>> 0 < H && (shown || buf[yy * W + xx] === white)) buf[yy * W + xx] = col;
        }
      }
    }
    if (single) shadeByDensity(buf);
    tx -= 1024; ty -= 1024;
    drawn = sc.validCount;
    var edge = 0;
    if (sc.farCount) {
      var ro = sc.ringOffs, nr = ro.length, m = sc.ringR + 1, far = sc.far;
      for (var j = 0; j < far.length; j++) {
        i = far[j];
        var fx = Math.floor(bx[i] * k + tx), fy = Math.floor(by[i] * k + ty);
        if (fx >= 0 && fx < W && fy >= 0 && fy < H) continue;
        edge++;
        var cx = Math.min(W - 1 - m, Math.max(m, fx)), cy = Math.min(H - 1 - m, Math.max(m, fy));
        var rc = mask[i] ? (key ? lut[key[i]] : one) : fade;
        for (o = 0; o < nr; o += 2) buf[(cy + ro[o + 1]) * W + cx + ro[o]] = rc;
      }
    }
    pub.edgeMarkers = edge;
    renderFarNote(edge);
    sc.base = img;
    ctx.putImageData(img, 0, 0);
    pub.renderedPoints = drawn;
    sc.canvas.dataset.renderedPoints = String(drawn);
    paintOverlay();
    pub.lastDrawMs = performance.now() - t0;
  }

  // a pixel holding c of the most (cmax) points keeps DENSITY_FLOOR + (1 - DENSITY_FLOOR) *
  // log(c) / log(cmax) of its colour (the rest white); no shading while cmax < 3
  var DENSITY_FLOOR = 0.4;
  function offsMatch(offs) { return offs.length === 2 && offs[0] === 0 && offs[1] === 0; }
  function shadeByDensity(buf) {
    var low = 255, p, n = buf.length, a;
    for (p = 0; p < n; p++) { a = buf[p] >>> 24; if (a < low) low = a; }
    var cmax = 255 - low, keep = new Int32Array(256).fill(256), lg = Math.log(cmax);
    pub.densityMax = cmax;
    if (cmax >= 3) for (p = 1; p <= cmax; p++) keep[p] = Math.round(256 * (DENSITY_FLOOR + (1 - DENSITY_FLOOR) * Math.log(p) / lg));
    for (p = 0; p < n; p++) {
      var v = buf[p];
      a = v >>> 24;
      if (a === 255) continue;  // no point here (white, or a faded point)
      var f = keep[255 - a];
      var r = 255 - (((255 - (v & 255)) * f) >> 8), g = 255 - (((255 - ((v >>> 8) & 255)) * f) >> 8);
      var b = 255 - (((255 - ((v >>> 16) & 255)) * f) >> 8);
      buf[p] = (0xff000000 | (b << 16) | (g << 8) | r) >>> 0;
    }
  }

  function renderFarNote(edge) {
    var note = sc.farNote;
    note.hidden = !edge;
    if (!edge) return;
    note.textContent = plural(edge, "far point") + (edge === 1 ? " lies" : " lie") +
      " outside this view (the first view covers the bulk of the points) and " + (edge === 1 ? "is" : "are") +
      " drawn as a ring at the edge, towards where " + (edge === 1 ? "it lies" : "they lie") +
      ". \u201cShow all points\u201d or zooming out brings " + (edge === 1 ? "it" : "them") + " into view.";
  }

  function ring(i, color, extra) {
    if (i < 0 || !sc.bx || !(sc.bx[i] === sc.bx[i])) return;
    var ctx = sc.octx, rad = (sc.rad || 2) + extra * sc.dpr;
    ctx.beginPath();
    ctx.arc(sc.bx[i] * sc.view.k + sc.view.tx, sc.by[i] * sc.view.k + sc.view.ty, rad, 0, 2 * Math.PI);
    ctx.lineWidth = 2 * sc.dpr;
    ctx.strokeStyle = color;
    ctx.stroke();
  }

  // identical samples share a spot: the STACKS_DRAWN largest stacks in view get a ring that
  // grows with their size and their count, none overlapping another
  var STACKS_DRAWN = 12;
  function paintStacks(ctx, r) {
    var st = r.stacks, v = sc.view, dpr = sc.dpr, drawn = 0, placed = (sc.nameBoxes || []).slice();
    if (!st) return;
    ctx.save();
    ctx.strokeStyle = "rgba(17,24,39,0.75)";
    ctx.fillStyle = "#111827";
    ctx.lineWidth = 1.2 * dpr;
    ctx.font = Math.round(10 * dpr) + "px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    for (var j = 0; j < st.rows.length && drawn < STACKS_DRAWN; j++) {
      var i = st.rows[j], x = sc.bx[i] * v.k + v.tx, y = sc.by[i] * v.k + v.ty;
      if (!(x >= 0 && x < sc.W && y >= 0 && y < sc.H) || S.mask[i] !== 1) continue;
      var rad = sc.rad + (1.5 + 1.2 * Math.log2(st.counts[j])) * dpr, text = "\u00d7" + st.counts[j];
      var box = { x0: x - rad, x1: x + rad + 4 * dpr + ctx.measureText(text).width, y0: y - rad, y1: y + rad };
      if (placed.some(function (b) { return b.x0 < box.x1 && box.x0 < b.x1 && b.y0 < box.y1 && box.y0 < b.y1; })) continue;
      placed.push(box);
      ctx.beginPath();
      ctx.arc(x, y, rad, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.fillText(text, x + rad + 2 * dpr, y);
      drawn++;
    }
    ctx.restore();
    pub.stacksDrawn = drawn;
  }
  // cluster names at their clusters, largest first, none overlapping another; more fade in as
  // the view zooms in (NAMES_SHOWN at the first view, that many more per zoom step); in a
  // report of images each name comes with the thumbnail of the sample nearest the cluster's
  // centre
  var NAMES_SHOWN = 12, NAME_THUMB = 32;
  var nameThumbs = {};  // url -> Image (drawn once loaded)
  function nameThumb(row) {
    if (!RAW.thumbs) return null;
    if (!has("rows", [row])) { needRows([row], paintOverlay); return null; }
    var url = thumbOf(row);
    if (!url) return null;
    var im = nameThumbs[url];
    if (!im) {
      im = nameThumbs[url] = new Image();
      im.onload = paintOverlay;
      im.src = url;
    }
    return im.complete && im.naturalWidth ? im : null;
  }
  function paintClusterNames(ctx, r) {
    sc.nameBoxes = [];
    var cl = r.clusters, v = sc.view, dpr = sc.dpr;
    if (!cl) return;
    var boxes = sc.nameBoxes, limit = NAMES_SHOWN * Math.max(1, v.k), filter = S.filters[cl.label];
    ctx.save();
    ctx.font = "600 " + Math.round(11 * dpr) + "px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    cl.items.forEach(function (it, rank) {
      var alpha = Math.max(0, Math.min(1, (limit - rank) / 3));
      if (!alpha || (filter >= 0 && filter !== it.code)) return;
      var x = sc.bx[it.row] * v.k + v.tx, y = sc.by[it.row] * v.k + v.ty;
      var text = snippet(it.name.split(", ").slice(0, 2).join(", "), 32);
      var im = nameThumb(it.row), side = im ? NAME_THUMB * dpr : 0;
      var w = ctx.measureText(text).width + 6 * dpr, h = Math.max(14 * dpr, side);
      var box = { x0: x - w / 2 - side, x1: x + w / 2, y0: y - h / 2, y1: y + h / 2, code: it.code, name: it.name };
      if (box.x0 < 0 || box.x1 > sc.W || box.y0 < 0 || box.y1 > sc.H) return;
      if (boxes.some(function (b) { return b.x0 < box.x1 && box.x0 < b.x1 && b.y0 < box.y1 && box.y0 < b.y1; })) return;
      boxes.push(box);
      ctx.globalAlpha = alpha;
      if (im) {
        ctx.drawImage(im, box.x0, y - side / 2, side, side);
        ctx.strokeStyle = "#ffffff";
        ctx.lineWidth = 1.5 * dpr;
        ctx.strokeRect(box.x0, y - side / 2, side, side);
      }
      ctx.lineWidth = 3.5 * dpr;
      ctx.strokeStyle = "rgba(255,255,255,0.92)";
      ctx.strokeText(text, x, y);
      ctx.fillStyle = "#111827";
      ctx.fillText(text, x, y);
    });
    ctx.restore();
    pub.clusterNames = boxes.map(function (b) { return { name: b.name, x0: b.x0 / dpr, x1: b.x1 / dpr, y0: b.y0 / dpr, y1: b.y1 / dpr }; });
  }
  function nameAt(p) {
    return (sc.nameBoxes || []).find(function (b) { return p[0] >= b.x0 && p[0] <= b.x1 && p[1] >= b.y0 && p[1] <= b.y1; });
  }

  function paintOverlay() {
    var ctx = sc.octx;
    ctx.clearRect(0, 0, sc.W, sc.H);
    if (!sc.base) return;
    var r = R();
    if (r) { paintClusterNames(ctx, r); paintStacks(ctx, r); }
    ring(S.detail, "#111827", 4);
    ring(sc.hover, "#e15759", 3);
    var d = sc.drag;
    if (d && d.moved) {
      ctx.save();
      ctx.lineWidth = 1.5 * sc.dpr;
      ctx.strokeStyle = "#2f4b7c";
      ctx.fillStyle = "rgba(78,121,167,0.12)";
      ctx.setLineDash([5 * sc.dpr, 4 * sc.dpr]);
      ctx.beginPath();
      if (S.tool === "box") {
        ctx.rect(d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
      } else {
        d.pts.forEach(function (p, k) { if (k) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]); });
        ctx.closePath();
      }
      ctx.fill();
      ctx.stroke();
      ctx.restore();
    }
  }

  function evtXY(e) {
    var rect = sc.canvas.getBoundingClientRect();
    return [(e.clientX - rect.left) * sc.W / rect.width, (e.clientY - rect.top) * sc.H / rect.height];
  }
  function setHover(i, e) {
    if (i === sc.hover && !e) return;
    sc.hover = i;
    if (i < 0) {
      sc.tip.hidden = true;
    } else {
      var fill = function () {
        if (sc.hover !== i) return;
        var tip = clear(sc.tip);
        tip.appendChild(el("strong", null, idOf(i)));
        if (textOf(i)) tip.appendChild(el("span", "dv-tip-text", snippet(textOf(i), TIP_TEXT)));
        labels.slice(0, 3).forEach(function (l) { tip.appendChild(el("span", null, l.name + ": " + l.values[l.codes[i]])); });
        var r = R();
        if (r && r.fam) tip.appendChild(el("span", null, "familiarity: " + fmt(val(r.fam.exact, i))));
        var stack = r && r.stackOf ? r.stackOf.get(i) : 0;
        if (stack) tip.appendChild(el("span", null, plural(stack, "identical sample") + " on this spot"));
        tip.hidden = false;
        var x = (sc.bx[i] * sc.view.k + sc.view.tx) / sc.dpr, y = (sc.by[i] * sc.view.k + sc.view.ty) / sc.dpr;
        var flipX = x + 12 + tip.offsetWidth > sc.wrap.clientWidth;
        var flipY = y + 12 + tip.offsetHeight > sc.wrap.clientHeight;
        tip.style.left = (flipX ? x - 12 - tip.offsetWidth : x + 12) + "px";
        tip.style.top = (flipY ? y - 12 - tip.offsetHeight : y + 12) + "px";
      };
      if (!needRows([i], fill)) {  // the id arrives with its chunk
        clear(sc.tip).appendChild(el("span", null, "loading\u2026"));
      }
    }
    paintOverlay();
  }
  function onDown(e) {
    if (e.button !== 0 || !sc.base) return;
    var p = evtXY(e), name = nameAt(p), r = R();
    if (name && r && r.clusters && !e.shiftKey && !e.altKey) {  // a cluster's name: its filter
      var d = r.clusters.label;
      setFilter(d, S.filters[d] === name.code ? -1 : name.code);
      return;
    }
    sc.drag = { x0: p[0], y0: p[1], x1: p[0], y1: p[1], pts: [p], moved: false,
      pan: e.shiftKey || e.altKey ? { tx: sc.view.tx, ty: sc.view.ty } : null };
    sc.canvas.setPointerCapture(e.pointerId);
  }
  function onMove(e) {
    var p = evtXY(e), d = sc.drag;
    if (!d) { setHover(nearest(p[0], p[1], 10 * sc.dpr), e); return; }
    d.x1 = p[0]; d.y1 = p[1];
    if (d.pan) {
      d.moved = true;
      setView(sc.view.k, d.pan.tx + p[0] - d.x0, d.pan.ty + p[1] - d.y0, true);
      return;
    }
    var last = d.pts[d.pts.length - 1];
    if (Math.abs(p[0] - d.x0) + Math.abs(p[1] - d.y0) > 4 * sc.dpr) d.moved = true;
    if (Math.abs(p[0] - last[0]) + Math.abs(p[1] - last[1]) > 2 * sc.dpr) d.pts.push(p);
    if (d.moved) { sc.tip.hidden = true; sc.hover = -1; paintOverlay(); }
  }
  function onUp(e) {
    var d = sc.drag;
    sc.drag = null;
    if (!d || d.pan) return;
    if (!d.moved) {
      var p = evtXY(e), i = nearest(p[0], p[1], 10 * sc.dpr);
      if (i >= 0) showDetail(i);
      return;
    }
    if (S.tool === "box") finishLasso([[d.x0, d.y0], [d.x1, d.y0], [d.x1, d.y1], [d.x0, d.y1]], "box");
    else finishLasso(d.pts, "lasso");
  }
  // select the points inside a polygon of screen positions (device pixels): the polygon is
  // filled into a pixel mask (even-odd scanlines, as a canvas fills it), then each point looks
  // up its pixel: one pass over the points, whatever the polygon
  function finishLasso(poly, tool) {
    var t0 = performance.now(), sel = new Uint8Array(N), count = 0, i, W = sc.W, H = sc.H;
    var v = sc.view, k = v.k, tx = v.tx + 0.5, ty = v.ty + 0.5, bx = sc.bx, by = sc.by;
    var y0 = Infinity, y1 = -Infinity, x0 = Infinity, x1 = -Infinity, np = poly.length;
    poly.forEach(function (q) { x0 = Math.min(x0, q[0]); x1 = Math.max(x1, q[0]); y0 = Math.min(y0, q[1]); y1 = Math.max(y1, q[1]); });
    var gx0 = Math.max(0, Math.floor(x0)), gx1 = Math.min(W - 1, Math.ceil(x1));
    var gy0 = Math.max(0, Math.floor(y0)), gy1 = Math.min(H - 1, Math.ceil(y1));
    if (gx1 < gx0 || gy1 < gy0) { setSelection(null); return; }
    var gw = gx1 - gx0 + 1, gh = gy1 - gy0 + 1, inside = new Uint8Array(gw * gh), xs = [];
    for (var gy = 0; gy < gh; gy++) {
      var yc = gy0 + gy;  // a pixel row's centre line crosses the polygon's edges here
      xs.length = 0;
      for (var a = 0, z = np - 1; a < np; z = a++) {
        var ya = poly[a][1], yb = poly[z][1];
        if ((ya > yc) !== (yb > yc)) xs.push(poly[a][0] + (yc - ya) * (poly[z][0] - poly[a][0]) / (yb - ya));
      }
      xs.sort(function (p, q) { return p - q; });
      for (var e = 0; e + 1 < xs.length; e += 2) {
        var from = Math.max(0, Math.ceil(xs[e] - gx0)), to = Math.min(gw - 1, Math.floor(xs[e + 1] - gx0));
        for (var gx = from; gx <= to; gx++) inside[gy * gw + gx] = 1;
      }
    }
    if (tool === "box") inside.fill(1);
    // one sequential pass over the points (faster than gathering a big lasso's points from
    // the grid cells): each looks up its pixel in the polygon's mask
    var ox = gx0 + 1024, oy = gy0 + 1024;
    tx += 1024; ty += 1024;
    for (i = 0; i < N; i++) {
      var x = ((bx[i] * k + tx) | 0) - ox;
      if (!(x >>> 0 < gw)) continue;
      var y = ((by[i] * k + ty) | 0) - oy;
      if (y >>> 0 < gh && inside[y * gw + x]) { sel[i] = 1; count++; }
    }
    pub.lastLassoMs = performance.now() - t0;
    setSelection(sel, count);
    pub.lastSelectMs = performance.now() - t0;
  }

  // ------------------------------------------------------------------------------------------
  // galleries, detail, familiarity, duplicates

  // tiles show the whole id, cut with an ellipsis by CSS where it is too long: at the start
  // for path-like ids (the file name stays visible), at the end otherwise; the tooltip (title)
  // holds the full id and the start of the sample's text
  function isPathLike(id) { return /[\\/][^\\/]+$/.test(id); }
  // a tile is filled once the chunk with its row's id, text and scores is loaded (at once
  // when it is); noteOf(i) may read those scores
  function tile(i, noteOf, muted) {
    var f = el("figure", "dv-tile" + (muted ? " muted" : "") + (i === S.detail ? " current" : ""));
    f.dataset.index = String(i);
    f.tabIndex = 0;
    f.addEventListener("click", function () { showDetail(i, true); });
    f.addEventListener("keydown", function (e) { if (e.key === "Enter") showDetail(i, true); });
    var fill = function () {
      var id = idOf(i), text = textOf(i), note = noteOf ? noteOf(i) : null;
      f.title = id + (text ? "\n" + snippet(text, TITLE_TEXT) : "");
      var u = thumbOf(i);
      if (u) {
        var img = el("img");
        img.alt = id;
        img.decoding = "async";
        img.src = u;
        f.appendChild(img);
      } else if (thumbUrls.length) {
        f.appendChild(el("div", "dv-tile-ph", "no image"));
      } else {
        f.classList.add("dv-tile-text");
      }
      f.dataset.id = id;
      var cap = el("figcaption");
      var idEl = el("span", "dv-tile-id" + (isPathLike(id) ? " dv-tile-id-path" : ""));
      idEl.appendChild(el("bdi", null, id));  // isolated, so the start-ellipsis keeps its order
      idEl.title = id;
      idEl.dataset.testid = "tile-id";
      cap.appendChild(idEl);
      if (text) cap.appendChild(el("span", "dv-tile-snippet", snippet(text, TILE_TEXT)));
      if (note) cap.appendChild(el("span", "dv-tile-note", note));
      f.appendChild(cap);
      f.classList.remove("dv-tile-loading");
    };
    if (!needRows([i], fill)) f.classList.add("dv-tile-loading");
    return f;
  }
  function gallery(indices, noteOf, testid, mutedOf) {
    var g = el("div", "dv-gallery" + (hasTexts ? " dv-gallery-texts" : ""));
    if (testid) g.dataset.testid = testid;
    indices.forEach(function (i) { g.appendChild(tile(i, noteOf, mutedOf ? mutedOf(i) : false)); });
    if (!indices.length) g.appendChild(el("p", "dv-note", "No samples match the current filter."));
    return g;
  }
  // position of each row in orderOf(spec) (-1: no score), for ordering a few rows at once
  function posOf(spec) {
    if (spec.pos) return spec.pos;
    var o = orderOf(spec), p = new Int32Array(N).fill(-1);
    for (var j = 0; j < o.length; j++) p[o[j]] = j;
    return (spec.pos = p);
  }
  // up to SPARSE rows shown: sort them by their place in the order rather than walking the
  // whole order looking for them
  var SPARSE = 4096;
  function byOrder(spec, rows, k) {
    var pos = posOf(spec);
    rows = rows.filter(function (i) { return pos[i] >= 0; }).sort(function (a, b) { return pos[a] - pos[b]; });
    return { least: rows.slice(0, k), most: rows.slice(-k).reverse() };
  }
  // first k indices of `order` (or last k when fromEnd) that pass `ok`
  function pick(order, k, fromEnd, ok) {
    var out = [], n = order.length;
    for (var j = 0; j < n && out.length < k; j++) {
      var i = order[fromEnd ? n - 1 - j : j];
      if (ok(i)) out.push(i);
    }
    return out;
  }

  function kv(dl, key, value) {
    dl.appendChild(el("dt", null, key));
    dl.appendChild(el("dd", null, value));
  }

  var detailToken = 0;
  function renderDetail() {
    var i = S.detail, token = ++detailToken;
    if (i < 0 || i >= N) {
      clear(detailCard.body).appendChild(el("p", "dv-note", "Click a point in the projection or any sample tile to see its details here."));
      return;
    }
    // the sample's rows + details chunks, then its neighbours' and duplicates' rows
    needRows([i], function () {
      if (token !== detailToken) return;
      var more = [];
      responses.forEach(function (r) {
        if (r.nbrs) { var nb = val(r.nbrs.rows, i); if (nb) for (var j = 0; j < nb.length; j++) if (nb[j] >= 0) more.push(nb[j]); }
      });
      needRows(more, function () { if (token === detailToken) buildDetail(i); });
    }, true);
    if (!detailCard.body.querySelector("[data-testid=detail-panel]")) {
      clear(detailCard.body).appendChild(el("p", "dv-note", "Loading\u2026"));
    }
  }
  function buildDetail(i) {
    var body = clear(detailCard.body);
    var wrap = el("div", "dv-detail");
    wrap.dataset.testid = "detail-panel";
    wrap.dataset.index = String(i);
    var u = thumbOf(i);
    if (u) {
      var img = el("img", "dv-detail-img");
      img.alt = idOf(i);
      img.src = u;
      wrap.appendChild(img);
    }
    var idEl = el("h3", "dv-detail-id", idOf(i));
    idEl.dataset.testid = "detail-id";
    wrap.appendChild(idEl);
    if (textOf(i)) {
      var textEl = el("blockquote", "dv-detail-text", textOf(i));
      textEl.dataset.testid = "detail-text";
      wrap.appendChild(textEl);
    }
    var dl = el("dl", "dv-kv");
    labels.forEach(function (l) { kv(dl, l.name, l.values[l.codes[i]]); });
    extras.forEach(function (e) { var v = val(e.col, i); kv(dl, e.name, e.kind === "number" ? fmt(v) : v); });
    var group = null, near = null;
    responses.forEach(function (r) {
      var pre = responses.length > 1 ? r.name + " \u00b7 " : "";
      if (r.fam) kv(dl, pre + "familiarity", fmt(val(r.fam.exact, i)) + (r.pct ? "  (percentile " + fmt(val(r.pct, i)) + ")" : ""));
      r.split.forEach(function (s) {
        if (s.label < 0) return;
        var v = labels[s.label].values[labels[s.label].codes[i]];
        kv(dl, pre + "familiarity among " + s.dim + " = " + v, fmt(val(s.exact, i)));
        if (!s.scores) return;
        var all = val(s.scores, i), parts = [];
        if (!all) return;
        s.values.forEach(function (name, j) {
          if (parts.length < 12 && isFinite(all[j])) parts.push(name + ": " + fmt(all[j]));
        });
        if (s.values.length > 12) parts.push("\u2026");
        if (parts.length) kv(dl, pre + "under each " + s.dim + " model", parts.join(", "));
      });
      if (r.x && r.y) kv(dl, pre + "projection", fmt(val(r.exactX, i)) + ", " + fmt(val(r.exactY, i)));
      if (r.dup) {
        var g = r.dup[i];
        if (g >= 0) {
          groupsOf(r);
          var grp = r.groupById.get(g), members = grp.members;
          kv(dl, pre + "duplicate group", "#" + g + " (" + plural(members.length, "sample") +
            (KIND_TEXT[grp.kind] ? ", " + KIND_TEXT[grp.kind] : "") +
            (grp.kind === "near" && r.exact[i] === 1 ? "; this one has an identical copy in it" : "") + ")");
          if (r === R()) group = members;
        } else {
          kv(dl, pre + "duplicate group", "none");
        }
      }
      r.issues.forEach(function (q) {
        var s = val(q.score, i), sug = q.sugValues[val(q.sug, i)];
        var flagged = false;
        for (var j = q.rows.length - 1; j >= 0; j--) if (q.rows[j] === i) { flagged = q.flags[j] === 1; break; }
        kv(dl, pre + "label issue (" + q.dim + ")", !isFinite(s) ? "not measured (no label)"
          : fmtScore(s) + (flagged ? " \u00b7 flagged" : "") + (sug ? " \u00b7 suspected: " + sug : ""));
      });
      r.leaks.forEach(function (q) {
        var g = q.groups[i];
        kv(dl, pre + "leakage (" + q.dim + ")", g < 0 ? "none" : "group #" + g + ": " +
          leakGroup(r, q, g).sides.map(function (s) { return s.members.length + " " + s.value; }).join(", "));
      });
      if (r.nbrs && r === R()) near = { r: r, rows: val(r.nbrs.rows, i), dist: val(r.nbrs.dist, i) };
    });
    wrap.appendChild(dl);
    if (near && near.rows) {
      wrap.appendChild(el("h4", null, "Nearest neighbours"));
      var list = el("ol", "dv-neighbours");
      list.dataset.testid = "detail-neighbours";
      for (var j = 0; j < near.rows.length; j++) {
        var nb = near.rows[j];
        if (nb < 0 || nb === i) continue;
        var item = el("li", "dv-neighbour");
        var btn = el("button", "dv-link-btn", idOf(nb));
        btn.type = "button";
        btn.dataset.testid = "neighbour";
        btn.dataset.index = String(nb);
        btn.dataset.distance = String(near.dist[j]);
        btn.addEventListener("click", (function (row) { return function () { showDetail(row); }; })(nb));
        item.appendChild(btn);
        var lab = labels.length ? labels[0].name + " " + labels[0].values[labels[0].codes[nb]] + " \u00b7 " : "";
        item.appendChild(el("span", "dv-note", " " + lab + "distance " + fmt(near.dist[j])));
        list.appendChild(item);
      }
      wrap.appendChild(list);
    }
    if (group) {
      wrap.appendChild(el("h4", null, "Duplicates of this sample"));
      wrap.appendChild(gallery(group.filter(function (j) { return j !== i; }).slice(0, 24), null, "detail-duplicates"));
    }
    body.appendChild(wrap);
  }

  function renderFamiliarity() {
    var body = clear(famCard.body), r = R();
    if (!r || !r.fam) {
      body.appendChild(el("p", "dv-note", "This report has no familiarity scores."));
      return;
    }
    var fam = r.fam, order = orderOf(fam), inMask = function (i) { return S.mask[i] === 1; };
    var note = function (i) { return fmt(val(fam.exact, i)); };
    var ends;
    if (S.shown <= SPARSE && S.shown < N) {
      var rows = [];
      for (var i0 = 0; i0 < N && rows.length < S.shown; i0++) if (S.mask[i0]) rows.push(i0);
      ends = byOrder(fam, rows, GALLERY_K);
    } else {
      ends = { least: pick(order, GALLERY_K, false, inMask), most: pick(order, GALLERY_K, true, inMask) };
    }
    var two = el("div", "dv-two");
    var least = el("div");
    least.appendChild(el("h3", null, "Least familiar (most unusual)"));
    least.appendChild(gallery(ends.least, note, "least-familiar"));
    var most = el("div");
    most.appendChild(el("h3", null, "Most familiar (most typical)"));
    most.appendChild(gallery(ends.most, note, "most-familiar"));
    two.appendChild(least);
    two.appendChild(most);
    body.appendChild(two);
    if (!labels.length) return;

    var head = el("div", "dv-subhead");
    head.appendChild(el("h3", null, "Per label"));
    var fw = el("label", "dv-field dv-field-inline");
    fw.appendChild(el("span", null, "Label"));
    var fs = el("select");
    fs.dataset.testid = "familiarity-dim";
    labels.forEach(function (l, d) {
      var o = el("option", null, l.name);
      o.value = String(d);
      fs.appendChild(o);
    });
    fs.value = String(S.famDim);
    fs.addEventListener("change", function () { S.famDim = +fs.value; renderFamiliarity(); });
    fw.appendChild(fs);
    head.appendChild(fw);
    body.appendChild(head);
    countShown();
    var d = S.famDim, l = labels[d];
    var split = r.split.find(function (s) { return s.label === d; });
    if (split && !withRanks(split, renderFamiliarity)) {
      body.appendChild(el("p", "dv-note", "Loading the per-label scores\u2026"));
      return;
    }
    body.appendChild(el("p", "dv-note", split
      ? "Scores from a familiarity model fitted on each value's own samples (values with too few samples use the overall model)."
      : "Scores from the overall familiarity model."));
    var shown = S.labelShown[d];
    var codes = l.codes;
    var values = l.values.map(function (_, k) { return k; }).filter(function (k) { return shown[k] > 0; })
      .sort(function (a, b) { return shown[b] - shown[a] || a - b; }).slice(0, 24);
    // values with few shown samples: their rows gathered in one pass, then ordered
    var few = {}, anyFew = false, mask = S.mask;
    values.forEach(function (k) { if (shown[k] <= SPARSE) { few[k] = []; anyFew = true; } });
    if (anyFew) for (var i1 = 0; i1 < N; i1++) if (mask[i1] && few[codes[i1]]) few[codes[i1]].push(i1);
    values.forEach(function (k) {
      var own = split && split.values.indexOf(l.values[k]) >= 0 ? split : null;
      var spec = own || fam, ord = orderOf(spec);
      var ok = function (q) { return codes[q] === k && S.mask[q] === 1; };
      var picked = few[k] ? byOrder(spec, few[k], LABEL_K)
        : { least: pick(ord, LABEL_K, false, ok), most: pick(ord, LABEL_K, true, ok) };
      var noteK = function (q) { return fmt(val(spec.exact, q)); };
      var sec = el("div", "dv-label-fam");
      sec.dataset.testid = "label-familiarity";
      sec.dataset.value = l.values[k];
      var h = el("h4");
      h.appendChild(el("span", "dv-label-value", l.values[k]));
      h.appendChild(el("span", "dv-note", " \u00b7 " + plural(shown[k], "sample") + (own ? "" : " \u00b7 overall model")));
      sec.appendChild(h);
      var row = el("div", "dv-two");
      var a = el("div");
      a.appendChild(el("h5", null, "least familiar"));
      a.appendChild(gallery(picked.least, noteK, "label-least"));
      var b = el("div");
      b.appendChild(el("h5", null, "most familiar"));
      b.appendChild(gallery(picked.most, noteK, "label-most"));
      row.appendChild(a);
      row.appendChild(b);
      sec.appendChild(row);
      body.appendChild(sec);
    });
  }

  function renderDuplicates() {
    var body = clear(dupCard.body), r = R();
    if (!r || !r.dup) {
      clear(dupCard.tools);
      body.appendChild(el("p", "dv-note", "This report has no duplicate detection."));
      return;
    }
    var shown = groupsOf(r).filter(function (g) { return g.members.some(function (i) { return S.mask[i] === 1; }); });
    var count = { exact: 0, near: 0, unknown: 0 };
    shown.forEach(function (g) { count[g.kind]++; });
    renderDupKinds(r, count);
    var groups = S.dupKind === "all" ? shown : shown.filter(function (g) { return g.kind === S.dupKind; });
    var total = 0;
    groups.forEach(function (g) { total += g.members.length; });
    var parts = [];
    if (count.exact) parts.push(count.exact.toLocaleString() + " of identical samples (exact)");
    if (count.near) parts.push(count.near.toLocaleString() + " of near-duplicates (near)");
    if (!r.exact) parts.push("this report does not say which hold exact copies");
    var what = S.dupKind === "all" ? plural(shown.length, "duplicate group") + (parts.length ? ": " + parts.join(", ") : "")
      : plural(groups.length, S.dupKind + " group");
    body.appendChild(el("p", "dv-note", groups.length
      ? what + "; " + plural(total, "sample") + " in the groups listed, largest group first. Greyed tiles are outside the current filter."
      : shown.length ? "No " + S.dupKind + " groups among the shown samples." : "No duplicate groups among the shown samples."));
    var list = el("div", "dv-dup-list");
    groups.slice(0, S.dupShown).forEach(function (g) {
      var box = el("div", "dv-dup-group");
      box.dataset.testid = "dup-group";
      box.dataset.group = String(g.id);
      box.dataset.kind = g.kind;
      var h = el("h4", "dv-dup-head");
      h.appendChild(el("span", null, "Group " + g.id + " \u00b7 " + plural(g.members.length, "sample")));
      if (KIND_TEXT[g.kind]) {
        var badge = el("span", "dv-badge dv-badge-" + g.kind, KIND_TEXT[g.kind]);
        badge.title = KIND_TITLE[g.kind] + (g.kind === "near" && g.copies
          ? "; " + g.copies + " of them have an identical copy in the group (marked \u201cidentical copy\u201d)" : "");
        badge.dataset.testid = "dup-kind";
        h.appendChild(badge);
      }
      box.appendChild(h);
      var copyNote = g.kind === "near" && g.copies ? function (i) { return r.exact[i] === 1 ? "identical copy" : null; } : null;
      box.appendChild(gallery(g.members.slice(0, 24), copyNote, null, function (i) { return S.mask[i] !== 1; }));
      if (g.members.length > 24) box.appendChild(el("p", "dv-note", "+ " + (g.members.length - 24) + " more"));
      list.appendChild(box);
    });
    body.appendChild(list);
    if (groups.length > S.dupShown) {
      var more = el("button", "dv-btn", "Show more groups (" + (groups.length - S.dupShown) + " left)");
      more.type = "button";
      more.addEventListener("click", function () { S.dupShown += DUP_PAGE; renderDuplicates(); });
      body.appendChild(more);
    }
  }

  // exact / near switch in the duplicates card, when the report says which is which
  function renderDupKinds(r, count) {
    var tools = clear(dupCard.tools);
    if (!r.exact || !(count.exact || count.near)) { S.dupKind = "all"; return; }
    var seg = el("div", "dv-seg");
    seg.dataset.testid = "dup-kinds";
    [["all", "All"], ["exact", "Exact (" + count.exact + ")"], ["near", "Near (" + count.near + ")"]].forEach(function (o) {
      var b = el("button", "dv-seg-btn" + (S.dupKind === o[0] ? " active" : ""), o[1]);
      b.type = "button";
      b.dataset.kind = o[0];
      if (o[0] !== "all") b.title = KIND_TITLE[o[0]];
      b.addEventListener("click", function () { S.dupKind = o[0]; S.dupShown = DUP_PAGE; renderDuplicates(); });
      seg.appendChild(b);
    });
    tools.appendChild(seg);
  }


  // ------------------------------------------------------------------------------------------
  // audit: the issues table, the label-issue gallery, leakage between splits

  function fmtScore(v) { return v === null || v === undefined || !isFinite(v) ? "not measured" : v.toFixed(2); }

  function scoreCell(score) {
    var td = el("td", "dv-audit-score");
    if (score === null || score === undefined) {
      td.appendChild(el("span", "dv-unmeasured", "not measured"));
      return td;
    }
    td.appendChild(el("span", "dv-score-value", score.toFixed(3)));
    var bar = el("span", "dv-score-bar"), fill = el("span", "dv-score-fill " +
      (score >= 0.99 ? "good" : score >= 0.9 ? "fair" : "poor"));
    fill.style.width = (100 * Math.max(0, Math.min(1, score))) + "%";
    bar.appendChild(fill);
    td.appendChild(bar);
    return td;
  }

  // the card a row of the audit table leads to, after choosing its response / label / kind
  function auditTarget(row) {
    var k = responses.findIndex(function (r) { return r.name === row.response; });
    var r = k >= 0 ? responses[k] : R();
    var go = null;
    if (row.issue === "leakage" && leakCard && r && r.leaks.some(function (q) { return q.dim === row.label; })) {
      go = function () { S.leakDim = row.label; return leakCard; };
    } else if (row.issue === "label issues" && issueCard && r && r.issues.some(function (q) { return q.dim === row.label; })) {
      go = function () { S.issueDim = row.label; return issueCard; };
    } else if ((row.issue === "exact duplicates" || row.issue === "near duplicates") && r && r.dup) {
      go = function () { S.dupKind = r.exact ? row.issue.split(" ")[0] : "all"; return dupCard; };
    } else if (row.issue === "imbalance" || row.issue === "thin labels") {
      go = function () { return summaryCard; };
    } else if (row.issue === "duplicate clusters" && r && r.clusters) {
      go = function () { S.colorBy = "label:" + r.clusters.label; colorPoints(); drawScatter(); return scatterCard; };
    }
    if (!go) return null;
    return function () {
      var target = go();
      if (k >= 0 && k !== S.resp) {
        S.resp = k;
        if (responseSelect) responseSelect.value = String(k);
        update(true);
      } else {
        update(false);
      }
      target.root.scrollIntoView({ behavior: "smooth", block: "start" });
    };
  }

  function buildAudit() {
    if (!auditCard) return;
    var multi = new Set(AUDIT.map(function (row) { return row.response; }).filter(Boolean)).size > 1;
    var heads = ["Issue"].concat(multi ? ["Response"] : [], ["Label", "Flagged", "Score", "Detail"]);
    var table = el("table", "dv-audit-table");
    table.dataset.testid = "audit-table";
    var tr = el("tr");
    heads.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    table.appendChild(el("thead")).appendChild(tr);
    var tbody = el("tbody");
    AUDIT.forEach(function (row) {
      var measured = row.score !== null && row.score !== undefined;
      var line = el("tr", "dv-audit-row" + (!measured ? " unmeasured" : row.flagged ? " found" : ""));
      line.dataset.testid = "audit-row";
      line.dataset.issue = row.issue;
      line.dataset.label = row.label;
      line.dataset.response = row.response;
      line.appendChild(el("td", "dv-audit-issue", row.issue));
      if (multi) line.appendChild(el("td", null, row.response));
      line.appendChild(el("td", "dv-audit-label", row.label));
      var flagged = el("td", "dv-audit-flagged", row.flagged === null || row.flagged === undefined ? "\u2013" : row.flagged.toLocaleString());
      flagged.dataset.testid = "audit-flagged";
      line.appendChild(flagged);
      line.appendChild(scoreCell(row.score));
      line.appendChild(el("td", "dv-audit-detail", row.detail));
      var open = auditTarget(row);
      if (open) {
        line.classList.add("dv-link");
        line.tabIndex = 0;
        line.title = "Show the samples";
        line.addEventListener("click", open);
        line.addEventListener("keydown", function (e) { if (e.key === "Enter") open(); });
      }
      tbody.appendChild(line);
    });
    table.appendChild(tbody);
    var wrap = el("div", "dv-audit-wrap");
    wrap.appendChild(table);
    auditCard.body.appendChild(wrap);
    auditCard.body.appendChild(el("p", "dv-note", "Score: 1 = looked for and not found, 0 = every sample affected " +
      "(imbalance: 1 = every value equally common); \u201cnot measured\u201d = the report could not check it, " +
      "the detail says why. Flagged: samples (imbalance, thin labels: label values). Click a row to see the samples."));
  }

  function dimSelect(tools, list, current, testid, onPick) {
    if (list.length < 2) return;
    var w = el("label", "dv-field dv-field-inline");
    w.appendChild(el("span", null, "Label"));
    var sel = el("select");
    sel.dataset.testid = testid;
    list.forEach(function (q) {
      var o = el("option", null, q.dim);
      o.value = q.dim;
      sel.appendChild(o);
    });
    sel.value = current;
    sel.addEventListener("change", function () { onPick(sel.value); });
    w.appendChild(sel);
    tools.appendChild(w);
  }

  function renderIssues() {
    if (!issueCard) return;
    var body = clear(issueCard.body), r = R(), list = r ? r.issues : [];
    clear(issueCard.tools);
    if (!list.length) {
      body.appendChild(el("p", "dv-note", "No label-issue scores for this response."));
      return;
    }
    var q = list.find(function (x) { return x.dim === S.issueDim; }) || list[0];
    S.issueDim = q.dim;
    dimSelect(issueCard.tools, list, q.dim, "issue-dim", function (d) { S.issueDim = d; renderIssues(); });
    body.appendChild(el("p", "dv-note", plural(q.flagged, "sample") + " flagged as likely mislabelled in \u201c" + q.dim +
      "\u201d: their nearest neighbours (and the model\u2019s predictions, when given) point at another class. " +
      "Per class, the flagged samples, most suspicious first, then borderline ones (not flagged, but another class is " +
      "at least as likely: score \u2265 0.5). Each tile shows its label \u2192 the suspected class and the score " +
      "(0.5: the evidence is balanced, near 1: it all points at the other class)."));
    var li = q.label, l = li >= 0 ? labels[li] : null;
    var nv = l ? l.values.length : 1, codes = l ? l.codes : new Uint8Array(N);
    var flaggedIn = new Int32Array(nv), borderIn = new Int32Array(nv), shownIn = new Int32Array(nv), i, j;
    var meas = r.measured, bit = q.bit === null || q.bit === undefined ? -1 : q.bit;
    for (i = 0; i < N; i++) {
      if (!S.mask[i] || (meas && bit >= 0 && !((meas[i] >> bit) & 1))) continue;
      shownIn[codes[i]]++;
    }
    var L = q.rows.length;  // flagged or borderline samples, ascending score
    for (j = 0; j < L; j++) {
      i = q.rows[j];
      if (!S.mask[i]) continue;
      if (q.flags[j]) flaggedIn[codes[i]]++;
      else if (q.scores[j] >= BORDERLINE) borderIn[codes[i]]++;
    }
    var classes = [], quiet = [];
    for (var k = 0; k < nv; k++) {
      if (!shownIn[k]) continue;
      (flaggedIn[k] || borderIn[k] ? classes : quiet).push(k);
    }
    classes.sort(function (a, b) {
      return flaggedIn[b] - flaggedIn[a] || borderIn[b] - borderIn[a] || shownIn[b] - shownIn[a] || a - b;
    });
    var pos = new Map();
    // a label with too many values to filter by is a plain column (details tier)
    var ex = l ? null : extras.find(function (e) { return e.name === q.dim && e.kind === "text"; });
    var given = function (row) {
      var v = ex ? val(ex.col, row) : undefined;
      return l ? l.values[codes[row]] : v !== undefined ? String(v) : "?";
    };
    var allPicked = [];
    var note = function (row) {
      var p = pos.get(row), sug = q.sugValues[q.sugs[p]];
      return given(row) + " \u2192 " + (sug || "\u2013") + " \u00b7 " + fmtScore(q.scores[p]);
    };
    var grid2 = el("div", "dv-issue-list");
    classes.slice(0, ISSUE_CLASSES).forEach(function (k) {
      var picked = [];
      [true, false].forEach(function (flagged) {
        for (var p = L - 1; p >= 0 && picked.length < ISSUE_K; p--) {
          var row = q.rows[p];
          if (codes[row] !== k || S.mask[row] !== 1 || (q.flags[p] === 1) !== flagged) continue;
          if (!flagged && !(q.scores[p] >= BORDERLINE)) continue;
          picked.push(row);
          pos.set(row, p);
        }
      });
      allPicked = allPicked.concat(picked);
      var sec = el("div", "dv-issue-class");
      sec.dataset.testid = "issue-class";
      sec.dataset.value = l ? l.values[k] : q.dim;
      var h = el("h4");
      h.appendChild(el("span", "dv-label-value", l ? l.values[k] : q.dim));
      h.appendChild(el("span", "dv-note", " \u00b7 " + flaggedIn[k].toLocaleString() + " flagged" +
        (borderIn[k] ? ", " + borderIn[k].toLocaleString() + " borderline" : "") + " of " + shownIn[k].toLocaleString()));
      sec.appendChild(h);
      var g = gallery(picked, note, "issue-gallery");
      Array.prototype.forEach.call(g.querySelectorAll(".dv-tile"), function (t) {
        var row = +t.dataset.index, p = pos.get(row);
        t.dataset.given = given(row);
        t.dataset.suggested = q.sugValues[q.sugs[p]];
        t.dataset.flagged = String(q.flags[p]);
        t.classList.add(q.flags[p] ? "dv-tile-flagged" : "dv-tile-unflagged");
      });
      sec.appendChild(g);
      grid2.appendChild(sec);
    });
    body.appendChild(grid2);
    if (ex && !has("details", allPicked)) need("details", allPicked, renderIssues);
    if (classes.length > ISSUE_CLASSES) {
      body.appendChild(el("p", "dv-note", "+ " + (classes.length - ISSUE_CLASSES) + " more classes with flagged samples (use the label filter above)"));
    }
    if (!classes.length) body.appendChild(el("p", "dv-note", "No flagged or borderline samples among the shown samples."));
    if (quiet.length && classes.length) {
      var names = quiet.slice(0, 30).map(function (k) { return l ? l.values[k] : q.dim; });
      body.appendChild(el("p", "dv-note", "No flagged or borderline samples in " + quiet.length.toLocaleString() + (quiet.length === 1 ? " class" : " classes") + ": " +
        names.join(", ") + (quiet.length > 30 ? ", \u2026" : "") + "."));
    }
  }

  // the leaking groups of split label q: exact first, then larger first; each with its members
  // per split value, training-like values first
  function leakGroups(r, q) {
    if (q.list) return q.list;
    var m = new Map(), i;
    for (i = 0; i < N; i++) {
      var g = q.groups[i];
      if (g < 0) continue;
      if (!m.has(g)) m.set(g, []);
      m.get(g).push(i);
    }
    var rank = new Map(q.order.map(function (v, k) { return [v, k]; }));
    q.list = Array.from(m.keys()).map(function (g) {
      var members = m.get(g), copies = 0, known = 0, bySide = new Map();
      members.forEach(function (j) {
        if (r.exact) {
          if (r.exact[j] >= 0) known++;
          if (r.exact[j] === 1) copies++;
        }
        var v = q.codes ? String(q.values[q.codes[j]]) : "";
        if (!bySide.has(v)) bySide.set(v, []);
        bySide.get(v).push(j);
      });
      var sides = Array.from(bySide.keys()).sort(function (a, b) {
        var ra = rank.has(a) ? rank.get(a) : 1e9, rb = rank.has(b) ? rank.get(b) : 1e9;
        return ra - rb || (a < b ? -1 : a > b ? 1 : 0);
      }).map(function (v) { return { value: v, members: bySide.get(v) }; });
      var kind = !known ? "unknown" : copies === members.length ? "exact" : "near";
      return { id: g, members: members, kind: kind, sides: sides };
    }).sort(function (a, b) {
      return (b.kind === "exact") - (a.kind === "exact") || b.members.length - a.members.length || a.id - b.id;
    });
    q.byId = new Map(q.list.map(function (x) { return [x.id, x]; }));
    return q.list;
  }
  function leakGroup(r, q, g) { leakGroups(r, q); return q.byId.get(g); }

  function renderLeakage() {
    if (!leakCard) return;
    var body = clear(leakCard.body), r = R(), list = r ? r.leaks : [];
    clear(leakCard.tools);
    if (!list.length) {
      body.appendChild(el("p", "dv-note", "No leakage check for this response."));
      return;
    }
    var q = list.find(function (x) { return x.dim === S.leakDim; }) || list[0];
    S.leakDim = q.dim;
    dimSelect(leakCard.tools, list, q.dim, "leak-dim", function (d) { S.leakDim = d; S.leakShown = DUP_PAGE; renderLeakage(); });
    var pairs = el("div", "dv-leak-pairs");
    pairs.dataset.testid = "leak-pairs";
    q.pairs.forEach(function (p) {
      var chip = el("span", "dv-leak-pair", p.a + " / " + p.b + ": " + plural(p.groups, "group") + " (" +
        p.samples_a.toLocaleString() + " " + p.a + ", " + p.samples_b.toLocaleString() + " " + p.b + ")");
      chip.dataset.a = p.a;
      chip.dataset.b = p.b;
      chip.dataset.groups = String(p.groups);
      pairs.appendChild(chip);
    });
    if (!q.pairs.length) pairs.appendChild(el("p", "dv-note", "No duplicate group spans two values of \u201c" + q.dim + "\u201d: no leak found."));
    body.appendChild(pairs);
    var groups = leakGroups(r, q).filter(function (g) { return g.members.some(function (j) { return S.mask[j] === 1; }); });
    if (q.pairs.length) {
      body.appendChild(el("p", "dv-note", groups.length
        ? "Duplicate groups holding samples of two or more values of \u201c" + q.dim + "\u201d, side by side; " +
          "identical copies first, then larger groups. Greyed tiles are outside the current filter."
        : "No leaking group among the shown samples."));
    }
    var box = el("div", "dv-leak-list");
    groups.slice(0, S.leakShown).forEach(function (g) {
      var row = el("div", "dv-leak-group");
      row.dataset.testid = "leak-group";
      row.dataset.group = String(g.id);
      row.dataset.kind = g.kind;
      var h = el("h4", "dv-dup-head");
      h.appendChild(el("span", null, "Group " + g.id + " \u00b7 " + plural(g.members.length, "sample")));
      if (KIND_TEXT[g.kind]) {
        var badge = el("span", "dv-badge dv-badge-" + g.kind, KIND_TEXT[g.kind]);
        badge.title = KIND_TITLE[g.kind];
        h.appendChild(badge);
      }
      row.appendChild(h);
      var sides = el("div", "dv-leak-sides");
      g.sides.forEach(function (s) {
        var col = el("div", "dv-leak-side");
        col.dataset.testid = "leak-side";
        col.dataset.value = s.value;
        col.appendChild(el("h5", null, (s.value || "(no value)") + " \u00b7 " + s.members.length));
        col.appendChild(gallery(s.members.slice(0, LEAK_SIDE), null, null, function (j) { return S.mask[j] !== 1; }));
        if (s.members.length > LEAK_SIDE) col.appendChild(el("p", "dv-note", "+ " + (s.members.length - LEAK_SIDE) + " more"));
        sides.appendChild(col);
      });
      row.appendChild(sides);
      box.appendChild(row);
    });
    body.appendChild(box);
    if (groups.length > S.leakShown) {
      var more = el("button", "dv-btn", "Show more groups (" + (groups.length - S.leakShown) + " left)");
      more.type = "button";
      more.addEventListener("click", function () { S.leakShown += DUP_PAGE; renderLeakage(); });
      body.appendChild(more);
    }
  }

  // ------------------------------------------------------------------------------------------
  // search (ids by exact value or prefix, label values) and export of the shown samples

  // rows whose id starts with `q`: the ids are sorted in "search" chunks, each starting with
  // the id listed in RAW.search.first, so one or two chunks are read
  function searchIds(q, cb) {
    var first = RAW.search.first, lo = 0, hi = first.length - 1;
    if (!first.length) { cb([], []); return; }
    while (lo < hi) {  // the last chunk whose first id is <= q
      var mid = (lo + hi + 1) >> 1;
      if (first[mid] <= q) lo = mid; else hi = mid - 1;
    }
    var ks = [lo];
    for (var c = lo + 1; c < first.length && first[c].lastIndexOf(q, 0) === 0; c++) ks.push(c);
    if (ks.length > 8) ks = ks.slice(0, 8);  // a very common prefix: the first 8 chunks of it
    var left = ks.length, rows = [], exact = [];
    var done = function () {
      ks.forEach(function (k) {
        var idl = columnOf(RAW.search.ids, "search", k), at = columnOf(RAW.search.rows, "search", k);
        if (!idl) return;
        var a = 0, b = idl.length;
        while (a < b) { var m = (a + b) >> 1; if (idl[m] < q) a = m + 1; else b = m; }
        for (var j = a; j < idl.length && idl[j].lastIndexOf(q, 0) === 0; j++) {
          rows.push(at[j]);
          if (idl[j] === q) exact.push(at[j]);
        }
      });
      cb(rows, exact);
    };
    ks.forEach(function (k) { loadChunk("search", k, function () { if (--left === 0) done(); }); });
  }
  // label values equal to q (any case), else containing it
  function searchLabels(q) {
    var lq = q.toLowerCase(), hits = [];
    [true, false].forEach(function (equal) {
      if (hits.length) return;
      labels.forEach(function (l, d) {
        l.values.forEach(function (v, k) {
          var lv = String(v).toLowerCase();
          if (equal ? lv === lq : lv.indexOf(lq) >= 0) hits.push([d, k]);
        });
      });
    });
    return hits;
  }
  function runSearch(q, cb) {
    q = String(q || "").trim();
    if (!q) { setSelection(null); searchNote(""); if (cb) cb(0); return; }
    searchNote("Searching\u2026");
    searchIds(q, function (rows, exact) {
      var sel = new Uint8Array(N), count = 0, what, j;
      if (rows.length) {
        for (j = 0; j < rows.length; j++) if (!sel[rows[j]]) { sel[rows[j]] = 1; count++; }
        what = exact.length ? plural(exact.length, "sample") + " with id \u201c" + q + "\u201d" +
          (count > exact.length ? " (" + count.toLocaleString() + " ids start with it)" : "")
          : plural(count, "id") + " starting with \u201c" + q + "\u201d";
      } else {
        var hits = searchLabels(q);
        if (hits.length) {
          for (var i = 0; i < N; i++) {
            for (j = 0; j < hits.length; j++) {
              if (labels[hits[j][0]].codes[i] === hits[j][1]) { sel[i] = 1; count++; break; }
            }
          }
          what = plural(count, "sample") + " labelled " + hits.slice(0, 4).map(function (h) {
            return labels[h[0]].name + " = " + labels[h[0]].values[h[1]];
          }).join(" or ") + (hits.length > 4 ? " or \u2026" : "");
        }
      }
      pub.searchCount = count;
      if (!count) {
        searchNote("No id or label value matches \u201c" + q + "\u201d.");
        if (cb) cb(0);
        return;
      }
      setSelection(sel, count);
      searchNote(what + ": selected.");
      var one = exact.length === 1 ? exact[0] : count === 1 ? rows[0] : -1;
      if (one >= 0) showDetail(one, true);
      if (cb) cb(count);
    });
  }
  function searchNote(text) { toolbar.searchNote.textContent = text; toolbar.searchNote.hidden = !text; }
  pub.search = function (q) { return new Promise(function (res) { runSearch(q, res); }); };

  function csvField(v) {
    var t = String(v);
    return /[",\r\n]/.test(t) || /^\s|\s$/.test(t) ? "\"" + t.replace(/"/g, "\"\"") + "\"" : t;
  }
  // the shown samples (filters and selection) as CSV: id and every label, built chunk by chunk
  // of the "rows" tier (each loaded in turn) into a Blob that the browser downloads
  function exportShown(cb) {
    var info = TIERS.rows, parts = [["id"].concat(labels.map(function (l) { return l.name; })).map(csvField).join(",") + "\n"];
    var count = 0, k = 0, mask = S.mask;
    var t0 = performance.now();
    exportBtn.disabled = true;
    var step = function () {
      while (k < info.count) {
        var a = k * info.rows, b = Math.min(N, a + info.rows), any = false;
        for (var i = a; i < b && !any; i++) if (mask[i]) any = true;
        if (any) break;
        k++;
      }
      if (k >= info.count) { finish(); return; }
      var had = loaded("rows", k);
      loadChunk("rows", k, function () {
        var a2 = k * info.rows, b2 = Math.min(N, a2 + info.rows), lines = [];
        var idl = columnOf(RAW.ids, "rows", k);
        for (var i2 = a2; i2 < b2; i2++) {
          if (!mask[i2]) continue;
          var line = csvField(idl[i2 - a2]);
          for (var d = 0; d < labels.length; d++) line += "," + csvField(labels[d].values[labels[d].codes[i2]]);
          lines.push(line);
        }
        count += lines.length;
        parts.push(lines.join("\n") + "\n");
        if (!had) {  // loaded for the export only: let it go again (a 10M export reads them
          // all), after any other callback waiting for the same chunk has read it
          var gone = k;
          setTimeout(function () {
            if (!pinned.rows[gone]) { delete STORE.rows[gone]; if (decoded.rows) delete decoded.rows[gone]; }
          }, 0);
        }
        exportBtn.textContent = "Exporting\u2026 " + Math.round(100 * b2 / N) + " %";
        k++;
        step();
      }, true);
    };
    var finish = function () {
      var blob = new Blob(parts, { type: "text/csv" }), url = URL.createObjectURL(blob);
      var a = document.createElement("a");
      a.href = url;
      a.download = "deepview-selection.csv";
      document.body.appendChild(a);
      a.click();
      document.body.removeChild(a);
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      pub.lastExport = { rows: count, bytes: blob.size, ms: performance.now() - t0 };
      exportBtn.disabled = false;
      exportBtn.textContent = "Export CSV";
      if (cb) cb(pub.lastExport);
    };
    step();
  }
  pub.exportShown = function () { return new Promise(function (res) { exportShown(res); }); };
  var exportBtn = null;
  function buildSearch() {
    var form = el("form", "dv-search");
    var input = el("input", "dv-search-input");
    input.type = "search";
    input.placeholder = "Search id or label value";
    input.setAttribute("aria-label", "Search by id (or its start) or by label value");
    input.dataset.testid = "search";
    form.appendChild(input);
    var go = el("button", "dv-btn", "Search");
    go.type = "submit";
    form.appendChild(go);
    form.addEventListener("submit", function (e) { e.preventDefault(); runSearch(input.value); });
    toolbar.appendChild(form);
    exportBtn = el("button", "dv-btn", "Export CSV");
    exportBtn.type = "button";
    exportBtn.dataset.testid = "export";
    exportBtn.title = "Download the shown samples (filters and selection) as CSV: id and labels";
    exportBtn.addEventListener("click", function () { exportShown(); });
    toolbar.appendChild(exportBtn);
    toolbar.searchNote = el("span", "dv-note dv-search-note");
    toolbar.searchNote.dataset.testid = "search-note";
    toolbar.searchNote.hidden = true;
    toolbar.appendChild(toolbar.searchNote);
  }

  // ------------------------------------------------------------------------------------------
  // update loop

  // one update: the map (mask, status, redraw) in this frame; the other views after it, each
  // in a task of its own on large reports (so no frame waits for all of them), at once on
  // small ones
  var SYNC_VIEWS_MAX = window.DEEPVIEW_SYNC_VIEWS_MAX || 200000;  // a test may lower it
  var viewsToken = 0;
  function update(responseChanged) {
    var t0 = performance.now();
    computeMask();
    renderStatus();
    if (responseChanged) { layoutScatter(); colorPoints(); }
    renderLegend();
    drawScatter();
    pub.lastFrameMs = performance.now() - t0;
    var steps = [function () { countShown(); renderSummary(); }, renderDetail, renderIssues,
      renderLeakage, renderFamiliarity, renderDuplicates];
    var token = ++viewsToken, longest = 0;
    pub.viewsPending = true;
    var run = function (k) {
      if (token !== viewsToken) return;  // a newer update took over
      var t = performance.now();
      steps[k]();
      longest = Math.max(longest, performance.now() - t);
      if (k + 1 < steps.length) {
        if (N > SYNC_VIEWS_MAX) setTimeout(function () { run(k + 1); }, 0); else run(k + 1);
        return;
      }
      pub.viewsPending = false;
      pub.lastViewMs = longest;
      pub.lastUpdateMs = performance.now() - t0;
      if (N <= SYNC_VIEWS_MAX) pub.lastFrameMs = pub.lastUpdateMs;  // all in one task
    };
    if (N > SYNC_VIEWS_MAX) setTimeout(function () { run(0); }, 0); else run(0);
  }

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && S.selection) setSelection(null);
  });

  var timings = pub.timings = { scriptStart: t0, decode: 0, views: {} };
  timings.decode = performance.now() - t0;
  function timed(name, fn) {
    var t = performance.now();
    fn();
    timings.views[name] = (timings.views[name] || 0) + performance.now() - t;
  }
  timed("build", function () { buildToolbar(); buildSearch(); buildScatter(); computeMask(); buildAudit(); });
  timed("layout", layoutScatter);
  timed("color", colorPoints);
  timed("status+summary", function () { renderStatus(); countShown(); renderSummary(); });
  timed("scatter", function () { renderLegend(); drawScatter(); });
  timed("detail", renderDetail);
  timed("audit", function () { renderIssues(); renderLeakage(); });
  timed("familiarity", renderFamiliarity);
  timed("duplicates", renderDuplicates);
  pub.renderMs = performance.now() - t0;
  requestAnimationFrame(function () {
    pub.firstRenderMs = performance.now();
    pub.ready = true;
    document.body.dataset.ready = "1";
    if (performance.mark) performance.mark("deepview:first-render");
  });
})();
