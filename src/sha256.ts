/**
 * Lowercase hex sha256 with WebCrypto: in workers, pages and Node ≥ 20 alike. A model's sha256
 * is its address (design.md, invariant 3), so the worker, the store, the trainer and the tests
 * must all compute it the same way — here.
 *
 * ```ts
 * import { sha256Hex } from './sha256.ts';
 * await sha256Hex(new TextEncoder().encode('abc'));
 * // 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
 * ```
 */
export async function sha256Hex(bytes: ArrayBuffer | ArrayBufferView): Promise<string> {
  // WebCrypto refuses views of SharedArrayBuffers; model bytes never live in one.
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
