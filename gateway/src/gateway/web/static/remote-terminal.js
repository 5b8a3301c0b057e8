// The browser terminal of a remote session: xterm.js (vendored) relaying bytes to and from the page's WebSocket.
// Keystrokes go as binary frames, a resize as a text frame {"type":"resize","cols":…,"rows":…}; the server sends
// the device's output as binary frames and, last, {"type":"closed","reason":…}.
(function () {
  "use strict";
  var mount = document.getElementById("terminal");
  if (!mount || !window.Terminal || !window.WebSocket) return;
  var ended = document.getElementById("session-ended");
  var reasons = {};
  try { reasons = JSON.parse(ended.dataset.reasons || "{}"); } catch (err) { reasons = {}; }
  var term = new window.Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, scrollback: 5000 });
  var fit = window.FitAddon ? new window.FitAddon.FitAddon() : null;
  if (fit) term.loadAddon(fit);
  term.open(mount);
  if (fit) fit.fit();
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var ws = new WebSocket(scheme + window.location.host + mount.dataset.ws);
  ws.binaryType = "arraybuffer";
  var encoder = new TextEncoder();
  var done = false;
  function finish(reason) {
    if (done) return;
    done = true;
    mount.dataset.state = "closed";
    ended.textContent = ended.dataset.prefix + " " + (reasons[reason] || reason || "");
    ended.hidden = false;
    term.options.disableStdin = true;
  }
  function sendSize() {
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
    }
  }
  ws.addEventListener("open", function () {
    mount.dataset.state = "open";
    sendSize();
    term.focus();
  });
  ws.addEventListener("message", function (e) {
    if (typeof e.data === "string") {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (msg.type === "closed") finish(msg.reason);
      return;
    }
    term.write(new Uint8Array(e.data));
  });
  ws.addEventListener("close", function (e) { finish(e.reason || "closed"); });
  term.onData(function (data) {
    if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
  });
  term.onBinary(function (data) {
    if (ws.readyState !== WebSocket.OPEN) return;
    var bytes = new Uint8Array(data.length);
    for (var i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 255;
    ws.send(bytes);
  });
  term.onResize(sendSize);
  window.addEventListener("resize", function () { if (fit) fit.fit(); });
})();
