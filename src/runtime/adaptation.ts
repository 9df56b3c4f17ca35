/**
 * How a running version adapts to the person using it (issue "drift and retraining", device
 * side): before each outcome is learned, the drift policy (src/drift/policy.ts) watches the
 * prequential error and the scores and sets the learning-rate multiplier, and the forgetting
 * guard (src/drift/forgetting_guard.ts) compares the head with the version's server head on the
 * very same outcome and resets the head to it when there is evidence that the device has
 * drifted into being worse and that the server head beats the constant predictor.
 *
 * The server head is kept as a frozen pipeline on the same backbone: scoring it needs no second
 * forward pass (`Pipeline.lossesOn`). Detector state lives in memory: after a reload the
 * detectors start afresh (the head itself is restored from its snapshot as always).
 */

import { ConstantPredictor } from '../drift/constant_predictor.ts';
import type { ForgettingGuardOptions, ForgettingVerdict } from '../drift/forgetting_guard.ts';
import { ForgettingGuard } from '../drift/forgetting_guard.ts';
import { DriftPolicy } from '../drift/policy.ts';
import type { DriftEvent, DriftPolicyOptions } from '../drift/policy_options.ts';
import { featureReferenceFromSpec } from '../drift/policy_options.ts';
import type { PreparedBatch } from './pipeline.ts';
import { Pipeline } from './pipeline.ts';
import type { RunningVersion } from './running_version.ts';

export interface AdaptationOptions {
  /** The drift policy (default: on, with its defaults); `false` turns it off. */
  drift?: DriftPolicyOptions | false;
  /** The forgetting guard (default: on, with its defaults); `false` turns it off. */
  forgettingGuard?: ForgettingGuardOptions | false;
}

/** What adapting to one outcome did. */
export interface AdaptationStep {
  events: readonly DriftEvent[];
  reset?: ForgettingVerdict;
  /** Detector names that fired, for the reporter (`forgetting_guard` for a reset). */
  alarms: string[];
}

const NOTHING: AdaptationStep = { events: [], alarms: [] };

export class Adaptation {
  private readonly policy: DriftPolicy | undefined;
  private readonly guard: ForgettingGuard | undefined;
  private readonly baseline: Pipeline | undefined;
  /** What the features are worth: a baseline that cannot beat this is never reset to. */
  private readonly constant: ConstantPredictor | undefined;

  private readonly version: RunningVersion;
  constructor(version: RunningVersion, options: AdaptationOptions = {}) {
    this.version = version;
    this.policy = options.drift === false ? undefined : this.createPolicy(options.drift ?? {});
    if (options.forgettingGuard !== false) {
      this.guard = new ForgettingGuard(options.forgettingGuard ?? {});
      const { initial, pipeline } = version;
      this.constant = new ConstantPredictor(pipeline.task, pipeline.classes);
      // Shares the backbone and never releases it: the version's pipeline owns it.
      this.baseline = Pipeline.resume(
        pipeline.backbone,
        initial.head,
        initial.scaler ?? false,
        pipeline.versionId,
      );
    }
  }

  /**
   * Feature drift, when the app turns it on (`drift: { features: {} }`), watches the example's
   * inputs — backbone inputs, then raw features, in spec order — against the training
   * statistics the feature spec carries (or, without them, the first examples seen).
   */
  private createPolicy(options: DriftPolicyOptions): DriftPolicy {
    if (!options.features) return new DriftPolicy(options);
    const { spec } = this.version.pipeline;
    const columns = [...spec.inputs, ...(spec.raw ?? [])];
    const width = columns.reduce((sum, input) => sum + input.size, 0);
    this.featureColumns = columns.map((input) => ({ name: input.name, size: input.size }));
    this.featureBuffer = new Float64Array(width);
    const reference = options.features.reference ?? featureReferenceFromSpec(spec) ?? undefined;
    return new DriftPolicy({
      ...options,
      features: { ...options.features, dim: width, ...(reference ? { reference } : {}) },
    });
  }

  private featureColumns: { name: string; size: number }[] = [];
  private featureBuffer: Float64Array | undefined;

  /** The example's inputs as one vector, into a reused buffer (row 0: observe is one outcome). */
  private featuresOf(prepared: PreparedBatch): Float64Array | undefined {
    const buffer = this.featureBuffer;
    if (!buffer) return undefined;
    let offset = 0;
    for (const { name, size } of this.featureColumns) {
      const column = prepared.batch.columns[name];
      for (let i = 0; i < size; i++) buffer[offset + i] = column[i];
      offset += size;
    }
    return buffer;
  }

  /** Before the version learns `prepared` (one outcome): watch, maybe reset, set the rate. */
  beforeLearning(prepared: PreparedBatch): AdaptationStep {
    if (!this.policy && !this.guard) return NOTHING;
    const loss = prepared.losses[0];
    if (!Number.isFinite(loss)) return NOTHING;
    const error = errorOf(prepared, this.version.pipeline.task);
    const events = this.policy?.observe(error, prepared.scores[0], this.featuresOf(prepared)) ?? [];
    const alarms = events.map((event) => event.detector);
    let reset: ForgettingVerdict | undefined;
    const constantLoss = this.constant?.loss(prepared.labels[0]) ?? Number.NaN;
    if (this.guard && this.baseline && Number.isFinite(constantLoss)) {
      const verdict = this.guard.observe(loss, this.baseline.lossesOn(prepared)[0], constantLoss);
      if (verdict) {
        this.version.pipeline.restore(this.version.initial);
        reset = verdict;
        alarms.push('forgetting_guard');
      }
    }
    if (this.policy) this.version.pipeline.scaleLearningRate(this.policy.multiplier);
    return { events, alarms, ...(reset ? { reset } : {}) };
  }
}

/**
 * The error the drift policy watches: 0/1 for classification (was the prediction right?), the
 * squared error squashed into [0, 1) for regression (detectors expect a bounded signal).
 */
function errorOf(prepared: PreparedBatch, task: Pipeline['task']): number {
  if (task === 'regression') return prepared.losses[0] / (1 + prepared.losses[0]);
  return prepared.predictions[0] === prepared.labels[0] ? 0 : 1;
}
