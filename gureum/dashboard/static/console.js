// The serial console: xterm.js attached to the dashboard's websocket. No build step.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("terminal");
    const status = document.getElementById("console-status");
    const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, scrollback: 5000 });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    window.addEventListener("resize", () => fit.fit());
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + box.dataset.socket);
    ws.binaryType = "arraybuffer";
    term.loadAddon(new AttachAddon.AttachAddon(ws));
    ws.addEventListener("open", () => {
      status.textContent = "Connected. Type into the terminal.";
      term.focus();
      setTimeout(() => { if (ws.readyState === 1) ws.send("\r"); }, 300); // wake the prompt
    });
    ws.addEventListener("close", (e) => { status.textContent = "Disconnected" + (e.reason ? ": " + e.reason : "") + ". Reload to connect again."; });
    // Escape then Tab leaves the terminal (it takes Tab itself otherwise).
    let escaped = false;
    term.attachCustomKeyEventHandler((e) => {
      if (e.type !== "keydown") return true;
      if (escaped && e.key === "Tab") { escaped = false; return false; }
      escaped = e.key === "Escape";
      return true;
    });
    window.gureumTerminal = term; // for tests that read the screen
  });
})();
