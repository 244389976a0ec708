// Scaffold web UI: theme, toasts, JSON API calls, and one live event stream per page.
(function () {
  "use strict";

  // ---------------------------------------------------------------- theme (light / dark / auto)
  const root = document.documentElement;
  function applyTheme(theme) {
    if (theme === "auto") {
      theme = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    }
    root.setAttribute("data-theme", theme);
  }
  applyTheme(localStorage.getItem("scaffold-theme") || "auto");

  // ---------------------------------------------------------------- toasts
  function toast(message, kind) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const el = document.createElement("div");
    el.className = "toast" + (kind ? " " + kind : "");
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.textContent = message;
    box.appendChild(el);
    setTimeout(() => el.remove(), kind === "error" ? 9000 : 4000);
  }

  // The API's one error shape: {"error": {"code", "message", "details"}}.
  function errorMessage(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && body.error) {
        const details = (body.error.details || []).map((d) => (typeof d === "string" ? d : d.message || JSON.stringify(d)));
        return body.error.message + (details.length ? ": " + details.join("; ") : "");
      }
    } catch (e) { /* not JSON */ }
    return (xhr.status ? xhr.status + " " : "") + (xhr.statusText || "request failed");
  }

  function csrfToken() {
    const headers = document.body && document.body.getAttribute("hx-headers");
    try { return headers ? JSON.parse(headers)["X-CSRF-Token"] || "" : ""; } catch (e) { return ""; }
  }

  // fetch() against the JSON API with the session's CSRF token; rejects with the API's message.
  async function api(method, path, body, options) {
    const init = { method: method, headers: { "X-CSRF-Token": csrfToken() }, credentials: "same-origin" };
    if (body !== undefined && body !== null) {
      if (body instanceof Blob || body instanceof ArrayBuffer || typeof body === "string") {
        init.body = body;
        if (options && options.contentType) init.headers["Content-Type"] = options.contentType;
      } else {
        init.body = JSON.stringify(body);
        init.headers["Content-Type"] = "application/json";
      }
    }
    const response = await fetch(path, init);
    if (!response.ok) {
      const text = await response.text();
      const err = new Error(errorMessage({ responseText: text, status: response.status, statusText: response.statusText }));
      err.status = response.status;
      throw err;
    }
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    return type.includes("application/json") ? response.json() : response.text();
  }

  // ---------------------------------------------------------------- live events
  // One EventSource per page. Scripts call Scaffold.live.on(kind, fn) and
  // Scaffold.live.watchRun("cascade:task:N") to also get that run's log lines.
  const live = {
    source: null, cascade: null, runs: new Set(), handlers: {}, lastId: null, reopenTimer: null,
    on(kind, fn) { (this.handlers[kind] = this.handlers[kind] || []).push(fn); this.ensure(); },
    scope(cascade) { if (this.cascade !== cascade) { this.cascade = cascade; this.reopen(); } },
    watchRun(runId) { if (!this.runs.has(runId)) { this.runs.add(runId); this.reopen(); } },
    unwatchRun(runId) { if (this.runs.delete(runId)) this.reopen(); },
    url() {
      const params = new URLSearchParams();
      if (this.cascade) params.set("cascade", this.cascade);
      this.runs.forEach((r) => params.append("run", r));
      const q = params.toString();
      return "/api/v1/events" + (q ? "?" + q : "");
    },
    ensure() { if (!this.source) this.open(); },
    reopen() {
      if (!this.source) return;
      clearTimeout(this.reopenTimer);
      this.reopenTimer = setTimeout(() => { this.source.close(); this.source = null; this.open(); }, 30);
    },
    open() {
      const src = new EventSource(this.url(), { withCredentials: true });
      this.source = src;
      const kinds = ["task", "run", "wave", "cascade", "input", "check", "log", "display", "resync", "value", "file"];
      kinds.forEach((kind) => src.addEventListener(kind, (ev) => {
        let data = {};
        try { data = JSON.parse(ev.data); } catch (e) { /* keepalive */ }
        if (ev.lastEventId) this.lastId = ev.lastEventId;
        (this.handlers[kind] || []).forEach((fn) => fn(data, ev));
        (this.handlers["*"] || []).forEach((fn) => fn(kind, data, ev));
      }));
      src.onopen = () => {
        document.body.classList.remove("offline");
        // a new stream does not replay what happened while there was none: pages re-read their state
        document.dispatchEvent(new CustomEvent("scaffold:live-open"));
      };
      src.onerror = () => document.body.classList.add("offline");
    },
  };

  // Elements with data-live-refresh="URL" are re-fetched (debounced) when their cascade changes;
  // data-live-cascade limits it to one cascade; data-live-select picks the fragment of the page.
  function wireLiveRefresh() {
    const targets = document.querySelectorAll("[data-live-refresh]");
    if (!targets.length) return;
    let timer = null;
    const refresh = () => {
      clearTimeout(timer);
      // asked again each time: a refresh swaps the element for a new one (outerHTML)
      timer = setTimeout(() => document.querySelectorAll("[data-live-refresh]").forEach((el) => {
        htmx.ajax("GET", el.dataset.liveRefresh, { target: "#" + el.id, select: el.dataset.liveSelect || ("#" + el.id), swap: "outerHTML" });
      }), 400);
    };
    ["task", "run", "wave", "cascade"].forEach((kind) => live.on(kind, refresh));
  }

  // ---------------------------------------------------------------- htmx glue
  document.addEventListener("htmx:responseError", (ev) => {
    const xhr = ev.detail.xhr;
    if (xhr.status === 401) { window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); return; }
    toast(errorMessage(xhr), "error");
  });
  document.addEventListener("htmx:sendError", () => toast("The server did not answer; is it running?", "error"));

  document.addEventListener("DOMContentLoaded", () => {
    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", () => {
      const next = root.getAttribute("data-theme") === "dark" ? "light" : "dark";
      localStorage.setItem("scaffold-theme", next);
      applyTheme(next);
    });
    wireLiveRefresh();
  });

  window.Scaffold = { toast, api, live, errorMessage, csrfToken };
})();
