import type { Backbone } from '../backbone/backbone.ts';
import { checkEmbedding } from '../backbone/backbone.ts';
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import { headDimension } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import { allFinite, checkPackedBatch } from '../backbone/features.ts';
import { LearnerError } from '../errors.ts';
import type { ScalerState } from '../learn/index.ts';
import { createHead, restoreHead, StandardScaler, seedHead } from '../learn/index.ts';
import type { Head, HeadConfig, HeadState, Label } from '../learn/types.ts';

/** Head settings an app may choose; the task, classes and width come from the feature spec. */
export type HeadOptions = Omit<HeadConfig, 'task' | 'dim' | 'classes'>;

/**
 * How a version's head starts: fresh with settings, or trained elsewhere (its state). A single
 * optimizer's state (a version's server-trained `head.json`) seeds the default mixture
 * (`src/learn/mixture/seed.ts`); a mixture's state (the device's own) is restored as it is.
 */
export type HeadStart = HeadOptions | HeadState;

/** Standardise the head's input (default true), or start from a trained scaler's state. */
export type ScalerStart = boolean | ScalerState;

/** Everything a pipeline learned, as plain data: what snapshots store. */
export interface PipelineState {
  head: HeadState;
  scaler?: ScalerState;
}

export interface PredictionBatch {
  versionId: string;
  /** One score per example: P(positive) for binary, the value for regression, P(top class) for multiclass. */
  scores: Float32Array;
  /** Multiclass only: n × classes probabilities, row-major. */
  probabilities?: Float32Array;
}

/** Examples that passed every check, with their embeddings: ready to store and to learn. */
export interface PreparedBatch {
  batch: PackedBatch;
  embedding: Float32Array;
  labels: readonly Label[];
  /** Each example's loss before learning from it (prequential evaluation). */
  losses: Float64Array;
  /** What the head predicted for each example before learning it: label or value. */
  predictions: Label[];
  /** Each example's score before learning it (as `predict` gives it). */
  scores: Float64Array;
}

/**
 * One model version as it runs on the device: backbone → (embedding ⊕ raw features) → online
 * scaler → head. Pure computation over in-memory state; ordering and persistence are the
 * caller's (see learner.ts).
 */
export class Pipeline {
  private readonly headInput: Float64Array;
  private readonly scaledInput: Float64Array;
  private readonly probabilities: Float64Array;

  readonly versionId: string;
  readonly backbone: Backbone;
  private head: Head;
  private scaler: StandardScaler | undefined;
  private constructor(
    /** The version's id: what every prediction names. */
    versionId: string,
    backbone: Backbone,
    head: Head,
    scaler: StandardScaler | undefined,
  ) {
    this.versionId = versionId;
    this.backbone = backbone;
    this.head = head;
    this.scaler = scaler;
    this.headInput = new Float64Array(head.dim);
    this.scaledInput = new Float64Array(head.dim);
    this.probabilities = new Float64Array(Math.max(2, head.outputs));
  }

  static create(
    backbone: Backbone,
    head: HeadStart = {},
    scale: ScalerStart = true,
    versionId = backbone.sha256,
  ): Pipeline {
    const { spec } = backbone;
    const dim = headDimension(spec);
    const built =
      'weights' in head && 'config' in head
        ? matchSpec(seedHead(head), spec)
        : createHead({ ...head, task: spec.task, dim, classes: spec.classes });
    const scaler =
      typeof scale === 'object'
        ? restoreMatchingScaler(scale, dim)
        : scale
          ? new StandardScaler(dim)
          : undefined;
    return new Pipeline(versionId, backbone, built, scaler);
  }

  /**
   * A pipeline exactly as a state left it (a version's stored initial state, the forgetting
   * guard's baseline): unlike {@link create}, a single optimizer's head stays one.
   */
  static resume(
    backbone: Backbone,
    head: HeadState,
    scale: ScalerStart,
    versionId = backbone.sha256,
  ): Pipeline {
    const pipeline = Pipeline.create(backbone, {}, scale, versionId);
    pipeline.head = restoreMatchingHead(head, backbone.spec);
    return pipeline;
  }

  get spec(): FeatureSpec {
    return this.backbone.spec;
  }

  get task(): FeatureSpec['task'] {
    return this.head.task;
  }

  get dim(): number {
    return this.head.dim;
  }

  /** The head's classes (none for regression). */
  get classes(): readonly (string | number)[] {
    return this.head.classes;
  }

  /** The head's candidates by weight, leader first (a single optimizer: itself). */
  candidates(): { name: string; weight: number }[] {
    return this.head.candidates();
  }

  /** A mixture head's leading candidate by name; undefined for a single optimizer. */
  leader(): string | undefined {
    return this.head.leaderName();
  }

  async predict(batch: PackedBatch): Promise<PredictionBatch> {
    // Shapes now; values only if a score comes out non-finite. Predicting changes nothing, the
    // client checked every value when packing, and a pass over every input of a large slate
    // costs as much as the head itself (observe, which learns, checks everything first).
    checkPackedBatch(this.spec, batch, { values: false });
    const embedding = await this.backbone.embed(batch);
    const { n } = batch;
    const outputs = this.head.outputs;
    const scores = new Float32Array(n);
    const probabilities =
      this.head.task === 'multiclass' ? new Float32Array(n * outputs) : undefined;
    try {
      for (let row = 0; row < n; row++) {
        const x = this.assemble(batch, embedding, row);
        scores[row] = this.head.score(x);
        if (probabilities) {
          this.head.predictProba(x, this.probabilities);
          probabilities.set(this.probabilities.subarray(0, outputs), row * outputs);
        }
      }
    } catch (error) {
      this.blame(batch, embedding); // the scaler refuses a non-finite row
      throw error;
    }
    if (!allFinite(scores)) this.blame(batch, embedding);
    return { versionId: this.versionId, scores, probabilities };
  }

