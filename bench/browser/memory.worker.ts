/// <reference lib="webworker" />
// The learner's worker with its wasm memory counted (bench/memory.ts).
import './wasm_memory.ts';
import '../../workers/learner.worker.ts';
