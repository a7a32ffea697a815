/* Keeps a room's live badge current without reloading the page. */
(function () {
  "use strict";
  const holder = document.getElementById("live-status");
  if (!holder) return;
  const labels = { offline: "Offline", starting: "Starting", live: "Live", reconnecting: "Reconnecting" };

  function render(status) {
    const badge = holder.querySelector("[data-live-state]");
    badge.dataset.liveState = status.state;
    badge.className = "badge badge-" + status.state;
    badge.textContent = labels[status.state] + (status.live ? " · " + status.viewers + " watching" : "");
    const note = holder.querySelector("[data-reconnecting-note]");
    if (note) note.hidden = status.state !== "reconnecting";
    document.dispatchEvent(new CustomEvent("room-status", { detail: status }));
  }

  async function poll() {
    try {
      const response = await fetch(holder.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" });
      if (response.ok) render(await response.json());
    } catch (err) {
      /* offline for a moment: keep the last state */
    }
    setTimeout(poll, document.hidden ? 10000 : 3000);
  }
  setTimeout(poll, 1500);
})();
