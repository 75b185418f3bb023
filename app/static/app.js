// The search page: plain DOM, no build step, no third-party code. Server text is always set as text
// (textContent, Text nodes), never parsed as HTML.
"use strict";

(() => {
  const KEY_STORE = "clir.apiKey";
  const $ = (id) => document.getElementById(id);
  const els = {
    form: $("search-form"), q: $("q"), mode: $("mode"), k: $("k"), queryLang: $("query-lang"),
    langList: $("lang-list"), key: $("api-key"), langBoxes: $("lang-boxes"), compare: $("compare"),
    submit: $("submit"), error: $("error"), summary: $("summary"), results: $("results"), pager: $("pager"),
    prev: $("prev"), next: $("next"), pageInfo: $("page-info"), indexInfo: $("index-info"),
  };
  const state = {
    offset: 0, seq: 0, done: 0, shown: null, languagesLoaded: false, pendingLangs: [],
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

  function apiKey() {
    return els.key.value.trim();
  }

  /** GET (no body) or POST JSON; resolves to the parsed body, rejects with an ApiError carrying the
   * server's own message (the one error body: {"error": {"code", "message", "field"}}). */
  async function api(path, body) {
    const headers = { Accept: "application/json" };
    const key = apiKey();
    if (key) {
      if (/[^\x20-\x7e]/.test(key)) {
        throw new ApiError(0, "bad_key", "The API key may hold only printable ASCII characters.");
      }
      headers["X-API-Key"] = key;
    }
    const init = { method: body === undefined ? "GET" : "POST", headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network", `Could not reach the server (${err && err.message ? err.message : err}). ` +
        "Is it still running?");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && typeof data === "object" ? data.error : null;
      const message = detail && typeof detail.message === "string" && detail.message
        ? detail.message : `HTTP ${response.status} ${response.statusText}`.trim();
      throw new ApiError(response.status, detail ? detail.code : null, message, detail ? detail.field : null);
    }
    if (data === null) throw new ApiError(response.status, "bad_response", "The server's answer was not JSON.");
    return data;
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

  // -- the index's languages (GET /stats) ---------------------------------------------------------

  function checkedLangs() {
    const boxes = els.langBoxes.querySelectorAll("input[type=checkbox]");
    if (!boxes.length) return state.pendingLangs.slice();
    return Array.from(boxes).filter((b) => b.checked).map((b) => b.value);
  }

  function renderLanguages(languages) {
    // /stats: {"languages": {"fr": 120, "de": 24, ...}} (a plain list is taken too)
    const entries = Array.isArray(languages) ? languages.map((l) => [l, null]) : Object.entries(languages || {});
    entries.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    const ticked = new Set(checkedLangs());
    if (!entries.length) {
      els.langBoxes.replaceChildren(el("span", { class: "muted" }, "the index records no languages"));
      return;
    }
    els.langBoxes.replaceChildren(...entries.map(([lang, count]) => {
      const id = `lang-${lang}`;
      const box = el("input", { type: "checkbox", id, value: lang, class: "lang-option" });
      box.checked = ticked.has(lang);
      return el("span", { class: "lang-choice" }, box,
        el("label", { for: id }, String(lang), count === null ? null : el("span", { class: "muted" }, ` (${count})`)));
    }));
    els.langList.replaceChildren(...entries.map(([lang]) => el("option", { value: lang })));
    state.pendingLangs = [];
  }

  async function loadStats() {
    try {
      const stats = await api("/stats");
      renderLanguages(stats.languages);
      state.languagesLoaded = true;
      const n = stats.languages ? Object.keys(stats.languages).length : 0;
      const encoder = stats.encoder && stats.encoder.name ? `, encoder ${stats.encoder.name}` : "";
      els.indexInfo.textContent = `Index ${stats.index || ""}: ${stats.documents} documents in ${n} ` +
        `language${n === 1 ? "" : "s"}${encoder}.`;
    } catch (err) {
      state.languagesLoaded = false;
      const text = err.status === 401 ? "enter the API key to list the index's languages"
        : `could not load the index's languages: ${err.message}`;
      els.langBoxes.replaceChildren(el("span", { class: "muted" }, text));
    }
  }

  // -- the request ---------------------------------------------------------------------------------

  function requestBody() {
    const kValue = Number.parseInt(els.k.value, 10);
    const body = { query: els.q.value, k: Number.isFinite(kValue) ? kValue : 10, mode: els.mode.value, snippet: true };
    if (state.offset > 0) body.offset = state.offset;
    const queryLang = els.queryLang.value.trim();
    if (queryLang) body.query_lang = queryLang;
    const langs = checkedLangs();
    if (langs.length) body.filter = { lang: langs };
    return body;
  }

  function setBusy(busy) {
    els.results.setAttribute("aria-busy", busy ? "true" : "false");
    if (busy) els.results.dataset.state = "loading";
    els.submit.textContent = busy ? "Searching…" : "Search";
  }

  function finish(seq, outcome) {
    if (seq !== state.seq) return;
    state.done += 1;
    setBusy(false);
    els.results.dataset.state = outcome;
    els.results.dataset.done = String(state.done);
  }

  async function search() {
    const body = requestBody();
    const seq = ++state.seq;
    if (!body.query.trim()) {
      clearResults();
      showError(new ApiError(0, "empty", "Type a query first."));
      els.q.focus();
      finish(seq, "error");
      return;
    }
    hideError();
    setBusy(true);
    try {
      if (els.compare.checked) {
        const [dense, hybrid] = await Promise.all([
          api("/search", { ...body, mode: "dense" }), api("/search", { ...body, mode: "hybrid" })]);
        if (seq !== state.seq) return;
        renderCompare(body, dense, hybrid);
      } else {
        const result = await api("/search", body);
        if (seq !== state.seq) return;
        renderSingle(body, result);
      }
      updateUrl(body);
      if (!state.languagesLoaded) loadStats();
      finish(seq, "done");
    } catch (err) {
      if (seq !== state.seq) return;
      clearResults();
      showError(err);
      finish(seq, "error");
    }
  }

  function updateUrl(body) {
    const params = new URLSearchParams();
    params.set("q", body.query);
    if (els.compare.checked) params.set("compare", "1");
    else if (body.mode !== "hybrid") params.set("mode", body.mode);
    if (body.k !== 10) params.set("k", String(body.k));
    if (body.query_lang) params.set("query_lang", body.query_lang);
    if (body.filter) params.set("lang", body.filter.lang.join(","));
    if (body.offset) params.set("offset", String(body.offset));
    try {
      history.replaceState(null, "", `${location.pathname}?${params}`);
    } catch (_) { /* a page opened from a file: nothing to update */ }
  }

  // -- rendering -----------------------------------------------------------------------------------

  function clearResults() {
    els.results.replaceChildren();
    els.summary.replaceChildren();
    els.pager.hidden = true;
    state.shown = null;
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

  function renderSingle(body, result) {
    els.results.replaceChildren(hitList(result, body.offset || 0, null, body.mode));
    els.summary.replaceChildren(...summaryParts(result, body, `${fmt(result.timing_ms && result.timing_ms.total, 1)} ms`));
    state.shown = { body, more: (result.hits || []).length >= body.k };
    renderPager(body, (result.hits || []).length);
  }

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
    state.shown = { body, more: n >= body.k };
    renderPager(body, n);
  }

  function renderPager(body, n) {
    const offset = body.offset || 0;
    els.pager.hidden = offset === 0 && n < body.k;
    els.prev.disabled = offset === 0;
    els.next.disabled = n < body.k;
    els.pageInfo.textContent = n ? `results ${offset + 1}–${offset + n}` : "no more results";
  }

  // -- events --------------------------------------------------------------------------------------

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.offset = 0;
    search();
  });

  // after a first search, changing an option searches again (from the first page)
  const rerun = () => {
    if (state.shown === null) return;
    state.offset = 0;
    search();
  };
  els.mode.addEventListener("change", rerun);
  els.compare.addEventListener("change", () => {
    els.mode.disabled = els.compare.checked;
    rerun();
  });
  els.langBoxes.addEventListener("change", rerun);

  els.prev.addEventListener("click", () => {
    if (!state.shown) return;
    state.offset = Math.max(0, (state.shown.body.offset || 0) - state.shown.body.k);
    search();
  });
  els.next.addEventListener("click", () => {
    if (!state.shown) return;
    state.offset = (state.shown.body.offset || 0) + state.shown.body.k;
    search();
  });

  els.key.addEventListener("input", () => {
    try {
      if (els.key.value) sessionStorage.setItem(KEY_STORE, els.key.value);
      else sessionStorage.removeItem(KEY_STORE);
    } catch (_) { /* storage disabled: the key lives in the field only */ }
  });
  els.key.addEventListener("change", () => {
    if (!state.languagesLoaded) loadStats();
  });

  // -- start -------------------------------------------------------------------------------------

  async function start() {
    try {
      els.key.value = sessionStorage.getItem(KEY_STORE) || "";
    } catch (_) { /* storage disabled */ }
    // a shared link: ?q=...&mode=dense&k=5&lang=fr,de&query_lang=en&offset=10&compare=1
    const params = new URLSearchParams(location.search);
    if (params.has("mode") && ["hybrid", "dense", "sparse"].includes(params.get("mode"))) {
      els.mode.value = params.get("mode");
    }
    if (params.has("k")) els.k.value = params.get("k");
    if (params.has("query_lang")) els.queryLang.value = params.get("query_lang");
    if (params.get("compare") === "1") {
      els.compare.checked = true;
      els.mode.disabled = true;
    }
    state.pendingLangs = (params.get("lang") || "").split(",").map((s) => s.trim()).filter(Boolean);
    await loadStats();
    if (params.has("q")) {
      els.q.value = params.get("q");
      state.offset = Math.max(0, Number.parseInt(params.get("offset") || "0", 10) || 0);
      await search();
    }
    document.body.dataset.ready = "true";
  }

  start();
})();
