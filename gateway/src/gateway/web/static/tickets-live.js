// Live comments on a ticket page: progressive enhancement, the page is complete without it.
(function () {
  "use strict";
  var list = document.getElementById("comment-list");
  if (!list || !window.EventSource || !list.dataset.events) return;
  var source = new EventSource(list.dataset.events);
  source.addEventListener("open", function () { list.dataset.live = "open"; });
  source.addEventListener("comment", function (e) {
    var c;
    try { c = JSON.parse(e.data); } catch (err) { return; }
    if (!c.id || document.getElementById("comment-" + c.id)) return;
    var li = document.createElement("li");
    li.id = "comment-" + c.id;
    li.className = "comment fresh" + (c.staff ? " staff" : "");
    var meta = document.createElement("p");
    meta.className = "meta";
    var who = document.createElement("strong");
    who.textContent = c.author;
    meta.appendChild(who);
    if (c.badge) {
      var badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = c.badge;
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(badge);
    }
    meta.appendChild(document.createTextNode(" · " + c.when));
    var body = document.createElement("p");
    body.className = "prewrap";
    body.textContent = c.body;
    li.appendChild(meta);
    li.appendChild(body);
    list.insertBefore(li, list.firstChild);
    var none = document.getElementById("no-comments");
    if (none) none.remove();
  });
})();
