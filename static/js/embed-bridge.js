/* The embedded player's bridge to the page that embeds it (loaded before player.js).

   - Options from the embed URL: autoplay, muted, controls (1/0, true/false), and quality (a
     rendition of an adaptive room's ladder, "source" or "720p": picked once playing).
   - Events, posted to the parent page with postMessage: ready, waiting, playing, offline,
     ended, error, viewers. Only to the room's allowed embed origins (and the portal's own):
     the parent's origin is checked against them and named as postMessage's target, so the
     browser never hands a message to another site.
   - Commands from the parent (play, pause, mute, unmute), accepted only from those origins.

   player.js tells the bridge about its OvenPlayer instance (attach) and each status poll
   (status); the bridge watches the player's state on #player-root. See static/embed.js for the
   parent's side. */
(function () {
  "use strict";
  const SOURCE = "streamingstack-player";
  const config = JSON.parse(document.getElementById("player-config").textContent);
  const params = new URLSearchParams(window.location.search);

  function flag(name, fallback) {
    if (!params.has(name)) return fallback;
    return !/^(0|false|no|off)$/i.test(params.get(name));
  }

  const options = {
    autoplay: flag("autoplay", true),
    muted: flag("muted", true),
    controls: flag("controls", true),
    quality: config.roomAdaptive ? params.get("quality") || "" : "",  // the adaptive ladder's rendition
  };

  const allowed = (config.embedOrigins || []).map(function (origin) { return origin.toLowerCase(); });

  function originAllowed(origin) {
    if (!origin || origin === "null") return false;
    origin = origin.toLowerCase();
    if (origin === window.location.origin.toLowerCase()) return true;
    return allowed.some(function (entry) {
      if (entry === "*") return true;
      if (entry === origin) return true;
      const wildcard = entry.match(/^(https?):\/\/\*\.(.+)$/);
      if (!wildcard) return false;
      let url;
      try { url = new URL(origin); } catch (err) { return false; }
      return url.protocol === wildcard[1] + ":" && url.host.endsWith("." + wildcard[2]);
    });
  }

  // The parent's origin: what the browser says embeds us (Chromium and Safari), else the referrer.
  function parentOrigin() {
    if (window.parent === window) return null;
    if (window.location.ancestorOrigins && window.location.ancestorOrigins.length) {
      return window.location.ancestorOrigins[0];
    }
    try { return document.referrer ? new URL(document.referrer).origin : null; } catch (err) { return null; }
  }

  const target = parentOrigin();
  const enabled = target !== null && originAllowed(target);
  let player = null;
  let lastState = null;
  let viewers = null;

  function post(event, data) {
    if (!enabled) return;
    window.parent.postMessage({ source: SOURCE, event: event, room: config.roomId, data: data || {} }, target);
  }

  let played = false; // since the room was last offline: its going offline is the stream's end
  let statusSeen = false; // the page starts as "offline" until the first status says otherwise

  function emitState(state) {
    if (!statusSeen || state === lastState || !state || state === "unknown") return;
    if (state === "playing") played = true;
    if (state === "offline" && played) {
      played = false;
      post("ended");
    }
    lastState = state;
    post(state);
  }

  const root = document.getElementById("player-root");
  new MutationObserver(function () { emitState(root.dataset.state); })
    .observe(root, { attributes: true, attributeFilter: ["data-state"] });

  window.addEventListener("message", function (event) {
    if (!enabled || event.source !== window.parent || !originAllowed(event.origin)) return;
    const message = event.data;
    if (!message || message.source !== "streamingstack-embed") return;
    if (message.command === "hello") {
      post("ready", { state: lastState, viewers: viewers, options: options });
      return;
    }
    if (!player) return;
    try {
      if (message.command === "play") player.play();
      else if (message.command === "pause") player.pause();
      else if (message.command === "mute") player.setMute(true);
      else if (message.command === "unmute") player.setMute(false);
    } catch (err) { /* the player is between streams */ }
  });

  window.StreamingStackBridge = {
    options: options,
    attach: function (instance) {
      player = instance;
      if (!options.quality) return;
      // ?quality=720p (an adaptive room): that rendition of OME's ladder, once playing, instead of automatic.
      let chosen = false;
      instance.on("stateChanged", function (event) {
        if (chosen || event.newstate !== "playing") return;
        chosen = true;
        const levels = instance.getQualityLevels() || [];
        const level = levels.find(function (entry) { return entry.label === options.quality; });
        if (level) instance.setCurrentQuality(levels.indexOf(level));
      });
    },
    status: function (status) {
      if (!statusSeen) {
        statusSeen = true;
        setTimeout(function () { emitState(root.dataset.state); }, 0); // once player.js applied it
      }
      if (typeof status.viewers === "number" && status.viewers !== viewers) {
        viewers = status.viewers;
        post("viewers", { count: viewers });
      }
    },
  };
  post("ready", { state: lastState, viewers: null, options: options });
})();
