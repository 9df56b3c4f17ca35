/// <reference lib="webworker" />
/**
 * The demo's service worker, built by `npm start` (server/demo/build.ts): Workbox precaches
 * the app shell, the demo model and onnxruntime-web's wasm (the manifest is injected where
 * the code reads it, by workbox-build), and the shared rules of ./model_cache.ts cache model
 * files by sha256. A new build waits until the page asks it to take over (the page shows an
 * "update available" prompt), so one page never mixes two builds.
 */
import { createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { NetworkFirst } from 'workbox-strategies';
import { registerLocalfitRoutes } from './model_cache.ts';

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: (string | { url: string; revision: string | null })[];
};

precacheAndRoute(self.__WB_MANIFEST);
registerLocalfitRoutes();
registerRoute(
  new NavigationRoute(createHandlerBoundToURL('index.html'), {
    denylist: [/^\/v1\//, /^\/demo\//, /^\/demo-config\.json/],
  }),
);
// The launcher's settings (sync server, keys): fresh when online, the last copy offline. The
// page reads them before this worker controls it, so installing fetches a first copy.
const CONFIG_URL = '/demo-config.json';
const CONFIG_CACHE = 'localfit-demo-config';
registerRoute(
  ({ url }) => url.pathname === CONFIG_URL,
  new NetworkFirst({ cacheName: CONFIG_CACHE, networkTimeoutSeconds: 3 }),
);
self.addEventListener('install', (event) => {
  event.waitUntil(
    fetch(CONFIG_URL, { cache: 'no-store' })
      .then(async (response) => {
        if (response.ok) await (await caches.open(CONFIG_CACHE)).put(CONFIG_URL, response);
      })
      // Without a launcher (or its config) the demo runs without a sync server.
      .catch(() => undefined),
  );
});

self.addEventListener('message', (event) => {
  if ((event.data as { type?: string } | null)?.type === 'SKIP_WAITING') void self.skipWaiting();
});
// The first install controls the open page at once, so its model and runtime get cached.
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
