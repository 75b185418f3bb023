// The search page's DOM side: element handles, small helpers, error display and the rendering of results
// (snippets with code-point highlights, score bars, compare marks, pager). Loaded before app.js (state, API
// requests, events, start-up), which takes it from window.clirPage. Server text is always set as text
// (textContent, Text nodes), never parsed as HTML.
"use strict";

window.clirPage = (() => {
  const $ = (id) => document.getElementById(id);
  const els = {
    form: $("search-form"), q: $("q"), mode: $("mode"), k: $("k"), queryLang: $("query-lang"),
    langList: $("lang-list"), key: $("api-key"), langBoxes: $("lang-boxes"), compare: $("compare"),
    submit: $("submit"), error: $("error"), summary: $("summary"), results: $("results"), pager: $("pager"),
    prev: $("prev"), next: $("next"), pageInfo: $("page-info"), indexInfo: $("index-info"),
  };
  const SOURCE_NOTES = {
    dense: "closest sentence (no shared words)",
    opening: "opening of the document (no shared words)",
  };
  const ERROR_TITLES = {
    401: "Not authorised", 403: "Forbidden", 408: "Timed out", 413: "Request too large",
    422: "Invalid request", 500: "Server error", 503: "Server busy or not ready",
  };

  // -- small helpers ----------------------------------------------------------------------------

  /** An element with attributes and children; strings become Text nodes (never HTML). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  const fmt = (x, digits) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "–");

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field;
    }
  }

  // -- errors -----------------------------------------------------------------------------------

  function showError(err) {
    const status = err instanceof ApiError ? err.status : 0;
    const title = status ? `${status} ${ERROR_TITLES[status] || "Error"}` : "Error";
    const parts = [el("strong", null, `${title}: `), err.message || String(err)];
    if (status === 401) parts.push(el("span", { class: "hint" }, " Enter the server's API key above."));
    if (status === 503) parts.push(el("span", { class: "hint" }, " Try again in a moment."));
    els.error.replaceChildren(...parts);
    els.error.dataset.status = String(status);
    els.error.hidden = false;
  }

  function hideError() {
    els.error.hidden = true;
    els.error.replaceChildren();
    delete els.error.dataset.status;
  }

  // -- rendering -----------------------------------------------------------------------------------

  /** Empties the results, summary and pager. */
  function clearResults() {
    els.results.replaceChildren();
    els.summary.replaceChildren();
    els.pager.hidden = true;
  }

  function snippetNode(snippet, lang) {
    if (!snippet || typeof snippet.text !== "string") return null;
    // offsets are Unicode code points (Python str indices), so slice code points, not UTF-16 units
    const chars = Array.from(snippet.text);
    const spans = (snippet.highlights || [])
      .map(([a, b]) => [Math.max(0, a), Math.min(chars.length, b)])
      .filter(([a, b]) => b > a)
      .sort((x, y) => x[0] - y[0]);
    // dir=auto: Arabic (or Hebrew) text reads right to left; lang: the right font and line breaking
    const p = el("p", { class: "snippet-text", dir: "auto", lang: lang || null });
    if (snippet.start > 0) p.append("…");
    let pos = 0;
    for (let [a, b] of spans) {
      a = Math.max(a, pos);
      if (b <= a) continue;
      if (a > pos) p.append(chars.slice(pos, a).join(""));
      p.append(el("mark", null, chars.slice(a, b).join("")));
      pos = b;
    }
    if (pos < chars.length) p.append(chars.slice(pos).join(""));
    const note = SOURCE_NOTES[snippet.source];
    return el("div", { class: "snippet", "data-source": snippet.source },
      note ? el("span", { class: "snippet-source" }, note) : null, p);
  }

  function barRow(kind, label, fraction, value, title) {
    const width = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0)) * 100;
    const fill = el("span", { class: `bar bar-${kind}`, "data-testid": `bar-${kind}`, title });
    fill.style.width = `${width.toFixed(1)}%`;
    return el("div", { class: "bar-row", title },
      el("span", { class: "bar-label" }, label),
      el("span", { class: "bar-track" }, fill),
      el("span", { class: "bar-value" }, value));
  }

  function bars(hit, maxSparse) {
    const dense = hit.dense;
    const sparse = hit.sparse;
    const denseRow = dense
      ? barRow("dense", "dense", dense.score, fmt(dense.score, 3),
        `dense cosine ${fmt(dense.score, 4)}, dense rank ${dense.rank ?? "– (outside the dense candidates)"}`)
      : barRow("dense", "dense", 0, "–", "dense: not searched in this mode");
    let sparseRow;
    if (!sparse) {
      sparseRow = barRow("sparse", "BM25", 0, "–", "BM25: not searched in this mode");
    } else if (sparse.rank === null || sparse.rank === undefined) {
      sparseRow = barRow("sparse", "BM25", 0, fmt(sparse.score, 2),
        `BM25 ${fmt(sparse.score, 3)}: no query term in this document (no sparse rank)`);
    } else {
      sparseRow = barRow("sparse", "BM25", maxSparse > 0 ? sparse.score / maxSparse : 0, fmt(sparse.score, 2),
        `BM25 ${fmt(sparse.score, 3)}, sparse rank ${sparse.rank}; bar scaled to the best BM25 score shown ` +
        `(${fmt(maxSparse, 3)})`);
    }
    return el("div", { class: "bars" }, denseRow, sparseRow);
  }

  function movement(hit, otherRanks) {
    if (!otherRanks) return null;
    const before = otherRanks.get(hit.id);
    if (before === undefined) {
      return el("span", { class: "move move-new", title: "not in the dense list shown" }, "new");
    }
    const delta = before - hit.rank;
    const title = `rank ${before} in dense, ${hit.rank} in hybrid`;
    if (delta > 0) return el("span", { class: "move move-up", title }, `↑${delta}`);
    if (delta < 0) return el("span", { class: "move move-down", title }, `↓${-delta}`);
    return el("span", { class: "move move-same", title }, "=");
  }

  function hitNode(hit, maxSparse, extra) {
    const title = hit.title && hit.title.trim() ? hit.title : hit.id;
    return el("li", { class: "hit", "data-id": hit.id, "data-testid": "hit" },
      el("div", { class: "hit-head" },
        el("span", { class: "rank", title: "rank" }, `${hit.rank}.`),
        el("span", { class: "lang-badge", "data-testid": "lang-badge", title: "document language" },
          hit.lang || "?"),
        el("span", { class: "hit-title" }, title),
        title !== hit.id ? el("span", { class: "hit-id muted" }, hit.id) : null,
        extra,
        el("span", { class: "score", title: "fused score (the ranking's own score)" }, fmt(hit.score, 3))),
      snippetNode(hit.snippet, hit.lang),
      bars(hit, maxSparse));
  }

  function hitList(result, offset, otherRanks, label) {
    const hits = result.hits || [];
    const maxSparse = Math.max(0, ...hits.map((h) => (h.sparse && Number.isFinite(h.sparse.score) ? h.sparse.score : 0)));
    if (!hits.length) {
      return el("p", { class: "empty" }, "No documents matched." +
        (result.hits && label === "sparse" ? " Sparse (BM25) mode needs words in common with the documents; " +
          "try hybrid or dense." : ""));
    }
    return el("ol", { class: "hits", start: offset + 1 },
      ...hits.map((hit) => hitNode(hit, maxSparse, movement(hit, otherRanks))));
  }

  function langNote(result, body) {
    const lang = result.query_lang;
    const how = body.query_lang ? "given" : "detected";
    return el("span", { id: "detected-lang", "data-lang": lang || "" },
      lang ? `Query language: ${lang} (${how})` : "Query language: not detected");
  }

  function summaryParts(result, body, timings) {
    const n = (result.hits || []).length;
    const parts = [langNote(result, body), " · ",
      n ? `results ${body.offset ? body.offset + 1 : 1}–${(body.offset || 0) + n}` : "no results", " · ",
      el("span", { id: "timing" }, timings)];
    if (result.query_truncated) parts.push(" · ", el("span", { class: "warn" }, "query cut to the encoder's window"));
    return parts;
  }

  /** One result list; returns what the page now shows ({body, more}) for the app's state. */
  function renderSingle(body, result) {
    els.results.replaceChildren(hitList(result, body.offset || 0, null, body.mode));
    els.summary.replaceChildren(...summaryParts(result, body, `${fmt(result.timing_ms && result.timing_ms.total, 1)} ms`));
    const shown = { body, more: (result.hits || []).length >= body.k };
    renderPager(body, (result.hits || []).length);
    return shown;
  }

  /** Dense and hybrid side by side; returns what the page now shows ({body, more}). */
  function renderCompare(body, dense, hybrid) {
    const denseRanks = new Map((dense.hits || []).map((h) => [h.id, h.rank]));
    const hybridIds = new Set((hybrid.hits || []).map((h) => h.id));
    const denseList = hitList(dense, body.offset || 0, null, "dense");
    // documents hybrid ranking dropped from the page: marked in the dense column
    for (const li of denseList.querySelectorAll("li.hit")) {
      if (!hybridIds.has(li.dataset.id)) {
        li.querySelector(".score").before(el("span", { class: "move move-out", title: "not in the hybrid list shown" },
          "out"));
      }
    }
    const column = (name, result, list) => el("section", { class: "column", "data-mode": name, "aria-label": name },
      el("h2", null, name, el("span", { class: "muted" }, ` ${fmt(result.timing_ms && result.timing_ms.total, 1)} ms`)),
      list);
    els.results.replaceChildren(el("div", { class: "compare" },
      column("dense", dense, denseList),
      column("hybrid", hybrid, hitList(hybrid, body.offset || 0, denseRanks, "hybrid"))));
    const timing = `dense ${fmt(dense.timing_ms && dense.timing_ms.total, 1)} ms, hybrid ` +
      `${fmt(hybrid.timing_ms && hybrid.timing_ms.total, 1)} ms`;
    els.summary.replaceChildren(...summaryParts(hybrid, body, timing), " · ",
      el("span", { class: "muted" }, "↑/↓: places moved from dense to hybrid; new: not in the dense list"));
    const n = Math.max((dense.hits || []).length, (hybrid.hits || []).length);
    const shown = { body, more: n >= body.k };
    renderPager(body, n);
    return shown;
  }

  function renderPager(body, n) {
    const offset = body.offset || 0;
    els.pager.hidden = offset === 0 && n < body.k;
    els.prev.disabled = offset === 0;
    els.next.disabled = n < body.k;
    els.pageInfo.textContent = n ? `results ${offset + 1}–${offset + n}` : "no more results";
  }

  return { els, el, ApiError, showError, hideError, clearResults, renderSingle, renderCompare };
})();
