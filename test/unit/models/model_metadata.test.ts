import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { onnx } from '../../../models/onnx/proto.ts';
import { makeTestBackbone } from '../../../models/testing.ts';
import { FEATURE_SPEC_KEY } from '../../../src/backbone/feature_spec.ts';
import { readFeatureSpec, readModelMetadata } from '../../../src/backbone/model_metadata.ts';
import { isLearnerError } from '../../../src/errors.ts';

/** Runs `read` and returns the LearnerError it must throw (any other outcome fails). */
function badModel(read: () => unknown): Error {
  let thrown: unknown;
  try {
    read();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected a throw').toBeDefined();
  expect(isLearnerError(thrown), `expected a LearnerError, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe('BAD_MODEL');
  return thrown as Error;
}

/** A ModelProto built with the full schema, for cases the writer never produces. */
function encode(model: Parameters<typeof onnx.ModelProto.create>[0]): Uint8Array {
  return new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
}
const tinyGraph = { name: 'g', node: [{ opType: 'Relu', input: ['x'], output: ['y'] }] };

describe('readModelMetadata / readFeatureSpec on exported models', () => {
  test('metadata round trip', () => {
    const backbone = makeTestBackbone({ normalize: true, raw: true });
    const read = readModelMetadata(backbone.bytes);
    expect(read.opset).toBe(17);
    expect(read.irVersion).toBe(8);
    expect(JSON.parse(read.metadata[FEATURE_SPEC_KEY])).toEqual(backbone.spec);
    expect(read.metadata['localfit.format_version']).toBe('1');
    expect(read.metadata['localfit.input_normalization']).toBe('in-graph');
    expect(readFeatureSpec(backbone.bytes)).toEqual(backbone.spec);
  });

  test('agrees with the full protobuf decoder on every metadata entry', () => {
    const bytes = makeTestBackbone({ task: 'multiclass', classes: ['a', 'b', 'c'] }).bytes;
    const decoded = onnx.ModelProto.decode(bytes);
    const expected = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    expect(readModelMetadata(bytes).metadata).toEqual(expected);
    expect(readFeatureSpec(bytes).classes).toEqual(['a', 'b', 'c']);
  });

  test('accepts an ArrayBuffer and a subarray view of a larger buffer', () => {
    const { bytes, spec } = makeTestBackbone();
    expect(readFeatureSpec(bytes.slice().buffer)).toEqual(spec);
    const padded = new Uint8Array(bytes.length + 20);
    padded.set(bytes, 10);
    expect(readFeatureSpec(padded.subarray(10, 10 + bytes.length))).toEqual(spec);
  });

  test('extra metadata, unicode, other domains and unknown fields', () => {
    const bytes = encode({
      irVersion: 8,
      producerName: 'elsewhere',
      modelVersion: 12345678901,
      docString: 'some doc',
      opsetImport: [
        { domain: 'com.microsoft', version: 1 },
        { domain: 'ai.onnx', version: 13 },
      ],
      graph: tinyGraph,
      metadataProps: [
        { key: 'note', value: 'héllo — 日本' },
        { key: 'empty', value: '' },
      ],
    });
    expect(readModelMetadata(bytes)).toEqual({
      metadata: { note: 'héllo — 日本', empty: '' },
      opset: 13,
      irVersion: 8,
    });
    badModel(() => readFeatureSpec(bytes));
  });

  test('no opset_import → opset undefined', () => {
    const read = readModelMetadata(encode({ irVersion: 3, graph: tinyGraph }));
    expect(read.opset).toBeUndefined();
    expect(read.metadata).toEqual({});
  });
});

describe('malformed bytes → BAD_MODEL', () => {
  const { bytes } = makeTestBackbone();

  test('empty', () => {
    expect(badModel(() => readModelMetadata(new Uint8Array(0))).message).toMatch(/empty/);
  });

  test('random bytes', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = mulberry32(seed);
      const noise = Uint8Array.from({ length: 1 + (seed % 97) * 13 }, () => random() * 256);
      badModel(() => readFeatureSpec(noise));
    }
  });

  test('a JSON file (e.g. an error page served instead of the model)', () => {
    const json = new TextEncoder().encode(JSON.stringify({ error: 'not found', status: 404 }));
    badModel(() => readModelMetadata(json));
    badModel(() => readModelMetadata(new TextEncoder().encode('<!doctype html><p>404</p>')));
  });

  test('every truncation of a real model', () => {
    for (let length = 0; length < bytes.length; length++) {
      badModel(() => readFeatureSpec(bytes.subarray(0, length)));
    }
  });

  test('a varint that runs past the end, or never ends', () => {
    expect(badModel(() => readModelMetadata(Uint8Array.of(0x08, 0xff))).message).toMatch(/varint/);
    expect(
      badModel(() => readModelMetadata(Uint8Array.of(0x08, ...Array(11).fill(0xff), 1))).message,
    ).toMatch(/varint/);
  });

  test('a length past the end', () => {
    // field 7 (graph), length-delimited, 100 bytes claimed, 2 present
    expect(
      badModel(() => readModelMetadata(Uint8Array.of(0x08, 8, 0x3a, 100, 1, 2))).message,
    ).toMatch(/past the end/);
    // a huge length must not wrap around or allocate
    badModel(() => readModelMetadata(Uint8Array.of(0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f)));
  });

  test('invalid tags and wire types', () => {
    badModel(() => readModelMetadata(Uint8Array.of(0x00, 0x00))); // field 0
    badModel(() => readModelMetadata(Uint8Array.of(0x0b))); // field 1, start group
    badModel(() => readModelMetadata(Uint8Array.of(0x0e))); // wire type 6
    badModel(() => readModelMetadata(Uint8Array.of(0x3a & ~7, 1))); // graph as a varint
    badModel(() => readModelMetadata(Uint8Array.of(0x0d, 1, 2))); // fixed32 cut short
  });

  test('a well-formed message that is not a model (no graph, no ir_version)', () => {
    expect(badModel(() => readModelMetadata(encode({ irVersion: 8 }))).message).toMatch(/graph/);
    expect(badModel(() => readModelMetadata(encode({ graph: tinyGraph }))).message).toMatch(
      /ir_version/,
    );
  });

  test('metadata entries with invalid UTF-8 or a duplicate key', () => {
    const model = encode({
      irVersion: 8,
      graph: tinyGraph,
      metadataProps: [{ key: 'k', value: 'v' }],
    });
    // Turn the value's 'v' (0x76) into 0xff: not UTF-8.
    const broken = model.slice();
    broken[broken.lastIndexOf(0x76)] = 0xff;
    expect(badModel(() => readModelMetadata(broken)).message).toMatch(/UTF-8/);
    const duplicated = encode({
      irVersion: 8,
      graph: tinyGraph,
      metadataProps: [
        { key: 'k', value: '1' },
        { key: 'k', value: '2' },
      ],
    });
    expect(badModel(() => readModelMetadata(duplicated)).message).toMatch(/twice/);
  });

  test('a feature spec that is not JSON or not a valid spec', () => {
    const withSpec = (value: string) =>
      encode({ irVersion: 8, graph: tinyGraph, metadataProps: [{ key: FEATURE_SPEC_KEY, value }] });
    expect(badModel(() => readFeatureSpec(withSpec('{"inputs": ['))).message).toMatch(/not JSON/);
    expect(badModel(() => readFeatureSpec(withSpec('{"inputs": []}'))).message).toMatch(
      /invalid feature spec/,
    );
    expect(badModel(() => readFeatureSpec(withSpec('null'))).message).toMatch(
      /invalid feature spec/,
    );
  });
});
