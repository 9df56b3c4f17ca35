/// <reference lib="webworker" />
// The learner's worker. Everything lives in src/; this file only wires it for this bundle.
import { expose } from 'comlink';
import loaderUrl from 'onnxruntime-web/ort-wasm-simd-threaded.mjs?url';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import { configureOrt } from '../src/backbone/configure_ort.ts';
import { installErrorTransfer } from '../src/runtime/error_transfer.ts';
import { createWorkerApi } from '../src/runtime/worker_api.ts';

configureOrt(wasmUrl, loaderUrl);
installErrorTransfer();
expose(createWorkerApi());
