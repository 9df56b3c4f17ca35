/// <reference lib="webworker" />
// The learner's worker. Everything lives in src/; this file only wires it. It imports nothing a
// bundler has to be told about: onnxruntime-web finds its wasm by itself (see configure_ort.ts),
// so the same file runs from Vite, webpack 5 or a static server.
import { expose } from 'comlink';
import { configureOrt } from '../src/backbone/configure_ort.ts';
import { installErrorTransfer } from '../src/runtime/error_transfer.ts';
import { createWorkerApi } from '../src/runtime/worker_api.ts';

configureOrt();
installErrorTransfer();
expose(createWorkerApi());
