import { describe, expect, test } from 'vitest';
import { buildMlpModel } from '../../../models/onnx/build_mlp.ts';
import { mlpForward } from '../../../models/onnx/forward.ts';
import { initMlpParams } from '../../../models/onnx/init.ts';
import type { MlpParams } from '../../../models/onnx/mlp_params.ts';
import { makeTestBackbone } from '../../../models/testing.ts';
import type { FeatureSpec } from '../../../src/backbone/feature_spec.ts';
import { maxAbsDiff, randomInputs, runOrt } from './support.ts';

const TOLERANCE = 1e-5;

describe('exported MLP in onnxruntime-web matches the TypeScript forward pass', () => {
  const cases: [string, Parameters<typeof makeTestBackbone>[0]][] = [
    ['default test backbone (item + context → 16 ReLU → 8 Tanh)', {}],
    ['single input', { contextSize: 0, inputSize: 5 }],
    ['normalised inputs', { normalize: true, seed: 7 }],
    ['two hidden layers', { hidden: [24, 12], embedding: 6, seed: 3 }],
  ];
  for (const [name, options] of cases) {
    for (const batch of [1, 37]) {
      test(`${name}, batch ${batch}`, async () => {
        const backbone = makeTestBackbone(options);
        const inputs = randomInputs(backbone.spec, batch, 1000 + batch);
        const fromOrt = await runOrt(backbone.bytes, backbone.spec, inputs, batch);
        const fromTs = backbone.forward(inputs, batch);
        expect(fromOrt.dims).toEqual([batch, backbone.spec.output.size]);
        expect(fromTs.length).toBe(batch * backbone.spec.output.size);
        expect(maxAbsDiff(fromOrt.data, fromTs)).toBeLessThanOrEqual(TOLERANCE);
        // A model that output constants would pass the comparison; make sure rows differ.
        if (batch > 1) expect(fromTs.slice(0, 8)).not.toEqual(fromTs.slice(8, 16));
      });
    }
  }

  test('one model serves several batch sizes (dynamic batch dimension)', async () => {
    const backbone = makeTestBackbone({ seed: 11 });
    const all = randomInputs(backbone.spec, 37, 5);
    const batched = await runOrt(backbone.bytes, backbone.spec, all, 37);
    // Row 12 alone must give what row 12 gave inside the batch.
    const row = 12;
    const single: Record<string, Float32Array> = {};
    for (const input of backbone.spec.inputs) {
      single[input.name] = all[input.name].slice(row * input.size, (row + 1) * input.size);
    }
    const alone = await runOrt(backbone.bytes, backbone.spec, single, 1);
    const size = backbone.spec.output.size;
    expect(
      maxAbsDiff(alone.data, batched.data.slice(row * size, (row + 1) * size)),
    ).toBeLessThanOrEqual(TOLERANCE);
  });

  test('linear layers: ReLU/Tanh-free graph and every activation mix', async () => {
    const spec: FeatureSpec = {
      inputs: [
        { name: 'a', size: 3 },
        { name: 'b', size: 2 },
        { name: 'c', size: 4 },
      ],
      output: { name: 'out', size: 3 },
      task: 'regression',
    };
    for (const [hidden, output] of [
      ['linear', 'linear'],
      ['tanh', 'relu'],
      ['relu', 'linear'],
    ] as const) {
      const params = initMlpParams([9, 7, 5, 3], 21, { hidden, output });
      const bytes = buildMlpModel(params, spec);
      const inputs = randomInputs(spec, 37, 99);
      const fromOrt = await runOrt(bytes, spec, inputs, 37);
      expect(maxAbsDiff(fromOrt.data, mlpForward(params, spec, inputs, 37))).toBeLessThanOrEqual(
        TOLERANCE,
      );
    }
  });
});

describe('several inputs with normalisation', () => {
  // Identity weights and zero bias make the model output its (normalised, concatenated)
  // input, so the expected values follow from the spec alone, not from the implementation.
  const spec: FeatureSpec = {
    inputs: [
      { name: 'user', size: 2, mean: [1, -2], std: [2, 0.5] },
      { name: 'item', size: 1 },
      { name: 'time', size: 2, mean: [10, 0], std: [4, 1] },
    ],
    output: { name: 'features', size: 5 },
    task: 'binary',
  };
  const identity: MlpParams = {
    layers: [
      {
        inputSize: 5,
        outputSize: 5,
        weights: Float32Array.from({ length: 25 }, (_, k) => (k % 6 === 0 ? 1 : 0)),
        bias: new Float32Array(5),
        activation: 'linear',
      },
    ],
  };

  test('normalises each input, then concatenates them in spec order', async () => {
    const inputs = {
      user: Float32Array.from([3, -1, 1, -2]),
      item: Float32Array.from([7, -7]),
      time: Float32Array.from([14, 2, 6, -3]),
    };
    const expected = Float32Array.from([
      // row 0: (3-1)/2, (-1+2)/0.5, 7, (14-10)/4, 2/1
      1, 2, 7, 1, 2,
      // row 1: (1-1)/2, (-2+2)/0.5, -7, (6-10)/4, -3/1
      0, 0, -7, -1, -3,
    ]);
    const bytes = buildMlpModel(identity, spec);
    const fromOrt = await runOrt(bytes, spec, inputs, 2);
    expect(fromOrt.inputNames).toEqual(['user', 'item', 'time']);
    expect(maxAbsDiff(fromOrt.data, expected)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(mlpForward(identity, spec, inputs, 2), expected)).toBeLessThanOrEqual(1e-6);
  });

  test('a random MLP on the same inputs agrees at batch 1 and 37', async () => {
    const params = initMlpParams([5, 10, 4], 5);
    const wide = { ...spec, output: { name: 'features', size: 4 } };
    const bytes = buildMlpModel(params, wide);
    for (const batch of [1, 37]) {
      const inputs = randomInputs(wide, batch, batch, 20);
      const fromOrt = await runOrt(bytes, wide, inputs, batch);
      expect(maxAbsDiff(fromOrt.data, mlpForward(params, wide, inputs, batch))).toBeLessThanOrEqual(
        TOLERANCE,
      );
    }
  });
});
