/**
 * Wraps a graph into a `ModelProto` and encodes it.
 *
 * The opset is pinned (not "latest") so a model's meaning never depends on the exporter's
 * library version, and the IR version is the one that opset was released with: runtimes
 * reject an IR version older than the opset needs, and a newer one only shuts out older
 * runtimes. Nothing time- or machine-dependent goes in, so the same inputs give the same
 * bytes, and hence the same sha256 (a model's address on the sync server).
 */
import { type Onnx, onnx } from './proto.ts';

/** Default-domain opset the writer targets (ONNX 1.12). */
export const OPSET_VERSION = 17;
/** IR version released with opset 17 (ONNX 1.12). */
export const IR_VERSION = 8;
/** `producer_name` of every localfit model. */
export const PRODUCER_NAME = 'localfit';
/** Version of the layout the writer produces (inputs, output, metadata keys); bump on change. */
export const MODEL_FORMAT_VERSION = '1';
/** Metadata key holding {@link MODEL_FORMAT_VERSION}. */
export const FORMAT_VERSION_KEY = 'localfit.format_version';

/**
 * Encodes `graph` as ONNX model bytes. `metadata` is written in the given order (Map keeps
 * insertion order) so the caller decides the layout and the bytes stay deterministic.
 */
export function encodeModel(graph: Onnx.IGraphProto, metadata: Map<string, string>): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    producerName: PRODUCER_NAME,
    producerVersion: MODEL_FORMAT_VERSION,
    graph,
    metadataProps: [...metadata].map(([key, value]) => ({ key, value })),
  });
  // protobufjs hands back a Buffer in Node and a Uint8Array in the browser; copy into a
  // plain Uint8Array so callers (and equality checks in tests) see the same type everywhere.
  return new Uint8Array(onnx.ModelProto.encode(model).finish());
}
