import { InferenceSession, Tensor } from 'onnxruntime-web/wasm';
import { describeError, isLearnerError, LearnerError } from '../errors.ts';
import { sha256Hex } from '../sha256.ts';
import type { FeatureInput, FeatureSpec, FeatureSpecInit } from './feature_spec.ts';
import { FEATURE_SPEC_KEY, validateFeatureSpec, validateFeatureSpecInit } from './feature_spec.ts';
import type { Column, PackedBatch } from './features.ts';
import { allFinite, badId, checkColumnValues, columnType } from './features.ts';
import { embeddedFeatureSpec } from './model_metadata.ts';

/**
 * The frozen server-trained part of a model version: an ONNX graph run by onnxruntime-web that
 * turns the app's inputs into the feature vector the on-device head learns on.
 *
 * Models come as people export them (`torch.onnx.export`): inputs float32, float64, or int32 /
 * int64 ids (an embedding lookup), of shape [batch], [batch, size] or [batch, ...shape]; the
 * output [batch, d], [batch], [batch, 1] or [batch, 1, d] (unit axes dropped: onnxruntime's
 * buffer is used as it is, no copy), chosen by name when there are several. A model exported
 * without dynamic axes (batch fixed at B) runs in chunks of B, the last one padded.
 */
export interface Backbone {
  readonly spec: FeatureSpec;
  /** Hex sha256 of the model bytes: the version's content address. */
  readonly sha256: string;
  /** Examples one run of the graph takes: the model's fixed batch size, or Infinity. */
  readonly batchSize: number;
  /** Runs the graph on a batch; returns n × spec.output.size floats. */
  embed(batch: PackedBatch): Promise<Float32Array>;
  release(): Promise<void>;
}

const DYNAMIC_AXES_HINT =
  "export it with dynamic_axes={'x': {0: 'batch'}, 'y': {0: 'batch'}} (your input and output names) in torch.onnx.export";

/**
 * Loads model bytes and proves they fit their feature spec before anything is served: the spec
 * (given, or embedded in the model) must name the graph's inputs and output with matching
 * types and widths, and a warm-up run must return the promised embedding size. Anything else
 * is BAD_MODEL, with what to change.
 */
export async function loadBackbone(
  bytes: Uint8Array,
  givenSpec?: FeatureSpecInit,
): Promise<Backbone> {
  const init = givenSpec ? validateFeatureSpecInit(givenSpec) : embeddedFeatureSpec(bytes);
  const sha256 = await sha256Hex(bytes);
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(bytes, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    throw new LearnerError(
      'BAD_MODEL',
      `onnxruntime could not load the model: ${describeError(error)} (is it an ONNX file, exported with an opset onnxruntime-web supports, e.g. torch.onnx.export(..., opset_version=17)?)`,
    );
  }
  try {
    if (!init) throw noSpec(session);
    const plan = planSignature(session, init);
    const backbone = new OnnxBackbone(session, plan, sha256);
    await backbone.warmUp(init);
    return backbone;
  } catch (error) {
    await session.release();
    if (isLearnerError(error)) throw error;
    throw new LearnerError(
      'BAD_MODEL',
      `the model does not run on its spec: ${describeError(error)}`,
    );
  }
}

/** How the spec's inputs become the model's tensors, and which output the head reads. */
interface Signature {
  inputs: { input: FeatureInput; dims: number[] }[];
  output: string;
  /** The output's width when the model's shape says it (else the warm-up run does). */
  outputSize?: number;
  /** A batch axis fixed by the model (exported without dynamic axes). */
  fixedBatch?: number;
}

class OnnxBackbone implements Backbone {
  /** Runs one at a time: onnxruntime-web's sessions are not meant for overlapping runs. */
  private last: Promise<unknown> = Promise.resolve();
  spec!: FeatureSpec;
  batchSize: number;

  private readonly session: InferenceSession;
  private readonly signature: Signature;
  readonly sha256: string;
  constructor(session: InferenceSession, signature: Signature, sha256: string) {
    this.session = session;
    this.signature = signature;
    this.sha256 = sha256;
    this.batchSize = signature.fixedBatch ?? Number.POSITIVE_INFINITY;
  }

