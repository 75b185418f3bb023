// The search page: state, the API requests, events and start-up; the DOM rendering is render.js (loaded
// first, as window.clirPage). Plain DOM, no build step, no third-party code.
"use strict";

(() => {
  const { els, el, ApiError, showError, hideError, renderSingle, renderCompare } = window.clirPage;
  const KEY_STORE = "clir.apiKey";
  const state = {
    offset: 0, seq: 0, done: 0, shown: null, languagesLoaded: false, pendingLangs: [],
  };

  // -- the API -----------------------------------------------------------------------------------

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

  /** Nothing shown any more: the page's results and the state's record of them. */
  function clearResults() {
    window.clirPage.clearResults();
    state.shown = null;
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
        state.shown = renderCompare(body, dense, hybrid);
      } else {
        const result = await api("/search", body);
        if (seq !== state.seq) return;
        state.shown = renderSingle(body, result);
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
