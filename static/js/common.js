/* Small behaviours shared by the portal's pages: keeping a part of a page current by polling,
   copy buttons, revealing a stream key, confirmation prompts. */
(function () {
  "use strict";

  /* Fetch `url`'s JSON every `every` ms (every `hiddenEvery` ms while the tab is hidden), the first
     time after `firstAfter` ms, and hand each answer to `onData`. A failed request keeps what is
     shown. `url` may be a function, for URLs that change. Returns { refresh } to fetch at once.
     For a long poll (the server holds the request until something changes), `longPoll: true`
     asks again at once after an answer that took at least a second or for which `onData` returned
     true (something changed), and after `every` otherwise (the server had no room to wait). */
  function poll(url, onData, options) {
    const every = options.every;
    const hiddenEvery = options.hiddenEvery || every * 3;
    async function refresh() {
      const started = Date.now();
      try {
        const target = typeof url === "function" ? url() : url;
        const response = await fetch(target, { credentials: "same-origin", cache: "no-store" });
        if (response.ok) {
          const changed = onData(await response.json()) === true;
          return { took: Date.now() - started, changed: changed };
        }
      } catch (err) {
        /* offline for a moment: keep the last state */
      }
      return { took: 0, changed: false };
    }
    async function loop() {
      const answer = await refresh();
      const held = options.longPoll && (answer.took >= 1000 || answer.changed);
      setTimeout(loop, held ? 0 : document.hidden ? hiddenEvery : every);
    }
    setTimeout(loop, options.firstAfter === undefined ? every : options.firstAfter);
    return { refresh: refresh };
  }
  window.portalPoll = poll;

  /* Live thumbnails: every <img data-live-thumbnail="URL?placeholder=1"> shows the room's current
     image, fetched again every few seconds while the tab is visible, and is marked data-missing
     (hidden by the CSS) while there is none: the portal then sends a 1x1 placeholder (the room is
     offline, or OME has no image yet). */
  const THUMBNAIL_EVERY_MS = 5000;
  function refreshThumbnails() {
    if (document.hidden) return;
    document.querySelectorAll("img[data-live-thumbnail]").forEach(function (img) {
      const base = img.dataset.liveThumbnail;
      img.src = base + (base.indexOf("?") === -1 ? "?" : "&") + "t=" + Date.now();
    });
  }
  document.addEventListener("error", function (event) {
    const img = event.target;
    if (img.matches && img.matches("img[data-live-thumbnail]")) img.dataset.missing = "1";
  }, true);
  document.addEventListener("load", function (event) {
    const img = event.target;
    if (!img.matches || !img.matches("img[data-live-thumbnail]")) return;
    if (img.naturalWidth > 1) delete img.dataset.missing; else img.dataset.missing = "1";
  }, true);
  setInterval(refreshThumbnails, THUMBNAIL_EVERY_MS);

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  window.portalCsrfToken = csrfToken;

  async function copyText(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      // Clipboard API needs a secure context; fall back to a selection copy.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  }

  async function revealKey(button) {
    const response = await fetch(button.dataset.revealKey, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    });
    if (!response.ok) {
      button.textContent = "Not allowed";
      return null;
    }
    const data = await response.json();
    const key = document.getElementById("stream-key");
    const srt = document.getElementById("srt-url");
    key.value = data.stream_key;
    key.type = "text";
    if (srt) { srt.value = data.srt_url; srt.type = "text"; }
    document.querySelectorAll("[data-needs-reveal]").forEach(function (el) { el.dataset.revealed = "1"; });
    button.textContent = "Hide";
    button.dataset.shown = "1";
    return data;
  }

  function hideKey(button) {
    const key = document.getElementById("stream-key");
    const srt = document.getElementById("srt-url");
    key.type = "password";
    if (srt) srt.type = "password";
    button.textContent = "Show";
    delete button.dataset.shown;
  }

  document.addEventListener("click", async function (event) {
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const target = document.querySelector(copy.dataset.copy);
      if (copy.hasAttribute("data-needs-reveal") && !copy.dataset.revealed) {
        const reveal = document.querySelector("[data-reveal-key]");
        if (reveal) await revealKey(reveal);
      }
      copyText(target.value, copy);
      return;
    }
    const reveal = event.target.closest("[data-reveal-key]");
    if (reveal) {
      if (reveal.dataset.shown) hideKey(reveal); else revealKey(reveal);
    }
  });

  document.addEventListener("submit", function (event) {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
