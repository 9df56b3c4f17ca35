/**
 * The drift policy's types: the events it raises, and its options — what each watch (loss,
 * prediction, features) can be configured with, the defaults (measured on the electricity
 * stream; policy.ts's header says what each means, with the figures), and their resolution and
 * checks (BAD_CONFIG naming the culprit). Also the feature reference a backbone's feature spec
 * carries, which the feature watch compares against.
 */
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import { LearnerError } from '../errors.ts';
import type { AdwinOptions } from './adwin.ts';
import type { DetectorKind } from './detector.ts';
import { createDetector, DETECTOR_KINDS } from './factory.ts';
import { Kswin, type KswinOptions } from './kswin.ts';
import type { PageHinkleyOptions } from './page_hinkley.ts';

/**
 * The policy's alarm counts over a span (`takeStats`), which the reporter sends as the
 * alarm part of a metric window's `DriftStats` (src/protocol/metrics.ts).
 */
export interface DriftAlarms {
  /** Alarms raised by the device's drift detectors in the span. */
  alerts: number;
  /** Alarms per detector, e.g. `{ 'loss.adwin': 1, 'prediction.psi': 0 }` (at most 32 names). */
  byDetector?: Record<string, number>;
}

export type DriftKind = 'concept' | 'prediction' | 'feature';

export interface DriftEvent {
  kind: DriftKind;
  /** The reporting name of the detector, e.g. 'loss.adwin' (the key in `byDetector`). */
  detector: string;
  /** In [0, 1]; what raised the learning-rate multiplier (see the module's doc). */
  severity: number;
  /** The observation (0-based, counted since the policy was created) that completed it. */
  at: number;
  /** 'up' when the watched quantity rose (loss), else 'down'; 'shift' for distributions. */
  direction: 'up' | 'down' | 'shift';
  /** PSI, KS distance, or the relative change of the error: the detector's own number. */
  value: number;
  /** For feature drift: the feature's index and (when the reference names it) its name. */
  feature?: number;
  featureName?: string;
  /** The learning-rate multiplier right after this observation. */
  multiplier: number;
}

export interface LossWatchOptions {
  detector?: DetectorKind;
  /** Options of that detector (see its file). */
  options?: AdwinOptions | PageHinkleyOptions | KswinOptions;
  boost?: number;
}

export interface ScoreWatchOptions {
  method?: 'psi' | 'kswin';
  referenceSize?: number;
  bins?: number;
  window?: number;
  threshold?: number;
  /** For method 'kswin'. */
  kswin?: KswinOptions;
  boost?: number;
}

/** Per-feature training statistics, in the order of the feature vector given to `observe`. */
export interface FeatureReference {
  mean: number[];
  std: number[];
  names?: string[];
}

export interface FeatureWatchOptions {
  /** The training reference; without it, the first `referenceSize` examples are the reference. */
  reference?: FeatureReference;
  /** Number of features; required without a reference. */
  dim?: number;
  referenceSize?: number;
  bins?: number;
  window?: number;
  threshold?: number;
  boost?: number;
}

export interface DriftPolicyOptions {
  loss?: LossWatchOptions | false;
  prediction?: ScoreWatchOptions | false;
  features?: FeatureWatchOptions | false;
  maxMultiplier?: number;
  halfLife?: number;
  fastHalfLife?: number;
  slowHalfLife?: number;
}

export interface ResolvedLoss {
  detector: DetectorKind;
  options: AdwinOptions | PageHinkleyOptions | KswinOptions;
  boost: number;
}

export interface ResolvedScores {
  method: 'psi' | 'kswin';
  referenceSize: number;
  bins: number;
  window: number;
  threshold: number;
  kswin: KswinOptions;
  boost: number;
}

export interface ResolvedFeatures {
  reference: FeatureReference | null;
  dim: number;
  referenceSize: number;
  bins: number;
  window: number;
  threshold: number;
  boost: number;
}

/** Every option filled in; what the state carries. */
export interface ResolvedDriftPolicyOptions {
  loss: ResolvedLoss | false;
  prediction: ResolvedScores | false;
  features: ResolvedFeatures | false;
  maxMultiplier: number;
  halfLife: number;
  fastHalfLife: number;
  slowHalfLife: number;
}

export const DRIFT_POLICY_DEFAULTS = {
  lossBoost: 1,
  predictionBoost: 0,
  featureBoost: 0,
  maxMultiplier: 2,
  halfLife: 500,
  fastHalfLife: 32,
  slowHalfLife: 1000,
  referenceSize: 1000,
  bins: 10,
  window: 1000,
  threshold: 0.25,
} as const;

function badConfig(why: string, value?: unknown): never {
  throw new LearnerError(
    'BAD_CONFIG',
    `drift policy: ${why}${value === undefined ? '' : `, got ${String(value)}`}`,
  );
}

function positive(value: unknown, name: string, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) badConfig(`${name} must be > 0`, v);
  return v;
}

function nonNegative(value: unknown, name: string, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) badConfig(`${name} must be ≥ 0`, v);
  return v;
}

function integer(value: unknown, name: string, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || (v as number) < min)
    badConfig(`${name} must be an integer ≥ ${min}`, v);
  return v as number;
}

