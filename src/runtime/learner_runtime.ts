import type { Backbone } from '../backbone/backbone.ts';
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import { headDimension } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import { checkPackedBatch } from '../backbone/features.ts';
import { isLearnerError, LearnerError } from '../errors.ts';
import type { ScalerState } from '../learn/index.ts';
import { createHead, restoreHead, StandardScaler } from '../learn/index.ts';
import type { Head, HeadConfig, HeadState, Label } from '../learn/types.ts';
import type { LearnerEvent } from './events.ts';

/** Head settings an app may choose; the task, classes and width come from the feature spec. */
export type HeadOptions = Omit<HeadConfig, 'task' | 'dim' | 'classes'>;

export interface PredictionBatch {
  versionId: string;
  /** One score per example: P(positive) for binary, the value for regression, P(top class) for multiclass. */
  scores: Float32Array;
  /** Multiclass only: n × classes probabilities, row-major. */
  probabilities?: Float32Array;
}

export interface LearnerStats {
  versionId: string;
  task: FeatureSpec['task'];
  /** Width of the head's input (embedding + raw features). */
  headDimension: number;
  predictions: number;
  observed: number;
  /** Inputs and labels refused as bad, with nothing learned from them. */
  rejected: number;
  /** Times the head's weights went non-finite and were restored. */
  restores: number;
}

/**
 * The learner as it runs inside the worker: backbone → (embedding ⊕ raw features) → online
 * scaler → head. Calls run one at a time in arrival order, so learning is deterministic and a
 * prediction never sees a half-applied update.
 */
export class LearnerRuntime {
  private readonly head: Head;
  private readonly scaler: StandardScaler | undefined;
  private readonly headInput: Float64Array;
  private readonly scaledInput: Float64Array;
  private readonly probabilities: Float64Array;
  private queue: Promise<unknown> = Promise.resolve();
  private counts = { predictions: 0, observed: 0, rejected: 0, restores: 0 };

  constructor(
    private readonly backbone: Backbone,
    head: HeadOptions | HeadState,
    scale: boolean | ScalerState,
    private readonly emit: (event: LearnerEvent) => void,
  ) {
    const { spec } = backbone;
    const dim = headDimension(spec);
    this.head = isHeadState(head)
      ? restoreMatchingHead(head, spec)
      : createHead({ ...head, task: spec.task, dim, classes: spec.classes });
    this.scaler =
      typeof scale === 'object' ? restoreMatchingScaler(scale, dim) : scale ? new StandardScaler(dim) : undefined;
    this.headInput = new Float64Array(dim);
    this.scaledInput = new Float64Array(dim);
    this.probabilities = new Float64Array(Math.max(2, this.head.outputs));
  }

  get versionId(): string {
    return this.backbone.sha256;
  }

  get spec(): FeatureSpec {
    return this.backbone.spec;
  }

  predict(batch: PackedBatch): Promise<PredictionBatch> {
    return this.serialise(async () => {
      const embedding = await this.embedChecked(batch);
      const { n } = batch;
      const scores = new Float32Array(n);
      const multiclass = this.head.task === 'multiclass';
      const outputs = this.head.outputs;
      const probabilities = multiclass ? new Float32Array(n * outputs) : undefined;
      for (let row = 0; row < n; row++) {
        const x = this.assemble(batch, embedding, row);
        scores[row] = this.head.score(x);
        if (probabilities) {
          this.head.predictProba(x, this.probabilities);
          probabilities.set(this.probabilities.subarray(0, outputs), row * outputs);
        }
      }
      this.counts.predictions += n;
      return { versionId: this.versionId, scores, probabilities };
    });
  }

  /** Learns from each example in order (one update per outcome, design invariant 2). */
  observe(batch: PackedBatch, labels: readonly Label[]): Promise<void> {
    return this.serialise(async () => {
      if (!Array.isArray(labels) || labels.length !== batch?.n) {
        this.counts.rejected++;
        throw new LearnerError('BAD_LABEL', `expected ${batch?.n} outcomes, got ${labels?.length}`);
      }
      const embedding = await this.embedChecked(batch);
      for (let row = 0; row < batch.n; row++) {
        const x = this.assemble(batch, embedding, row);
        try {
          this.head.partialFit(x, labels[row]);
        } catch (error) {
          this.countFailure(error);
          throw error;
        }
        // Only after the head accepted the example, so a refused one changes nothing.
        this.scaler?.learn(this.headInput);
        this.counts.observed++;
      }
    });
  }

  stats(): LearnerStats {
    return {
      versionId: this.versionId,
      task: this.head.task,
      headDimension: this.head.dim,
      ...this.counts,
    };
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.backbone.release();
  }

  private async embedChecked(batch: PackedBatch): Promise<Float32Array> {
    try {
      checkPackedBatch(this.backbone.spec, batch);
    } catch (error) {
      this.counts.rejected++;
      throw error;
    }
    return this.backbone.embed(batch);
  }

  /**
   * Writes the head's input for one row into a reused buffer (no allocation per event), scaled
   * with the statistics of the examples before it: the row is scored as it would be predicted.
   */
  private assemble(batch: PackedBatch, embedding: Float32Array, row: number) {
    const x = this.headInput;
    const width = this.backbone.spec.output.size;
    for (let i = 0; i < width; i++) x[i] = embedding[row * width + i];
    let offset = width;
    for (const input of this.backbone.spec.raw ?? []) {
      const column = batch.columns[input.name];
      for (let i = 0; i < input.size; i++) x[offset + i] = column[row * input.size + i];
      offset += input.size;
    }
    return this.scaler ? this.scaler.transform(x, this.scaledInput) : x;
  }

  private countFailure(error: unknown): void {
    if (!isLearnerError(error)) return;
    if (error.code === 'NON_FINITE') {
      this.counts.restores++;
      this.emit({ type: 'error', code: error.code, message: error.message });
    } else {
      this.counts.rejected++;
    }
  }

  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function isHeadState(head: HeadOptions | HeadState): head is HeadState {
  return 'weights' in head && 'config' in head;
}

/** A head trained elsewhere (the version's initial head) must fit this backbone's spec. */
function restoreMatchingHead(state: HeadState, spec: FeatureSpec): Head {
  const head = restoreHead(state);
  const dim = headDimension(spec);
  if (head.task !== spec.task || head.dim !== dim) {
    throw new LearnerError(
      'BAD_CONFIG',
      `the initial head is ${head.task} over ${head.dim} features; the spec needs ${spec.task} over ${dim}`,
    );
  }
  return head;
}

function restoreMatchingScaler(state: ScalerState, dim: number): StandardScaler {
  const scaler = StandardScaler.restore(state);
  if (scaler.dim !== dim) {
    throw new LearnerError('BAD_CONFIG', `the initial scaler has ${scaler.dim} features; the spec needs ${dim}`);
  }
  return scaler;
}
