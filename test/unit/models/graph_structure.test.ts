import { describe, expect, test } from 'vitest';
import { onnx } from '../../../models/onnx/proto.ts';
import { makeTestBackbone } from '../../../models/testing.ts';
import { FEATURE_SPEC_KEY } from '../../../src/backbone/feature_spec.ts';

// The parts of a decoded model these tests look at, as plain data (toObject with defaults).
interface ValueInfo {
  name: string;
  type: {
    tensorType: { elemType: number; shape: { dim: { dimValue: number; dimParam: string }[] } };
  };
}
interface DecodedModel {
  irVersion: number;
  producerName: string;
  opsetImport: { domain: string; version: number }[];
  metadataProps: { key: string; value: string }[];
  graph: {
    input: ValueInfo[];
    output: ValueInfo[];
    initializer: { name: string; dims: number[]; dataType: number; rawData: Uint8Array }[];
    node: { opType: string; attribute: { name: string; i: number }[] }[];
  };
}

// Decoded with the full protobuf schema, independently of the device's tiny reader.
const backbone = makeTestBackbone({ normalize: true });
const model = onnx.ModelProto.toObject(onnx.ModelProto.decode(backbone.bytes), {
  longs: Number,
  defaults: true,
  arrays: true,
}) as DecodedModel;
const graph = model.graph;

describe('exported graph structure', () => {
  test('opset 17 of the default domain with IR version 8', () => {
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport).toEqual([{ domain: '', version: 17 }]);
  });

  test('named inputs and output with a symbolic batch dimension', () => {
    const shape = (value: ValueInfo) =>
      value.type.tensorType.shape.dim.map((d) => d.dimParam || d.dimValue);
    expect(graph.input.map((v) => [v.name, shape(v)])).toEqual([
      ['item', ['batch', 8]],
      ['context', ['batch', 4]],
    ]);
    expect(graph.output.map((v) => [v.name, shape(v)])).toEqual([['embedding', ['batch', 8]]]);
    for (const value of [...graph.input, ...graph.output]) {
      expect(value.type.tensorType.elemType).toBe(onnx.TensorProto.DataType.FLOAT);
    }
  });

  test('float32 initializers in little-endian raw_data', () => {
    expect(graph.initializer.length).toBeGreaterThan(0);
    for (const tensor of graph.initializer) {
      expect(tensor.dataType).toBe(onnx.TensorProto.DataType.FLOAT);
      const count = tensor.dims.reduce((n, d) => n * d, 1);
      expect(tensor.rawData.length).toBe(4 * count);
    }
    const weights = graph.initializer.find((t) => t.name === 'localfit/dense0/weights');
    expect(weights?.dims).toEqual([12, 16]);
    const raw = weights?.rawData ?? new Uint8Array();
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const decoded = Float32Array.from({ length: 12 * 16 }, (_, i) => view.getFloat32(4 * i, true));
    expect(decoded).toEqual(backbone.params.layers[0].weights);
  });

  test('the expected operators, in order', () => {
    expect(graph.node.map((node) => node.opType)).toEqual([
      'Sub',
      'Div',
      'Sub',
      'Div',
      'Concat',
      'Gemm',
      'Relu',
      'Gemm',
      'Tanh',
    ]);
    const concat = graph.node.find((node) => node.opType === 'Concat');
    expect(concat?.attribute.map((a) => [a.name, a.i])).toEqual([['axis', 1]]);
  });

  test('metadata_props carry the feature spec as JSON', () => {
    const entries = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
    expect(JSON.parse(entries[FEATURE_SPEC_KEY])).toEqual(backbone.spec);
    expect(model.producerName).toBe('localfit');
  });
});
