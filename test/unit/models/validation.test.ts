import { describe, expect, test } from 'vitest';
import { buildMlpModel } from '../../../models/onnx/build_mlp.ts';
import { mlpForward } from '../../../models/onnx/forward.ts';
import { GraphBuilder } from '../../../models/onnx/graph_builder.ts';
import { initMlpParams } from '../../../models/onnx/init.ts';
import type { MlpParams } from '../../../models/onnx/mlp_params.ts';
import type { FeatureSpec } from '../../../src/backbone/feature_spec.ts';
import { readModelMetadata } from '../../../src/backbone/model_metadata.ts';
import type { LearnerErrorCode } from '../../../src/errors.ts';

const spec: FeatureSpec = {
  inputs: [
    { name: 'a', size: 3 },
    { name: 'b', size: 2 },
  ],
  output: { name: 'out', size: 4 },
  task: 'binary',
};
const params = () => initMlpParams([5, 6, 4], 1);

function code(run: () => unknown): LearnerErrorCode | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: LearnerErrorCode }).code;
  }
  return undefined;
}

describe('params that do not fit the spec are rejected before export', () => {
  const cases: [string, (p: MlpParams) => void, FeatureSpec?][] = [
    ['first layer too narrow', (p) => (p.layers[0].inputSize = 4)],
    ['weights of the wrong length', (p) => (p.layers[0].weights = new Float32Array(7))],
    ['bias of the wrong length', (p) => (p.layers[1].bias = new Float32Array(3))],
    ['non-finite weight', (p) => (p.layers[1].weights[2] = Number.NaN)],
    ['layers that do not chain', (p) => (p.layers[1].inputSize = 5)],
    ['unknown activation', (p) => ((p.layers[0] as { activation: string }).activation = 'gelu')],
    ['no layers', (p) => (p.layers = [])],
    ['output width differs from the spec', () => {}, { ...spec, output: { name: 'out', size: 5 } }],
    [
      'duplicate input names',
      () => {},
      { ...spec, inputs: [spec.inputs[0], { name: 'a', size: 2 }] },
    ],
    ['output named like an input', () => {}, { ...spec, output: { name: 'a', size: 4 } }],
    ['invalid spec', () => {}, { ...spec, task: 'ranking' } as unknown as FeatureSpec],
  ];
  for (const [name, breakIt, otherSpec] of cases) {
    test(name, () => {
      const p = params();
      breakIt(p);
      expect(code(() => buildMlpModel(p, otherSpec ?? spec))).toBe('BAD_MODEL');
      expect(code(() => mlpForward(p, otherSpec ?? spec, {}, 1))).toBe('BAD_MODEL');
    });
  }
});

describe('mlpForward input checks', () => {
  const ok = { a: new Float32Array(6), b: new Float32Array(4) };
  test('accepts well-shaped inputs', () => {
    expect(mlpForward(params(), spec, ok, 2)).toHaveLength(8);
  });
  test('missing input, wrong length, bad batch → BAD_INPUT', () => {
    expect(code(() => mlpForward(params(), spec, { a: ok.a }, 2))).toBe('BAD_INPUT');
    expect(code(() => mlpForward(params(), spec, { ...ok, b: new Float32Array(3) }, 2))).toBe(
      'BAD_INPUT',
    );
    expect(code(() => mlpForward(params(), spec, ok, 0))).toBe('BAD_INPUT');
    expect(code(() => mlpForward(params(), spec, ok, 1.5))).toBe('BAD_INPUT');
  });
});

describe('export options', () => {
  test('extra metadata is written; localfit keys cannot be overridden', () => {
    const bytes = buildMlpModel(params(), spec, { metadata: { semver: '1.2.3' } });
    expect(readModelMetadata(bytes).metadata.semver).toBe('1.2.3');
    expect(
      code(() => buildMlpModel(params(), spec, { metadata: { 'localfit.feature_spec': '{}' } })),
    ).toBe('BAD_CONFIG');
  });

  test('initMlpParams rejects bad sizes and seeds', () => {
    expect(code(() => initMlpParams([5], 1))).toBe('BAD_CONFIG');
    expect(code(() => initMlpParams([5, 0], 1))).toBe('BAD_CONFIG');
    expect(code(() => initMlpParams([5, 2], 0.5))).toBe('BAD_CONFIG');
  });

  test('an input name that collides with an internal tensor name is caught', () => {
    const clash: FeatureSpec = {
      inputs: [
        { name: 'localfit/features', size: 3 },
        { name: 'b', size: 2 },
      ],
      output: { name: 'out', size: 4 },
      task: 'binary',
    };
    expect(() => buildMlpModel(params(), clash)).toThrow(/used twice/);
  });

  test('GraphBuilder refuses unknown tensors and graphs without outputs', () => {
    const graph = new GraphBuilder('g');
    graph.input('x', 2);
    expect(() => graph.node({ type: 'Relu' }, ['nope'], 'y')).toThrow(/unknown nope/);
    expect(() => graph.output('y', 2)).toThrow(/never computed/);
    expect(() => graph.build()).toThrow(/no outputs/);
  });
});
