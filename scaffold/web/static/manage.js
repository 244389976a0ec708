// Scaffold web UI: the management pages (cascades list and definition, inputs, datastore,
// webhooks, API tokens, users). Every change goes to the JSON API with the session's CSRF token;
// the pages are then re-read from the server (htmx) so that what is shown is what is stored.
// User-supplied text is always put in with textContent, never as HTML.
(function () {
  "use strict";

  // ---------------------------------------------------------------- requests
  class ApiError extends Error {
    constructor(status, error) {
      super((error && error.message) || (status + " request failed"));
      this.status = status;
      this.details = (error && error.details) || [];
    }
  }

  // fetch() against the API; resolves with the JSON body (or null), rejects with an ApiError that
  // keeps the error's details (validation problems with their line and column).
  async function call(method, path, body, contentType) {
    const headers = { "X-CSRF-Token": window.Scaffold.csrfToken() };
    let payload;
    if (contentType) {
      headers["Content-Type"] = contentType;
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
    } catch (e) {
      throw new ApiError(0, { message: "The server did not answer; is it running?" });
    }
    if (response.status === 401) {
      window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new ApiError(401, { message: "your session has ended: log in again" });
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!response.ok) throw new ApiError(response.status, data && data.error ? data.error : { message: response.status + " " + response.statusText });
    return data;
  }

  function detailText(d) {
    if (typeof d === "string") return d;
    const where = d.line ? "line " + d.line + (d.col ? ", col " + d.col : "") + ": " : "";
    const field = d.path || d.field;
    return where + (field ? field + ": " : "") + (d.message || JSON.stringify(d));
  }

  function fullMessage(err) {
    const details = (err.details || []).map(detailText);
    return err.message + (details.length ? ": " + details.join("; ") : "");
  }

  const toast = (msg, kind) => window.Scaffold.toast(msg, kind);

  // Re-read parts of this page from the server (same URL), each selector swapped whole.
  function refresh(...selectors) {
    const url = location.pathname + location.search;
    return Promise.all(selectors.filter((s) => document.querySelector(s)).map((sel) =>
      window.htmx.ajax("GET", url, { target: sel, select: sel, swap: "outerHTML" })));
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    });
    children.flat().forEach((c) => { if (c !== null && c !== undefined) node.append(c); });
    return node;
  }

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }

  // ---------------------------------------------------------------- dialogs
  // Every <dialog> with a form: its submit runs dialog._action(form) (set when the dialog is
  // opened); an error stays in the dialog ([data-error]) or becomes a toast; success closes it.
  function wireDialogs() {
    $$("dialog").forEach((dialog) => {
      $$("[data-close]", dialog).forEach((b) => b.addEventListener("click", () => dialog.close("cancel")));
      const form = $("form", dialog);
      if (!form) return;
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        if (!dialog._action) { dialog.close(); return; }
        const button = $("[type=submit]", form);
        if (button) button.disabled = true;
        showDialogError(dialog, null);
        try {
          await dialog._action(form);
          dialog.close("done");
        } catch (err) {
          showDialogError(dialog, err);
        } finally {
          if (button) button.disabled = false;
          $$("input", form).forEach((i) => i.dispatchEvent(new Event("input")));
        }
      });
    });
  }

  function showDialogError(dialog, err) {
    const box = $("[data-error]", dialog);
    if (!err) { if (box) { box.textContent = ""; box.classList.add("hidden"); } return; }
    if (box) { box.textContent = fullMessage(err); box.classList.remove("hidden"); }
    else toast(fullMessage(err), "error");
  }

  function openDialog(id, fill, action) {
    const dialog = document.getElementById(id);
    if (!dialog) return null;
    showDialogError(dialog, null);
    $$("[data-name]", dialog).forEach((n) => { n.textContent = ""; });
    if (fill) fill(dialog);
    dialog._action = action || null;
    dialog.showModal();
    const first = $("input:not([readonly]), select, textarea:not([readonly])", dialog);
    if (first) first.focus();
    return dialog;
  }

  // ---------------------------------------------------------------- copy to clipboard
  async function copyFrom(button) {
    const scope = button.closest("dialog") || document;
    const field = $(button.dataset.copy, scope);
    if (!field) return;
    const value = field.value !== undefined ? field.value : field.textContent;
    try {
      await navigator.clipboard.writeText(value);
    } catch (e) {
      field.select();
      document.execCommand("copy");
    }
    toast("Copied to the clipboard");
  }

  // ---------------------------------------------------------------- apply / update a cascade
  function showProblems(box, err, textarea) {
    box.replaceChildren();
    const problems = (err.details || []).filter((d) => typeof d === "object");
    const card = el("div", { class: "result error", role: "alert" },
      el("h3", {}, el("span", { "aria-hidden": "true", text: "✕ " }), err.message));
    if (err.status === 403) card.append(el("p", { text: "Your role or groups do not allow this." }));
    if (problems.length) {
      const list = el("ol", { class: "problems" });
      problems.forEach((p) => {
        const item = el("li", { class: "problem" });
        if (p.line) {
          const jump = el("button", { type: "button", class: "link-button where", text: "line " + p.line + (p.col ? ", col " + p.col : "") });
          jump.dataset.line = p.line;
          jump.dataset.col = p.col || 1;
          jump.addEventListener("click", () => goToLine(textarea, p.line, p.col || 1));
          item.append(jump, " ");
        }
        const field = p.path || p.field;
        if (field) item.append(el("code", { class: "field", text: field }), ": ");
        item.append(el("span", { class: "message", text: p.message || JSON.stringify(p) }));
        list.append(item);
      });
      card.append(list);
    } else {
      (err.details || []).filter((d) => typeof d === "string").forEach((d) => card.append(el("p", { text: d })));
    }
    box.append(card);
  }

  function goToLine(textarea, line, col) {
    if (!textarea) return;
    const lines = textarea.value.split("\n");
    let offset = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
    const lineText = lines[line - 1] || "";
    textarea.focus();
    textarea.setSelectionRange(offset + Math.min(col - 1, lineText.length), offset + lineText.length);
    const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  function showChanges(box, result) {
    box.replaceChildren();
    const c = result.changes;
    const url = "/cascades/" + encodeURIComponent(result.cascade);
    const card = el("div", { class: "result ok", role: "status" },
      el("h3", {}, el("span", { "aria-hidden": "true", text: "✓ " }),
        (result.created ? "Created " : "Applied ") + result.cascade + " (version " + result.version + ")"));
    const summary = el("ul", { class: "summary" });
    c.summary.forEach((line) => summary.append(el("li", { text: line })));
    card.append(summary);
    if (c.reset.length) {
      card.append(el("h4", { text: "Reset to not started (" + c.reset.length + ")" }));
      const list = el("ul", { class: "reset-list" });
      c.reset.forEach((r) => list.append(el("li", {},
        el("a", { href: url + "?task=" + encodeURIComponent(r.task), text: r.task }), " — ", el("span", { class: "muted", text: r.reason }))));
      card.append(list);
    } else if (!result.created) {
      card.append(el("p", { class: "muted", text: "No task was reset." }));
    }
    card.append(el("p", {}, el("a", { class: "button", href: url, text: "Open " + result.cascade + " →" })));
    box.append(card);
  }

  function confirmBox(title, message, okLabel) {
    return new Promise((resolve) => {
      const ok = el("button", { type: "submit", class: "primary", value: "ok", text: okLabel });
      const cancel = el("button", { type: "button", text: "Cancel" });
      const form = el("form", { method: "dialog" }, el("h2", { text: title }), el("p", { text: message }),
        el("div", { class: "dialog-actions" }, cancel, ok));
      const dialog = el("dialog", { "aria-label": title }, form);
      cancel.addEventListener("click", () => dialog.close("cancel"));
      dialog.addEventListener("close", () => { resolve(dialog.returnValue === "ok"); dialog.remove(); });
      document.body.append(dialog);
      dialog.showModal();
      cancel.focus();
    });
  }

  function wireApplyForms() {
    $$("form.apply-form").forEach((form) => {
      const textarea = $("textarea", form);
      const box = $(form.dataset.result);
      const file = $("input[type=file]", form);
      if (file) file.addEventListener("change", async () => {
        const chosen = file.files && file.files[0];
        if (!chosen) return;
        textarea.value = await chosen.text();
        toast("Loaded " + chosen.name + ": check it, then apply");
      });
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const text = textarea.value;
        if (!text.trim()) { toast("Paste a cascade file or choose one first", "error"); return; }
        if (form.dataset.maskGuard === "true" && text.includes("********")) {
          const go = await confirmBox("Apply masked password defaults?",
            "The text still has ******** where a password default was masked. Applying it makes ******** the new default " +
            "and resets those inputs' values to it. Apply anyway?", "Apply anyway");
          if (!go) return;
        }
        const button = $("button[type=submit]", form);
        button.disabled = true;
        box.replaceChildren(el("p", { class: "muted", text: "Applying…" }));
        try {
          const result = await call(form.dataset.method, form.dataset.path, text, "application/yaml");
          showChanges(box, result);
          if (file) file.value = "";
          refresh("#cascade-list", "#cascade-nav", ".def-grid");
        } catch (err) {
          showProblems(box, err, textarea);
        } finally {
          button.disabled = false;
          box.scrollIntoView({ block: "nearest" });
        }
      });
    });
    const update = $("#update");
    $$("[data-open-update]").forEach((b) => b.addEventListener("click", () => {
      update.classList.remove("hidden");
      update.scrollIntoView({ block: "start" });
      $("textarea", update).focus();
    }));
    $$("[data-close-update]").forEach((b) => b.addEventListener("click", () => update.classList.add("hidden")));
  }

  // ---------------------------------------------------------------- delete a cascade
  function wireCascadeDelete() {
    const dialog = $("#delete-dialog");
    if (!dialog) return;
    const input = $("input[name=confirm]", dialog);
    const button = $("button[type=submit]", dialog);
    input.addEventListener("input", () => { button.disabled = input.value !== dialog.dataset.cascade; });
    document.addEventListener("click", (ev) => {
      const trigger = ev.target.closest("[data-delete-cascade]");
      if (!trigger) return;
      const name = trigger.dataset.deleteCascade;
      openDialog("delete-dialog", (d) => {
        d.dataset.cascade = name;
        $$("[data-name]", d).forEach((n) => { n.textContent = name; });
        input.value = "";
        button.disabled = true;
      }, async () => {
        await call("DELETE", "/api/v1/cascades/" + encodeURIComponent(name));
        toast("Deleted cascade " + name);
        if (location.pathname === "/cascades") refresh("#cascade-list");
        else window.location.href = dialog.dataset.after || "/cascades";
      });
    });
  }

  // ---------------------------------------------------------------- inputs
  // The form is swapped whole after a save: its events are caught on the document.
  function wireInputs() {
    const isForm = (t) => t && t.id === "inputs-form";
    const note = (form) => {
      const n = changedInputs(form).names.length;
      const box = $("[data-dirty-note]", form);
      if (box) box.textContent = n ? n + " input" + (n === 1 ? "" : "s") + " changed, not saved yet" : "";
    };
    document.addEventListener("input", (ev) => { const f = ev.target.form; if (isForm(f)) note(f); });
    document.addEventListener("reset", (ev) => { if (isForm(ev.target)) setTimeout(() => note(ev.target), 0); });
    document.addEventListener("submit", (ev) => {
      const form = ev.target;
      if (!isForm(form)) return;
      ev.preventDefault();
      const { names, values, resets } = changedInputs(form);
      if (!names.length) { toast("Nothing changed"); return; }
      openDialog("inputs-confirm", (d) => {
        $("[data-count]", d).textContent = names.length === 1 ? names[0] : names.length + " inputs";
        $("[data-names]", d).textContent = names.join(", ");
        const list = $("[data-resets]", d);
        list.replaceChildren(...resets.map((t) => el("li", { text: t })));
        list.hidden = !resets.length;
        $("[data-no-reset]", d).hidden = !!resets.length;
      }, async () => {
        let result;
        try {
          result = await call("PUT", form.dataset.path, { values });
        } finally {
          $$("input[data-secret]", form).forEach((i) => { i.value = ""; });  // never kept around
        }
        showInputResult(names, result.reset);
        await refresh("#inputs-form", "#cascade-nav");
      });
    });
  }

  function changedInputs(form) {
    const names = [], values = {}, resets = [];
    $$("tr[data-input]", form).forEach((row) => {
      const field = $("input[name]", row);
      if (!field) return;
      const changed = field.dataset.secret !== undefined ? field.value !== "" : field.value !== field.dataset.original;
      if (!changed) return;
      names.push(field.name);
      values[field.name] = field.value;
      (row.dataset.resets || "").split(",").filter(Boolean).forEach((t) => { if (!resets.includes(t)) resets.push(t); });
    });
    return { names, values, resets };
  }

  function showInputResult(names, reset) {
    const box = $("#inputs-result");
    const cascade = location.pathname.split("/")[2];
    const card = el("div", { class: "result ok", role: "status" },
      el("h3", {}, el("span", { "aria-hidden": "true", text: "✓ " }), "Saved " + names.join(", ")));
    if (reset.length) {
      card.append(el("p", { text: "Reset to not started (" + reset.length + " task" + (reset.length === 1 ? "" : "s") + "; they do not start on their own):" }));
      card.append(el("ul", { class: "reset-list", "data-reset": "" },
        reset.map((t) => el("li", {}, el("a", { href: "/cascades/" + cascade + "?task=" + encodeURIComponent(t), text: t })))));
    } else {
      card.append(el("p", { class: "muted", text: "No task was reset (the value did not change, or no task reads it)." }));
    }
    box.replaceChildren(card);
  }

  // ---------------------------------------------------------------- datastore
  function wireHistory() {
    document.addEventListener("click", async (ev) => {
      const button = ev.target.closest("[data-history]");
      if (!button) return;
      const row = document.getElementById(button.getAttribute("aria-controls"));
      const open = button.getAttribute("aria-expanded") === "true";
      button.setAttribute("aria-expanded", open ? "false" : "true");
      row.hidden = open;
      if (!open) {
        const target = $(".history", row);
        target.textContent = "Loading…";
        const response = await fetch(button.dataset.history, { credentials: "same-origin", headers: { "HX-Request": "true" } });
        if (!response.ok) { target.textContent = "Could not load the history (" + response.status + ")"; return; }
        target.innerHTML = await response.text();  // a server-rendered, escaped fragment
      }
    });
  }

  function wireValues() {
    const form = $("#value-form");
    if (!form) return;
    document.addEventListener("click", (ev) => {
      const button = ev.target.closest("[data-edit-value]");
      if (!button) return;
      const row = button.closest("tr");
      const shown = $(".value-pre", row) || $("code.value", row);
      form.elements.key.value = button.dataset.editValue;
      form.elements.text.value = shown ? shown.textContent : "";
      form.scrollIntoView({ block: "nearest" });
      form.elements.text.focus();
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const key = form.elements.key.value.trim();
      const button = $("button[type=submit]", form);
      button.disabled = true;
      try {
        const info = await call("PUT", form.dataset.path + encodeURIComponent(key), { text: form.elements.text.value });
        toast("Saved " + info.key + " (version " + info.version + ")");
        form.reset();
        await refresh("#values-list");
      } catch (err) {
        toast(fullMessage(err), "error");
      } finally {
        button.disabled = false;
      }
    });
  }

  const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+=@,-]{0,254}$/;

  function formatBytes(n) {
    if (n < 1024) return n + " B";
    const units = ["KiB", "MiB", "GiB"];
    let v = n / 1024, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return v.toFixed(v < 10 ? 1 : 0) + " " + units[i];
  }

  function wireFiles() {
    const form = $("#upload-form");
    if (form) form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const file = form.elements.file.files[0];
      if (!file) { toast("Choose a file first", "error"); return; }
      const name = form.elements.name.value.trim() || file.name;
      if (!FILE_NAME.test(name) || name.includes("..")) {
        toast("'" + name + "' is not a datastore file name: letters, digits and . _ - + = @ , only; give it another name", "error");
        form.elements.name.focus();
        return;
      }
      const limit = parseInt(form.dataset.limit || "0", 10);
      if (limit && file.size > limit) { toast(file.name + " is larger than the limit (" + formatBytes(limit) + ")", "error"); return; }
      upload(form, name, file);
    });
    document.addEventListener("click", (ev) => {
      const button = ev.target.closest("[data-delete-file]");
      if (!button) return;
      const name = button.dataset.deleteFile;
      const base = $("#upload-form") ? $("#upload-form").dataset.path : location.pathname.replace(/\/datastore$/, "").replace(/^\/cascades/, "/api/v1/cascades") + "/files/";
      openDialog("file-delete-dialog", (d) => { $("[data-name]", d).textContent = name; }, async () => {
        await call("DELETE", base + encodeURIComponent(name));
        toast("Deleted " + name);
        await refresh("#files-list");
      });
    });
  }

  // XHR (not fetch) for the upload progress events.
  function upload(form, name, file) {
    const progress = $("progress", form);
    const text = $("[data-progress-text]", form);
    const button = $("button[type=submit]", form);
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", form.dataset.path + encodeURIComponent(name));
    xhr.setRequestHeader("X-CSRF-Token", window.Scaffold.csrfToken());
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    progress.hidden = false;
    progress.value = 0;
    button.disabled = true;
    text.textContent = "Uploading " + name + "…";
    xhr.upload.addEventListener("progress", (ev) => {
      if (!ev.lengthComputable) return;
      const pct = Math.round((ev.loaded / ev.total) * 100);
      progress.value = pct;
      text.textContent = pct + "% of " + formatBytes(ev.total);
    });
    const done = () => { button.disabled = false; progress.hidden = true; };
    xhr.addEventListener("load", async () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        const info = JSON.parse(xhr.responseText);
        text.textContent = "Uploaded " + info.name + " (version " + info.version + ", " + formatBytes(info.size) + ")";
        toast("Uploaded " + info.name);
        form.reset();
        await refresh("#files-list");
      } else {
        text.textContent = "";
        if (xhr.status === 401) { window.location.href = "/login"; return; }
        toast(window.Scaffold.errorMessage(xhr), "error");
      }
    });
    xhr.addEventListener("error", () => { done(); text.textContent = ""; toast("The upload failed: the server did not answer", "error"); });
    xhr.send(file);
  }

  // ---------------------------------------------------------------- webhooks
  function wireWebhooks() {
    const form = $("#hook-form");
    if (form) form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = $("button[type=submit]", form);
      button.disabled = true;
      try {
        const hook = await call("POST", form.dataset.path, { task: form.elements.task.value });
        showOnce("hook-created", (d) => {
          $("[data-task]", d).textContent = hook.task;
          $("[data-url]", d).value = hook.url;
          $("[data-secret-value]", d).value = hook.secret;
          $("[data-curl]", d).value = "curl -X POST -H 'X-Scaffold-Secret: " + hook.secret + "' -H 'Content-Type: application/json' -d '{}' " + hook.url;
        });
        await refresh("#hooks-list");
      } catch (err) {
        toast(fullMessage(err), "error");
      } finally {
        button.disabled = false;
      }
    });
    document.addEventListener("click", (ev) => {
      const button = ev.target.closest("[data-delete-hook]");
      if (!button) return;
      const id = button.dataset.deleteHook;
      openDialog("hook-delete-dialog", (d) => { $("[data-task]", d).textContent = button.dataset.task; }, async () => {
        const path = location.pathname.replace(/^\/cascades/, "/api/v1/cascades");
        await call("DELETE", path + "/" + encodeURIComponent(id));
        toast("Deleted the webhook of " + button.dataset.task);
        await refresh("#hooks-list");
      });
    });
  }

  // A dialog showing a secret once: its fields are emptied when it closes.
  function showOnce(id, fill) {
    const dialog = document.getElementById(id);
    fill(dialog);
    dialog.addEventListener("close", () => {
      $$("input, textarea", dialog).forEach((f) => { f.value = ""; });
    }, { once: true });
    dialog.showModal();
    const copy = $("[data-copy]", dialog);
    if (copy) copy.focus();
  }

  // ---------------------------------------------------------------- tokens
  function wireTokens() {
    const form = $("#token-form");
    if (form) form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { name: form.elements.name.value.trim() };
      const days = form.elements.expires_in_days.value;
      if (days) body.expires_in_days = Number(days);
      const button = $("button[type=submit]", form);
      button.disabled = true;
      try {
        const token = await call("POST", form.dataset.path, body);
        showOnce("token-created", (d) => {
          $("[data-name]", d).textContent = token.name;
          $("[data-token-value]", d).value = token.token;
        });
        form.reset();
        await refresh("#tokens-list");
      } catch (err) {
        toast(fullMessage(err), "error");
      } finally {
        button.disabled = false;
      }
    });
    document.addEventListener("click", (ev) => {
      const button = ev.target.closest("[data-revoke-token]");
      if (!button) return;
      const id = button.dataset.revokeToken;
      openDialog("token-revoke-dialog", (d) => { $("[data-name]", d).textContent = button.dataset.name; }, async () => {
        await call("DELETE", "/api/v1/tokens/" + encodeURIComponent(id));
        toast("Revoked " + button.dataset.name);
        await refresh("#tokens-list");
      });
    });
  }

  // ---------------------------------------------------------------- users (admins)
  const splitGroups = (text) => text.split(/[\s,]+/).map((g) => g.trim()).filter(Boolean);

  function wireUsers() {
    const form = $("#user-form");
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = {
        username: form.elements.username.value.trim(),
        role: form.elements.role.value,
        groups: splitGroups(form.elements.groups.value),
      };
      if (form.elements.password.value) body.password = form.elements.password.value;
      const button = $("button[type=submit]", form);
      button.disabled = true;
      try {
        const user = await call("POST", form.dataset.path, body);
        toast("Created user " + user.username);
        form.reset();
        await refresh("#users-list");
      } catch (err) {
        toast(fullMessage(err), "error");
      } finally {
        button.disabled = false;
        form.elements.password.value = "";
      }
    });
    const userPath = (name) => "/api/v1/users/" + encodeURIComponent(name);
    document.addEventListener("click", async (ev) => {
      const edit = ev.target.closest("[data-edit-user]");
      const toggle = ev.target.closest("[data-toggle-user]");
      const password = ev.target.closest("[data-password-user]");
      const remove = ev.target.closest("[data-delete-user]");
      if (edit) {
        const name = edit.dataset.editUser;
        const row = edit.closest("tr");
        openDialog("user-edit-dialog", (d) => {
          $("[data-name]", d).textContent = name;
          $("select[name=role]", d).value = row.dataset.role;
          $("input[name=groups]", d).value = row.dataset.groups;
        }, async (f) => {
          await call("PATCH", userPath(name), { role: f.elements.role.value, groups: splitGroups(f.elements.groups.value) });
          toast("Saved " + name);
          await refresh("#users-list");
        });
      } else if (toggle) {
        const name = toggle.dataset.toggleUser;
        const disable = toggle.dataset.disabled !== "true";
        try {
          await call("PATCH", userPath(name), { disabled: disable });
          toast((disable ? "Disabled " : "Enabled ") + name + (disable ? ": their sessions and tokens stop working" : ""));
          await refresh("#users-list");
        } catch (err) {
          toast(fullMessage(err), "error");
        }
      } else if (password) {
        const name = password.dataset.passwordUser;
        openDialog("user-password-dialog", (d) => {
          $("[data-name]", d).textContent = name;
          $("input[name=password]", d).value = "";
        }, async (f) => {
          try {
            await call("PATCH", userPath(name), { password: f.elements.password.value });
          } finally {
            f.elements.password.value = "";
          }
          toast("Set a new password for " + name);
        });
      } else if (remove) {
        const name = remove.dataset.deleteUser;
        openDialog("user-delete-dialog", (d) => { $("[data-name]", d).textContent = name; }, async () => {
          await call("DELETE", userPath(name));
          toast("Deleted user " + name);
          await refresh("#users-list");
        });
      }
    });
  }

  // ---------------------------------------------------------------- start
  document.addEventListener("DOMContentLoaded", () => {
    const nav = $("#cascade-nav[data-cascade]");
    if (nav && window.Scaffold.live) window.Scaffold.live.scope(nav.dataset.cascade);  // only its events
    wireDialogs();
    wireApplyForms();
    wireCascadeDelete();
    wireInputs();
    wireHistory();
    wireValues();
    wireFiles();
    wireWebhooks();
    wireTokens();
    wireUsers();
    document.addEventListener("click", (ev) => {
      const copy = ev.target.closest("[data-copy]");
      if (copy) copyFrom(copy);
    });
  });
})();
