import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { buildMlpModel } from '../../../models/onnx/build_mlp.ts';
import { initMlpParams } from '../../../models/onnx/init.ts';
import { makeTestBackbone } from '../../../models/testing.ts';
import type { FeatureSpec } from '../../../src/backbone/feature_spec.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('deterministic export', () => {
  test('same seed → byte-identical model and the same sha256', () => {
    const first = makeTestBackbone({ seed: 42 });
    const second = makeTestBackbone({ seed: 42 });
    expect(first.bytes).toBeInstanceOf(Uint8Array);
    expect(second.bytes).toEqual(first.bytes);
    expect(sha256(second.bytes)).toBe(sha256(first.bytes));
    expect(second.params).toEqual(first.params);
  });

  test('same seed with normalisation and raw features is deterministic too', () => {
    const options = { seed: 9, normalize: true, raw: true, hidden: [10, 6] };
    expect(sha256(makeTestBackbone(options).bytes)).toBe(sha256(makeTestBackbone(options).bytes));
  });

  test('another seed → other weights, other bytes', () => {
    const a = makeTestBackbone({ seed: 1 });
    const b = makeTestBackbone({ seed: 2 });
    expect(b.params.layers[0].weights).not.toEqual(a.params.layers[0].weights);
    expect(sha256(b.bytes)).not.toBe(sha256(a.bytes));
  });

  test('the spec key order does not change the bytes', () => {
    const params = initMlpParams([3, 2], 4);
    const spec: FeatureSpec = {
      inputs: [{ name: 'x', size: 3, mean: [0, 1, 2], std: [1, 1, 1] }],
      output: { name: 'y', size: 2 },
      task: 'regression',
    };
    const reordered = {
      task: 'regression',
      output: { size: 2, name: 'y' },
      inputs: [{ std: [1, 1, 1], mean: [0, 1, 2], size: 3, name: 'x' }],
    } as FeatureSpec;
    expect(buildMlpModel(params, reordered)).toEqual(buildMlpModel(params, spec));
  });

  test('initMlpParams draws from the seed alone', () => {
    const a = initMlpParams([12, 16, 8], 123);
    const b = initMlpParams([12, 16, 8], 123);
    expect(b).toEqual(a);
    expect(a.layers.map((layer) => [layer.inputSize, layer.outputSize])).toEqual([
      [12, 16],
      [16, 8],
    ]);
    expect(a.layers.map((layer) => layer.activation)).toEqual(['relu', 'tanh']);
    // He-uniform bound for the ReLU layer, Glorot-uniform for the Tanh one.
    expect(Math.max(...a.layers[0].weights.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 12));
    expect(Math.max(...a.layers[1].weights.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 24));
    expect(a.layers[0].bias.some((b) => b !== 0)).toBe(true);
  });
});
