// runplane Playground: plain JavaScript, no dependencies. The API is this page's own origin and path
// prefix (the page is served at <api>/playground). The key lives in sessionStorage only.
"use strict";
(() => {
  const API = location.origin + location.pathname.replace(/\/playground\/?$/, "");
  const STATUSES = ["pending", "running", "paused", "done", "failed", "cancelled"];
  const REFRESH_MS = 1500;
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let current = { view: null, runId: null, pendingKey: null, renderedResult: "" };

  // -- helpers ---------------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const badge = (s) => el("span", { class: "badge " + s, "data-status": s }, s);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  const session = {
    get key() { return sessionStorage.getItem("runplane.key"); },
    get cluster() { return sessionStorage.getItem("runplane.cluster") || "default"; },
    set(key, cluster) { sessionStorage.setItem("runplane.key", key); sessionStorage.setItem("runplane.cluster", cluster); },
    clear() { sessionStorage.removeItem("runplane.key"); },
  };
  const cpath = (suffix) => "/clusters/" + encodeURIComponent(session.cluster) + suffix;

  class ApiError extends Error {
    constructor(status, message, errors) { super(message); this.status = status; this.errors = errors || []; }
  }

  async function api(method, path, body, key) {
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers: { authorization: key || session.key || "", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      throw new ApiError(0, "The API at " + API + " cannot be reached (" + e.message + "). Is it running?");
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    if (!response.ok) {
      const message = (data && data.message) || (typeof data === "string" && data) || response.statusText || "error";
      throw new ApiError(response.status, message, data && data.errors);
    }
    return { data, response };
  }

  function explain(err) {
    if (!(err instanceof ApiError)) return "Something went wrong in the page: " + (err && err.message ? err.message : err);
    switch (err.status) {
      case 0: return err.message;
      case 401: return "The API refused this key (401 Unauthorized): it is unknown, revoked or mistyped. Enter a valid key.";
      case 403: return "This key may not do that (403 Forbidden): " + err.message;
      case 404: return "Not found (404): " + err.message;
      case 409: return "Not possible now (409 Conflict): " + err.message;
      case 429: return "Too many requests (429): wait a moment and try again.";
      default:
        if (err.status >= 500) return "The API failed (" + err.status + "): " + err.message;
        return "The API rejected the request (" + err.status + "): " + err.message;
    }
  }

  function showError(err) {
    const box = $("error");
    box.replaceChildren(el("strong", {}, explain(err)));
    if (err instanceof ApiError && err.errors.length > 1) {
      box.append(el("ul", {}, err.errors.map((e) => el("li", {}, e.field + ": " + e.problem))));
    }
    box.hidden = false;
  }
  const clearError = () => { $("error").hidden = true; $("error").replaceChildren(); };

  async function guarded(fn, button) {
    if (button) button.disabled = true;
    try { await fn(); clearError(); } catch (e) { showError(e); if (e instanceof ApiError && e.status === 401) toLogin(); }
    finally { if (button) button.disabled = false; }
  }

  function parseJson(text, field) {
    if (!text.trim()) return undefined;
    try { return JSON.parse(text); } catch (e) { throw new ApiError(400, field + ": not valid JSON (" + e.message + ")"); }
  }
  function parsePairs(text, field) {
    const out = {};
    for (const part of text.split(/[,\n]/).map((p) => p.trim()).filter(Boolean)) {
      const i = part.indexOf("=");
      if (i < 1) throw new ApiError(400, field + ": write key=value (got '" + part + "')");
      out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
    return out;
  }

  // A collapsible JSON tree: objects and arrays are <details>, open to the second level.
  function jsonTree(value, depth = 0, label = null) {
    const key = label === null ? null : el("span", { class: "k" }, JSON.stringify(label) + ": ");
    if (value !== null && typeof value === "object") {
      const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
      const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
      if (!entries.length) return el("div", { class: "row" }, key, open + close);
      return el("details", { open: depth < 2 },
        el("summary", {}, key, open, el("span", { class: "muted" }, " " + entries.length + (Array.isArray(value) ? " items " : " keys ")), close),
        entries.map(([k, v]) => jsonTree(v, depth + 1, Array.isArray(value) ? null : k)));
    }
    const cls = typeof value === "string" ? "s" : typeof value === "number" ? "n" : "b";
    return el("div", { class: "row" }, key, el("span", { class: cls }, JSON.stringify(value)));
  }
  const json = (value) => el("div", { class: "json" }, jsonTree(value));

  // -- views -------------------------------------------------------------------------------------------
  const SECTIONS = ["login", "runs", "run", "new", "functions"];
  function show(section) {
    for (const s of SECTIONS) $(s).hidden = s !== section;
    $("nav").hidden = section === "login";
    for (const a of document.querySelectorAll("nav a")) {
      if (a.dataset.section === section || (section === "run" && a.dataset.section === "runs")) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    $("who").textContent = session.key ? "cluster " + session.cluster + " · key " + session.key.slice(0, 7) + "…" : "";
  }
  function toLogin() { stop(); session.clear(); show("login"); $("login-key").focus(); }
  function stop() { if (timer) clearInterval(timer); timer = null; }
  function every(fn) { stop(); fn(); timer = setInterval(() => fn().catch(showError), REFRESH_MS); }

  // Runs pane
  let runsCursor = null;
  function runsQuery(cursor) {
    const params = new URLSearchParams({ limit: "50" });
    const status = $("filter-status").value;
    if (status) params.set("status", status);
    for (const [k, v] of Object.entries(parsePairs($("filter-metadata").value, "metadata"))) params.set("metadata." + k, v);
    if (cursor) params.set("cursor", cursor);
    return params;
  }
  function nextCursor(response) {
    const link = response.headers.get("link") || "";
    const m = link.match(/<([^>]*)>;\s*rel="next"/);
    return m ? new URL(m[1], API).searchParams.get("cursor") : null;
  }
  function runRow(r) {
    return el("tr", { id: "run-" + r.id, "data-run-id": r.id, "data-status": r.status },
      el("td", {}, badge(r.status)),
      el("td", {}, el("a", { href: "#/runs/" + encodeURIComponent(r.id) }, r.name || r.id)),
      el("td", {}, r.model || ""),
      el("td", {}, el("time", { datetime: r.createdAt }, when(r.createdAt))),
      el("td", {}, Object.entries(r.metadata || {}).map(([k, v]) => el("span", { class: "tag" }, k + "=" + v))));
  }
  async function refreshRuns() {
    const { data, response } = await api("GET", cpath("/runs?" + runsQuery()));
    $("runs-table").tBodies[0].replaceChildren(...(data.length ? data.map(runRow)
      : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No runs match. Start one under New run."))]));
    runsCursor = nextCursor(response);
    $("runs-more").hidden = !runsCursor;
  }
  async function moreRuns() {
    const { data, response } = await api("GET", cpath("/runs?" + runsQuery(runsCursor)));
    stop();  // the page keeps what was loaded; Filter refreshes again
    $("runs-table").tBodies[0].append(...data.map(runRow));
    runsCursor = nextCursor(response);
    $("runs-more").hidden = !runsCursor;
  }

  // Run view
  function messageText(content) {
    return (content || []).filter((b) => b.type === "text" && b.text).map((b) => b.text).join("\n");
  }
  function duration(from, to) {
    if (!from || !to) return null;
    const ms = new Date(to) - new Date(from);
    return ms >= 0 ? (ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s") : null;
  }
  const FINAL_CALL = new Set(["succeeded", "failed", "denied", "expired", "timed_out", "cancelled"]);
  function timelineEntry(e) {
    const head = (...parts) => el("div", { class: "entry-head" }, ...parts, el("time", { datetime: e.at }, when(e.at)));
    switch (e.type) {
      case "status":
        return el("li", { class: "status", "data-type": "status" }, "status → ", badge(e.status), " ", when(e.at));
      case "message": {
        const who = e.kind === "human" ? "Human" : e.kind === "agent" ? "Agent" : e.kind === "tool-result" ? "Tool results" : e.kind;
        if (e.kind === "tool-result") return null;  // shown with each call
        const thinking = (e.content || []).filter((b) => b.type === "thinking").map((b) => b.thinking).join("\n");
        const text = messageText(e.content);
        const uses = (e.content || []).filter((b) => b.type === "tool_use").map((b) => b.name);
        return el("li", { class: e.kind, "data-type": "message", "data-kind": e.kind },
          head(el("strong", {}, who)),
          thinking ? el("p", { class: "reasoning" }, thinking) : null,
          text ? el("p", { class: "text" }, text) : null,
          uses.length ? el("p", { class: "muted" }, "calls " + uses.join(", ")) : null);
      }
      case "call": {
        const took = FINAL_CALL.has(e.status) ? duration(e.at, e.updatedAt) : null;
        return el("li", { class: "call", "data-type": "call", "data-call-id": e.callId, "data-status": e.status },
          head(el("strong", {}, "Tool call " + e.function), badge(e.status), took ? el("span", {}, "took " + took) : null),
          e.reasoning ? el("p", { class: "reasoning" }, e.reasoning) : null,
          el("div", { class: "muted" }, "input"), json(e.input),
          e.result !== null && e.result !== undefined ? [el("div", { class: "muted" }, "result"), json(e.result)] : null,
          e.error ? [el("div", { class: "muted" }, "error"), el("pre", {}, e.error)] : null);
      }
      case "approval-requested":
        return el("li", { class: "call", "data-type": "approval-requested" },
          head(el("strong", {}, "Approval requested for " + e.function)));
      case "approval-decided":
        return el("li", { class: "decision", "data-type": "approval-decided", "data-approved": String(e.approved) },
          head(el("strong", {}, e.approved ? "Approved" : "Denied"), badge(e.approved ? "approved" : "denied"),
            e.decidedBy ? el("span", {}, "by key " + e.decidedBy) : null),
          e.reason ? el("p", { class: "text" }, "Reason: " + e.reason) : null,
          e.editedInput ? [el("div", { class: "muted" }, "edited input"), json(e.editedInput)] : null);
      default:
        return el("li", {}, head(el("strong", {}, e.type)), json(e));
    }
  }
  async function allEntries(runId) {
    let entries = [], cursor = null;
    do {
      const q = new URLSearchParams({ limit: "500", ...(cursor ? { cursor } : {}) });
      const { data } = await api("GET", cpath("/runs/" + encodeURIComponent(runId) + "/log?" + q));
      entries = entries.concat(data.entries);
      cursor = data.nextCursor;
    } while (cursor);
    return entries;
  }
  function approvalCard(p, runId) {
    const input = el("textarea", { id: "approve-input-" + p.callId, rows: 4, spellcheck: "false", "aria-label": "Input for " + p.function },
      JSON.stringify(p.input, null, 2));
    const reason = el("input", { id: "deny-reason-" + p.callId, "aria-label": "Reason to deny " + p.function, placeholder: "why not" });
    const path = cpath("/runs/" + encodeURIComponent(runId) + "/calls/" + encodeURIComponent(p.callId) + "/approval");
    const approve = el("button", { type: "button", "data-action": "approve", onclick: () => guarded(async () => {
      await api("POST", path, { approved: true, input: parseJson(input.value, "input") });
      current.pendingKey = null; await refreshRun();
    }, approve) }, "Approve");
    const deny = el("button", { type: "button", class: "danger", "data-action": "deny", onclick: () => guarded(async () => {
      await api("POST", path, { approved: false, reason: reason.value.trim() || undefined });
      current.pendingKey = null; await refreshRun();
    }, deny) }, "Deny");
    return el("div", { class: "approval", "data-call-id": p.callId },
      el("h4", {}, "Approval needed: " + p.function),
      el("p", { class: "muted" }, "Requested " + when(p.requestedAt) + "; expires " + when(p.expiresAt) + ". Edit the input to approve it changed."),
      el("label", { for: input.id }, "Input"), input, approve,
      el("div", { class: "row" }, el("div", {}, el("label", { for: reason.id }, "Reason (for a denial)"), reason), el("div", {}, deny)));
  }
  async function refreshRun() {
    const runId = current.runId;
    const [{ data: run }, entries] = await Promise.all([
      api("GET", cpath("/runs/" + encodeURIComponent(runId))), allEntries(runId)]);
    if (current.runId !== runId) return;
    $("run-title").textContent = run.name || run.id;
    const usage = run.usage || {};
    $("run-facts").replaceChildren(...[
      el("dt", {}, "Status"), el("dd", { id: "run-status", "data-status": run.status }, badge(run.status)),
      el("dt", {}, "Run id"), el("dd", {}, el("code", {}, run.id)),
      el("dt", {}, "Model"), el("dd", {}, run.model),
      el("dt", {}, "Created"), el("dd", {}, when(run.createdAt)),
      el("dt", {}, "Updated"), el("dd", {}, when(run.updatedAt)),
      el("dt", {}, "Usage"), el("dd", { id: "run-usage" }, (usage.inputTokens || 0) + " input tokens, " + (usage.outputTokens || 0) + " output tokens"),
      el("dt", {}, "Metadata"), el("dd", {}, Object.entries(run.metadata || {}).map(([k, v]) => el("span", { class: "tag" }, k + "=" + v))),
      run.failureReason ? [el("dt", {}, "Failure"), el("dd", {}, run.failureReason)] : null,
      run.cancelReason ? [el("dt", {}, "Cancelled"), el("dd", {}, run.cancelReason)] : null].flat().filter(Boolean));
    // Approval cards are rebuilt only when the pending calls change (edits in progress survive refreshes).
    const pending = run.pendingApprovals || [];
    const pendingKey = pending.map((p) => p.callId).join(",");
    if (pendingKey !== current.pendingKey) {
      current.pendingKey = pendingKey;
      $("run-approvals").replaceChildren(...pending.map((p) => approvalCard(p, run.id)));
    }
    const resultKey = JSON.stringify([run.status, run.result, run.summary, run.resultError]);
    if (resultKey !== current.renderedResult) {
      current.renderedResult = resultKey;
      const parts = [];
      if (run.summary) parts.push(el("h3", {}, "Summary"), el("p", { class: "text" }, run.summary));
      if (run.result !== null && run.result !== undefined) parts.push(el("h3", {}, "Result"), el("div", { id: "run-result-tree" }, json(run.result)));
      if (run.resultError) parts.push(el("p", {}, "Result error: " + run.resultError));
      if (run.resultSchema) parts.push(el("details", {}, el("summary", {}, "Result schema"), json(run.resultSchema)));
      $("run-result").replaceChildren(...parts);
    }
    $("run-timeline").replaceChildren(...entries.map(timelineEntry).filter(Boolean));
  }

  // New run
  async function loadFunctionChoices() {
    const { data } = await api("GET", cpath("/functions"));
    const box = $("new-functions");
    box.replaceChildren(box.firstElementChild, ...data.functions.map((f) =>
      el("label", {}, el("input", { type: "checkbox", name: "function", value: f.name }), f.name + (f.requiresApproval ? " (needs approval)" : ""))));
  }
  async function startRun() {
    const body = { initialPrompt: $("new-prompt").value };
    if ($("new-name").value.trim()) body.name = $("new-name").value.trim();
    if ($("new-model").value.trim()) body.model = $("new-model").value.trim();
    const fns = [...document.querySelectorAll("#new-functions input:checked")].map((i) => i.value);
    if (fns.length) body.attachedFunctions = fns;
    const schema = parseJson($("new-schema").value, "result schema");
    if (schema !== undefined) body.resultSchema = schema;
    const metadata = parsePairs($("new-metadata").value, "metadata");
    if (Object.keys(metadata).length) body.metadata = metadata;
    const config = parseJson($("new-config").value, "config");
    if (config !== undefined) body.config = config;
    Object.assign(body, parseJson($("new-extra").value, "more fields") || {});
    const { data } = await api("POST", cpath("/runs"), body);
    location.hash = "#/runs/" + encodeURIComponent(data.id);
  }

  // Functions
  async function refreshFunctions() {
    const [{ data: fns }, { data: services }] = await Promise.all([api("GET", cpath("/functions")), api("GET", cpath("/services"))]);
    $("functions-table").tBodies[0].replaceChildren(...fns.functions.map((f) => el("tr", { "data-function": f.name },
      el("td", {}, el("code", {}, f.name), f.builtin ? el("span", { class: "tag" }, "builtin") : null),
      el("td", {}, (f.target && f.target.type) || ""),
      el("td", {}, f.requiresApproval ? el("span", { class: "badge paused", "data-status": "awaiting_approval" }, "needs approval") : "no"),
      el("td", {}, f.description || ""),
      el("td", {}, el("details", {}, el("summary", {}, "schema"), json(f.inputSchema))))));
    const now = Date.now();
    $("services-table").tBodies[0].replaceChildren(...(services.length ? services.map((s) => {
      const polling = s.lastPingAt && now - new Date(s.lastPingAt) < 60000;
      return el("tr", {}, el("td", {}, s.name),
        el("td", {}, s.functions.map((f) => el("details", {}, el("summary", {}, f.name), f.description ? el("p", {}, f.description) : null,
          json(f.schema ? JSON.parse(f.schema) : {})))),
        el("td", {}, polling ? badge("running") : el("span", { class: "muted" }, "not polling")),
        el("td", {}, when(s.lastPingAt)));
    }) : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No services have registered."))]));
  }

  // -- routing -------------------------------------------------------------------------------------------
  function route() {
    stop();
    if (!session.key) return toLogin();
    const hash = location.hash || "#/runs";
    const m = hash.match(/^#\/runs\/(.+)$/);
    if (m) {
      current = { view: "run", runId: decodeURIComponent(m[1]), pendingKey: null, renderedResult: "" };
      $("run-title").textContent = current.runId;
      $("run-facts").replaceChildren(); $("run-approvals").replaceChildren(); $("run-result").replaceChildren(); $("run-timeline").replaceChildren();
      show("run");
      return every(() => refreshRun().catch((e) => { showError(e); if (e.status === 401) toLogin(); }));
    }
    current = { view: hash.slice(2), runId: null };
    if (hash === "#/new") { show("new"); return guarded(loadFunctionChoices); }
    if (hash === "#/functions") { show("functions"); return every(() => refreshFunctions().catch(showError)); }
    show("runs");
    every(() => refreshRuns().catch((e) => { showError(e); if (e.status === 401) toLogin(); }));
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("login-key").value.trim(), cluster = $("login-cluster").value.trim() || "default";
    const button = ev.submitter || $("login-form").querySelector("button");
    guarded(async () => {
      await api("GET", "/clusters/" + encodeURIComponent(cluster) + "/runs?limit=10", undefined, key);  // is the key good?
      session.set(key, cluster);
      $("login-key").value = "";
      route();
    }, button);
  });
  $("signout").addEventListener("click", () => { clearError(); toLogin(); });
  $("runs-filter").addEventListener("submit", (ev) => { ev.preventDefault(); guarded(async () => every(() => refreshRuns().catch(showError))); });
  $("runs-more").addEventListener("click", (ev) => guarded(moreRuns, ev.target));
  $("new-form").addEventListener("submit", (ev) => { ev.preventDefault(); guarded(startRun, ev.submitter); });
  $("run-message-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    guarded(async () => {
      await api("POST", cpath("/runs/" + encodeURIComponent(current.runId) + "/messages"), { message: $("run-message").value });
      $("run-message").value = ""; await refreshRun();
    }, ev.submitter);
  });
  $("run-cancel-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const reason = $("run-cancel-reason").value.trim();
    guarded(async () => {
      await api("POST", cpath("/runs/" + encodeURIComponent(current.runId) + "/cancel"), reason ? { reason } : {});
      await refreshRun();
    }, ev.submitter);
  });
  window.addEventListener("hashchange", () => { clearError(); route(); });
  window.addEventListener("error", (ev) => showError(ev.error || ev.message));
  window.addEventListener("unhandledrejection", (ev) => showError(ev.reason));
  void STATUSES;
  route();
})();
