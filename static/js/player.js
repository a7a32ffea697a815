/* The room player: OvenPlayer with WebRTC first and LL-HLS as fallback, muted autoplay.
   It follows the room's live state by long polling the status endpoint (the portal answers the
   moment the state changes): an offline poster while offline, "waiting for the stream" while the
   room is starting or reconnecting, and the player as soon as the portal says the room is live,
   which it does the moment OME serves the stream (rooms/playability.py). A player that fails
   while the room is live retries with a little backoff. */
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("player-config").textContent);
  const root = document.getElementById("player-root");
  const message = document.getElementById("player-message");
  const POLL_MS = 3000;
  // OME serves a browser-published stream a moment after the publisher connects (about 1.2 s on
  // 0.21): retry often enough to start soon after it exists, with a little backoff so OME is not
  // hammered.
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 1500;

  // The embed URL's options and the parent page's events: static/js/embed-bridge.js.
  const bridge = window.StreamingStackBridge || { options: {}, attach: function () {}, status: function () {} };
  const options = bridge.options;

  let roomState = "unknown";
  // "adaptive" when the room's current stream has OME's adaptive playlists (a quality menu).
  let delivery = config.delivery || "original";
  let player = null;
  let retryDelay = RETRY_MIN_MS;
  let retryTimer = null;
  let generation = 0;

  function waitingText() {
    // OME lost the stream (it restarted, or the encoder dropped): the room waits for the encoder.
    return roomState === "reconnecting" ? "The stream was interrupted. Reconnecting…" : "Waiting for the stream…";
  }

  function show(state, text) {
    root.dataset.state = state;
    if (text !== undefined) message.textContent = text;
  }

  function destroyPlayer() {
    generation += 1;
    clearTimeout(retryTimer);
    retryTimer = null;
    if (player) {
      try { player.remove(); } catch (err) { /* already gone */ }
      player = null;
    }
  }

  // In order, OvenPlayer falling back to the next one: WebRTC over UDP or direct TCP (OME 0.21's
  // default), WebRTC through OME's TURN relay (?transport=relay), LL-HLS.
  function sources() {
    const urls = delivery === "adaptive" && config.adaptive ? config.adaptive : config;
    const list = [];
    if (urls.webrtcUrl) list.push({ type: "webrtc", file: urls.webrtcUrl, label: "WebRTC" });
    if (urls.webrtcRelayUrl) list.push({ type: "webrtc", file: urls.webrtcRelayUrl, label: "WebRTC (relay)" });
    if (urls.llhlsUrl) list.push({ type: "llhls", file: urls.llhlsUrl, label: "LL-HLS" });
    return list;
  }

  function scheduleRetry() {
    const mine = generation;
    retryTimer = setTimeout(function () {
      retryTimer = null;
      if (mine === generation && roomState === "live") startPlayer();
    }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  }

  function startPlayer() {
    destroyPlayer();
    const mine = generation;
    const holder = document.createElement("div");
    holder.id = "ovenplayer-" + mine;
    const container = document.getElementById("ovenplayer");
    container.innerHTML = "";
    container.appendChild(holder);
    if (root.dataset.state !== "playing") show("waiting", waitingText());
    player = OvenPlayer.create(holder.id, {
      autoStart: options.autoplay !== false,
      autoFallback: true,
      mute: options.muted !== false,
      controls: options.controls !== false,
      showBigPlayButton: false,
      expandFullScreenUI: true,
      sources: sources(),
      webrtcConfig: { connectionTimeout: 5000, timeoutMaxRetry: 0 },
    });
    bridge.attach(player);
    player.on("stateChanged", function (event) {
      if (mine !== generation) return;
      if (event.newstate === "playing") {
        retryDelay = RETRY_MIN_MS;
        show("playing");
      } else if (event.newstate === "error") {
        onPlaybackFailed();
      }
    });
    player.on("error", function () {
      if (mine === generation) onPlaybackFailed();
    });
  }

  function onPlaybackFailed() {
    destroyPlayer();
    if (roomState === "offline") {
      show("offline", "This stream is offline.");
      return;
    }
    show("waiting", waitingText());
    scheduleRetry();
  }

  function applyStatus(status) {
    // Private rooms: every poll brings sources with a fresh playback token, so a player that
    // starts or retries long after the page opened still presents a valid one to OME.
    if (status.sources) {
      config.webrtcUrl = status.sources.webrtcUrl;
      config.webrtcRelayUrl = status.sources.webrtcRelayUrl;
      config.llhlsUrl = status.sources.llhlsUrl;
      config.adaptive = status.sources.adaptive;
    }
    bridge.status(status);
    // The stream was given other outputs than the page knew (it went live since): play the right ones.
    const deliveryChanged = status.delivery !== undefined && status.delivery !== delivery;
    if (deliveryChanged) delivery = status.delivery;
    const previous = roomState;
    roomState = status.state;
    if (status.state === "offline") {
      if (previous !== "offline") {
        destroyPlayer();
        retryDelay = RETRY_MIN_MS;
      }
      show("offline", "This stream is offline.");
    } else if (status.state === "live" && ((!player && !retryTimer) || deliveryChanged)) {
      startPlayer();
    } else if (root.dataset.state !== "playing") {
      show("waiting", waitingText());
    }
    return previous !== roomState; // changed: ask again at once (long poll)
  }

  if (typeof OvenPlayer === "undefined") {
    show("error", "The player could not load.");
    return;
  }
  OvenPlayer.debug(false);
  function statusUrl() {
    // The state shown so far: the portal answers when the room's is another (a long poll).
    const separator = config.statusUrl.indexOf("?") === -1 ? "?" : "&";
    return roomState === "unknown" ? config.statusUrl : config.statusUrl + separator + "known=" + roomState;
  }

  window.portalPoll(statusUrl, applyStatus, { every: POLL_MS, firstAfter: 0, longPoll: true });
})();
