// The cascade page: pan/zoom and search of the graph, the task panel, and live states.
// Live: any event of this cascade (Scaffold.live) schedules ONE fetch of /cascades/{c}/states
// (debounced, never on a timer) that recolours the nodes and the state bar; the grid and the
// timeline re-fetch their fragment. Everything user-supplied is set with textContent.
(function () {
  "use strict";
  const page = document.getElementById("cascade-page");
  if (!page) return;
  const cascade = page.dataset.cascade;
  const base = "/cascades/" + encodeURIComponent(cascade);
  const view = page.dataset.view;
  const STATES = {};
  const ORDER = [];
  JSON.parse(page.dataset.states).forEach(([key, label, icon]) => { STATES[key] = { label, icon }; ORDER.push(key); });
  const stateOf = (d) => STATES[d] || { label: d, icon: "?" };
  let deleted = false;

  function debounce(fn, ms) {
    let t = null;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  }

  // ============================================================== graph: pan and zoom
  const viewport = document.getElementById("graph-viewport");
  const zoomLabel = document.getElementById("graph-zoom");
  const G = { svg: null, layer: null, w: 1, h: 1, s: 1, tx: 0, ty: 0, nodes: new Map(), edges: null, touched: false };
  const MAX_SCALE = 2.5;

  function bindGraph() {
    G.svg = document.getElementById("graph");
    if (!G.svg) return false;
    G.layer = document.getElementById("graph-layer");
    G.w = Math.max(1, +G.svg.dataset.width);
    G.h = Math.max(1, +G.svg.dataset.height);
    G.svg.removeAttribute("viewBox"); // pan and zoom move #graph-layer instead
    G.nodes = new Map();
    G.svg.querySelectorAll("g.node").forEach((g) => G.nodes.set(g.dataset.task, g));
    G.edges = null;
    return true;
  }

  function box() {
    const r = viewport.getBoundingClientRect();
    return { w: Math.max(1, r.width), h: Math.max(1, r.height), left: r.left, top: r.top };
  }
  function minScale() {
    const b = box();
    return Math.min(0.5, Math.max(0.01, Math.min(b.w / G.w, b.h / G.h) * 0.8));
  }
  function draw() {
    G.layer.setAttribute("transform", "translate(" + G.tx.toFixed(1) + "," + G.ty.toFixed(1) + ") scale(" + G.s.toFixed(4) + ")");
    G.svg.classList.toggle("lod-low", G.s < 0.42);
    if (zoomLabel) zoomLabel.textContent = Math.round(G.s * 100) + "%";
  }
  function clampPan() { // keep part of the graph in view
    const b = box(), m = 48;
    G.tx = Math.min(b.w - m, Math.max(m - G.w * G.s, G.tx));
    G.ty = Math.min(b.h - m, Math.max(m - G.h * G.s, G.ty));
  }
  function zoomAt(factor, cx, cy) {
    const s = Math.min(MAX_SCALE, Math.max(minScale(), G.s * factor));
    const k = s / G.s;
    G.tx = cx - (cx - G.tx) * k;
    G.ty = cy - (cy - G.ty) * k;
    G.s = s;
    G.touched = true;
    clampPan();
    draw();
  }
  // "width" (on load): fit the width, and the height too unless that makes the text too small;
  // "all" (the Fit button, key 0): the whole graph.
  // On load, a small graph gets a viewport just as tall as it needs (between 240 px and the
  // height the stylesheet gives it); a big one keeps all the room, for zooming in.
  function sizeViewport() {
    viewport.style.height = "";
    const b = box(), pad = 14;
    const s = Math.min(1, (b.w - 2 * pad) / G.w, Math.max((b.h - 2 * pad) / G.h, 0.6));
    const need = Math.ceil(G.h * s + 2 * pad + 2);
    if (s >= 0.5 && need < b.h) viewport.style.height = Math.max(240, need) + "px"; // not for big graphs
  }
  function fit(mode) {
    const b = box(), pad = 14;
    const W = b.w - 2 * pad, H = b.h - 2 * pad;
    const sw = W / G.w, sh = H / G.h;
    G.s = mode === "all" ? Math.min(1, sw, sh) : Math.min(1, sw, Math.max(sh, 0.6));
    G.tx = pad + Math.max(0, (W - G.w * G.s) / 2);
    G.ty = pad + Math.max(0, (H - G.h * G.s) / 2);
    draw();
  }
  function nodeBox(g) {
    const m = g.transform.baseVal.consolidate();
    const rect = g.querySelector("rect");
    return { x: m ? m.matrix.e : 0, y: m ? m.matrix.f : 0, w: +rect.getAttribute("width"), h: +rect.getAttribute("height") };
  }
  function ensureVisible(g, center) {
    const b = box(), n = nodeBox(g);
    if (center) G.s = Math.min(1.2, Math.max(0.8, G.s)); // readable, not huge
    const x0 = G.tx + n.x * G.s, y0 = G.ty + n.y * G.s, x1 = x0 + n.w * G.s, y1 = y0 + n.h * G.s;
    if (center || x0 < 0 || y0 < 0 || x1 > b.w || y1 > b.h) {
      G.tx = b.w / 2 - (n.x + n.w / 2) * G.s;
      G.ty = b.h / 2 - (n.y + n.h / 2) * G.s;
      G.touched = true;
      clampPan();
      draw();
    }
  }

  function wireViewport() {
    viewport.addEventListener("wheel", (e) => {
      e.preventDefault();
      const b = box();
      const unit = e.deltaMode === 1 ? 0.05 : e.deltaMode === 2 ? 0.5 : 0.0018;
      zoomAt(Math.exp(-e.deltaY * unit), e.clientX - b.left, e.clientY - b.top);
    }, { passive: false });

    const pointers = new Map();
    let drag = null, pinch = null, suppressClick = false;
    viewport.addEventListener("pointerdown", (e) => {
      if (e.pointerType === "mouse" && e.button !== 0) return;
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pointers.size === 1) {
        drag = { id: e.pointerId, x: e.clientX, y: e.clientY, tx: G.tx, ty: G.ty, moved: false };
      } else if (pointers.size === 2) {
        const [a, c] = [...pointers.values()];
        pinch = { d: Math.hypot(a.x - c.x, a.y - c.y) || 1 };
        drag = null;
      }
    });
    viewport.addEventListener("pointermove", (e) => {
      if (!pointers.has(e.pointerId)) return;
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pinch && pointers.size === 2) {
        const [a, c] = [...pointers.values()];
        const d = Math.hypot(a.x - c.x, a.y - c.y) || 1;
        const b = box();
        zoomAt(d / pinch.d, (a.x + c.x) / 2 - b.left, (a.y + c.y) / 2 - b.top);
        pinch.d = d;
        suppressClick = true;
        return;
      }
      if (!drag || drag.id !== e.pointerId) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) > 4) {
        drag.moved = true;
        viewport.classList.add("panning");
        try { viewport.setPointerCapture(e.pointerId); } catch (err) { /* already released */ }
      }
      if (drag.moved) {
        G.tx = drag.tx + dx;
        G.ty = drag.ty + dy;
        G.touched = true;
        clampPan();
        draw();
      }
    });
    const up = (e) => {
      pointers.delete(e.pointerId);
      if (drag && drag.id === e.pointerId && drag.moved) suppressClick = true;
      if (pointers.size < 2) pinch = null;
      if (!pointers.size) { drag = null; viewport.classList.remove("panning"); }
    };
    viewport.addEventListener("pointerup", up);
    viewport.addEventListener("pointercancel", up);

    viewport.addEventListener("click", (e) => {
      if (suppressClick) { suppressClick = false; e.preventDefault(); return; }
      const g = e.target.closest && e.target.closest("g.node");
      if (g) openTask(g.dataset.task, null, { focusPanel: false });
    });
    viewport.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const g = e.target.closest && e.target.closest("g.node");
      const b = box(), step = 80;
      let handled = true;
      switch (e.key) {
        case "Enter": case " ":
          if (g) openTask(g.dataset.task, null, { focusPanel: true }); else handled = false;
          break;
        case "+": case "=": zoomAt(1.25, b.w / 2, b.h / 2); break;
        case "-": case "_": zoomAt(0.8, b.w / 2, b.h / 2); break;
        case "0": fit("all"); break;
        case "ArrowLeft": G.tx += step; break;
        case "ArrowRight": G.tx -= step; break;
        case "ArrowUp": G.ty += step; break;
        case "ArrowDown": G.ty -= step; break;
        default: handled = false;
      }
      if (e.key.startsWith("Arrow")) { G.touched = true; clampPan(); draw(); }
      if (handled) e.preventDefault();
    });
    // Tabbing to a node that is out of view: bring it into view (the browser would scroll the
    // clipped viewport instead, which pan and zoom do not expect).
    viewport.addEventListener("focusin", (e) => {
      const g = e.target.closest && e.target.closest("g.node");
      if (g) { ensureVisible(g, false); highlight(g.dataset.task, true); }
    });
    viewport.addEventListener("focusout", (e) => {
      const g = e.target.closest && e.target.closest("g.node");
      if (g) highlight(g.dataset.task, false);
    });
    viewport.addEventListener("scroll", () => { viewport.scrollTop = 0; viewport.scrollLeft = 0; });
    viewport.addEventListener("pointerover", (e) => {
      const g = e.target.closest && e.target.closest("g.node");
      if (g) highlight(g.dataset.task, true);
    });
    viewport.addEventListener("pointerout", (e) => {
      const g = e.target.closest && e.target.closest("g.node");
      if (g) highlight(g.dataset.task, false);
    });

    document.querySelectorAll("[data-zoom]").forEach((button) => button.addEventListener("click", () => {
      const b = box();
      if (button.dataset.zoom === "in") zoomAt(1.25, b.w / 2, b.h / 2);
      else if (button.dataset.zoom === "out") zoomAt(0.8, b.w / 2, b.h / 2);
      else { fit("all"); G.touched = true; }
    }));
    window.addEventListener("resize", debounce(() => {
      if (G.touched) { clampPan(); draw(); } else { sizeViewport(); fit("width"); }
    }, 120));
  }

  // the edges of a task, emphasised while it is hovered or focused
  function highlight(task, on) {
    if (!G.edges) {
      G.edges = new Map();
      G.svg.querySelectorAll("path.edge").forEach((p) => {
        [p.dataset.from, p.dataset.to].forEach((t) => { if (!G.edges.has(t)) G.edges.set(t, []); G.edges.get(t).push(p); });
      });
    }
    (G.edges.get(task) || []).forEach((p) => p.classList.toggle("hl", on));
  }

  // ============================================================== search
  const search = document.getElementById("graph-search");
  const searchCount = document.getElementById("graph-search-count");
  function runSearch() {
    if (!search || !G.svg) return;
    const q = search.value.trim().toLowerCase();
    let n = 0;
    G.nodes.forEach((g, name) => {
      const m = q !== "" && name.toLowerCase().includes(q);
      g.classList.toggle("match", m);
      if (m) n += 1;
    });
    G.svg.classList.toggle("searching", q !== "");
    searchCount.textContent = q ? n + " of " + G.nodes.size + (G.nodes.size === 1 ? " task matches" : " tasks match") : "";
  }
  function wireSearch() {
    if (!search) return;
    search.addEventListener("input", debounce(runSearch, 60));
    search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        runSearch();
        const first = G.svg.querySelector("g.node.match");
        if (first) { ensureVisible(first, true); first.focus(); }
      } else if (e.key === "Escape" && search.value) {
        e.stopPropagation();
        search.value = "";
        runSearch();
      }
    });
  }

  // ============================================================== task panel
  const panel = document.getElementById("task-panel");
  const P = { task: null, run: null, opener: null };

  function setUrl() {
    const url = new URL(window.location.href);
    if (P.task) url.searchParams.set("task", P.task); else url.searchParams.delete("task");
    if (P.task && P.run) url.searchParams.set("run", P.run); else url.searchParams.delete("run");
    window.history.replaceState(window.history.state, "", url);
  }
  // the task and run a grid cell (its link: ?view=grid&task=T&run=N) or a timeline bar shows
  function targetOf(el) {
    if (el.dataset.task) return [el.dataset.task, el.dataset.run || null];
    const params = new URL(el.getAttribute("href"), window.location.href).searchParams;
    return [params.get("task"), params.get("run")];
  }
  function markSelected() {
    document.querySelectorAll(".node.selected, .cell.selected").forEach((el) => el.classList.remove("selected"));
    if (!P.task) return;
    const g = G.nodes.get(P.task);
    if (g) g.classList.add("selected");
    const q = encodeURIComponent(P.task).replace(/["\\]/g, "\\$&");
    const sel = P.run ? 'a.cell[href$="&task=' + q + "&run=" + encodeURIComponent(P.run) + '"]' : 'a.cell[href*="&task=' + q + '&run="]';
    document.querySelectorAll(sel).forEach((a) => a.classList.add("selected"));
  }
  function panelMessage(task, text) {
    panel.replaceChildren();
    const head = document.createElement("div");
    head.className = "panel-fallback-head";
    const h = document.createElement("h2");
    h.textContent = task;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "icon-button";
    close.dataset.panelClose = "";
    close.setAttribute("aria-label", "Close the task panel");
    close.textContent = "✕";
    head.append(h, close);
    const p = document.createElement("p");
    p.className = "muted";
    p.setAttribute("role", "status");
    p.textContent = text;
    panel.append(head, p);
  }
  function openTask(task, run, options) {
    if (!panel || !task) return;
    const opts = options || {};
    if (!P.task) P.opener = document.activeElement;
    P.task = task;
    P.run = run || null;
    panel.hidden = false;
    panel.setAttribute("tabindex", "-1");
    panel.setAttribute("aria-busy", "true");
    document.body.classList.add("task-panel-open");
    markSelected();
    setUrl();
    keepClearOfPanel(task);
    const url = base + "/tasks/" + encodeURIComponent(task) + (P.run ? "?run=" + encodeURIComponent(P.run) : "");
    const done = () => {
      panel.removeAttribute("aria-busy");
      if (opts.focusPanel && !panel.hidden) panel.focus({ preventScroll: true });
    };
    if (window.htmx) {
      window.htmx.ajax("GET", url, { target: panel, swap: "innerHTML" }).then(done, (err) => {
        panelMessage(task, "Could not load this task: " + (err && err.message ? err.message : "the server did not answer") + ".");
        done();
      });
    } else {
      panelMessage(task, "Loading needs htmx, which did not load.");
      done();
    }
  }
  // The panel's own fragment (task.js) closes itself (its ✕, Escape) and then says so with
  // "scaffold:task-panel-closed"; closePanel() is for everything else (e.g. the fallback message).
  // the panel covers the right of the page: slide the graph so the chosen task stays in view
  function keepClearOfPanel(task) {
    const g = G.svg && G.nodes.get(task);
    if (!g) return;
    const b = box(), cover = panel.getBoundingClientRect().left - b.left;
    if (cover < 220 || cover >= b.w) return; // a phone: the panel covers everything anyway
    const n = nodeBox(g);
    const right = G.tx + (n.x + n.w) * G.s;
    if (right > cover - 16) {
      G.tx = cover / 2 - (n.x + n.w / 2) * G.s; // centred in what the panel leaves
      G.touched = true;
      clampPan();
      draw();
    }
  }

  function closePanel() {
    if (!panel || panel.hidden) return;
    const close = panel.querySelector("[data-tp-close]");
    if (close) { close.click(); return; }
    panel.hidden = true;
    panel.replaceChildren();
    panelClosed();
  }
  function panelClosed() {
    document.body.classList.remove("task-panel-open");
    P.task = null;
    P.run = null;
    markSelected();
    setUrl();
    const back = P.opener;
    P.opener = null;
    if (back && document.body.contains(back) && back.focus) back.focus({ preventScroll: true });
  }
  function wirePanel() {
    if (!panel) return;
    // The task fragment comes from another route; until it answers, say so in the panel (no toast).
    panel.addEventListener("htmx:beforeSwap", (e) => {
      const xhr = e.detail.xhr;
      if (e.detail.target !== panel || !xhr || xhr.status < 400 || xhr.status === 401) return;
      e.detail.shouldSwap = false;
      e.detail.isError = false;
      const what = xhr.status === 404 ? "this task's panel is not available (404)" : "the server answered " + xhr.status;
      panelMessage(P.task || "", "Could not load the task: " + what + ".");
    });
    panel.addEventListener("click", (e) => {
      if (e.target.closest && e.target.closest("[data-panel-close]")) closePanel();
    });
    document.addEventListener("scaffold:task-panel-closed", () => { if (P.task) panelClosed(); });
    // the fragment may load another run of the task (its history): keep the URL in step
    panel.addEventListener("htmx:afterSwap", () => {
      const root = panel.querySelector("[data-task-panel]");
      if (!root || !root.dataset.task) return;
      P.task = root.dataset.task;
      P.run = root.dataset.pinned === "true" && root.dataset.run ? root.dataset.run : null;
      markSelected();
      setUrl();
    });
    // on window, so that the panel's own handler (on document) goes first and may take it
    window.addEventListener("keydown", (e) => {
      if (e.key !== "Escape" || e.defaultPrevented || panel.hidden) return;
      if (document.querySelector("dialog[open]")) return; // Escape closes the dialog first
      e.preventDefault();
      closePanel();
    });
    // grid cells and timeline bars open the panel on the run they show
    page.addEventListener("click", (e) => {
      const a = e.target.closest && e.target.closest("a.cell, a.tl-bar");
      if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      const [task, run] = targetOf(a);
      openTask(task, run, { focusPanel: true });
    });
    const params = new URLSearchParams(window.location.search);
    if (params.get("task")) openTask(params.get("task"), params.get("run"), { focusPanel: false });
  }

  // ============================================================== live states
  const statebar = document.getElementById("cascade-statebar");
  function renderStatebar(counts) {
    if (!statebar) return;
    const present = ORDER.filter((s) => counts[s]);
    const bar = document.createElement("div");
    bar.className = "statebar";
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", present.map((s) => counts[s] + " " + stateOf(s).label).join(", "));
    const chips = document.createElement("div");
    chips.className = "statecounts";
    present.forEach((s) => {
      const seg = document.createElement("span");
      seg.className = "seg st-" + s;
      seg.style.flexGrow = counts[s];
      seg.title = counts[s] + " " + stateOf(s).label;
      bar.append(seg);
      const chip = document.createElement("span");
      chip.className = "chip st-" + s;
      const icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = stateOf(s).icon;
      chip.append(icon, " " + counts[s] + " " + stateOf(s).label);
      chips.append(chip);
    });
    statebar.replaceChildren(bar, chips);
  }
  function titleOf(name, t) {
    let text = name + ": " + stateOf(t.display).label;
    if (t.run) text += ", run " + t.run;
    if (t.disabled) text += ", disabled";
    if (t.reason) text += " (" + t.reason + ")";
    return text;
  }
  function recolour(tasks) {
    G.nodes.forEach((g, name) => {
      const t = tasks[name];
      if (!t) return;
      const key = t.display + "|" + t.run + "|" + (t.disabled ? 1 : 0) + "|" + (t.reason || "");
      if (g.dataset.key === key) return;
      const before = g.dataset.key;
      g.dataset.key = key;
      [...g.classList].forEach((c) => { if (c.startsWith("st-")) g.classList.remove(c); });
      g.classList.add("st-" + t.display);
      g.classList.toggle("disabled", !!t.disabled);
      g.querySelector(".ic").textContent = stateOf(t.display).icon;
      g.querySelector(".rn").textContent = t.run ? "#" + t.run : "";
      const title = titleOf(name, t);
      g.querySelector("title").textContent = title;
      g.setAttribute("aria-label", title);
      if (before !== undefined) {
        g.classList.remove("flash");
        window.requestAnimationFrame(() => g.classList.add("flash"));
      }
    });
  }
  function applyStates(body) {
    if (String(body.version) !== page.dataset.version) {
      page.dataset.version = String(body.version);
      const v = document.getElementById("cascade-version");
      if (v) v.textContent = "v" + body.version;
      if (G.svg) reloadGraph(body.version);
    }
    recolour(body.tasks || {});
    renderStatebar(body.counts || {});
    const active = document.getElementById("cascade-active");
    if (active) active.hidden = !body.active;
    page.dataset.lastStates = String(Date.now());
  }

  const S = { timer: null, inflight: false, dirty: false };
  function scheduleStates() {
    if (deleted) return;
    S.dirty = true;
    if (!S.timer && !S.inflight) S.timer = setTimeout(refreshStates, 150);
  }
  async function refreshStates() {
    S.timer = null;
    S.dirty = false;
    S.inflight = true;
    try {
      const r = await fetch(base + "/states", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.status === 404) { markDeleted(null); return; }
      if (r.redirected && r.url.includes("/login")) { window.location.href = r.url; return; }
      if (r.ok && (r.headers.get("content-type") || "").includes("json")) applyStates(await r.json());
    } catch (err) {
      /* offline: the stream reconnects and its next event fetches again */
    } finally {
      S.inflight = false;
      if (S.dirty && !deleted) S.timer = setTimeout(refreshStates, 150);
    }
  }

  // grid and timeline: re-fetch the view's fragment (keeping the scroll position)
  const V = { timer: null, inflight: false, dirty: false };
  function scheduleView() {
    if (deleted || (view !== "grid" && view !== "timeline")) return;
    V.dirty = true;
    if (!V.timer && !V.inflight) V.timer = setTimeout(refreshView, 400);
  }
  async function refreshView() {
    V.timer = null;
    V.dirty = false;
    V.inflight = true;
    const id = view === "grid" ? "grid-fragment" : "timeline-fragment";
    try {
      const url = base + "/" + view + (view === "grid" ? window.location.search.replace(/^\?/, "?") : "");
      const r = await fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } });
      const old = document.getElementById(id);
      if (r.ok && old) {
        const scroller = old.querySelector(".grid-scroll");
        const left = scroller ? scroller.scrollLeft : 0, top = scroller ? scroller.scrollTop : 0;
        const tpl = document.createElement("template");
        tpl.innerHTML = await r.text();
        const fresh = tpl.content.getElementById(id);
        if (fresh) {
          const active = document.activeElement;
          const focusedKey = active && old.contains(active) && active.matches("a.cell, a.tl-bar")
            ? targetOf(active).join(":") : null;
          old.replaceWith(fresh);
          const sc = fresh.querySelector(".grid-scroll");
          if (sc) { sc.scrollLeft = left; sc.scrollTop = top; }
          localTimes(fresh);
          markSelected();
          if (focusedKey) {
            const again = [...fresh.querySelectorAll("a.cell, a.tl-bar")].find((el) => targetOf(el).join(":") === focusedKey);
            if (again) again.focus({ preventScroll: true });
          }
        }
      }
    } catch (err) {
      /* try again on the next event */
    } finally {
      V.inflight = false;
      if (V.dirty && !deleted) V.timer = setTimeout(refreshView, 400);
    }
  }

  async function reloadGraph(version) {
    try {
      const r = await fetch(base + "/graph", { credentials: "same-origin", headers: { "HX-Request": "true" } });
      if (!r.ok) return;
      const tpl = document.createElement("template");
      tpl.innerHTML = await r.text();
      const fresh = tpl.content.getElementById("graph-canvas");
      const old = document.getElementById("graph-canvas");
      if (!fresh || !old) return;
      old.replaceWith(fresh);
      bindGraph();
      sizeViewport();
      fit("width");
      runSearch();
      markSelected();
      if (window.Scaffold) window.Scaffold.toast("The definition changed" + (version ? " (v" + version + ")" : "") + ": graph redrawn.");
    } catch (err) { /* keep the old graph */ }
  }

  function markDeleted(data) {
    if (deleted) return;
    deleted = true;
    const notice = document.getElementById("cascade-notice");
    if (notice) {
      notice.hidden = false;
      notice.replaceChildren();
      const text = data
        ? "This cascade was deleted" + (data.by ? " by " + data.by : "") + "."
        : "This cascade is gone: deleted, or you may no longer see it.";
      notice.append(text + " This page no longer updates. ");
      const a = document.createElement("a");
      a.href = "/";
      a.textContent = "Back to the dashboard";
      notice.append(a);
    }
    const start = document.getElementById("start-cascade");
    if (start) start.remove();
  }

  function wireLive() {
    const live = window.Scaffold && window.Scaffold.live;
    if (!live) return;
    live.scope(cascade);
    const mine = (data) => !data || !data.cascade || data.cascade === cascade;
    ["task", "run", "wave", "input", "check"].forEach((kind) => live.on(kind, (data) => {
      if (!mine(data)) return;
      scheduleStates();
      if (kind !== "input") scheduleView();
    }));
    live.on("cascade", (data) => {
      if (!mine(data)) return;
      if (data.action === "deleted") markDeleted(data);
      else { scheduleStates(); scheduleView(); }
    });
    live.on("resync", () => { scheduleStates(); scheduleView(); });
    // (re)connected: events of the gap are not replayed on a new stream, so fetch once
    document.addEventListener("scaffold:live-open", () => { scheduleStates(); scheduleView(); });
  }

  // timeline ticks in the browser's local time
  function localTimes(root) {
    (root || document).querySelectorAll(".tl-tick[data-t]").forEach((el) => {
      const d = new Date(+el.dataset.t * 1000);
      el.textContent = d.toLocaleTimeString([], { hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit" });
    });
  }

  // ============================================================== start
  function ready() {
    window.requestAnimationFrame(() => window.requestAnimationFrame(() => {
      page.dataset.ready = "1";
      try { performance.mark("cascade-ready"); } catch (err) { /* old browser */ }
    }));
  }

  if (viewport && bindGraph()) {
    sizeViewport();
    fit("width");
    wireViewport();
    wireSearch();
  }
  localTimes(document);
  wirePanel();
  wireLive();
  ready();
  window.ScaffoldCascade = { fit, zoomAt, openTask, closePanel, refreshStates, state: G };
})();
