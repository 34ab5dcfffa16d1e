// The sentimentkit page: sends a review (POST v1/analyze) or a file (POST v1/analyze/file) and shows the
// predictions. No framework and no build step.
//
// Safety: user text and everything the service returns reach the page only through textContent and DOM nodes,
// never innerHTML. Offsets: the service's aspect spans are Python code-point offsets, while JavaScript strings
// index UTF-16 code units (an emoji is two), so texts are split with Array.from (code points) before slicing.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const POLARITIES = ["positive", "negative", "neutral"];
  const SYMBOLS = { positive: "+", negative: "−", neutral: "○" };
  let csvUrl = null; // the object URL of the current "Download CSV" blob, revoked when replaced

  // ---- talking to the service ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  /** Calls the service (paths relative to the page, so a reverse-proxy prefix works) and returns its JSON. */
  async function callApi(path, init) {
    const headers = new Headers(init.headers || {});
    const key = $("api-key").value.trim();
    if (key) headers.set("X-API-Key", key);
    let response;
    try {
      response = await fetch(path, { ...init, headers });
    } catch (err) {
      throw new ApiError("Could not reach the service. Is `sentimentkit serve` running?", 0);
    }
    if (!response.ok) throw new ApiError(await errorMessage(response), response.status);
    return response.json();
  }

  /** A message for a person: what went wrong and what to do about it. */
  async function errorMessage(response) {
    let detail = "";
    try {
      const body = await response.json();
      // 422s carry a readable `message` ("body.texts[0]: ...") beside FastAPI's list of errors.
      detail = typeof body.message === "string" ? body.message : describeDetail(body.detail);
    } catch (err) {
      detail = ""; // not JSON: the status says enough
    }
    const retry = response.headers.get("Retry-After");
    const when = retry && /^\d+$/.test(retry) ? `in ${retry} s` : "in a moment";
    switch (response.status) {
      case 401:
      case 403:
        return "This service needs a valid API key: enter it under “Options and API key” and try again.";
      case 413:
        return `Too large for this service: ${detail || "the request is over its size limits"}.`;
      case 400:
      case 422:
        return `The service could not use this input: ${detail || "invalid request"}.`;
      case 429:
        return `The service is busy right now. Please retry ${when}.`;
      case 503:
        return `The service is starting, restarting or overloaded. Please retry ${when}.`;
      default:
        return `The service answered ${response.status}${detail ? `: ${detail}` : ""}.`;
    }
  }

  /** FastAPI's `detail`: a string, or a list of {loc, msg} validation errors. */
  function describeDetail(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((d) => {
          const loc = Array.isArray(d.loc) ? d.loc.filter((x) => x !== "body").join(".") : "";
          return loc ? `${loc}: ${d.msg}` : String(d.msg || JSON.stringify(d));
        })
        .join("; ");
    }
    return detail && typeof detail === "object" ? JSON.stringify(detail) : "";
  }

  function options() {
    const body = {};
    if (!$("aspects").checked) body.aspects = false; // unset: on when the server has an aspect model
    const terms = $("aspect-terms").value.split(",").map((t) => t.trim()).filter(Boolean);
    if (terms.length) body.aspect_terms = terms;
    if ($("long-texts").value !== "truncate") body.long_texts = $("long-texts").value;
    return body;
  }

  async function analyzeText(event) {
    event.preventDefault();
    const text = $("text").value;
    if (!text.trim()) {
      showError("Type or paste a review first.");
      $("text").focus();
      return;
    }
    await run("Analyzing…", async () => {
      const body = JSON.stringify({ texts: [text], ...options() });
      const result = await callApi("v1/analyze", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body,
      });
      $("results").hidden = true;
      showDocument(result.predictions[0]);
    });
  }

  async function analyzeFile(event) {
    event.preventDefault();
    const file = $("file").files[0];
    if (!file) {
      showError("Choose a .csv, .jsonl or .txt file first.");
      $("file").focus();
      return;
    }
    await run(`Analyzing ${file.name}…`, async () => {
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("column", $("column").value.trim() || "text");
      if ($("id-column").value.trim()) form.append("id_column", $("id-column").value.trim());
      for (const k of $("keep").value.split(",").map((c) => c.trim()).filter(Boolean)) form.append("keep", k);
      if (!$("aspects").checked) form.append("aspects", "false");
      form.append("long_texts", $("long-texts").value);
      const result = await callApi("v1/analyze/file", { method: "POST", body: form });
      $("document").hidden = true;
      showResults(result.predictions, file.name);
    });
  }

  /** Runs one request with the buttons disabled, a status line, and errors shown instead of thrown. */
  async function run(status, work) {
    const buttons = [$("analyze"), $("analyze-file")];
    buttons.forEach((b) => (b.disabled = true));
    document.body.setAttribute("aria-busy", "true");
    $("error").hidden = true;
    $("status").textContent = status;
    $("status").hidden = false;
    try {
      await work();
      $("status").hidden = true;
    } catch (err) {
      $("status").hidden = true;
      showError(err instanceof ApiError ? err.message : `Something went wrong in the page: ${err.message}`);
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        document.querySelector("details.options").open = true;
        $("api-key").focus();
      }
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      document.body.removeAttribute("aria-busy");
    }
  }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = false;
  }

  // ---- one document ------------------------------------------------------------------------------------------

  function showDocument(p) {
    const section = $("document");
    $("doc-label").replaceChildren(badge(p.label, p.polarity));
    $("doc-polarity").replaceChildren(badge(p.polarity, p.polarity));
    const hasScore = typeof p.score === "number";
    $("doc-score").textContent = hasScore ? formatScore(p.score) : "—";
    setMeter($("doc-meter"), $("doc-meter-fill"), hasScore ? p.score : null);
    $("doc-probabilities").replaceChildren(probabilities(p.probabilities || {}));
    $("doc-notes").replaceChildren(...notes(p).map((n) => element("li", {}, n)));
    $("doc-text").replaceChildren(highlighted(p.text, p.aspects || []));
    fillAspectTable(p);
    section.hidden = false;
  }

  function setMeter(meter, fill, score) {
    if (score === null) {
      fill.style.width = "0";
      meter.removeAttribute("aria-valuenow");
      return;
    }
    // The bar grows from the centre (0) towards -1 (left) or +1 (right).
    const s = Math.max(-1, Math.min(1, score));
    fill.style.left = `${50 + Math.min(0, s) * 50}%`;
    fill.style.width = `${Math.abs(s) * 50}%`;
    fill.className = `meter-fill ${s > 0.05 ? "fill-positive" : s < -0.05 ? "fill-negative" : "fill-neutral"}`;
    meter.setAttribute("aria-valuenow", String(s));
    meter.setAttribute("aria-valuetext", formatScore(s));
  }

  function probabilities(probs) {
    const list = element("dl", {});
    for (const [label, value] of Object.entries(probs)) {
      const bar = element("span", { className: "prob-bar" });
      bar.style.width = `${Math.round(value * 100)}%`;
      list.append(
        element("dt", {}, label),
        element(
          "dd",
          {},
          element("span", { className: "prob-track" }, bar),
          element("span", { className: "prob-value" }, percent(value)),
        ),
      );
    }
    return list;
  }

  function notes(p) {
    const out = [];
    if (p.error) out.push(`Not scored: ${p.error}`);
    if (p.truncated) out.push("The text was longer than the model reads; only part of it was scored.");
    if (typeof p.chunks === "number") out.push(`Scored as ${p.chunks} sentence chunks, averaged.`);
    for (const w of p.warnings || []) out.push(w);
    return out;
  }

  function fillAspectTable(p) {
    const aspects = sortedAspects(p.aspects || []);
    const rows = aspects.map((a) =>
      element(
        "tr",
        {},
        element("td", {}, a.aspect),
        element("td", {}, badge(a.polarity, a.polarity)),
        element("td", { className: "number" }, percent(a.confidence)),
        element("td", { className: "number" }, `${a.start}–${a.end}`),
      ),
    );
    $("aspect-table").tBodies[0].replaceChildren(...rows);
    $("aspect-table").hidden = rows.length === 0;
    $("no-aspects").hidden = rows.length > 0 || Boolean(p.error);
  }

  // ---- highlighting ------------------------------------------------------------------------------------------

  /** The text as DOM nodes with each aspect occurrence in a <mark class="aspect aspect-POLARITY">.
   *
   * Spans are [start, end) code-point offsets into `text`. They are sorted; a span that overlaps an earlier
   * one or falls outside the text is not highlighted (the aspect table still lists it). */
  function highlighted(text, aspects) {
    const chars = Array.from(text || ""); // code points, as the service counts
    const fragment = document.createDocumentFragment();
    let pos = 0;
    for (const a of sortedAspects(aspects)) {
      if (!validSpan(a, chars.length) || a.start < pos) continue;
      if (a.start > pos) fragment.append(chars.slice(pos, a.start).join(""));
      const kind = polarityClass(a.polarity);
      const mark = element("mark", { className: `aspect aspect-${kind}` }, chars.slice(a.start, a.end).join(""));
      mark.dataset.polarity = String(a.polarity);
      mark.dataset.confidence = String(a.confidence);
      mark.title = `${a.aspect}: ${a.polarity}, confidence ${percent(a.confidence)}`;
      // Not colour alone: a text badge says the polarity too.
      const tag = element("span", { className: `aspect-badge badge-${kind}` }, `${SYMBOLS[kind]} ${a.polarity}`);
      fragment.append(mark, tag);
      pos = a.end;
    }
    if (pos < chars.length) fragment.append(chars.slice(pos).join(""));
    return fragment;
  }

  function sortedAspects(aspects) {
    return [...aspects].sort((a, b) => a.start - b.start || b.end - a.end);
  }

  function validSpan(a, length) {
    return Number.isInteger(a.start) && Number.isInteger(a.end) && 0 <= a.start && a.start < a.end && a.end <= length;
  }

  function polarityClass(polarity) {
    return POLARITIES.includes(polarity) ? polarity : "neutral";
  }

  // ---- a file's results --------------------------------------------------------------------------------------

  function showResults(predictions, name) {
    const rows = predictions.map((p) =>
      element(
        "tr",
        {},
        element("td", {}, String(p.id ?? "")),
        element("td", { className: "text-cell" }, highlighted(p.text, p.aspects || [])),
        element("td", {}, p.error ? element("span", { className: "row-error" }, p.error) : badge(p.label, p.polarity)),
        element("td", {}, p.polarity ? badge(p.polarity, p.polarity) : ""),
        element("td", { className: "number" }, typeof p.score === "number" ? formatScore(p.score) : ""),
        element("td", {}, ...(p.aspects || []).map(aspectBadge)),
      ),
    );
    $("results-table").tBodies[0].replaceChildren(...rows);
    $("results-summary").textContent = summary(predictions, name);
    if (csvUrl) URL.revokeObjectURL(csvUrl);
    csvUrl = URL.createObjectURL(new Blob([toCsv(predictions)], { type: "text/csv;charset=utf-8" }));
    const link = $("download-csv");
    link.href = csvUrl;
    link.download = `${name.replace(/\.[^.]*$/, "") || "results"}-sentiment.csv`;
    link.hidden = false;
    $("results").hidden = false;
  }

  function aspectBadge(a) {
    const tag = badge(`${a.aspect} ${SYMBOLS[polarityClass(a.polarity)]}`, a.polarity);
    tag.title = `${a.polarity}, confidence ${percent(a.confidence)}`;
    return tag;
  }

  function summary(predictions, name) {
    const counts = {};
    for (const p of predictions) {
      const key = p.error ? "not scored" : p.polarity || p.label || "no label";
      counts[key] = (counts[key] || 0) + 1;
    }
    const parts = Object.entries(counts).map(([k, n]) => `${n} ${k}`);
    return `${name}: ${predictions.length} records (${parts.join(", ")}).`;
  }

  /** The predictions as CSV in the column order of `sentimentkit analyze --output x.csv` (io.PredictionWriter):
   * id, text, metadata columns, label, polarity, score, p_<label>..., aspects (JSON), truncated, chunks, error,
   * warnings. Built here from the JSON already received, so the file is not scored twice. */
  function toCsv(predictions) {
    const metaKeys = unionKeys(predictions.map((p) => p.metadata || {}));
    const labels = unionKeys(predictions.map((p) => p.probabilities || {}));
    const header = ["id", "text", ...metaKeys, "label", "polarity", "score", ...labels.map((l) => `p_${l}`)];
    header.push("aspects", "truncated", "chunks", "error", "warnings");
    const lines = [header];
    for (const p of predictions) {
      const probs = p.probabilities || {};
      lines.push([
        p.id,
        p.text,
        ...metaKeys.map((k) => (p.metadata || {})[k]),
        p.label,
        p.polarity,
        p.score,
        ...labels.map((l) => probs[l]),
        JSON.stringify(p.aspects || []),
        p.truncated ? "true" : "false",
        p.chunks,
        p.error,
        JSON.stringify(p.warnings || []),
      ]);
    }
    return lines.map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
  }

  function unionKeys(objects) {
    const keys = [];
    for (const o of objects) for (const k of Object.keys(o)) if (!keys.includes(k)) keys.push(k);
    return keys;
  }

  function csvField(value) {
    if (value === null || value === undefined) return "";
    const s = typeof value === "object" ? JSON.stringify(value) : String(value);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }

  // ---- small helpers -----------------------------------------------------------------------------------------

  /** createElement with properties and children (strings become text nodes, never HTML). */
  function element(tag, props, ...children) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function badge(text, polarity) {
    if (!text) return element("span", { className: "badge badge-none" }, "—");
    return element("span", { className: `badge badge-${polarityClass(polarity)}` }, String(text));
  }

  function percent(value) {
    return typeof value === "number" ? `${(value * 100).toFixed(1)}%` : "";
  }

  function formatScore(score) {
    return `${score > 0 ? "+" : ""}${score.toFixed(2)}`;
  }

  /** The model names in the header (GET v1/models); silent when it needs a key or is unavailable. */
  async function showModels() {
    try {
      const body = await callApi("v1/models", { method: "GET" });
      const names = [body.model, body.aspect_model].filter(Boolean).map((m) => m.name);
      $("models").textContent = names.length ? `Models: ${names.join(" + ")}` : "";
    } catch (err) {
      $("models").textContent = "";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("text-form").addEventListener("submit", analyzeText);
    $("file-form").addEventListener("submit", analyzeFile);
    $("text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("text-form").requestSubmit();
    });
    $("api-key").addEventListener("change", showModels);
    showModels();
  });

  // For the browser test: the pure parts, callable without a model.
  window.sentimentkitPage = { highlighted, toCsv };
})();
