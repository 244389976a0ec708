// Scaffold web UI: the shell page. xterm.js (vendored) on the server's shell websocket:
// keystrokes go as binary frames, {"type":"resize"} as text; output comes as binary frames and
// the end as {"type":"exit","code":N} or {"type":"error","message":...}.
(function () {
  "use strict";

  function start() {
    const box = document.querySelector("[data-shell]");
    if (!box || !window.Terminal || !window.FitAddon) return;
    const status = document.querySelector("[data-shell-status]");
    const reconnect = document.querySelector("[data-shell-reconnect]");
    const dark = document.documentElement.getAttribute("data-theme") === "dark";
    const term = new window.Terminal({
      cursorBlink: true,
      convertEol: false,
      fontFamily: '"DejaVu Sans Mono", ui-monospace, Menlo, Consolas, monospace',
      fontSize: 14,
      lineHeight: 1.15,
      scrollback: 5000,
      theme: { background: "#0d1117", foreground: "#e6edf3", cursor: dark ? "#58a6ff" : "#f5a623" },
    });
    const fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    window.scaffoldTerminal = term; // for tests and the curious: term.buffer.active
    const encoder = new TextEncoder();
    let socket = null;
    let ended = false;

    function say(text, kind) {
      status.textContent = text;
      status.classList.toggle("ok", kind === "ok");
      status.classList.toggle("bad", kind === "bad");
    }

    function sendSize() {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
      }
    }

    function connect() {
      ended = false;
      reconnect.hidden = true;
      say("connecting…");
      const params = new URLSearchParams({
        run: box.dataset.run,
        cols: String(term.cols),
        rows: String(term.rows),
        csrf: window.Scaffold ? window.Scaffold.csrfToken() : "",
      });
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      socket = new WebSocket(scheme + "//" + window.location.host + box.dataset.socket + "?" + params.toString());
      socket.binaryType = "arraybuffer";
      socket.onopen = () => { say("connected", "ok"); sendSize(); term.focus(); };
      socket.onmessage = (ev) => {
        if (typeof ev.data === "string") {
          let frame = {};
          try { frame = JSON.parse(ev.data); } catch (e) { return; }
          if (frame.type === "exit") {
            ended = true;
            say("the shell exited with code " + frame.code, frame.code === 0 ? "ok" : "bad");
            term.write("\r\n\x1b[2m[the shell exited with code " + frame.code + "]\x1b[0m\r\n");
          } else if (frame.type === "error") {
            ended = true;
            say("error: " + frame.message, "bad");
            term.write("\r\n\x1b[31m" + frame.message + "\x1b[0m\r\n");
          }
          return;
        }
        term.write(new Uint8Array(ev.data));
      };
      socket.onclose = (ev) => {
        if (!ended) {
          // a refused handshake (401, 403, 404...) closes before opening
          say(ev.code === 1006 && !ev.wasClean ? "could not connect (is the run still there, may you open shells?)" : "disconnected", "bad");
        }
        reconnect.hidden = false;
        socket = null;
      };
    }

    term.onData((data) => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data)); });
    term.onBinary((data) => {
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      const bytes = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      socket.send(bytes);
    });
    term.onResize(sendSize);
    let timer = null;
    window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(() => fit.fit(), 60); });
    reconnect.addEventListener("click", () => { term.reset(); connect(); });
    connect();
    term.focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
