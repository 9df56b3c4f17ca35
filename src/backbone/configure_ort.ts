import { env } from 'onnxruntime-web/wasm';

/**
 * Points onnxruntime-web at its wasm binary (wherever the app's bundler put it) and picks the
 * thread count: threads need SharedArrayBuffer, which only a cross-origin isolated page has,
 * so without COOP/COEP the runtime stays on one thread instead of failing.
 */
export function configureOrt(wasmUrl: string): void {
  env.wasm.wasmPaths = { wasm: wasmUrl };
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  env.wasm.numThreads = isolated ? Math.min(4, globalThis.navigator?.hardwareConcurrency || 1) : 1;
}
