/* The portal's service worker (X7), served as /sw.js with the whole site as its scope.

   It caches the shell only: the stylesheet, the portal's own scripts, the icons and the offline page — files that
   are the same for everyone. It never caches a page of a signed-in user, customer data or anything under /api/:
   every other request goes to the network untouched, and a page that cannot be loaded is answered with the
   offline page (which names no one). It also shows web push notifications: a title, a short text and a path in
   the portal, opened on click. */
"use strict";

const VERSION = "__SHELL_VERSION__";
const CACHE = "portal-shell-" + VERSION;
const OFFLINE = "/offline";
const SHELL = [
  "/static/portal.css",
  "/static/home.css",
  "/static/search.css",
  "/static/pwa.js",
  "/static/push.js",
  "/static/tickets-live.js",
  "/static/home-live.js",
  "/static/remote-run.js",
  "/static/remote-terminal.js",
  "/static/api-docs.js",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
  "/offline",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { credentials: "omit" }))))
  );
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (SHELL.includes(url.pathname) && !url.search) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(request)));
    return;
  }
  if (request.mode === "navigate") {
    // The network, never a cached copy of a page; the offline page when there is no network.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
  }
});

function portalPath(value) {
  return typeof value === "string" && value.startsWith("/") && !value.startsWith("//") && !value.includes("\\")
    ? value
    : "/";
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = {};
  }
  const title = typeof data.title === "string" && data.title ? data.title : "Portal";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: typeof data.body === "string" ? data.body : "",
      icon: "/static/icons/icon-192.png",
      data: { url: portalPath(data.url) },
    })
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(portalPath(event.notification.data && event.notification.data.url), self.location.origin);
  event.waitUntil(self.clients.openWindow(target.href));
});
