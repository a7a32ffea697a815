/* The browser publisher: pick a camera/microphone or the screen, preview it, and go live to
   OME over WebRTC with OvenLiveKit. Every state and error is shown in words. */
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("publisher-config").textContent);
  const preview = document.getElementById("preview");
  const sourceSelect = document.getElementById("source");
  const cameraSelect = document.getElementById("camera");
  const micSelect = document.getElementById("microphone");
  const goLiveButton = document.getElementById("go-live");
  const stopButton = document.getElementById("stop");
  const stateText = document.getElementById("publisher-state");
  const errorText = document.getElementById("publisher-error");

  let kit = null;
  let mediaStream = null;
  let streaming = false;

  function setState(text, state) {
    stateText.textContent = text;
    stateText.dataset.state = state;
    document.body.dataset.publisherState = state;
  }

  function showError(text) {
    errorText.textContent = text;
    errorText.hidden = !text;
  }

  function describeError(error) {
    const name = error && error.name;
    const message = typeof error === "string" ? error : (error && error.message) || "";
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "The browser blocked the camera or microphone. Allow access in the address bar, then reload this page.";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return "No camera or microphone was found. Plug one in or choose another source.";
    }
    if (name === "NotReadableError") {
      return "The camera or microphone is already in use by another application.";
    }
    if (/cannot create offer/i.test(message)) {
      return "The streaming server refused this stream: you may not be allowed to publish to this room, " +
        "or someone is already live in it.";
    }
    if (error instanceof Event || /websocket/i.test(message)) {
      return "Could not reach the streaming server. Check your connection and try again.";
    }
    return message ? "Something went wrong: " + message : "Something went wrong while streaming.";
  }

  function fillSelect(select, devices, kind) {
    const previous = select.value;
    select.innerHTML = "";
    devices.forEach(function (device, index) {
      const option = document.createElement("option");
      option.value = device.deviceId;
      option.textContent = device.label || kind + " " + (index + 1);
      select.appendChild(option);
    });
    if (previous) select.value = previous;
    select.disabled = devices.length === 0;
  }

  async function listDevices() {
    const devices = await OvenLiveKit.getDevices();
    fillSelect(cameraSelect, devices.videoinput || [], "Camera");
    fillSelect(micSelect, devices.audioinput || [], "Microphone");
  }

  function stopTracks() {
    if (mediaStream) mediaStream.getTracks().forEach(function (track) { track.stop(); });
    mediaStream = null;
  }

  async function captureScreenWithMicrophone() {
    const screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const tracks = screen.getVideoTracks();
    try {
      const mic = await navigator.mediaDevices.getUserMedia({
        audio: micSelect.value ? { deviceId: { exact: micSelect.value } } : true,
      });
      tracks.push.apply(tracks, mic.getAudioTracks());
    } catch (err) {
      /* screen without microphone is still worth streaming */
    }
    return new MediaStream(tracks);
  }

  async function startPreview() {
    showError("");
    goLiveButton.disabled = true;
    stopTracks();
    setState("Starting the preview…", "preparing");
    try {
      if (sourceSelect.value === "screen") {
        mediaStream = await captureScreenWithMicrophone();
        await kit.setMediaStream(mediaStream);
      } else {
        mediaStream = await kit.getUserMedia({
          video: cameraSelect.value ? { deviceId: { exact: cameraSelect.value } } : true,
          audio: micSelect.value ? { deviceId: { exact: micSelect.value } } : true,
        });
      }
      await listDevices();
      setState("Ready. Press Go live when you are.", "ready");
      goLiveButton.disabled = false;
    } catch (error) {
      setState("No preview.", "error");
      showError(describeError(error));
    }
  }

  async function publishUrl() {
    if (!config.credentialUrl) return config.webrtcUrl;
    const response = await fetch(config.credentialUrl, {
      method: "POST",
      headers: { "X-CSRFToken": window.portalCsrfToken() },
      credentials: "same-origin",
    });
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error(data.detail || "The portal did not allow you to go live.");
    return data.url;
  }

  function createKit() {
    kit = OvenLiveKit.create({
      callbacks: {
        connected: function () {
          setState("You are live.", "live");
        },
        connectionClosed: function () {
          if (streaming) {
            streaming = false;
            setState("The connection to the streaming server was lost.", "disconnected");
            showError("The stream stopped unexpectedly. Press Go live to start again.");
            resetButtons();
          }
        },
        iceStateChange: function (state) {
          if (state === "checking") setState("Connecting to the streaming server…", "connecting");
        },
        error: function (error) {
          showError(describeError(error));
          if (streaming) {
            streaming = false;
            kit.stopStreaming();
            setState("Not live.", "error");
            resetButtons();
          }
        },
      },
    });
    kit.attachMedia(preview);
  }

  function resetButtons() {
    goLiveButton.hidden = false;
    goLiveButton.disabled = !mediaStream;
    stopButton.hidden = true;
    [sourceSelect, cameraSelect, micSelect].forEach(function (el) { el.disabled = false; });
  }

  goLiveButton.addEventListener("click", async function () {
    showError("");
    goLiveButton.disabled = true;
    [sourceSelect, cameraSelect, micSelect].forEach(function (el) { el.disabled = true; });
    setState("Connecting to the streaming server…", "connecting");
    try {
      const url = await publishUrl();
      streaming = true;
      goLiveButton.hidden = true;
      stopButton.hidden = false;
      kit.startStreaming(url);
    } catch (error) {
      streaming = false;
      setState("Not live.", "error");
      showError(error.message);
      resetButtons();
    }
  });

  stopButton.addEventListener("click", function () {
    streaming = false;
    kit.stopStreaming();
    setState("Stopped. You are no longer live.", "stopped");
    resetButtons();
  });

  [sourceSelect, cameraSelect, micSelect].forEach(function (el) {
    el.addEventListener("change", function () { if (!streaming) startPreview(); });
  });

  window.addEventListener("beforeunload", function () {
    if (kit) kit.remove();
  });

  if (typeof OvenLiveKit === "undefined") {
    setState("The publisher could not load.", "error");
    showError("OvenLiveKit did not load: run `npm ci` and reload.");
    return;
  }
  createKit();
  startPreview();
})();
