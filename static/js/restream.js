/* The room page's Restream panel: start, stop and retry without reloading, and each
   destination's state, bytes and time sent kept current by polling. */
(function () {
  "use strict";
  const panel = document.getElementById("restream");
  if (!panel) return;
  const labels = {
    idle: "Not started", requested: "Requested", starting: "Starting", pushing: "Pushing",
    stopping: "Stopping", stopped: "Stopped", error: "Error",
  };
  const active = ["requested", "starting", "pushing", "stopping"];

  function bytesHuman(value) {
    let size = value;
    const units = ["B", "KB", "MB", "GB"];
    for (let i = 0; i < units.length; i++) {
      if (size < 1000 || i === units.length - 1) return i === 0 ? size.toFixed(0) + " B" : size.toFixed(1) + " " + units[i];
      size /= 1000;
    }
    return size.toFixed(1) + " TB";
  }

  function duration(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function setAction(form, pushId) {
    if (pushId) form.action = form.dataset.actionTemplate.replace(/\/0\/(stop|retry)$/, "/" + pushId + "/$1");
  }

  function render(row, status) {
    const badge = row.querySelector("[data-role=state]");
    badge.textContent = labels[status.state] || status.state;
    badge.className = "badge badge-" + status.state;
    const error = row.querySelector("[data-role=error]");
    error.textContent = status.error || "";
    error.hidden = !status.error;
    row.querySelector("[data-role=sent]").textContent =
      status.sent_bytes ? bytesHuman(status.sent_bytes) + " in " + duration(status.sent_seconds) : "—";
    const stop = row.querySelector("[data-role=stop]");
    const retry = row.querySelector("[data-role=retry]");
    setAction(stop, status.push);
    setAction(retry, status.push);
    row.querySelector("[data-role=start]").hidden = active.indexOf(status.state) !== -1;
    stop.hidden = !status.can_stop;
    retry.hidden = status.state !== "error";
  }

  function renderAll(data) {
    data.destinations.forEach(function (status) {
      const row = panel.querySelector('[data-destination="' + status.id + '"]');
      if (row) render(row, status);
    });
  }

  panel.addEventListener("submit", async function (event) {
    const form = event.target.closest("form.js-restream");
    if (!form) return;
    event.preventDefault();
    const row = form.closest("[data-destination]");
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { "X-CSRFToken": window.portalCsrfToken(), Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await response.json();
      if (response.ok) {
        render(row, data);
        if (data.notice) window.alert(data.notice); /* stored, but the task queue is down: it waits */
      } else {
        render(row, { state: "error", error: data.detail || "The request was refused.", can_stop: false });
      }
    } catch (err) {
      render(row, { state: "error", error: "The portal could not be reached. Try again.", can_stop: false });
    } finally {
      button.disabled = false;
    }
  });

  window.portalPoll(panel.dataset.statusUrl, renderAll, { every: 2000, hiddenEvery: 10000, firstAfter: 1000 });
})();
