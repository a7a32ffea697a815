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

  window.portalPoll(holder.dataset.statusUrl, render, { every: 3000, hiddenEvery: 10000, firstAfter: 1500 });
})();
