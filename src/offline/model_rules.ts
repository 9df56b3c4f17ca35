/**
 * What the service worker rules of ./model_cache.ts match and keep, free of Workbox (which
 * needs a service worker's global scope) so it can be checked anywhere.
 */

/** `…/v1/models/<sha256>`, with the sha256 as the first group. */
export const MODEL_URL = /\/v1\/models\/([0-9a-f]{64})$/;
/** onnxruntime-web's wasm binaries and their ES module loaders (hashed names included). */
export const ORT_RUNTIME_URL = /\/ort-wasm[^/]*\.(?:wasm|mjs)$/;

function toHex(digest: ArrayBuffer): string {
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Whether a response to `url` may be cached as a model file: a model address, a complete 200
 * answer, and bytes that hash to the address's sha256. Reads a clone; `response` stays usable.
 */
export async function isVerifiedModel(url: string, response: Response): Promise<boolean> {
  const expected = MODEL_URL.exec(new URL(url).pathname)?.[1];
  if (!expected || response.status !== 200) return false;
  const bytes = await response.clone().arrayBuffer();
  return toHex(await crypto.subtle.digest('SHA-256', bytes)) === expected;
}
