/**
 * Reads an ONNX model's metadata (and opset) on the device, before the model is handed to
 * onnxruntime: the feature spec in `metadata_props` says whether a download fits the app.
 *
 * A full protobuf library (onnx-proto + protobufjs) would cost more bundle than the whole
 * worker, and we need four fields, so this is a minimal reader of the protobuf wire format:
 * varints and length-delimited fields, with fixed-width ones skipped. It walks ModelProto's
 * top level only and skips the graph (field 7) by its length without looking inside, so
 * reading a large model costs next to nothing.
 *
 * Every read is bounds-checked and every loop consumes at least one byte, so any input —
 * random bytes, a truncated file, a JSON error page — ends in a `LearnerError('BAD_MODEL')`,
 * never an endless loop or a RangeError.
 */
import { LearnerError } from '../errors.ts';
import { FEATURE_SPEC_KEY, type FeatureSpec, validateFeatureSpec } from './feature_spec.ts';

export interface ModelMetadata {
  /** ModelProto.metadata_props as a map. */
  metadata: Record<string, string>;
  /** Version of the default-domain ('' or 'ai.onnx') opset the model imports, if any. */
  opset?: number;
  /** ModelProto.ir_version. */
  irVersion: number;
}

// ModelProto fields (onnx.proto3).
const MODEL_IR_VERSION = 1;
const MODEL_GRAPH = 7;
const MODEL_OPSET_IMPORT = 8;
const MODEL_METADATA_PROPS = 14;
// StringStringEntryProto and OperatorSetIdProto fields.
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;
const OPSET_DOMAIN = 1;
const OPSET_VERSION = 2;

// Wire types.
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(why: string): never {
  throw new LearnerError('BAD_MODEL', `not a valid ONNX model: ${why}`);
}

/** A cursor over one protobuf message (a subarray of the file). */
class Reader {
  private pos = 0;

  private readonly bytes: Uint8Array;
  private readonly what: string;
  constructor(bytes: Uint8Array, what: string) {
    this.bytes = bytes;
    this.what = what;
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  /**
   * A varint as a JS number. Exact up to 2^53, which covers every length, field number
   * and version we care about; larger values only need to be skipped.
   */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) bad(`${this.what}: varint runs past the end`);
      const byte = this.bytes[this.pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    return bad(`${this.what}: varint longer than 10 bytes`);
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wire: number } {
    const tag = this.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0 || field > 0x1fffffff) bad(`${this.what}: invalid field number ${field}`);
    return { field, wire };
  }

  bytesField(): Uint8Array {
    const length = this.varint();
    if (length > this.bytes.length - this.pos)
      bad(`${this.what}: field of ${length} bytes runs past the end (file truncated?)`);
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  string(): string {
    const raw = this.bytesField();
    try {
      return utf8.decode(raw);
    } catch {
      return bad(`${this.what}: string is not UTF-8`);
    }
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === LENGTH_DELIMITED) this.bytesField();
    else if (wire === FIXED64 || wire === FIXED32) {
      const width = wire === FIXED64 ? 8 : 4;
      if (width > this.bytes.length - this.pos) bad(`${this.what}: fixed field runs past the end`);
      this.pos += width;
    }
    // Groups (3, 4) are deprecated and unused by ONNX; 6 and 7 do not exist.
    else bad(`${this.what}: unsupported wire type ${wire}`);
  }

  /** Asserts that a known field has the wire type the schema gives it. */
  expect(field: number, wire: number, expected: number): void {
    if (wire !== expected)
      bad(`${this.what}: field ${field} has wire type ${wire}, expected ${expected}`);
  }
}

function readEntry(bytes: Uint8Array): [string, string] {
  const reader = new Reader(bytes, 'metadata_props entry');
  let key = '';
  let value = '';
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (field === ENTRY_KEY || field === ENTRY_VALUE) {
      reader.expect(field, wire, LENGTH_DELIMITED);
      if (field === ENTRY_KEY) key = reader.string();
      else value = reader.string();
    } else reader.skip(wire);
  }
  return [key, value];
}

function readOpset(bytes: Uint8Array): { domain: string; version?: number } {
  const reader = new Reader(bytes, 'opset_import entry');
  let domain = '';
  let version: number | undefined;
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (field === OPSET_DOMAIN) {
      reader.expect(field, wire, LENGTH_DELIMITED);
      domain = reader.string();
    } else if (field === OPSET_VERSION) {
      reader.expect(field, wire, VARINT);
      version = reader.varint();
    } else reader.skip(wire);
  }
  return { domain, version };
}

/**
 * The metadata_props, default-domain opset and IR version of ONNX model bytes. Throws
 * BAD_MODEL if the bytes are not a well-formed ModelProto with an IR version and a graph.
 */
export function readModelMetadata(bytes: Uint8Array | ArrayBuffer): ModelMetadata {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (view.length === 0) bad('the file is empty');
  const reader = new Reader(view, 'ModelProto');
  const metadata: Record<string, string> = Object.create(null);
  let irVersion: number | undefined;
  let opset: number | undefined;
  let hasGraph = false;
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (field === MODEL_IR_VERSION) {
      reader.expect(field, wire, VARINT);
      irVersion = reader.varint();
    } else if (field === MODEL_GRAPH) {
      reader.expect(field, wire, LENGTH_DELIMITED);
      reader.bytesField();
      hasGraph = true;
    } else if (field === MODEL_OPSET_IMPORT) {
      reader.expect(field, wire, LENGTH_DELIMITED);
      const entry = readOpset(reader.bytesField());
      if ((entry.domain === '' || entry.domain === 'ai.onnx') && entry.version !== undefined)
        opset = entry.version;
    } else if (field === MODEL_METADATA_PROPS) {
      reader.expect(field, wire, LENGTH_DELIMITED);
      const [key, value] = readEntry(reader.bytesField());
      if (Object.hasOwn(metadata, key)) bad(`metadata key ${key} appears twice`);
      metadata[key] = value;
    } else reader.skip(wire);
  }
  // Arbitrary bytes can happen to parse as protobuf; a model always has both of these.
  if (irVersion === undefined || irVersion === 0) bad('no ir_version');
  if (!hasGraph) bad('no graph');
  // A plain object again, so callers can spread it and compare it as usual.
  return { metadata: { ...metadata }, irVersion, ...(opset === undefined ? {} : { opset }) };
}

/** The model's feature spec (JSON under FEATURE_SPEC_KEY), validated; BAD_MODEL otherwise. */
export function readFeatureSpec(bytes: Uint8Array | ArrayBuffer): FeatureSpec {
  const spec = embeddedFeatureSpec(bytes);
  if (spec === undefined)
    throw new LearnerError(
      'BAD_MODEL',
      `model has no feature spec (metadata key ${FEATURE_SPEC_KEY}): pass featureSpec with it, or build it with localfit's exporter (models/onnx)`,
    );
  return spec;
}

/**
 * The feature spec the model carries, validated, or undefined when it carries none (a model
 * exported by PyTorch, say: then the app passes `featureSpec`). BAD_MODEL for bytes that are
 * not ONNX or a spec that is not valid.
 */
export function embeddedFeatureSpec(bytes: Uint8Array | ArrayBuffer): FeatureSpec | undefined {
  const { metadata } = readModelMetadata(bytes);
  const json = metadata[FEATURE_SPEC_KEY];
  if (json === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new LearnerError(
      'BAD_MODEL',
      `feature spec under ${FEATURE_SPEC_KEY} is not JSON: ${(error as Error).message}`,
    );
  }
  return validateFeatureSpec(parsed);
}
