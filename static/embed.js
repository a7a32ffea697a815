/*! Streaming Stack player events for embedding sites — no dependencies.

   <iframe id="live" src="https://stream.example.com/embed/town-hall?muted=1" ...></iframe>
   <script src="https://stream.example.com/static/embed.js"></script>
   <script>
     const player = StreamingStack.player(document.getElementById("live"));
     player.on("playing", () => console.log("on air"))
           .on("offline", () => console.log("off air"))
           .on("viewers", (data) => console.log(data.count, "watching"));
     document.querySelector("#unmute").onclick = () => player.unmute();
   </script>

   Events: ready, waiting, playing, offline, ended, error, viewers ({count}); "*" receives every
   event as (name, data). Commands: play(), pause(), mute(), unmute(). The player talks only to
   pages on the room's allowed embed origins (the room's settings). */
(function (window) {
  "use strict";
  const PLAYER = "streamingstack-player";
  const EMBED = "streamingstack-embed";

  function Player(iframe) {
    this.iframe = iframe;
    this.origin = new URL(iframe.src, window.location.href).origin;
    this.state = null;
    this.viewers = null;
    this.ready = false;
    this.handlers = {};
    const self = this;
    window.addEventListener("message", function (event) {
      if (event.source !== iframe.contentWindow || event.origin !== self.origin) return;
      const message = event.data;
      if (!message || message.source !== PLAYER || typeof message.event !== "string") return;
      const data = message.data || {};
      if (message.event === "ready") {
        if (self.ready) return; // said again in answer to our hello: once is enough
        self.ready = true;
      } else if (message.event === "viewers") self.viewers = data.count;
      else self.state = message.event;
      self._emit(message.event, data);
    });
    // The player says "ready" when it loads; ask again in case it loaded before this script.
    this._send("hello");
    iframe.addEventListener("load", function () { self._send("hello"); });
  }

  Player.prototype.on = function (event, handler) {
    (this.handlers[event] = this.handlers[event] || []).push(handler);
    return this;
  };

  Player.prototype.off = function (event, handler) {
    this.handlers[event] = (this.handlers[event] || []).filter(function (h) { return h !== handler; });
    return this;
  };

  Player.prototype._emit = function (event, data) {
    (this.handlers[event] || []).forEach(function (handler) { handler(data); });
    (this.handlers["*"] || []).forEach(function (handler) { handler(event, data); });
  };

  Player.prototype._send = function (command) {
    if (this.iframe.contentWindow) {
      this.iframe.contentWindow.postMessage({ source: EMBED, command: command }, this.origin);
    }
    return this;
  };

  ["play", "pause", "mute", "unmute"].forEach(function (command) {
    Player.prototype[command] = function () { return this._send(command); };
  });

  window.StreamingStack = {
    player: function (iframe) {
      if (typeof iframe === "string") iframe = document.querySelector(iframe);
      if (!iframe || !iframe.src) throw new Error("StreamingStack.player needs the player's <iframe>");
      if (!iframe._streamingStack) iframe._streamingStack = new Player(iframe);
      return iframe._streamingStack;
    },
  };
})(window);
