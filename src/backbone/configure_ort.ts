import { env } from 'onnxruntime-web/wasm';

/**
 * Points onnxruntime-web at its wasm binary and, for its "extern wasm" build (the
 * `onnxruntime-web-use-extern-wasm` export condition), at the binary's ES module loader —
 * wherever the app's bundler put them — and picks the thread count: threads need
 * SharedArrayBuffer, which only a cross-origin isolated page has, so without COOP/COEP the
 * runtime stays on one thread instead of failing. Without `loaderUrl` the loader is looked for
 * next to onnxruntime-web's own module (where an unbundled dev server serves it).
 */
export function configureOrt(wasmUrl: string, loaderUrl?: string): void {
  env.wasm.wasmPaths = loaderUrl ? { wasm: wasmUrl, mjs: loaderUrl } : { wasm: wasmUrl };
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  env.wasm.numThreads = isolated ? Math.min(4, globalThis.navigator?.hardwareConcurrency || 1) : 1;
}
