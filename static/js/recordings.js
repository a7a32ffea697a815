/* The room page's Recordings panel: start and stop without reloading, and the list kept current. */
(function () {
  "use strict";
  const panel = document.getElementById("recordings");
  if (!panel) return;
  let lastHtml = "";

  function render(data) {
    if (data.html !== lastHtml) {
      panel.innerHTML = data.html;
      lastHtml = data.html;
    }
  }
  const panelPoll = window.portalPoll(panel.dataset.panelUrl, render, { every: 3000, hiddenEvery: 10000 });

  panel.addEventListener("submit", async function (event) {
    const form = event.target.closest("form.js-recording");
    if (!form) return;
    event.preventDefault();
    form.querySelector("button").disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { "X-CSRFToken": window.portalCsrfToken(), Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        window.alert(data.detail || "The request was refused.");
      } else if (data.notice) {
        window.alert(data.notice); /* stored, but the task queue is down: it waits */
      }
    } catch (err) {
      window.alert("The portal could not be reached. Try again.");
    }
    await panelPoll.refresh();
  });
})();
