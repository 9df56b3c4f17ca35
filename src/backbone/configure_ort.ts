import { env } from 'onnxruntime-web/wasm';

/**
 * Where onnxruntime-web finds its wasm binary, and how many threads it runs.
 *
 * By default nothing is set: onnxruntime-web's own module (its default "bundle" build, the
 * Emscripten loader inside) asks for `new URL('ort-wasm-simd-threaded.wasm', import.meta.url)`,
 * which Vite and webpack 5 turn into a file of the app's build, and which resolves next to the
 * module on a static server or an unbundled dev server. `wasmPaths` overrides that — a URL prefix
 * ending in `/` (your own CDN) or the binary's URL — and is given to onnxruntime-web as is.
 *
 * Threads need SharedArrayBuffer, which only a cross-origin isolated page has: without COOP/COEP
 * the runtime stays on one thread instead of failing.
 */
export function configureOrt(wasmPaths?: string): void {
  if (wasmPaths !== undefined) {
    env.wasm.wasmPaths = /\.wasm([?#].*)?$/.test(wasmPaths) ? { wasm: wasmPaths } : wasmPaths;
  }
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  env.wasm.numThreads = isolated ? Math.min(4, globalThis.navigator?.hardwareConcurrency || 1) : 1;
}