  /**
   * Whose fault a non-finite row is: the input's (BAD_INPUT), else the model's
   * (MODEL_OUTPUT_NON_FINITE). Returns when both are finite (then the head is to blame).
   */
  private blame(batch: PackedBatch, embedding: Float32Array): void {
    checkPackedBatch(this.spec, batch);
    checkEmbedding(this.spec, embedding);
  }

  /**
   * Checks examples and labels and embeds them, changing nothing: a bad input or an unknown
   * label throws here, before the outcome is stored or learned.
   */
  async prepare(batch: PackedBatch, labels: readonly Label[]): Promise<PreparedBatch> {
    checkPackedBatch(this.spec, batch);
    if (!Array.isArray(labels) || labels.length !== batch.n) {
      throw new LearnerError('BAD_LABEL', `expected ${batch.n} outcomes, got ${labels?.length}`);
    }
    const embedding = await this.backbone.embed(batch);
    checkEmbedding(this.spec, embedding);
    const losses = new Float64Array(batch.n);
    const scores = new Float64Array(batch.n);
    const predictions: Label[] = [];
    for (let row = 0; row < batch.n; row++) {
      const x = this.assemble(batch, embedding, row);
      losses[row] = this.head.loss(x, labels[row]);
      scores[row] = this.head.score(x);
      predictions.push(this.head.predict(x));
    }
    return { batch, embedding, labels, losses, predictions, scores };
  }

  /**
   * This pipeline's losses on examples another pipeline with the same backbone prepared:
   * no second forward pass (the forgetting guard scores the version's server head this way).
   */
  lossesOn(prepared: PreparedBatch): Float64Array {
    const losses = new Float64Array(prepared.batch.n);
    for (let row = 0; row < prepared.batch.n; row++) {
      losses[row] = this.head.loss(
        this.assemble(prepared.batch, prepared.embedding, row),
        prepared.labels[row],
      );
    }
    return losses;
  }

  /** Scales the head's step size (the drift policy's multiplier); 1 is the configured rate. */
  scaleLearningRate(multiplier: number): void {
    this.head.learningRateScale[0] = multiplier;
  }

  /** Learns prepared examples in order, one update each (design invariant 2). */
  learn(prepared: PreparedBatch): void {
    const { batch, embedding, labels } = prepared;
    for (let row = 0; row < batch.n; row++) {
      this.head.partialFit(this.assemble(batch, embedding, row), labels[row]);
      // After the head accepted the row, so a refused one leaves the scaler as it was.
      this.scaler?.learn(this.headInput);
    }
  }

  exportState(): PipelineState {
    return this.scaler
      ? { head: this.head.exportState(), scaler: this.scaler.exportState() }
      : { head: this.head.exportState() };
  }

  /** Replaces what was learned with a snapshot's state (same version, same shapes). */
  restore(state: PipelineState): void {
    const head = restoreMatchingHead(state.head, this.spec);
    const scaler = state.scaler ? restoreMatchingScaler(state.scaler, this.dim) : undefined;
    if (Boolean(scaler) !== Boolean(this.scaler)) {
      throw new LearnerError('BAD_CONFIG', 'the snapshot and the pipeline disagree on scaling');
    }
    this.head = head;
    this.scaler = scaler;
  }

  release(): Promise<void> {
    return this.backbone.release();
  }

  /**
   * Writes the head's input for one row into a reused buffer (no allocation per event), scaled
   * with the statistics of the examples before it: the row is scored as it would be predicted.
   */
  private assemble(batch: PackedBatch, embedding: Float32Array, row: number): Float64Array {
    const x = this.headInput;
    const width = this.spec.output.size;
    for (let i = 0; i < width; i++) x[i] = embedding[row * width + i];
    let offset = width;
    for (const input of this.spec.raw ?? []) {
      const column = batch.columns[input.name];
      for (let i = 0; i < input.size; i++) x[offset + i] = column[row * input.size + i];
      offset += input.size;
    }
    return this.scaler ? this.scaler.transform(x, this.scaledInput) : x;
  }
}

/** A head trained elsewhere (the version's initial head, a snapshot) must fit this spec. */
function restoreMatchingHead(state: HeadState, spec: FeatureSpec): Head {
  return matchSpec(restoreHead(state), spec);
}

function matchSpec(head: Head, spec: FeatureSpec): Head {
  const dim = headDimension(spec);
  if (head.task !== spec.task || head.dim !== dim) {
    throw new LearnerError(
      'BAD_CONFIG',
      `the head is ${head.task} over ${head.dim} features; the spec needs ${spec.task} over ${dim}`,
    );
  }
  return head;
}

function restoreMatchingScaler(state: ScalerState, dim: number): StandardScaler {
  const scaler = StandardScaler.restore(state);
  if (scaler.dim !== dim) {
    throw new LearnerError(
      'BAD_CONFIG',
      `the scaler has ${scaler.dim} features; the spec needs ${dim}`,
    );
  }
  return scaler;
}
