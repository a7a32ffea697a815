/* New/edit destination: known platforms fill in their server address; only "Other" asks for it. */
(function () {
  "use strict";
  const platform = document.getElementById("id_platform");
  const url = document.getElementById("id_url");
  if (!platform || !url) return;
  const servers = {};
  (platform.dataset.servers || "").split(" ").forEach(function (pair) {
    const at = pair.indexOf("=");
    if (at > 0) servers[pair.slice(0, at)] = pair.slice(at + 1);
  });

  function update() {
    const known = servers[platform.value];
    if (known) url.value = known;
    url.readOnly = Boolean(known);
  }
  platform.addEventListener("change", function () {
    if (!servers[platform.value]) url.value = "";
    update();
  });
  update();
})();
