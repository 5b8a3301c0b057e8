// A script run's output, live: progressive enhancement of the run page (without JavaScript it reloads every 2 s).
// Relays the run's server-sent events: `output` appends device text (as text, never HTML), `finished` fills the
// status, times and exit code (and links a run's new ticket) and closes the stream.
(function () {
  "use strict";
  var out = document.getElementById("run-output");
  if (!out || !window.EventSource || !out.dataset.events) return;
  var labels = {};
  try { labels = JSON.parse(out.dataset.statusLabels || "{}"); } catch (err) { labels = {}; }
  var source = new EventSource(out.dataset.events);
  var status = document.getElementById("run-status");
  function set(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }
  function when(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }
  source.addEventListener("open", function () {
    out.dataset.live = "open";
    if (status && status.dataset.status === "queued") {
      status.dataset.status = "running";
      status.textContent = labels.running || "running";
    }
  });
  source.addEventListener("output", function (e) {
    out.appendChild(document.createTextNode(e.data));
    out.scrollTop = out.scrollHeight;
  });
  source.addEventListener("finished", function (e) {
    source.close();
    out.dataset.live = "finished";
    var run;
    try { run = JSON.parse(e.data); } catch (err) { return; }
    if (status) {
      status.dataset.status = run.status;
      status.textContent = labels[run.status] || run.status;
    }
    set("run-started", when(run.started_at));
    set("run-finished", when(run.finished_at));
    set("run-exit-code", run.exit_code === null || run.exit_code === undefined ? "—" : String(run.exit_code));
    var error = document.getElementById("run-error");
    if (error && run.error) { error.textContent = run.error; error.hidden = false; }
    var cut = document.getElementById("run-truncated");
    if (cut && run.truncated) cut.hidden = false;
    // A run on a new ticket: the ticket is opened as the run finishes, so it is linked only now.
    var pending = document.getElementById("run-ticket-pending");
    if (pending && pending.dataset.href) {
      var link = document.createElement("a");
      link.id = "run-ticket";
      link.href = pending.dataset.href;
      link.textContent = pending.dataset.label || pending.dataset.href;
      pending.replaceWith(link);
    }
  });
})();
