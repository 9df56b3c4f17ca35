/**
 * The one place that imports `onnx-proto`.
 *
 * onnx-proto is CommonJS (`module.exports = $root`), so how its `onnx` namespace shows up
 * depends on who loads it: Node's ESM loader only exposes `default`, vitest adds named
 * exports, Vite's pre-bundler spreads them. Resolving it once here keeps every other file
 * of the writer on a plain typed `onnx` value, in Node and in the browser alike.
 *
 * Only build tools and tests use this; the worker reads models with the dependency-free
 * reader in `src/backbone/model_metadata.ts` instead (protobufjs is too heavy to ship).
 */
import * as onnxModule from 'onnx-proto';

type OnnxNamespace = typeof onnxModule.onnx;

const loaded = onnxModule as unknown as {
  onnx?: OnnxNamespace;
  default?: { onnx?: OnnxNamespace };
};
const resolved = loaded.onnx ?? loaded.default?.onnx;
if (resolved === undefined) throw new Error('onnx-proto did not expose its `onnx` namespace');

/** Runtime classes (`onnx.ModelProto.encode`, …) and enums of the ONNX protobuf schema. */
export const onnx: OnnxNamespace = resolved;

/** The schema's interfaces (`Onnx.INodeProto`, …), for typing plain message objects. */
export type { onnx as Onnx } from 'onnx-proto';
