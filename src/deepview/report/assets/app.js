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
  var BORDERLINE = 0.5;  // an unflagged label-issue score from here on: another class is as likely
  var MAX_LABEL_ROWS = 15;
  var DUP_PAGE = 24;
  var ROBUST_LO = 0.005, ROBUST_HI = 0.995;  // the first map view covers these quantiles...
  var ROBUST_MARGIN = 0.2;  // ...plus this share of their range on each side
  var ROBUST_GAIN = 1.5;  // used only where the full range is this many times wider
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

  if (!RAW || typeof RAW !== "object") {
    clear(app).appendChild(el("p", "dv-empty", "The report data (data.js) could not be loaded."));
    return;
  }

  // ------------------------------------------------------------------------------------------
  // data

  var N = RAW.n | 0;
  pub.n = N;
  var ids = RAW.ids;
  var labels = RAW.labels.map(function (l) {
    var codes = decode(l.codes, Int32Array), counts = new Int32Array(l.values.length);
    for (var i = 0; i < N; i++) counts[codes[i]]++;
    return { name: l.name, values: l.values, codes: codes, counts: counts };
  });
  function labelIndex(name) { return labels.findIndex(function (l) { return l.name === name; }); }
  var responses = RAW.responses.map(function (r) {
    return {
      name: r.name,
      dup: r.duplicates ? decode(r.duplicates, Int32Array) : null,
      exact: r.exact ? decode(r.exact, Int8Array) : null,  // 1 exact, 0 near, -1 unknown
      x: r.x ? decode(r.x, Float32Array) : null,
      y: r.y ? decode(r.y, Float32Array) : null,
      fam: r.familiarity ? decode(r.familiarity, Float32Array) : null,
      pct: r.percentile ? decode(r.percentile, Float32Array) : null,
      split: r.split.map(function (s) {
        return {
          dim: s.dim, label: labels.findIndex(function (l) { return l.name === s.dim; }),
          own: decode(s.own, Float32Array), values: s.values,
          raw: s.scores, scores: null  // per-value model scores, decoded on first use
        };
      }),
      // label issues per label dimension: score (NaN: unlabelled), flag, suggested class
      issues: (r.labelIssues || []).map(function (q) {
        return {
          dim: q.dim, label: labelIndex(q.dim), flagged: q.flagged | 0,
          score: decode(q.score, Float32Array), flag: decode(q.flag, Int8Array),
          sugValues: q.suggested.values, sugCodes: decode(q.suggested.codes, Int32Array)
        };
      }),
      // leakage per split label: each sample's leaking duplicate group (-1: none)
      leaks: (r.leakage || []).map(function (q) {
        var li = labelIndex(q.dim);
        return {
          dim: q.dim, groups: decode(q.groups, Int32Array), pairs: q.pairs || [], order: q.order || [],
          values: li >= 0 ? labels[li].values : q.values || [],
          codes: li >= 0 ? labels[li].codes : q.codes ? decode(q.codes, Int32Array) : null,
          list: null, byId: null
        };
      }),
      groups: null
    };
  });
  var AUDIT = Array.isArray(RAW.audit) ? RAW.audit : [];
  var extras = RAW.extras.map(function (e) {
    return { name: e.name, kind: e.kind, data: e.kind === "number" ? decode(e.data, Float32Array) : e.data };
  });
  var texts = Array.isArray(RAW.texts) && RAW.texts.length === N ? RAW.texts : null;
  function textOf(i) { return texts && texts[i] ? String(texts[i]) : ""; }
  var thumbIndex = decode(RAW.thumbIndex, Int32Array);
  var thumbUrls = RAW.thumbUrls || [];
  function thumbOf(i) {
    var k = thumbIndex.length ? thumbIndex[i] : -1;
    return k >= 0 && thumbUrls[k] ? thumbUrls[k] : null;
  }
  var orderCache = new WeakMap();
  var KEY_SCALE = 2097152;  // 2^21: (sortable score bits) * 2^21 + index stays below 2^53
  function orderOf(scores) {  // indices with finite score, ascending by (score, index)
    var o = orderCache.get(scores);
    if (o) return o;
    var n = scores.length, i, m = 0;
    if (n < KEY_SCALE) {  // one native numeric sort of packed keys, no comparator calls
      var bits = new Uint32Array(scores.buffer, scores.byteOffset, n), keys = new Float64Array(n);
      for (i = 0; i < n; i++) {
        if (!isFinite(scores[i])) continue;
        var b = scores[i] === 0 ? 0x80000000 : bits[i];
        var u = b & 0x80000000 && scores[i] !== 0 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
        keys[m++] = u * KEY_SCALE + i;
      }
      keys = keys.subarray(0, m).sort();
      o = new Int32Array(m);
      for (i = 0; i < m; i++) o[i] = keys[i] % KEY_SCALE;
    } else {
      var idx = [];
      for (i = 0; i < n; i++) if (isFinite(scores[i])) idx.push(i);
      idx.sort(function (a, c) { return scores[a] - scores[c] || a - c; });
      o = Int32Array.from(idx);
    }
    orderCache.set(scores, o);
    return o;
  }
  // duplicate groups, largest first (ties: lower group number), each with its kind from the
  // per-sample duplicatesExact flags: "exact" (every member has an identical copy in the
  // group), "near" (some are only near-duplicates; `copies` members still have an identical
  // copy) or "unknown" (no flags, e.g. a report saved by an older deepview)
  function groupsOf(r) {
    if (r.groups || !r.dup) return r.groups;
    var m = new Map();
    for (var i = 0; i < N; i++) {
      var g = r.dup[i];
      if (g < 0) continue;
      if (!m.has(g)) m.set(g, []);
      m.get(g).push(i);
    }
    r.groups = Array.from(m.keys()).map(function (g) {
      var members = m.get(g), known = 0, copies = 0;
      if (r.exact) {
        for (var j = 0; j < members.length; j++) {
          var f = r.exact[members[j]];
          if (f >= 0) known++;
          if (f === 1) copies++;
        }
      }
      var kind = !known ? "unknown" : copies === members.length ? "exact" : "near";
      return { id: g, members: members, kind: kind, copies: copies };
    }).sort(function (a, b) { return b.members.length - a.members.length || a.id - b.id; });
    r.groupById = new Map(r.groups.map(function (q) { return [q.id, q]; }));
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

  function computeMask() {
    var mask = S.mask, i, d;
    mask.fill(1);
    for (d = 0; d < labels.length; d++) {
      var f = S.filters[d], codes = labels[d].codes;
      if (f < 0) continue;
      for (i = 0; i < N; i++) if (codes[i] !== f) mask[i] = 0;
    }
    if (S.selection) for (i = 0; i < N; i++) if (!S.selection[i]) mask[i] = 0;
    var c = 0;
    for (i = 0; i < N; i++) c += mask[i];
    S.shown = c;
    pub.shownCount = c;
  }

  function setFilter(dim, code) {
    S.filters[dim] = code;
    S.dupShown = DUP_PAGE;
    S.leakShown = DUP_PAGE;
    update(false);
  }
  function setSelection(sel) {
    var c = 0;
    if (sel) for (var i = 0; i < N; i++) c += sel[i];
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
    if (!sc.valid || !sc.valid[i]) return null;
    return { x: sc.px[i] / sc.dpr, y: sc.py[i] / sc.dpr };
  };
  pub.view = function () { return { k: sc.view.k, tx: sc.view.tx, ty: sc.view.ty }; };
  pub.selectIds = function (list) {
    var want = new Set(list), sel = new Uint8Array(N);
    for (var i = 0; i < N; i++) if (want.has(ids[i])) sel[i] = 1;
    setSelection(sel);
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
    var body = clear(summaryCard.body), r = R(), i;
    var stats = el("div", "dv-stats");
    stats.appendChild(stat("samples", N.toLocaleString(), "stat-total"));
    stats.appendChild(stat("shown", S.shown.toLocaleString(), "stat-shown"));
    if (r && r.dup) {
      var inDup = 0, groups = new Set();
      for (i = 0; i < N; i++) if (S.mask[i] && r.dup[i] >= 0) { inDup++; groups.add(r.dup[i]); }
      stats.appendChild(stat("duplicates in " + plural(groups.size, "group"), inDup.toLocaleString(), "stat-duplicates"));
    }
    body.appendChild(stats);
    labels.forEach(function (l, d) {
      var shown = new Int32Array(l.values.length);
      for (i = 0; i < N; i++) if (S.mask[i]) shown[l.codes[i]]++;
      var order = l.values.map(function (_, k) { return k; })
        .sort(function (a, b) { return l.counts[b] - l.counts[a] || a - b; });
      var sec = el("div", "dv-labels");
      sec.appendChild(el("h3", null, l.name));
      var max = Math.max.apply(null, Array.from(l.counts));
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
    if (r && r.fam) body.appendChild(histogram(r.fam, "Familiarity (higher = more typical)"));
  }

  function histogram(values, title) {
    var sec = el("div", "dv-hist-wrap"), lo = Infinity, hi = -Infinity, i;
    sec.appendChild(el("h3", null, title));
    for (i = 0; i < N; i++) if (isFinite(values[i])) { lo = Math.min(lo, values[i]); hi = Math.max(hi, values[i]); }
    if (!isFinite(lo)) { sec.appendChild(el("p", "dv-note", "No finite scores.")); return sec; }
    var B = 32, all = new Int32Array(B), part = new Int32Array(B), w = (hi - lo) || 1;
    for (i = 0; i < N; i++) {
      if (!isFinite(values[i])) continue;
      var b = Math.min(B - 1, Math.floor((values[i] - lo) / w * B));
      all[b]++;
      if (S.mask[i]) part[b]++;
    }
    var max = Math.max.apply(null, Array.from(all)) || 1;
    var h = el("div", "dv-hist");
    h.dataset.testid = "familiarity-histogram";
    for (b = 0; b < B; b++) {
      var col = el("div", "dv-hist-bin");
      col.title = fmt(lo + b * w / B) + " to " + fmt(lo + (b + 1) * w / B) + ": " + part[b] + " of " + all[b];
      var t = el("div", "dv-hist-total");
      t.style.height = (100 * all[b] / max) + "%";
      var p = el("div", "dv-hist-shown");
      p.style.height = (100 * part[b] / max) + "%";
      col.appendChild(t);
      col.appendChild(p);
      h.appendChild(col);
    }
    sec.appendChild(h);
    var axis = el("div", "dv-hist-axis");
    axis.appendChild(el("span", null, fmt(lo)));
    axis.appendChild(el("span", null, fmt(hi)));
    sec.appendChild(axis);
    return sec;
  }

  // ------------------------------------------------------------------------------------------
  // scatter

  var sc = { W: 0, H: 0, dpr: 1, px: null, py: null, valid: null, colors: null, base: null,
    cell: 16, gw: 0, gh: 0, cellStart: null, cellItems: null, drag: null, hover: -1, offs: [] };

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
    var on = el("option", null, "none");
    on.value = "none";
    cs.appendChild(on);
    cs.value = S.colorBy;
    cs.addEventListener("change", function () { S.colorBy = cs.value; colorPoints(); drawScatter(); });
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
    sc.tip = el("div", "dv-tip");
    sc.tip.hidden = true;
    sc.wrap.appendChild(sc.canvas);
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
    sc.px = new Int32Array(N);
    sc.py = new Int32Array(N);
    sc.bx = new Float32Array(N);
    sc.by = new Float32Array(N);
    sc.valid = new Uint8Array(N);
    sc.far = new Uint8Array(N);
    sc.farCount = 0;
    pub.farCount = 0;
    sc.fitAll = { k: 1, tx: 0, ty: 0 };
    sc.view = { k: 1, tx: 0, ty: 0 };
    if (sc.resetView) sc.resetView.hidden = true;
    if (sc.fitAllBtn) sc.fitAllBtn.hidden = true;
    if (!r || !r.x || !r.y) return true;
    var x = r.x, y = r.y, i;
    for (i = 0; i < N; i++) if (isFinite(x[i]) && isFinite(y[i])) sc.valid[i] = 1;
    // first view: the robust extent, so that a few far points do not squash the rest into a
    // corner; points beyond it are "far" (drawn at the edge until the view reaches them)
    var ex = robustExtent(x, sc.valid), ey = robustExtent(y, sc.valid);
    var pad = 14 * dpr, sx = (W - 2 * pad) / ((ex[1] - ex[0]) || 1), sy = (H - 2 * pad) / ((ey[1] - ey[0]) || 1);
    var s = Math.min(sx, sy);
    ex = widen(ex, (W - 2 * pad) / s);  // the other axis uses its spare room
    ey = widen(ey, (H - 2 * pad) / s);
    var x0 = ex[0], x1 = ex[1], y0 = ey[0], y1 = ey[1];
    var ox = (W - s * (x1 - x0)) / 2, oy = (H - s * (y1 - y0)) / 2;
    for (i = 0; i < N; i++) {
      if (!sc.valid[i]) continue;
      sc.bx[i] = ox + (x[i] - x0) * s;
      sc.by[i] = H - oy - (y[i] - y0) * s;
      if (x[i] < x0 || x[i] > x1 || y[i] < y0 || y[i] > y1) { sc.far[i] = 1; sc.farCount++; }
    }
    pub.farCount = sc.farCount;
    if (sc.farCount) {  // the view (zoom k < 1, shift t) that shows every point
      var bx0 = ox + (ex[2] - x0) * s, bx1 = ox + (ex[3] - x0) * s;
      var byTop = H - oy - (ey[3] - y0) * s, byBottom = H - oy - (ey[2] - y0) * s;
      var k = Math.min(0.999, (W - 2 * pad) / ((bx1 - bx0) || 1), (H - 2 * pad) / ((byBottom - byTop) || 1));
      sc.fitAll = { k: k, tx: W / 2 - k * (bx0 + bx1) / 2, ty: H / 2 - k * (byTop + byBottom) / 2 };
      sc.fitAllBtn.hidden = false;
    }
    var rad = N <= 2000 ? 3.2 : N <= 20000 ? 2.2 : 1.5;
    rad = Math.max(1, rad * dpr);
    sc.offs = [];
    var ri = Math.ceil(rad);
    for (var dy = -ri; dy <= ri; dy++) for (var dx = -ri; dx <= ri; dx++) {
      if (dx * dx + dy * dy <= rad * rad) sc.offs.push(dx, dy);
    }
    // far points outside the view: a ring at the canvas edge, in the direction of the point
    var outer = rad + 2 * dpr, inner = outer - 1.6 * dpr, ro = Math.ceil(outer);
    sc.ringOffs = [];
    sc.ringR = ro;
    for (dy = -ro; dy <= ro; dy++) for (dx = -ro; dx <= ro; dx++) {
      var d2 = dx * dx + dy * dy;
      if (d2 <= outer * outer && d2 >= inner * inner) sc.ringOffs.push(dx, dy);
    }
    project();
    return true;
  }

  // [lo, hi, min, max] of the finite values: lo/hi = the ROBUST_LO..ROBUST_HI quantiles
  // widened by ROBUST_MARGIN of their range (never past min/max), or min/max themselves
  // unless those lie more than ROBUST_GAIN times further apart
  function robustExtent(v, valid) {
    var m = 0, i, lo = Infinity, hi = -Infinity;
    for (i = 0; i < N; i++) if (valid[i]) m++;
    var stride = Math.max(1, Math.floor(m / 200000)), vals = new Float64Array(Math.ceil(m / stride));
    var k = 0, c = 0;
    for (i = 0; i < N; i++) {
      if (!valid[i]) continue;
      var a = v[i];
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

  // screen position = base position * k + t (zoom and pan), then the hover grid
  function project() {
    var v = sc.view, k = v.k, tx = v.tx, ty = v.ty;
    for (var i = 0; i < N; i++) {
      sc.px[i] = Math.round(sc.bx[i] * k + tx);
      sc.py[i] = Math.round(sc.by[i] * k + ty);
    }
    buildGrid();
    if (sc.resetView) sc.resetView.hidden = k === 1 && tx === 0 && ty === 0;
    if (sc.fitAllBtn) sc.fitAllBtn.disabled = k === sc.fitAll.k && tx === sc.fitAll.tx && ty === sc.fitAll.ty;
  }
  // zoom k from the "show all" level (1 without far points) to 500; at that lowest level the
  // view snaps to showing everything (the first view, without far points)
  function setView(k, tx, ty) {
    k = Math.min(500, Math.max(sc.fitAll.k, k));
    if (k === sc.fitAll.k) { tx = sc.fitAll.tx; ty = sc.fitAll.ty; }
    sc.view = { k: k, tx: tx, ty: ty };
    project();
    drawScatter();
  }
  function onWheel(e) {
    if (!sc.base) return;
    e.preventDefault();
    var p = evtXY(e), v = sc.view;
    var k = Math.min(500, Math.max(sc.fitAll.k, v.k * Math.exp(-e.deltaY * 0.0015)));
    setView(k, p[0] - (p[0] - v.tx) * k / v.k, p[1] - (p[1] - v.ty) * k / v.k);
  }

  function buildGrid() {
    var cell = Math.round(16 * sc.dpr), gw = Math.ceil(sc.W / cell) + 1, gh = Math.ceil(sc.H / cell) + 1;
    var start = new Int32Array(gw * gh + 1), items, i, c;
    var cellOf = new Int32Array(N).fill(-1);
    for (i = 0; i < N; i++) {
      if (!sc.valid[i]) continue;
      var gx = Math.floor(sc.px[i] / cell), gy = Math.floor(sc.py[i] / cell);
      if (gx < 0 || gx >= gw || gy < 0 || gy >= gh) continue;
      c = gy * gw + gx;
      cellOf[i] = c;
      start[c + 1]++;
    }
    for (c = 0; c < gw * gh; c++) start[c + 1] += start[c];
    items = new Int32Array(start[gw * gh]);
    var fill = start.slice(0, gw * gh);
    for (i = 0; i < N; i++) if (cellOf[i] >= 0) items[fill[cellOf[i]]++] = i;
    sc.cell = cell; sc.gw = gw; sc.gh = gh; sc.cellStart = start; sc.cellItems = items;
  }

  function nearest(x, y, maxDist) {
    var cell = sc.cell, cx = Math.floor(x / cell), cy = Math.floor(y / cell);
    var best = -1, bestD = maxDist * maxDist, bestMask = 0;
    for (var gy = cy - 1; gy <= cy + 1; gy++) {
      if (gy < 0 || gy >= sc.gh) continue;
      for (var gx = cx - 1; gx <= cx + 1; gx++) {
        if (gx < 0 || gx >= sc.gw) continue;
        var c = gy * sc.gw + gx;
        for (var k = sc.cellStart[c]; k < sc.cellStart[c + 1]; k++) {
          var i = sc.cellItems[k], dx = sc.px[i] - x, dy = sc.py[i] - y, d = dx * dx + dy * dy;
          var m = S.mask[i];
          if (d <= maxDist * maxDist && (m > bestMask || (m === bestMask && d < bestD))) {
            best = i; bestD = d; bestMask = m;
          }
        }
      }
    }
    return best;
  }

  var legendItems = [];
  function colorPoints() {
    var r = R(), colors = new Uint32Array(N), i;
    legendItems = [];
    var base = packRgb(hexRgb("#4e79a7"));
    if (S.colorBy.indexOf("label:") === 0) {
      var d = +S.colorBy.slice(6), l = labels[d];
      var order = l.values.map(function (_, k) { return k; })
        .sort(function (a, b) { return l.counts[b] - l.counts[a] || a - b; });
      var lut = new Uint32Array(l.values.length).fill(packRgb(hexRgb(OTHER)));
      order.forEach(function (k, rank) {
        if (rank < PALETTE.length) {
          lut[k] = packRgb(hexRgb(PALETTE[rank]));
          legendItems.push({ color: PALETTE[rank], text: l.values[k], count: l.counts[k], dim: d, code: k });
        }
      });
      if (order.length > PALETTE.length) {
        legendItems.push({ color: OTHER, text: "other (" + (order.length - PALETTE.length) + " values)", count: null });
      }
      for (i = 0; i < N; i++) colors[i] = lut[l.codes[i]];
    } else if (S.colorBy === "familiarity" && r && r.fam) {
      var lo = Infinity, hi = -Infinity, f = r.fam;
      for (i = 0; i < N; i++) if (isFinite(f[i])) { lo = Math.min(lo, f[i]); hi = Math.max(hi, f[i]); }
      var steps = new Uint32Array(64);
      for (i = 0; i < 64; i++) steps[i] = packRgb(viridis(i / 63));
      var nan = packRgb(hexRgb(OTHER)), w = (hi - lo) || 1;
      for (i = 0; i < N; i++) colors[i] = isFinite(f[i]) ? steps[Math.round((f[i] - lo) / w * 63)] : nan;
      legendItems = [{ gradient: true, lo: lo, hi: hi }];
    } else {
      colors.fill(base);
    }
    sc.colors = colors;
    renderLegend();
  }

  function renderLegend() {
    var lg = clear(sc.legend);
    legendItems.forEach(function (it) {
      if (it.gradient) {
        var g = el("div", "dv-gradient");
        g.appendChild(el("span", null, "less familiar " + fmt(it.lo)));
        var bar = el("span", "dv-gradient-bar");
        bar.style.background = "linear-gradient(to right," + VIRIDIS.join(",") + ")";
        g.appendChild(bar);
        g.appendChild(el("span", null, fmt(it.hi) + " more familiar"));
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
      return;
    }
    var img = ctx.createImageData(W, H), buf = new Uint32Array(img.data.buffer);
    buf.fill(0xffffffff);
    var offs = sc.offs, no = offs.length, fade = packRgb(hexRgb(FADE)), mask = S.mask;
    var px = sc.px, py = sc.py, valid = sc.valid, colors = sc.colors, drawn = 0;
    for (var pass = 0; pass < 2; pass++) {
      for (var i = 0; i < N; i++) {
        if (!valid[i] || mask[i] !== pass) continue;
        var col = pass ? colors[i] : fade, x = px[i], y = py[i];
        for (var k = 0; k < no; k += 2) {
          var xx = x + offs[k], yy = y + offs[k + 1];
          if (xx >= 0 && xx < W && yy >= 0 && yy < H) buf[yy * W + xx] = col;
        }
        drawn++;
      }
    }
    var edge = 0;
    if (sc.farCount) {
      var ro = sc.ringOffs, nr = ro.length, m = sc.ringR + 1;
      for (i = 0; i < N; i++) {
        if (!sc.far[i] || !valid[i]) continue;
        var fx = px[i], fy = py[i];
        if (fx >= 0 && fx < W && fy >= 0 && fy < H) continue;
        edge++;
        var cx = Math.min(W - 1 - m, Math.max(m, fx)), cy = Math.min(H - 1 - m, Math.max(m, fy));
        var rc = mask[i] ? colors[i] : fade;
        for (k = 0; k < nr; k += 2) buf[(cy + ro[k + 1]) * W + cx + ro[k]] = rc;
      }
    }
    pub.edgeMarkers = edge;
    renderFarNote(edge);
    sc.base = img;
    pub.renderedPoints = drawn;
    sc.canvas.dataset.renderedPoints = String(drawn);
    paintOverlay();
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
    if (i < 0 || !sc.valid || !sc.valid[i]) return;
    var ctx = sc.ctx, rad = (sc.offs.length ? Math.sqrt(sc.offs.length / 2 / Math.PI) : 2) + extra * sc.dpr;
    ctx.beginPath();
    ctx.arc(sc.px[i], sc.py[i], rad, 0, 2 * Math.PI);
    ctx.lineWidth = 2 * sc.dpr;
    ctx.strokeStyle = color;
    ctx.stroke();
  }

  function paintOverlay() {
    if (!sc.base) return;
    var ctx = sc.ctx;
    ctx.putImageData(sc.base, 0, 0);
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
      var tip = clear(sc.tip);
      tip.appendChild(el("strong", null, ids[i]));
      if (textOf(i)) tip.appendChild(el("span", "dv-tip-text", snippet(textOf(i), TIP_TEXT)));
      labels.slice(0, 3).forEach(function (l) { tip.appendChild(el("span", null, l.name + ": " + l.values[l.codes[i]])); });
      var r = R();
      if (r && r.fam) tip.appendChild(el("span", null, "familiarity: " + fmt(r.fam[i])));
      tip.hidden = false;
      var x = sc.px[i] / sc.dpr, y = sc.py[i] / sc.dpr;
      var flipX = x + 12 + tip.offsetWidth > sc.wrap.clientWidth;
      var flipY = y + 12 + tip.offsetHeight > sc.wrap.clientHeight;
      tip.style.left = (flipX ? x - 12 - tip.offsetWidth : x + 12) + "px";
      tip.style.top = (flipY ? y - 12 - tip.offsetHeight : y + 12) + "px";
    }
    paintOverlay();
  }
  function onDown(e) {
    if (e.button !== 0 || !sc.base) return;
    var p = evtXY(e);
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
      setView(sc.view.k, d.pan.tx + p[0] - d.x0, d.pan.ty + p[1] - d.y0);
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
    var sel = new Uint8Array(N), i2;
    if (S.tool === "box") {
      var x0 = Math.min(d.x0, d.x1), x1 = Math.max(d.x0, d.x1), y0 = Math.min(d.y0, d.y1), y1 = Math.max(d.y0, d.y1);
      for (i2 = 0; i2 < N; i2++) {
        if (sc.valid[i2] && sc.px[i2] >= x0 && sc.px[i2] <= x1 && sc.py[i2] >= y0 && sc.py[i2] <= y1) sel[i2] = 1;
      }
    } else {
      var poly = d.pts, bx0 = Infinity, bx1 = -Infinity, by0 = Infinity, by1 = -Infinity;
      poly.forEach(function (q) { bx0 = Math.min(bx0, q[0]); bx1 = Math.max(bx1, q[0]); by0 = Math.min(by0, q[1]); by1 = Math.max(by1, q[1]); });
      for (i2 = 0; i2 < N; i2++) {
        if (!sc.valid[i2]) continue;
        var x = sc.px[i2], y = sc.py[i2];
        if (x < bx0 || x > bx1 || y < by0 || y > by1) continue;
        var inside = false;
        for (var a = 0, b = poly.length - 1; a < poly.length; b = a++) {
          var ya = poly[a][1], yb = poly[b][1];
          if ((ya > y) !== (yb > y) && x < (poly[b][0] - poly[a][0]) * (y - ya) / (yb - ya) + poly[a][0]) inside = !inside;
        }
        if (inside) sel[i2] = 1;
      }
    }
    setSelection(sel);
  }

  // ------------------------------------------------------------------------------------------
  // galleries, detail, familiarity, duplicates

  // tiles show the whole id, cut with an ellipsis by CSS where it is too long: at the start
  // for path-like ids (the file name stays visible), at the end otherwise; the tooltip (title)
  // holds the full id and the start of the sample's text
  function isPathLike(id) { return /[\\/][^\\/]+$/.test(id); }
  function tile(i, note, muted) {
    var f = el("figure", "dv-tile" + (muted ? " muted" : "") + (i === S.detail ? " current" : ""));
    var text = textOf(i);
    f.dataset.index = String(i);
    f.title = ids[i] + (text ? "\n" + snippet(text, TITLE_TEXT) : "");
    f.tabIndex = 0;
    var u = thumbOf(i);
    if (u) {
      var img = el("img");
      img.alt = ids[i];
      img.decoding = "async";
      img.src = u;
      f.appendChild(img);
    } else if (thumbUrls.length) {
      f.appendChild(el("div", "dv-tile-ph", "no image"));
    } else {
      f.classList.add("dv-tile-text");
    }
    f.dataset.id = ids[i];
    var cap = el("figcaption");
    var idEl = el("span", "dv-tile-id" + (isPathLike(ids[i]) ? " dv-tile-id-path" : ""));
    idEl.appendChild(el("bdi", null, ids[i]));  // isolated, so the start-ellipsis keeps its order
    idEl.title = ids[i];
    idEl.dataset.testid = "tile-id";
    cap.appendChild(idEl);
    if (text) cap.appendChild(el("span", "dv-tile-snippet", snippet(text, TILE_TEXT)));
    if (note) cap.appendChild(el("span", "dv-tile-note", note));
    f.appendChild(cap);
    f.addEventListener("click", function () { showDetail(i, true); });
    f.addEventListener("keydown", function (e) { if (e.key === "Enter") showDetail(i, true); });
    return f;
  }
  function gallery(indices, noteOf, testid, mutedOf) {
    var g = el("div", "dv-gallery" + (texts ? " dv-gallery-texts" : ""));
    if (testid) g.dataset.testid = testid;
    indices.forEach(function (i) { g.appendChild(tile(i, noteOf ? noteOf(i) : null, mutedOf ? mutedOf(i) : false)); });
    if (!indices.length) g.appendChild(el("p", "dv-note", "No samples match the current filter."));
    return g;
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

  function renderDetail() {
    var body = clear(detailCard.body), i = S.detail;
    if (i < 0 || i >= N) {
      body.appendChild(el("p", "dv-note", "Click a point in the projection or any sample tile to see its details here."));
      return;
    }
    var wrap = el("div", "dv-detail");
    wrap.dataset.testid = "detail-panel";
    var u = thumbOf(i);
    if (u) {
      var img = el("img", "dv-detail-img");
      img.alt = ids[i];
      img.src = u;
      wrap.appendChild(img);
    }
    var idEl = el("h3", "dv-detail-id", ids[i]);
    idEl.dataset.testid = "detail-id";
    wrap.appendChild(idEl);
    if (textOf(i)) {
      var textEl = el("blockquote", "dv-detail-text", textOf(i));
      textEl.dataset.testid = "detail-text";
      wrap.appendChild(textEl);
    }
    var dl = el("dl", "dv-kv");
    labels.forEach(function (l) { kv(dl, l.name, l.values[l.codes[i]]); });
    extras.forEach(function (e) { kv(dl, e.name, e.kind === "number" ? fmt(e.data[i]) : e.data[i]); });
    var group = null;
    responses.forEach(function (r) {
      var pre = responses.length > 1 ? r.name + " \u00b7 " : "";
      if (r.fam) kv(dl, pre + "familiarity", fmt(r.fam[i]) + (r.pct ? "  (percentile " + fmt(r.pct[i]) + ")" : ""));
      r.split.forEach(function (s) {
        if (s.label < 0) return;
        var v = labels[s.label].values[labels[s.label].codes[i]];
        kv(dl, pre + "familiarity among " + s.dim + " = " + v, fmt(s.own[i]));
        if (!s.raw) return;
        if (!s.scores) s.scores = s.raw.map(function (b) { return decode(b, Float32Array); });
        var parts = [];
        s.values.forEach(function (name, j) {
          if (parts.length < 12 && isFinite(s.scores[j][i])) parts.push(name + ": " + fmt(s.scores[j][i]));
        });
        if (s.values.length > 12) parts.push("\u2026");
        if (parts.length) kv(dl, pre + "under each " + s.dim + " model", parts.join(", "));
      });
      if (r.x && r.y) kv(dl, pre + "projection", fmt(r.x[i]) + ", " + fmt(r.y[i]));
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
        var s = q.score[i], sug = q.sugValues[q.sugCodes[i]];
        kv(dl, pre + "label issue (" + q.dim + ")", !isFinite(s) ? "not measured (no label)"
          : fmtScore(s) + (q.flag[i] ? " \u00b7 flagged" : "") + (sug ? " \u00b7 suspected: " + sug : ""));
      });
      r.leaks.forEach(function (q) {
        var g = q.groups[i];
        kv(dl, pre + "leakage (" + q.dim + ")", g < 0 ? "none" : "group #" + g + ": " +
          leakGroup(r, q, g).sides.map(function (s) { return s.members.length + " " + s.value; }).join(", "));
      });
    });
    wrap.appendChild(dl);
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
    var note = function (i) { return fmt(fam[i]); };
    var two = el("div", "dv-two");
    var least = el("div");
    least.appendChild(el("h3", null, "Least familiar (most unusual)"));
    least.appendChild(gallery(pick(order, GALLERY_K, false, inMask), note, "least-familiar"));
    var most = el("div");
    most.appendChild(el("h3", null, "Most familiar (most typical)"));
    most.appendChild(gallery(pick(order, GALLERY_K, true, inMask), note, "most-familiar"));
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
    var d = S.famDim, l = labels[d];
    var split = r.split.find(function (s) { return s.label === d; });
    body.appendChild(el("p", "dv-note", split
      ? "Scores from a familiarity model fitted on each value's own samples (values with too few samples use the overall model)."
      : "Scores from the overall familiarity model."));
    var shown = new Int32Array(l.values.length);
    for (var i = 0; i < N; i++) if (S.mask[i]) shown[l.codes[i]]++;
    var codes = l.codes;
    var values = l.values.map(function (_, k) { return k; }).filter(function (k) { return shown[k] > 0; })
      .sort(function (a, b) { return shown[b] - shown[a] || a - b; }).slice(0, 24);
    values.forEach(function (k) {
      var own = null;
      if (split) {
        var j = split.values.indexOf(l.values[k]);
        if (j >= 0) own = split.own;
      }
      var scores = own || fam, ord = orderOf(scores);
      var ok = function (q) { return codes[q] === k && S.mask[q] === 1; };
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
      a.appendChild(gallery(pick(ord, LABEL_K, false, ok), function (q) { return fmt(scores[q]); }, "label-least"));
      var b = el("div");
      b.appendChild(el("h5", null, "most familiar"));
      b.appendChild(gallery(pick(ord, LABEL_K, true, ok), function (q) { return fmt(scores[q]); }, "label-most"));
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
    var nv = l ? l.values.length : 1, codes = l ? l.codes : new Int32Array(N);
    var flaggedIn = new Int32Array(nv), borderIn = new Int32Array(nv), shownIn = new Int32Array(nv), i;
    for (i = 0; i < N; i++) {
      if (!S.mask[i] || !isFinite(q.score[i])) continue;
      shownIn[codes[i]]++;
      if (q.flag[i]) flaggedIn[codes[i]]++;
      else if (q.score[i] >= BORDERLINE) borderIn[codes[i]]++;
    }
    var order = orderOf(q.score);
    var classes = [], quiet = [];
    for (var k = 0; k < nv; k++) {
      if (!shownIn[k]) continue;
      (flaggedIn[k] || borderIn[k] ? classes : quiet).push(k);
    }
    classes.sort(function (a, b) {
      return flaggedIn[b] - flaggedIn[a] || borderIn[b] - borderIn[a] || shownIn[b] - shownIn[a] || a - b;
    });
    var ex = l ? null : extras.find(function (e) { return e.name === q.dim && e.kind === "text"; });
    var given = function (j) { return l ? l.values[codes[j]] : ex ? String(ex.data[j]) : "?"; };
    var note = function (j) {
      var sug = q.sugValues[q.sugCodes[j]];
      return given(j) + " \u2192 " + (sug || "\u2013") + " \u00b7 " + fmtScore(q.score[j]);
    };
    var grid2 = el("div", "dv-issue-list");
    classes.slice(0, ISSUE_CLASSES).forEach(function (k) {
      var ok = function (flagged) {
        return function (j) {
          return codes[j] === k && S.mask[j] === 1 && (q.flag[j] === 1) === flagged && (flagged || q.score[j] >= BORDERLINE);
        };
      };
      var picked = pick(order, ISSUE_K, true, ok(true));
      if (picked.length < ISSUE_K) picked = picked.concat(pick(order, ISSUE_K - picked.length, true, ok(false)));
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
        var j = +t.dataset.index;
        t.dataset.given = given(j);
        t.dataset.suggested = q.sugValues[q.sugCodes[j]];
        t.dataset.flagged = String(q.flag[j]);
        t.classList.add(q.flag[j] ? "dv-tile-flagged" : "dv-tile-unflagged");
      });
      sec.appendChild(g);
      grid2.appendChild(sec);
    });
    body.appendChild(grid2);
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
  // update loop

  function update(responseChanged) {
    computeMask();
    renderStatus();
    renderSummary();
    if (responseChanged) { layoutScatter(); colorPoints(); }
    renderLegend();
    drawScatter();
    renderDetail();
    renderIssues();
    renderLeakage();
    renderFamiliarity();
    renderDuplicates();
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
  timed("build", function () { buildToolbar(); buildScatter(); computeMask(); buildAudit(); });
  timed("layout", layoutScatter);
  timed("color", colorPoints);
  timed("status+summary", function () { renderStatus(); renderSummary(); });
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