  /**
   * A first run on zeros: it proves the graph runs on the spec and gives the output's width when
   * the model's shape leaves it open. A model whose batch axis is declared dynamic but fixed
   * inside (a traced reshape) fails on two rows and runs on one: it is run one example a time.
   */
  async warmUp(init: FeatureSpecInit): Promise<void> {
    const rows = this.signature.fixedBatch ?? 2;
    let result: Tensor;
    try {
      result = await this.runOnce(zeroColumns(this.signature, rows), 0, rows, rows);
    } catch (error) {
      if (this.signature.fixedBatch !== undefined) throw error;
      result = await this.runOnce(zeroColumns(this.signature, 1), 0, 1, 1);
      this.batchSize = 1;
    }
    const size = init.output?.size ?? this.signature.outputSize ?? widthOf(result);
    this.spec = validateFeatureSpec({ ...init, output: { name: this.signature.output, size } });
    this.readOutput(result, Math.min(rows, this.batchSize));
  }

  embed(batch: PackedBatch): Promise<Float32Array> {
    const run = this.last.then(
      () => this.run(batch),
      () => this.run(batch),
    );
    this.last = run.catch(() => undefined);
    return run;
  }

  private async run(batch: PackedBatch): Promise<Float32Array> {
    const { n, columns } = batch;
    const chunk = this.batchSize;
    // The common case: one run over the app's own buffers, the output used as onnxruntime gave it.
    if (chunk === Number.POSITIVE_INFINITY || n === chunk) {
      return this.readOutput(await this.runOnce(columns, 0, n, n), n);
    }
    const { size } = this.spec.output;
    const out = new Float32Array(n * size);
    for (let start = 0; start < n; start += chunk) {
      const rows = Math.min(chunk, n - start);
      const part = this.readOutput(await this.runOnce(columns, start, rows, chunk), chunk);
      out.set(part.subarray(0, rows * size), start * size);
    }
    return out;
  }

