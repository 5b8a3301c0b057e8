// Live home (SPEC X9): when the server says some sections changed, fetch just those sections again and put them in
// place. Progressive enhancement: without JavaScript (or EventSource) a reload shows the same.
(function () {
  "use strict";
  var home = document.getElementById("home-sections");
  if (!home || !window.EventSource || !window.fetch || !home.dataset.events) return;
  var pending = {};
  var busy = false;

  function refresh() {
    var keys = Object.keys(pending);
    if (busy || !keys.length) return;
    pending = {};
    busy = true;
    var url = home.dataset.fragments + "?" + keys.map(function (k) { return "key=" + encodeURIComponent(k); }).join("&");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        doc.querySelectorAll(".home-section[data-section]").forEach(function (fresh) {
          var old = document.getElementById(fresh.id);
          if (old && old.parentNode === home) home.replaceChild(document.importNode(fresh, true), old);
        });
        home.dataset.updated = String(Date.now());
      })
      .catch(function () { /* the next change or a reload tries again */ })
      .then(function () { busy = false; refresh(); });
  }

  var source = new EventSource(home.dataset.events);
  source.addEventListener("open", function () { home.dataset.live = "open"; });
  source.addEventListener("changed", function (e) {
    var data;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    (data.sections || []).forEach(function (k) { pending[k] = true; });
    refresh();
  });
})();
