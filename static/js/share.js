/* The room page's Share panel: the embed code follows the player options chosen. */
(function () {
  "use strict";
  const options = document.getElementById("embed-options");
  const code = document.getElementById("embed-code");
  if (!options || !code) return;
  const template = code.value;
  const base = options.dataset.embedUrl;

  function update() {
    const query = new URLSearchParams();
    options.querySelectorAll("input[type=checkbox]").forEach(function (box) {
      if (!box.checked) query.set(box.name, "0"); // the player's defaults are on
    });
    const quality = options.querySelector("select[name=quality]");
    if (quality && quality.value) query.set("quality", quality.value);
    const url = query.toString() ? base + "?" + query.toString().replace(/&/g, "&amp;") : base;
    code.value = template.replace('src="' + base + '"', 'src="' + url + '"');
  }

  options.addEventListener("change", update);
  update();
})();