  /** One session.run over rows [start, start + rows), padded with zeros to `padded` rows. */
  private async runOnce(
    columns: Record<string, Column>,
    start: number,
    rows: number,
    padded: number,
  ): Promise<Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (const { input, dims } of this.signature.inputs) {
      feeds[input.name] = tensorOf(input, columns[input.name], start, rows, padded, dims);
    }
    const name = this.signature.output;
    let results: InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run(feeds, [name]);
    } catch (error) {
      // Bad values the caller did not check (predict checks shapes only) are the input's fault.
      for (const { input } of this.signature.inputs) checkColumnValues(input, columns[input.name]);
      const hint =
        this.signature.fixedBatch === undefined
          ? `; if the model only runs on a fixed batch, ${DYNAMIC_AXES_HINT}`
          : '';
      throw new LearnerError(
        'BAD_MODEL',
        `onnxruntime failed running the model on ${padded} example(s): ${describeError(error)}${hint}`,
      );
    }
    const output = results[name];
    if (!(output instanceof Tensor)) {
      throw new LearnerError('BAD_MODEL', `the model gave no tensor "${name}"`);
    }
    return output;
  }

  /**
   * The output as n × size floats: [rows, size], [rows], [rows, 1, size]… all share
   * onnxruntime's row-major buffer, so dropping unit axes costs nothing; float64 is converted.
   */
  private readOutput(output: Tensor, rows: number): Float32Array {
    const { name, size } = this.spec.output;
    const dims = output.dims;
    let width = 1;
    let wide = 0;
    for (let i = 1; i < dims.length; i++) {
      width *= dims[i];
      if (dims[i] !== 1) wide++;
    }
    if (dims.length === 0 || dims[0] !== rows || width !== size || wide > 1) {
      throw new LearnerError(
        'BAD_MODEL',
        `output "${name}" came out [${dims}] for ${rows} example(s); the spec needs [${rows}, ${size}] (or [${rows}], [${rows}, 1, ${size}]): check featureSpec.output.size, and that the first axis is the batch`,
      );
    }
    const data = output.data;
    if (data instanceof Float32Array) return data;
    if (data instanceof Float64Array) return Float32Array.from(data);
    throw new LearnerError(
      'BAD_MODEL',
      `output "${name}" is ${output.type}; the head needs float32 or float64: cast it in the model (.float() in PyTorch)`,
    );
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/**
 * The embedding as a learner error when a value is NaN or ±∞ although the inputs are finite:
 * the model's fault (an overflow, a log or division on this input), named by its output.
 */
export function checkEmbedding(spec: FeatureSpec, embedding: Float32Array): void {
  if (allFinite(embedding)) return;
  const { name, size } = spec.output;
  const i = embedding.findIndex((value) => !Number.isFinite(value));
  throw new LearnerError(
    'MODEL_OUTPUT_NON_FINITE',
    `the model's output "${name}" is ${embedding[i]} for example ${Math.floor(i / size)} (component ${i % size}) although its inputs are finite: the model overflows or divides by zero there; run it on the same input in PyTorch, fix it (clamp, eps, normalisation) and re-export`,
  );
}

/** A column's rows as the model's input tensor: the column itself when nothing changes. */
function tensorOf(
  input: FeatureInput,
  column: Column,
  start: number,
  rows: number,
  padded: number,
  dims: number[],
): Tensor {
  const shape = [padded, ...dims];
  const { size } = input;
  const dtype = input.dtype ?? 'float32';
  if (dtype === 'float32' || dtype === 'float64') {
    let values = column;
    if (start !== 0 || rows !== padded || column.length !== padded * size) {
      values = new (columnType(input))(padded * size);
      values.set(column.subarray(start * size, (start + rows) * size));
    }
    return new Tensor(dtype, values as Float32Array, shape);
  }
  // Ids: checked as they are converted (a hand-packed batch reaches here unchecked).
  const ids = dtype === 'int64' ? new BigInt64Array(padded * size) : new Int32Array(padded * size);
  const from = start * size;
  for (let i = 0; i < rows * size; i++) {
    const value = column[from + i];
    if (badId(input, value) !== undefined) checkColumnValues(input, column);
    if (ids instanceof BigInt64Array) ids[i] = BigInt(value);
    else ids[i] = value;
  }
  return new Tensor(dtype, ids, shape);
}

/** Zero inputs of `rows` examples: id 0 is in every vocabulary. */
function zeroColumns(signature: Signature, rows: number): Record<string, Column> {
  const columns: Record<string, Column> = {};
  for (const { input } of signature.inputs) {
    columns[input.name] = new (columnType(input))(rows * input.size);
  }
  return columns;
}

function widthOf(output: Tensor): number {
  return output.dims.slice(1).reduce((product, d) => product * d, 1);
}

type Dim = number | string;

/** A dimension the model fixes (a positive number), or undefined for a symbolic one. */
function fixed(dim: Dim | undefined): number | undefined {
  return typeof dim === 'number' && dim > 0 ? dim : undefined;
}

function shapeText(shape: readonly Dim[]): string {
  return `[${shape.map((d) => fixed(d) ?? (typeof d === 'string' && d !== '' ? d : '?')).join(', ')}]`;
}

/**
 * Matches the spec against the model's declared inputs and outputs: names, element types,
 * per-example widths, the batch axis. Shapes the model leaves symbolic are trusted to the spec
 * (the warm-up run checks them).
 */
function planSignature(session: InferenceSession, spec: FeatureSpecInit): Signature {
  const find = (kind: 'input' | 'output', name: string) => {
    const metadata = kind === 'input' ? session.inputMetadata : session.outputMetadata;
    const found = metadata.find((m) => m.name === name);
    if (!found) {
      const names = metadata.map((m) => `"${m.name}"`).join(', ');
      throw new LearnerError(
        'BAD_MODEL',
        `the spec's ${kind} "${name}" is not in the model, which has ${kind}s ${names}: use those names in featureSpec (input_names/output_names in torch.onnx.export)`,
      );
    }
    if (!found.isTensor) throw new LearnerError('BAD_MODEL', `${kind} "${name}" is not a tensor`);
    return found;
  };

  const batches = new Set<number>();
  const inputs = spec.inputs.map((input, index) => {
    const where = `featureSpec.inputs[${index}]`;
    const found = find('input', input.name);
    const dtype = input.dtype ?? 'float32';
    if (found.type !== dtype) {
      throw new LearnerError(
        'BAD_MODEL',
        `input "${input.name}" is ${found.type} in the model, the spec says ${dtype}: set dtype: '${found.type}' in ${where}${['float32', 'float64', 'int32', 'int64'].includes(found.type) ? '' : ' (localfit feeds float32, float64, int32 and int64)'}`,
      );
    }
    const shape = found.shape;
    const batch = fixed(shape[0]);
    if (batch !== undefined) batches.add(batch);
    let dims = input.shape ?? [input.size];
    if (shape.length === 1) {
      if (input.size !== 1) {
        throw new LearnerError(
          'BAD_MODEL',
          `input "${input.name}" is ${shapeText(shape)} (one value per example); the spec says size ${input.size}: set size: 1 in ${where}`,
        );
      }
      dims = [];
    } else if (shape.length > 1) {
      const trailing = shape.slice(1).map(fixed);
      if (trailing.every((d) => d !== undefined)) {
        const width = trailing.reduce((product, d) => product * d, 1);
        const given = input.shape?.join(',');
        if (width !== input.size || (given !== undefined && given !== trailing.join(','))) {
          throw new LearnerError(
            'BAD_MODEL',
            `input "${input.name}" has shape ${shapeText(shape)} (${width} values per example); the spec says ${input.shape ? `shape [${input.shape}]` : `size ${input.size}`}: set size: ${width} in ${where}`,
          );
        }
        dims = trailing;
      } else if (shape.length > 2 && !input.shape) {
        throw new LearnerError(
          'BAD_MODEL',
          `input "${input.name}" has shape ${shapeText(shape)}: give its per-example shape in ${where}.shape (e.g. [5, 4]) or export it with fixed sizes after the batch axis`,
        );
      }
    }
    return { input, dims };
  });
  if (batches.size > 1) {
    throw new LearnerError(
      'BAD_MODEL',
      `the model's inputs fix different batch sizes (${[...batches]}): ${DYNAMIC_AXES_HINT}`,
    );
  }

  const outputs = session.outputMetadata;
  let name = spec.output?.name;
  if (name === undefined) {
    if (outputs.length !== 1) {
      throw new LearnerError(
        'BAD_MODEL',
        `the model has ${outputs.length} outputs (${outputs.map((m) => `"${m.name}"`).join(', ')}): name the one the head learns on in featureSpec.output.name`,
      );
    }
    name = outputs[0].name;
  }
  const found = find('output', name);
  if (found.type !== 'float32' && found.type !== 'float64') {
    throw new LearnerError(
      'BAD_MODEL',
      `output "${name}" is ${found.type}; the head needs float32 or float64: cast it in the model (.float() in PyTorch)`,
    );
  }
  const shape = found.shape;
  const batch = fixed(shape[0]);
  if (batch !== undefined && batches.size > 0 && !batches.has(batch)) {
    throw new LearnerError(
      'BAD_MODEL',
      `output "${name}" has batch ${batch}, the inputs ${[...batches]}: ${DYNAMIC_AXES_HINT}`,
    );
  }
  const trailing = shape.slice(1).map(fixed);
  let outputSize: number | undefined;
  if (shape.length > 0 && trailing.every((d) => d !== undefined)) {
    if (trailing.filter((d) => d !== 1).length > 1) {
      throw new LearnerError(
        'BAD_MODEL',
        `output "${name}" has shape ${shapeText(shape)}: the head needs one vector per example ([batch, d], [batch], [batch, 1, d]); pool or flatten it in the model`,
      );
    }
    outputSize = trailing.reduce((product, d) => product * d, 1);
    const want = spec.output?.size;
    if (want !== undefined && want !== outputSize) {
      throw new LearnerError(
        'BAD_MODEL',
        `output "${name}" has shape ${shapeText(shape)} (${outputSize} values per example); the spec says [batch, ${want}]: set featureSpec.output.size to ${outputSize}`,
      );
    }
  }
  const fixedBatch = batches.size === 1 ? [...batches][0] : batch;
  return {
    inputs,
    output: name,
    ...(outputSize !== undefined ? { outputSize } : {}),
    ...(fixedBatch !== undefined ? { fixedBatch } : {}),
  };
}

/** The model carries no spec and none was given: say what to pass, from the model itself. */
function noSpec(session: InferenceSession): LearnerError {
  const described = (m: InferenceSession.ValueMetadata) =>
    m.isTensor ? `"${m.name}" ${m.type} ${shapeText(m.shape)}` : `"${m.name}"`;
  const suggestion = {
    inputs: session.inputMetadata.map((m) => {
      const trailing = m.isTensor ? m.shape.slice(1).map(fixed) : [];
      const size = trailing.every((d) => d !== undefined)
        ? trailing.reduce((product, d) => product * d, 1)
        : '?';
      const dtype = m.isTensor && m.type !== 'float32' ? { dtype: m.type } : {};
      return { name: m.name, size, ...dtype };
    }),
    output: { name: session.outputMetadata[0]?.name },
    task: 'binary',
  };
  return new LearnerError(
    'BAD_MODEL',
    `the model carries no feature spec (metadata key ${FEATURE_SPEC_KEY}): pass featureSpec to createLearner, e.g. featureSpec: ${JSON.stringify(suggestion)}. The model takes ${session.inputMetadata.map(described).join(', ')} and gives ${session.outputMetadata.map(described).join(', ')}`,
  );
}
