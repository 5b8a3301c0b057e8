/* "Enable on this device" on /account/notifications (X7): registers the service worker, asks for permission,
   subscribes with the portal's VAPID key and posts the subscription. Without JavaScript the button stays hidden and
   the preferences form works on its own. PortalPush.save(subscriptionJson) is the posting step, on its own so the
   answer of the server can be checked where no push service is reachable. */
(function () {
  "use strict";
  var box = document.getElementById("push-device");
  if (!box) return;
  var button = document.getElementById("push-enable");
  var status = document.getElementById("push-status");

  function say(key) {
    status.textContent = box.dataset[key] || "";
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function save(json) {
    var keys = (json && json.keys) || {};
    var body = new URLSearchParams({
      csrf_token: box.dataset.csrf,
      endpoint: json.endpoint || "",
      p256dh: keys.p256dh || "",
      auth: keys.auth || "",
    });
    return fetch(box.dataset.action, { method: "POST", body: body, credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (answer) {
        if (!r.ok) {
          status.textContent = answer.error || box.dataset.msgFailed;
          throw new Error("refused");
        }
        say("msgDone");
        return answer;
      });
    });
  }

  function enable() {
    say("msgWorking");
    navigator.serviceWorker
      .register("/sw.js", { scope: "/" })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (registration) {
        return Notification.requestPermission().then(function (permission) {
          if (permission !== "granted") {
            say("msgDenied");
            throw new Error("denied");
          }
          return registration.pushManager
            .subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(box.dataset.vapidKey) })
            .catch(function () {
              say("msgSubscribe");
              throw new Error("subscribe");
            });
        });
      })
      .then(function (subscription) { return save(subscription.toJSON()); })
      .then(function () { window.location.assign(window.location.pathname); })
      .catch(function (e) {
        if (!status.textContent || status.textContent === box.dataset.msgWorking) say("msgFailed");
      });
  }

  window.PortalPush = { save: save };
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    say("msgUnsupported");
    return;
  }
  button.hidden = false;
  button.addEventListener("click", enable);
})();
