/* The handheld's service worker (issue 16), served by tasking.offline_views.service_worker.
 *
 * It only caches: the shell (script, icon, manifest) when it installs; every
 * handheld page, script and the device's words as they are fetched (network
 * first: online, the server's page; without network, the copy last seen).
 * A page never seen falls back to the offline work page. Writes (POST) and
 * the sync endpoint are never cached: the page's own queue (IndexedDB) keeps
 * what the network could not take. */
"use strict";
const CACHE = "wms-handheld-{{ version }}";
const PRECACHE = {{ precache|safe }};
const NEVER = {{ no_cache|safe }};
const SCOPE = "{{ scope }}";
const OFFLINE_PAGE = "{{ offline_page }}";
// Pages and scripts as last seen (the page keeps some warm in it too: offline.js).
const RUNTIME = "wms-handheld-pages";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("wms-handheld-v") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

function cacheable(url) {
  if (url.origin !== self.location.origin) { return false; }
  if (NEVER.some((path) => url.pathname.startsWith(path))) { return false; }
  return url.pathname.startsWith(SCOPE) || url.pathname.startsWith("{% load static %}{% get_static_prefix %}");
}

async function networkFirst(request) {
  const cache = await caches.open(RUNTIME);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected && response.type === "basic") {
      cache.put(request, response.clone());
    }
    return response;
  } catch (err) {
    // The shell precached at install, or the copy last seen.
    // ignoreVary: the server varies on the cookie and language; this cache is the
    // device's own, and the copy is what this device saw last.
    const copy = await caches.match(request, {ignoreVary: true})
      || await caches.match(request, {ignoreVary: true, ignoreSearch: true});
    if (copy) { return copy; }
    if (request.mode === "navigate") {
      const offline = await caches.match(OFFLINE_PAGE, {ignoreVary: true});
      if (offline) { return offline; }
    }
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") { return; }
  const url = new URL(request.url);
  if (!cacheable(url)) { return; }
  event.respondWith(networkFirst(request));
});
