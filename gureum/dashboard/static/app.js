// gureum dashboard: the few behaviours plain HTML lacks. No build step.
(function () {
  "use strict";
  const root = document.documentElement;
  const live = () => document.getElementById("live");
  function announce(text) { const el = live(); if (el) { el.textContent = ""; setTimeout(() => { el.textContent = text; }, 30); } }

  // Theme: the system's by default, a toggle that remembers.
  function currentTheme() {
    return root.dataset.theme || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  }
  function showTheme() {
    const b = document.getElementById("theme-toggle");
    if (!b) return;
    const dark = currentTheme() === "dark";
    b.setAttribute("aria-pressed", String(dark));
    b.textContent = dark ? "Light theme" : "Dark theme";
  }
  document.addEventListener("click", (e) => {
    if (e.target && e.target.id === "theme-toggle") {
      root.dataset.theme = currentTheme() === "dark" ? "light" : "dark";
      localStorage.setItem("gureum-theme", root.dataset.theme);
      showTheme();
    }
  });

  // "/" focuses the filter; the filter hides rows that do not match.
  document.addEventListener("keydown", (e) => {
    const filter = document.querySelector("input[data-filter]");
    if (e.key === "/" && filter && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)
        && !document.activeElement.closest(".terminal")) {
      e.preventDefault(); filter.focus();
    }
  });
  document.addEventListener("input", (e) => {
    const input = e.target.closest && e.target.closest("input[data-filter]");
    if (!input) return;
    const words = input.value.toLowerCase();
    document.querySelectorAll(input.dataset.filter + " > tr").forEach((tr) => {
      tr.hidden = words && !tr.textContent.toLowerCase().includes(words);
    });
  });

  // Announce what an htmx swap asked us to say (a <template data-announce>).
  document.addEventListener("htmx:afterSwap", (e) => {
    const t = e.detail.target.querySelector && e.detail.target.querySelector("template[data-announce]");
    if (t) { announce(t.dataset.announce); t.remove(); }
  });

  // Live rows: one EventSource per page, closed while the tab is hidden; polling if it fails.
  function liveTable(table) {
    const body = table.querySelector("tbody");
    let source = null, failures = 0, poller = null;
    function replace(html) {
      const tpl = document.createElement("template");
      tpl.innerHTML = html.trim();
      const row = tpl.content.firstElementChild;
      if (!row) return;
      const old = document.getElementById(row.id);
      const checked = old && old.querySelector("input[type=checkbox]:checked");
      if (checked) row.querySelector("input[type=checkbox]").checked = true;
      if (old) {
        const before = old.dataset.status;
        old.replaceWith(row);
        if (before !== row.dataset.status) announce(row.querySelector("th").textContent.trim() + " is now " + row.dataset.status);
      } else {
        const empty = body.querySelector("tr.empty"); if (empty) empty.remove();
        body.appendChild(row);
        announce(row.querySelector("th").textContent.trim() + " appeared: " + row.dataset.status);
      }
      if (window.htmx) htmx.process(row);
    }
    function poll() {
      fetch(table.dataset.poll, { headers: { "HX-Request": "true" } }).then((r) => r.text()).then((html) => {
        body.innerHTML = html; if (window.htmx) htmx.process(body);
      });
    }
    function open() {
      if (source || !window.EventSource) { if (!window.EventSource && !poller) poller = setInterval(poll, 3000); return; }
      source = new EventSource(table.dataset.live);
      source.addEventListener("row", (e) => { failures = 0; replace(e.data); });
      source.addEventListener("gone", (e) => { const el = document.getElementById(e.data); if (el) { announce(el.querySelector("th").textContent.trim() + " is gone"); el.remove(); } });
      source.addEventListener("ended", (e) => { close(); if (e.data === "expired") location.reload(); });
      source.onerror = () => { failures += 1; if (failures > 3) { close(); if (!poller) poller = setInterval(poll, 3000); } };
    }
    function close() { if (source) { source.close(); source = null; } }
    document.addEventListener("visibilitychange", () => { if (document.hidden) close(); else open(); });
    window.addEventListener("pagehide", close);
    open();
  }

  // The console log, live: every change arrives as an event; the view follows the end unless
  // the reader scrolled up. Polling once every 3 s if events do not get through.
  function liveLog(box) {
    let source = null, failures = 0, poller = null;
    function show(text) {
      const pre = box.querySelector("pre");
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = text;
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    }
    function poll() {
      fetch(box.dataset.poll, { headers: { "HX-Request": "true" } }).then((r) => r.text()).then((html) => {
        const tpl = document.createElement("template"); tpl.innerHTML = html.trim();
        const pre = tpl.content.querySelector("pre"); if (pre) show(pre.textContent);
      });
    }
    function open() {
      if (source || !window.EventSource) { if (!window.EventSource && !poller) poller = setInterval(poll, 3000); return; }
      source = new EventSource(box.dataset.liveLog);
      source.addEventListener("log", (e) => { failures = 0; show(e.data); });
      source.addEventListener("ended", () => { close(); location.reload(); });
      source.onerror = () => { failures += 1; if (failures > 3) { close(); if (!poller) { poll(); poller = setInterval(poll, 3000); } } };
    }
    function close() { if (source) { source.close(); source = null; } }
    document.addEventListener("visibilitychange", () => { if (document.hidden) close(); else open(); });
    window.addEventListener("pagehide", close);
    open();
  }

  document.addEventListener("DOMContentLoaded", () => {
    showTheme();
    document.querySelectorAll("table[data-live]").forEach(liveTable);
    document.querySelectorAll("[data-live-log]").forEach(liveLog);
    document.querySelectorAll("[data-upload]").forEach(uploadForm);
    document.querySelectorAll("[data-put-object]").forEach(objectForm);
  });

  // Image upload: the bytes go from the browser to the image API through the dashboard's
  // same-origin pass-through, with a progress bar (XHR has upload progress, fetch has not).
  function uploadForm(form) {
    form.addEventListener("submit", (e) => {
      const file = form.querySelector("input[type=file]").files[0];
      if (!file) return; // the server names the missing field
      e.preventDefault();
      const status = form.querySelector("[data-upload-status]");
      const data = new FormData(form); data.delete("file");
      fetch(form.action, { method: "POST", body: new URLSearchParams(data), headers: { "X-CSRF-Token": document.body.dataset.csrf, "Accept": "application/json" } })
        .then((r) => r.json().then((j) => ({ ok: r.ok, j })))
        .then(({ ok, j }) => {
          if (!ok) { status.textContent = j.error; status.className = "error"; return; }
          sendFile(form, j.upload_url, file, "application/octet-stream", j.done_url);
        });
    });
  }

  // Object upload: one PUT of the file to the container through the same pass-through.
  function objectForm(form) {
    form.addEventListener("submit", (e) => {
      const file = form.querySelector("input[type=file]").files[0];
      if (!file) return; // the server names the missing field
      e.preventDefault();
      const name = form.querySelector("input[name=object]").value.trim() || file.name;
      const url = form.dataset.putObject + name.split("/").map(encodeURIComponent).join("/");
      sendFile(form, url, file, file.type || "application/octet-stream", form.dataset.done + encodeURIComponent("Uploaded " + name));
    });
  }

  // XHR, not fetch: it reports upload progress.
  function sendFile(form, url, file, type, doneUrl) {
    const bar = form.querySelector("progress"), status = form.querySelector("[data-upload-status]");
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("X-CSRF-Token", document.body.dataset.csrf);
    xhr.setRequestHeader("Content-Type", type);
    bar.hidden = false; bar.max = file.size || 1;
    xhr.upload.onprogress = (p) => { bar.value = p.loaded; status.textContent = Math.round(100 * p.loaded / (file.size || 1)) + " % sent"; };
    xhr.onload = () => {
      if (xhr.status < 300) { status.textContent = "Uploaded " + file.name; announce("Upload finished"); location.href = doneUrl; }
      else { status.textContent = "Upload failed: " + xhr.responseText; status.className = "error"; }
    };
    xhr.onerror = () => { status.textContent = "Upload failed: the connection broke"; status.className = "error"; };
    xhr.send(file);
  }
})();
