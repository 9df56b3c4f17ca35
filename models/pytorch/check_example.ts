// `npx tsx models/pytorch/check_example.ts item_tower.onnx`: loads the PyTorch export of
// export_example.py through the learner's own backbone and pipeline code (onnxruntime-web's
// wasm, in Node) with the featureSpec the README gives, and checks the embedding against the
// one PyTorch computed (the script's printed `check`). An optional check of the README, like
// the export script itself; `npm test` covers the same shapes with models of its own.
import { readFileSync } from 'node:fs';
import { env } from 'onnxruntime-web/wasm';
import { loadBackbone } from '../../src/backbone/backbone.ts';
import type { FeatureSpecInit } from '../../src/backbone/feature_spec.ts';
import { packExamples } from '../../src/backbone/features.ts';
import { Pipeline } from '../../src/runtime/pipeline.ts';

env.wasm.numThreads = 1;

// The README's featureSpec for the export (the output's size could be left to the model).
const featureSpec: FeatureSpecInit = {
  inputs: [
    { name: 'item', size: 1, dtype: 'int64', vocabulary: 1000 },
    { name: 'context', size: 4 },
  ],
  output: { name: 'embedding', size: 16 },
  task: 'binary',
};
// What PyTorch gives for item 42 and this context (export_example.py prints it).
const example = { item: [42], context: [0.5, -1.0, 0.25, 2.0] };
const expected = [
  -0.194534, 0.027593, 0.494276, -0.120162, -0.336103, 0.338091, -0.188003, 0.023667, -0.006871,
  0.017358, 0.391873, 0.097145, -0.262711, -0.263989, 0.038119, 0.281327,
];

const path = process.argv[2] ?? 'item_tower.onnx';
const backbone = await loadBackbone(new Uint8Array(readFileSync(path)), featureSpec);
const embedding = await backbone.embed(packExamples(backbone.spec, [example]));
const worst = Math.max(...expected.map((value, i) => Math.abs(value - embedding[i])));
const pipeline = Pipeline.create(backbone);
const slate = Array.from({ length: 100 }, (_, i) => ({ item: [i * 7], context: [0, 1, 0, 1] }));
const before = (await pipeline.predict(packExamples(backbone.spec, slate))).scores[0];
const prepared = await pipeline.prepare(packExamples(backbone.spec, [slate[0]]), [1]);
pipeline.learn(prepared);
const after = (await pipeline.predict(packExamples(backbone.spec, slate))).scores[0];
console.log(
  `${path}: embedding matches PyTorch to ${worst.toExponential(1)}; 100 candidates scored; ` +
    `a click moves the first from ${before.toFixed(4)} to ${after.toFixed(4)}`,
);
await backbone.release();
if (!(worst <= 1e-5) || !(after > before)) process.exit(1);
