import { InferenceSession, Tensor } from 'onnxruntime-web/wasm';
import { isLearnerError, LearnerError } from '../errors.ts';
import type { FeatureInput, FeatureSpec } from './feature_spec.ts';
import { validateFeatureSpec } from './feature_spec.ts';
import type { PackedBatch } from './features.ts';
import { readFeatureSpec } from './model_metadata.ts';

/**
 * The frozen server-trained part of a model version: an ONNX graph run by onnxruntime-web that
 * turns the app's inputs into the feature vector the on-device head learns on.
 */
export interface Backbone {
  readonly spec: FeatureSpec;
  /** Hex sha256 of the model bytes: the version's content address. */
  readonly sha256: string;
  /** Runs the graph on a batch; returns n × spec.output.size floats. */
  embed(batch: PackedBatch): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Loads model bytes and proves they fit their feature spec before anything is served: the spec
 * (embedded in the model, or given) must name the graph's inputs and output with matching
 * widths, and a warm-up run must return the promised embedding size. Anything else is BAD_MODEL.
 */
export async function loadBackbone(bytes: Uint8Array, givenSpec?: FeatureSpec): Promise<Backbone> {
  const spec = givenSpec ? validateFeatureSpec(givenSpec) : readFeatureSpec(bytes);
  const sha256 = await sha256Hex(bytes);
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(bytes, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    throw new LearnerError('BAD_MODEL', `onnxruntime could not load the model: ${describe(error)}`);
  }
  try {
    checkSignature(session, spec);
    const backbone = new OnnxBackbone(session, spec, sha256);
    await backbone.embed(zeroBatch(spec));
    return backbone;
  } catch (error) {
    await session.release();
    if (isLearnerError(error)) throw error;
    throw new LearnerError('BAD_MODEL', `the model does not run on its spec: ${describe(error)}`);
  }
}

class OnnxBackbone implements Backbone {
  /** Runs one at a time: onnxruntime-web's sessions are not meant for overlapping runs. */
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly session: InferenceSession,
    readonly spec: FeatureSpec,
    readonly sha256: string,
  ) {}

  embed(batch: PackedBatch): Promise<Float32Array> {
    const run = this.last.then(
      () => this.run(batch),
      () => this.run(batch),
    );
    this.last = run.catch(() => undefined);
    return run;
  }

  private async run(batch: PackedBatch): Promise<Float32Array> {
    const feeds: Record<string, Tensor> = {};
    for (const input of this.spec.inputs) {
      feeds[input.name] = new Tensor('float32', batch.columns[input.name], [batch.n, input.size]);
    }
    const { name, size } = this.spec.output;
    const results = await this.session.run(feeds, [name]);
    const output = results[name];
    if (
      !output ||
      !(output.data instanceof Float32Array) ||
      output.data.length !== batch.n * size
    ) {
      throw new LearnerError(
        'BAD_MODEL',
        `output "${name}" should be float32 [${batch.n}, ${size}], got ${output?.type} [${output?.dims}]`,
      );
    }
    return output.data;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

function checkSignature(session: InferenceSession, spec: FeatureSpec): void {
  const expectWidth = (
    kind: 'input' | 'output',
    metadata: readonly InferenceSession.ValueMetadata[],
    want: Pick<FeatureInput, 'name' | 'size'>,
  ) => {
    const found = metadata.find((m) => m.name === want.name);
    if (!found) {
      const names = metadata.map((m) => m.name).join(', ');
      throw new LearnerError(
        'BAD_MODEL',
        `the spec's ${kind} "${want.name}" is not in the model (it has: ${names})`,
      );
    }
    if (!found.isTensor)
      throw new LearnerError('BAD_MODEL', `${kind} "${want.name}" is not a tensor`);
    if (found.type !== 'float32') {
      throw new LearnerError('BAD_MODEL', `${kind} "${want.name}" is ${found.type}, not float32`);
    }
    const width = found.shape[found.shape.length - 1];
    if (found.shape.length !== 2 || (typeof width === 'number' && width !== want.size)) {
      throw new LearnerError(
        'BAD_MODEL',
        `${kind} "${want.name}" has shape [${found.shape}], the spec says [batch, ${want.size}]`,
      );
    }
  };
  for (const input of spec.inputs) expectWidth('input', session.inputMetadata, input);
  expectWidth('output', session.outputMetadata, spec.output);
}

function zeroBatch(spec: FeatureSpec): PackedBatch {
  const columns: Record<string, Float32Array> = {};
  for (const input of spec.inputs) columns[input.name] = new Float32Array(input.size);
  return { n: 1, columns };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
