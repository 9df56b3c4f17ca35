/**
 * The caching rules localfit needs in a service worker, for host apps to import into their own
 * (built with Workbox's routing and strategies):
 *
 * - model files, `GET …/v1/models/<sha256>`: cache-first. The URL names the bytes (design:
 *   "immutable, cacheable forever"), so a cached copy never goes stale; and only bytes that
 *   hash to the sha256 in their URL are kept, so a truncated or altered download is never
 *   served again from the cache (the learner would refuse it, but forever).
 * - onnxruntime-web's wasm and its loader (`ort-wasm*.wasm`, `ort-wasm*.mjs`), from any origin
 *   that answers with CORS: cache-first, so the runtime loads offline too. Apps that precache
 *   their build's copy (as the demo does) still want this for a copy served from a CDN.
 *
 * ```ts
 * // your-sw.ts
 * import { registerLocalfitRoutes } from 'localfit/offline';
 * registerLocalfitRoutes();
 * ```
 *
 * Nothing else of the sync protocol is cached: manifests, events and metrics must reach the
 * server or fail, so the learner knows to keep them in its outbox.
 */
import { registerRoute } from 'workbox-routing';
import { CacheFirst } from 'workbox-strategies';
import { isVerifiedModel, MODEL_URL, ORT_RUNTIME_URL } from './model_rules.ts';

export { isVerifiedModel, MODEL_URL, ORT_RUNTIME_URL };

export const DEFAULT_MODEL_CACHE = 'localfit-models';
export const DEFAULT_RUNTIME_CACHE = 'localfit-ort-runtime';

export interface LocalfitRoutesOptions {
  /** Cache for model files (default `localfit-models`). */
  modelCacheName?: string;
  /** Cache for onnxruntime-web's files (default `localfit-ort-runtime`). */
  runtimeCacheName?: string;
}

type Plugins = NonNullable<NonNullable<ConstructorParameters<typeof CacheFirst>[0]>['plugins']>;

/** Keeps a model response only when it is complete and its bytes hash to the URL's sha256. */
export const verifiedModelPlugin: Plugins[number] = {
  async cacheWillUpdate({ request, response }) {
    return (await isVerifiedModel(request.url, response)) ? response : null;
  },
};

/** Registers both routes on Workbox's default router. Call once, at the top of your worker. */
export function registerLocalfitRoutes(options: LocalfitRoutesOptions = {}): void {
  registerRoute(
    ({ url }) => MODEL_URL.test(url.pathname),
    new CacheFirst({
      cacheName: options.modelCacheName ?? DEFAULT_MODEL_CACHE,
      plugins: [verifiedModelPlugin],
    }),
  );
  registerRoute(
    ({ url }) => ORT_RUNTIME_URL.test(url.pathname),
    new CacheFirst({ cacheName: options.runtimeCacheName ?? DEFAULT_RUNTIME_CACHE }),
  );
}
