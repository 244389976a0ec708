// Scaffold web UI: the task panel (live log, search, follow, display items, actions, live refresh)
// and the start dialog (reset preview, confirm, start through the API).
//
// Loaded by the fragments themselves (<script src="/static/task.js"> at their end), so a page that
// swaps a fragment in needs nothing else. Loaded again on every swap: the second time it only
// scans the document for new panels and dialogs.
(function () {
  "use strict";
  if (window.ScaffoldTask) { window.ScaffoldTask.scan(); return; }

  const SHOWN_MAX = 1000000; // characters of log kept in the page; the download has all of it
  const SHOWN_KEEP = 600000;
  const panels = new Set();
  let refocus = false; // a panel replaced while focus was in it gives focus to its successor

  const enc = encodeURIComponent;
  const $ = (root, sel) => root.querySelector(sel);

  function api() { return window.Scaffold.api.apply(null, arguments); }
  function toast(msg, kind) { window.Scaffold.toast(msg, kind); }

  function formatDuration(seconds) {
    if (seconds < 60) return seconds.toFixed(1) + " s";
    let minutes = Math.floor(seconds / 60);
    const secs = Math.floor(seconds % 60);
    if (minutes < 60) return minutes + " min " + String(secs).padStart(2, "0") + " s";
    const hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    return hours + " h " + String(minutes).padStart(2, "0") + " min";
  }

  // ------------------------------------------------------------------------ display items
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // The same markup as _task_display.html, built with textContent only (items are data).
  function renderDisplay(items) {
    const out = document.createDocumentFragment();
    (items || []).forEach((item) => {
      const fig = el("figure", "dsp dsp-k-" + item.kind + (item.color ? " dc-" + item.color : ""));
      fig.appendChild(el("figcaption", "dsp-name", item.name));
      if (item.kind === "table") {
        const wrap = el("div", "table-wrap");
        const table = el("table", "dsp-table");
        if (item.header && item.header.length) {
          const tr = el("tr");
          item.header.forEach((h) => { const th = el("th", null, h); th.scope = "col"; tr.appendChild(th); });
          const thead = el("thead"); thead.appendChild(tr); table.appendChild(thead);
        }
        const tbody = el("tbody");
        (item.data || []).forEach((row) => {
          const tr = el("tr");
          (row || []).forEach((cell) => tr.appendChild(el("td", null, cell)));
          tbody.appendChild(tr);
        });
        table.appendChild(tbody);
        wrap.appendChild(table);
        fig.appendChild(wrap);
      } else if (item.kind === "value") {
        fig.appendChild(el("div", "dsp-value", item.data));
      } else {
        fig.appendChild(el("pre", "dsp-pre", item.data));
      }
      out.appendChild(fig);
    });
    return out;
  }

  // ------------------------------------------------------------------------------ the panel
  function Panel(root) {
    this.root = root;
    const d = root.dataset;
    this.cascade = d.cascade;
    this.task = d.task;
    this.kind = d.kind || "task";
    this.run = d.run ? Number(d.run) : null;
    this.runId = d.runId || "";
    this.pinned = d.pinned === "true";
    this.active = d.runActive === "true";
    this.offset = Number(d.logOffset || 0);
    this.url = d.url;
    this.base = d.base;
    this.logEl = $(root, "[data-tp-log]");
    this.text = this.logEl ? this.logEl.textContent : "";
    this.follow = true;
    this.lastTop = 0;
    this.eventChars = 0;
    this.fetching = false;
    this.again = false;
    this.liveDisplay = null;
    this.refreshTimer = null;
    this.watching = false;
    this.marks = [];
    this.current = -1;
    this.wire();
  }

  Panel.prototype.host = function () {
    const aside = this.root.closest("#task-panel");
    return aside && !aside.classList.contains("task-panel-page") ? aside : null;
  };

  Panel.prototype.wire = function () {
    const root = this.root;
    const live = window.Scaffold.live;
    live.scope(this.cascade);
    if (this.active && this.runId) { live.watchRun(this.runId); this.watching = true; }
    if (this.logEl) {
      this.logEl.addEventListener("scroll", () => this.onScroll());
      this.scrollToEnd();
      const follow = $(root, "[data-tp-follow]");
      follow.addEventListener("change", () => { this.setFollow(follow.checked); if (follow.checked) this.scrollToEnd(); });
      const input = $(root, "[data-tp-search-input]");
      input.addEventListener("input", () => { this.current = -1; this.highlight(true); });
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") { ev.preventDefault(); this.step(ev.shiftKey ? -1 : 1); }
        else if (ev.key === "Escape" && input.value) { ev.preventDefault(); ev.stopPropagation(); input.value = ""; this.highlight(); }
      });
      $(root, "[data-tp-next]").addEventListener("click", () => this.step(1));
      $(root, "[data-tp-prev]").addEventListener("click", () => this.step(-1));
    }
    this.wireActions(root);
    if (this.active) this.pokeLog(); // what was logged between the page's render and the stream
  };

  // Buttons of the refreshed parts are wired again after each refresh.
  Panel.prototype.wireActions = function (scope) {
    const kill = $(scope, "[data-tp-kill]");
    if (kill) kill.addEventListener("click", () => this.askKill());
    const toggle = $(scope, "[data-tp-toggle-disabled]");
    if (toggle) toggle.addEventListener("click", () => {
      const disable = toggle.dataset.disabled !== "true";
      toggle.disabled = true;
      this.patch({ disabled: disable }, (disable ? "disabled " : "enabled ") + this.task)
        .finally(() => { toggle.disabled = false; });
    });
    const auto = $(scope, "[data-tp-auto]");
    if (auto) auto.addEventListener("change", () => {
      const on = auto.checked;
      this.patch({ auto_execute: on }, this.task + ": auto-execute " + (on ? "on" : "off"))
        .catch(() => { auto.checked = !on; });
    });
  };

  Panel.prototype.apiBase = function () {
    return "/api/v1/cascades/" + enc(this.cascade) + "/tasks/" + enc(this.task);
  };

  Panel.prototype.patch = function (body, done) {
    return api("PATCH", this.apiBase(), body)
      .then(() => { toast(done); this.refresh(0); })
      .catch((err) => { toast(err.message, "error"); throw err; });
  };

  Panel.prototype.askKill = function () {
    const dialog = $(this.root, "[data-tp-kill-dialog]");
    if (!dialog) return;
    const error = $(dialog, "[data-tp-kill-error]");
    const confirm = $(dialog, "[data-tp-kill-confirm]");
    error.hidden = true;
    confirm.disabled = false;
    if (!dialog.dataset.wired) {
      dialog.dataset.wired = "1";
      confirm.addEventListener("click", () => {
        confirm.disabled = true;
        confirm.lastChild.textContent = " Killing…";
        api("POST", this.apiBase() + "/kill")
          .then((state) => {
            dialog.close("killed");
            toast(this.task + " " + (state && state.state === "killed" ? "was killed" : "ended: " + (state ? state.state : "")));
            this.refresh(0);
          })
          .catch((err) => {
            error.textContent = err.message;
            error.hidden = false;
            confirm.disabled = false;
            confirm.lastChild.textContent = " Kill";
          });
      });
    }
    dialog.showModal();
    $(dialog, "button[value=cancel]").focus();
  };

  // ------------------------------------------------------------------------ log following
  Panel.prototype.atBottom = function () {
    const log = this.logEl;
    return log.scrollTop + log.clientHeight >= log.scrollHeight - 6;
  };

  Panel.prototype.onScroll = function () {
    const top = this.logEl.scrollTop;
    if (this.atBottom()) this.setFollow(true);
    else if (top < this.lastTop) this.setFollow(false); // the user scrolled up: stop following
    this.lastTop = top;
  };

  Panel.prototype.setFollow = function (on) {
    if (this.follow === on) return;
    this.follow = on;
    const box = $(this.root, "[data-tp-follow]");
    if (box) box.checked = on;
  };

  Panel.prototype.scrollToEnd = function () {
    if (!this.logEl || !this.follow) return;
    this.logEl.scrollTop = this.logEl.scrollHeight;
    this.lastTop = this.logEl.scrollTop;
  };

  Panel.prototype.append = function (text) {
    if (!text) return;
    const empty = $(this.root, "[data-tp-log-empty]");
    if (empty) empty.remove();
    this.text += text;
    if (this.text.length > SHOWN_MAX) {
      this.text = this.text.slice(this.text.length - SHOWN_KEEP);
      this.highlight();
    } else if ($(this.root, "[data-tp-search-input]").value) {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.highlight(), 250);
      this.logEl.appendChild(document.createTextNode(text));
    } else {
      this.logEl.appendChild(document.createTextNode(text));
    }
    this.scrollToEnd();
  };

  // A log event says "there is more": read it from the store by offset (the store is the one
  // truth: no line twice, none lost across reconnects). Runs again if more came meanwhile.
  // Throttled, not debounced: a steady stream of events must not keep pushing the read away.
  Panel.prototype.pokeLog = function (delay) {
    const wait = delay === undefined ? 80 : delay;
    const due = Date.now() + wait;
    if (this.logTimer && this.logDue <= due) return;
    clearTimeout(this.logTimer);
    this.logDue = due;
    this.logTimer = setTimeout(() => { this.logTimer = null; this.fetchLog(); }, wait);
  };

  Panel.prototype.fetchLog = async function (untilComplete) {
    if (!this.logEl || !this.run || !this.root.isConnected) return;
    if (this.fetching) { this.again = true; return; }
    this.fetching = true;
    let tries = 0;
    try {
      for (;;) {
        this.again = false;
        const q = "?offset=" + this.offset + (this.kind === "check" ? "&kind=check" : "");
        const r = await api("GET", this.apiBase() + "/runs/" + this.run + "/logs" + q);
        if (!this.root.isConnected) return;
        this.append(r.text);
        this.offset = r.next_offset;
        this.eventChars = Math.max(0, this.eventChars - r.text.length);
        if (r.complete) { this.eventChars = 0; break; }
        if (this.again) continue;
        // lines announced but not stored yet, or the run ended: ask again a little later
        const wanted = untilComplete || this.eventChars > 0;
        if (!wanted || ++tries > 40) break;
        await new Promise((resolve) => setTimeout(resolve, r.text ? 50 : 250));
      }
    } catch (err) {
      if (err.status !== 404) toast("log: " + err.message, "error");
    } finally {
      this.fetching = false;
      if (this.again) this.pokeLog(0);
    }
  };

  // ------------------------------------------------------------------------------ search
  Panel.prototype.highlight = function (jump) {
    const input = $(this.root, "[data-tp-search-input]");
    const count = $(this.root, "[data-tp-count]");
    const needle = input.value;
    const log = this.logEl;
    if (!needle) {
      log.textContent = this.text;
      this.marks = [];
      this.current = -1;
      count.textContent = "";
      this.scrollToEnd();
      return;
    }
    const hay = this.text.toLowerCase();
    const low = needle.toLowerCase();
    const frag = document.createDocumentFragment();
    let at = 0;
    let found = hay.indexOf(low);
    while (found !== -1) {
      if (found > at) frag.appendChild(document.createTextNode(this.text.slice(at, found)));
      frag.appendChild(el("mark", "tp-hit", this.text.slice(found, found + needle.length)));
      at = found + needle.length;
      found = hay.indexOf(low, at);
    }
    frag.appendChild(document.createTextNode(this.text.slice(at)));
    log.textContent = "";
    log.appendChild(frag);
    this.marks = Array.from(log.querySelectorAll("mark"));
    if (!this.marks.length) {
      this.current = -1;
      count.textContent = "no match";
      return;
    }
    if (this.current < 0 || this.current >= this.marks.length) {
      this.current = -1;
      if (jump) { this.step(1); return; }
    }
    this.mark();
  };

  Panel.prototype.step = function (direction) {
    if (!this.marks.length) { this.highlight(); if (!this.marks.length) return; }
    const n = this.marks.length;
    this.current = this.current < 0 ? (direction > 0 ? 0 : n - 1) : (this.current + direction + n) % n;
    this.setFollow(false);
    this.mark(true);
  };

  Panel.prototype.mark = function (scroll) {
    const count = $(this.root, "[data-tp-count]");
    this.marks.forEach((m, i) => m.classList.toggle("current", i === this.current));
    const n = this.marks.length;
    count.textContent = this.current >= 0 ? (this.current + 1) + " of " + n : n + (n === 1 ? " match" : " matches");
    const mark = this.marks[this.current];
    if (scroll && mark) {
      const log = this.logEl;
      const top = mark.offsetTop - log.offsetTop - log.clientHeight / 2;
      log.scrollTop = Math.max(0, top);
      this.lastTop = log.scrollTop;
    }
  };

  // ------------------------------------------------------------------------- live refresh
  // Throttled like pokeLog; a response older than one already applied is dropped.
  Panel.prototype.refresh = function (delay) {
    const wait = delay === undefined ? 250 : delay;
    const due = Date.now() + wait;
    if (this.refreshTimer && this.refreshDue <= due) return;
    clearTimeout(this.refreshTimer);
    this.refreshDue = due;
    this.refreshTimer = setTimeout(() => { this.refreshTimer = null; this.reload(); }, wait);
  };

  Panel.prototype.reload = async function () {
    if (!this.root.isConnected) return;
    const seq = (this.seq = (this.seq || 0) + 1);
    let html;
    try {
      const response = await fetch(this.url, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) return; // the task or cascade went away: the page around says so
      html = await response.text();
    } catch (e) { return; }
    if (!this.root.isConnected || seq !== this.seq) return;
    const doc = new DOMParser().parseFromString(html, "text/html");
    const fresh = doc.querySelector("[data-task-panel]");
    if (!fresh) return;
    const host = this.root.parentElement;
    if (!this.pinned && fresh.dataset.run !== this.root.dataset.run) {
      // a new run of the task: show it whole (its log from the start)
      refocus = this.root.contains(document.activeElement);
      this.dispose();
      if (host && window.htmx) htmx.ajax("GET", this.url, { target: host, swap: "innerHTML" });
      return;
    }
    const focused = document.activeElement;
    let focusKey = null;
    if (focused && this.root.contains(focused)) {
      focusKey = Array.from(focused.attributes).map((a) => a.name).find((n) => n.startsWith("data-tp-"));
    }
    fresh.querySelectorAll("[data-tp-part]").forEach((part) => {
      const old = this.root.querySelector("#" + part.id);
      if (!old) return;
      const adopted = document.importNode(part, true);
      if (part.id === "tp-display" && adopted.dataset.empty === "true" && this.liveDisplay) return; // keep the live one
      old.replaceWith(adopted);
      if (window.htmx) htmx.process(adopted);
      this.wireActions(adopted);
    });
    if (focusKey) {
      const again = this.root.querySelector("[" + focusKey + "]");
      if (again) again.focus();
    }
    // the kill dialog depends on the state (only while waiting or running)
    const oldKill = $(this.root, "[data-tp-kill-dialog]");
    const newKill = fresh.querySelector("[data-tp-kill-dialog]");
    if (oldKill && !oldKill.open && !newKill) oldKill.remove();
    if (!oldKill && newKill) this.root.appendChild(document.importNode(newKill, true));
    const wasActive = this.active;
    this.active = fresh.dataset.runActive === "true";
    this.root.dataset.runActive = fresh.dataset.runActive;
    if (this.active && !this.watching && this.runId) { window.Scaffold.live.watchRun(this.runId); this.watching = true; }
    if (wasActive && !this.active) this.ended();
    else if (this.active) this.pokeLog();
  };

  Panel.prototype.ended = function () {
    const chip = $(this.root, "[data-tp-live]");
    if (chip) chip.remove();
    this.fetchLog(true).then(() => this.unwatch());
  };

  Panel.prototype.unwatch = function () {
    if (!this.watching) return;
    this.watching = false;
    const still = Array.from(panels).some((p) => p !== this && p.watching && p.runId === this.runId && p.root.isConnected);
    if (!still) window.Scaffold.live.unwatchRun(this.runId);
  };

  Panel.prototype.dispose = function () {
    clearTimeout(this.refreshTimer);
    clearTimeout(this.logTimer);
    this.refreshTimer = this.logTimer = null;
    this.unwatch();
    panels.delete(this);
  };

  Panel.prototype.showDisplay = function (data) {
    this.liveDisplay = data;
    const section = $(this.root, "#tp-display");
    if (!section) return;
    section.textContent = "";
    section.removeAttribute("data-empty");
    if (!(data.items && data.items.length) && !data.error) return;
    section.appendChild(el("h3", null, "Display"));
    if (data.error) section.appendChild(el("p", "alert error small", data.error));
    const items = el("div", "dsp-items");
    items.setAttribute("data-tp-display-items", "");
    items.appendChild(renderDisplay(data.items));
    section.appendChild(items);
  };

  Panel.prototype.close = function () {
    const host = this.host();
    this.dispose();
    if (!host) { window.location.href = "/cascades/" + enc(this.cascade); return; }
    host.hidden = true;
    host.textContent = "";
    document.dispatchEvent(new CustomEvent("scaffold:task-panel-closed", { detail: { cascade: this.cascade, task: this.task } }));
  };

  function initPanel(root) {
    root.dataset.ready = "1";
    const aside = root.closest("#task-panel");
    if (aside && aside.hidden) return; // closed before its content arrived: stays closed, idle
    // one panel per host: the one it replaced is gone
    panels.forEach((p) => { if (!p.root.isConnected) p.dispose(); });
    const panel = new Panel(root);
    panels.add(panel);
    root._panel = panel;
    // showing the host and where focus goes when it opens are the host page's choice
    if (refocus) $(root, "#tp-title").focus({ preventScroll: true });
    refocus = false;
  }

  // --------------------------------------------------------------------- the start dialog
  function initStartDialog(dialog) {
    dialog.dataset.ready = "1";
    const cascade = dialog.dataset.cascade;
    const task = dialog.dataset.task || null;
    const confirm = $(dialog, "[data-sd-confirm]");
    const cancel = $(dialog, "[data-sd-cancel]");
    const force = $(dialog, "[data-sd-force]");
    const error = $(dialog, "[data-sd-error]");
    const standalone = !!dialog.closest("[data-standalone]");
    let started = false;
    if (force) force.addEventListener("change", () => {
      confirm.disabled = !force.checked || confirm.hasAttribute("data-never");
    });
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      error.hidden = true;
      const body = { force: !!(force && force.checked) };
      if (task) body.task = task;
      try {
        const r = await api("POST", "/api/v1/cascades/" + enc(cascade) + "/start", body);
        started = true;
        toast("started wave " + r.wave.id + (task ? " (" + task + ")" : " of " + cascade));
        dialog.close("started");
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        confirm.disabled = false;
        confirm.focus();
      }
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (standalone) setTimeout(() => { window.location.href = dialog.dataset.back; }, started ? 900 : 0);
    });
    dialog.showModal();
    (confirm.disabled ? cancel : confirm).focus();
  }

  // -------------------------------------------------------------------------------- wiring
  function scan() {
    document.querySelectorAll("[data-task-panel]:not([data-ready])").forEach(initPanel);
    document.querySelectorAll("dialog[data-start-dialog]:not([data-ready])").forEach(initStartDialog);
  }

  function connected() {
    const out = [];
    panels.forEach((p) => { if (p.root.isConnected) out.push(p); else p.dispose(); });
    return out;
  }

  function matches(p, data) {
    return data.task === p.task && Number(data.run) === p.run && (data.run_kind || "task") === p.kind;
  }

  function install() {
    const live = window.Scaffold.live;
    ["task", "run", "wave", "cascade", "check", "input"].forEach((kind) => live.on(kind, (data) => {
      connected().forEach((p) => {
        if (data.cascade !== p.cascade) return;
        const mine = data.task === p.task;
        p.refresh(mine ? 120 : 800);
        if (kind === "run" && mine && Number(data.run) === p.run && p.kind === "task") p.pokeLog(0);
      });
    }));
    live.on("log", (data) => connected().forEach((p) => {
      if (data.cascade === p.cascade && matches(p, data)) { p.eventChars += (data.text || "").length; p.pokeLog(); }
    }));
    live.on("display", (data) => connected().forEach((p) => {
      if (data.cascade === p.cascade && matches(p, data)) p.showDisplay(data);
    }));
    live.on("resync", () => connected().forEach((p) => { p.refresh(0); p.pokeLog(0); }));
    // a new stream (first open, reconnect, or reopened for watchRun) replays nothing: read again
    document.addEventListener("scaffold:live-open", () => connected().forEach((p) => {
      p.refresh(50);
      if (p.active) p.pokeLog(0);
    }));

    document.addEventListener("htmx:load", scan);
    document.addEventListener("click", (ev) => {
      const close = ev.target.closest("[data-tp-close]");
      if (close) {
        const root = close.closest("[data-task-panel]");
        if (root && root._panel && root._panel.host()) { ev.preventDefault(); root._panel.close(); }
        return;
      }
      const load = ev.target.closest("a[data-tp-load]");
      if (load && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey && ev.button === 0) {
        const root = load.closest("[data-task-panel]");
        const host = root && root._panel && root._panel.host();
        if (host && window.htmx) {
          ev.preventDefault();
          refocus = true;
          root._panel.dispose();
          htmx.ajax("GET", load.getAttribute("href"), { target: host, swap: "innerHTML" });
        }
      }
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.key !== "Escape" || ev.defaultPrevented) return;
      if (document.querySelector("dialog[open]")) return; // the dialog closes itself
      const panel = connected().find((p) => p.host());
      if (!panel) return;
      const active = document.activeElement;
      const typingElsewhere = active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) && !panel.root.contains(active);
      if (typingElsewhere) return;
      ev.preventDefault();
      panel.close();
    });
    // running durations tick
    setInterval(() => {
      document.querySelectorAll("[data-tp-duration][data-since]").forEach((node) => {
        node.textContent = formatDuration(Math.max(0, Date.now() / 1000 - Number(node.dataset.since))) + " so far";
      });
    }, 1000);
  }

  function boot() {
    install();
    scan();
  }

  window.ScaffoldTask = { scan, panels, renderDisplay };
  if (window.Scaffold) boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();