/** Fills in and checks the options; BAD_CONFIG naming the culprit. */
export function resolveDriftPolicyOptions(
  options: DriftPolicyOptions = {},
): ResolvedDriftPolicyOptions {
  if (typeof options !== 'object' || options === null) badConfig('options must be an object');
  const d = DRIFT_POLICY_DEFAULTS;
  let loss: ResolvedLoss | false = false;
  if (options.loss !== false) {
    const o = options.loss ?? {};
    const detector = o.detector ?? 'adwin';
    if (!DETECTOR_KINDS.includes(detector))
      badConfig(`loss.detector must be one of ${DETECTOR_KINDS.join(', ')}`, detector);
    loss = {
      detector,
      options: { ...(o.options ?? {}) },
      boost: nonNegative(o.boost, 'loss.boost', d.lossBoost),
    };
    createDetector(detector, loss.options); // checks the detector's own options now
  }
  let prediction: ResolvedScores | false = false;
  if (options.prediction !== false) {
    const o = options.prediction ?? {};
    const method = o.method ?? 'psi';
    if (method !== 'psi' && method !== 'kswin')
      badConfig("prediction.method must be 'psi' or 'kswin'", method);
    prediction = {
      method,
      ...psiOptions(o, 'prediction'),
      kswin: { ...(o.kswin ?? {}) },
      boost: nonNegative(o.boost, 'prediction.boost', d.predictionBoost),
    };
    if (method === 'kswin') new Kswin(prediction.kswin);
  }
  let features: ResolvedFeatures | false = false;
  if (options.features !== undefined && options.features !== false) {
    const o = options.features;
    const reference = o.reference ? checkReference(o.reference) : null;
    const dim = reference ? reference.mean.length : integer(o.dim, 'features.dim', 0, 1);
    if (o.dim !== undefined && o.dim !== dim)
      badConfig(`features.dim (${o.dim}) disagrees with the reference's ${dim} features`);
    features = {
      reference,
      dim,
      ...psiOptions(o, 'features'),
      boost: nonNegative(o.boost, 'features.boost', d.featureBoost),
    };
  }
  const resolved: ResolvedDriftPolicyOptions = {
    loss,
    prediction,
    features,
    maxMultiplier: positive(options.maxMultiplier, 'maxMultiplier', d.maxMultiplier),
    halfLife: positive(options.halfLife, 'halfLife', d.halfLife),
    fastHalfLife: positive(options.fastHalfLife, 'fastHalfLife', d.fastHalfLife),
    slowHalfLife: positive(options.slowHalfLife, 'slowHalfLife', d.slowHalfLife),
  };
  if (resolved.maxMultiplier < 1) badConfig('maxMultiplier must be ≥ 1', resolved.maxMultiplier);
  if (resolved.fastHalfLife >= resolved.slowHalfLife)
    badConfig('fastHalfLife must be shorter than slowHalfLife', resolved.fastHalfLife);
  return resolved;
}

function psiOptions(
  o: { referenceSize?: number; bins?: number; window?: number; threshold?: number },
  where: string,
) {
  const d = DRIFT_POLICY_DEFAULTS;
  const bins = integer(o.bins, `${where}.bins`, d.bins, 2);
  const referenceSize = integer(o.referenceSize, `${where}.referenceSize`, d.referenceSize, bins);
  const window = integer(o.window, `${where}.window`, d.window, 1);
  const threshold = positive(o.threshold, `${where}.threshold`, d.threshold);
  if (bins > 1000) badConfig(`${where}.bins must be at most 1,000`, bins);
  return { referenceSize, bins, window, threshold };
}

function checkReference(reference: FeatureReference): FeatureReference {
  const { mean, std, names } = reference;
  if (!Array.isArray(mean) || mean.length === 0) badConfig('features.reference.mean is empty');
  if (!Array.isArray(std) || std.length !== mean.length)
    badConfig(`features.reference.std must have ${mean.length} numbers`);
  if (!mean.every(Number.isFinite)) badConfig('features.reference.mean must be finite');
  if (!std.every((s) => Number.isFinite(s) && s > 0))
    badConfig('features.reference.std must be finite and > 0');
  if (names !== undefined && (!Array.isArray(names) || names.length !== mean.length))
    badConfig(`features.reference.names must have ${mean.length} names`);
  return { mean: [...mean], std: [...std], ...(names ? { names: [...names] } : {}) };
}

/**
 * The feature reference a backbone's spec carries: the `reference` of every backbone input,
 * then of every raw feature, concatenated in that order (the order to give features to
 * `observe`). Null unless every input has one (the policy then falls back to a reference
 * window of the first examples); BAD_MODEL if a reference is malformed.
 */
export function featureReferenceFromSpec(spec: FeatureSpec): FeatureReference | null {
  const mean: number[] = [];
  const std: number[] = [];
  const names: string[] = [];
  for (const input of [...spec.inputs, ...(spec.raw ?? [])]) {
    const reference = input.reference;
    if (!reference) return null;
    const ok =
      Array.isArray(reference.mean) &&
      Array.isArray(reference.std) &&
      reference.mean.length === input.size &&
      reference.std.length === input.size &&
      reference.mean.every(Number.isFinite) &&
      reference.std.every((s) => Number.isFinite(s) && s > 0);
    if (!ok) {
      throw new LearnerError(
        'BAD_MODEL',
        `invalid feature spec: ${input.name}.reference needs ${input.size} finite means and positive stds`,
      );
    }
    for (let j = 0; j < input.size; j++) {
      mean.push(reference.mean[j]);
      std.push(reference.std[j]);
      names.push(input.size === 1 ? input.name : `${input.name}[${j}]`);
    }
  }
  return { mean, std, names };
}

/** The options of a watch's PSI detector: `minSamples` is its window, at most 1,000. */
export function psiDetectorOptions(o: { window: number; threshold: number; bins: number }) {
  return {
    window: o.window,
    threshold: o.threshold,
    bins: o.bins,
    minSamples: Math.min(o.window, 1000),
  };
}
