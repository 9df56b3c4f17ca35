/** The sync protocol's metric windows: what a device reports, aggregated, never raw (see index.ts). */

import type { DriftAlarms } from '../drift/policy_options.ts';
import type { Moments } from '../metrics/feature_moments.ts';

// ─── metrics ────────────────────────────────────────────────────────────────────────────

/**
 * `POST /v1/metrics`: windows of aggregate metrics, never raw interactions. The server stores
 * each batch once: a retry with the same idempotency key gets the very same answer and
 * stores nothing new, and a different body under a used key is refused (409
 * `IDEMPOTENCY_CONFLICT`). Each window is also stored once per install by its `windowId`, so
 * re-batching delivered windows under a new key cannot count them twice either.
 */
export interface MetricsBatch {
  /** 8–128 characters of `[A-Za-z0-9._:-]`, unique per install (a UUID does). */
  idempotencyKey: string;
  /** 1–{@link MAX_WINDOWS_PER_BATCH} windows. */
  windows: MetricWindow[];
  /**
   * When the device sent this attempt (epoch ms); for operators. Not part of the batch's
   * identity: a retry may update it without counting as a different body.
   */
  sentAt?: number;
}

/** At most this many windows per batch (a bigger one is refused as INVALID_BODY). */
export const MAX_WINDOWS_PER_BATCH = 500;

/**
 * What one device observed for one version over one time window. Every count is a
 * non-negative integer and every sum a finite number; sections a task does not produce are
 * left out. Sums rather than means, so that the server can add windows from any number of
 * devices and still compute exact fleet-wide means.
 */
export interface MetricWindow {
  /** Unique per install (1–128 characters of `[A-Za-z0-9._:-]`): the window is stored once. */
  windowId: string;
  /** The version (`ManifestVersion.id`) that produced these predictions. */
  versionId: string;
  task: 'binary' | 'multiclass' | 'regression';
  /** The window's span, epoch milliseconds, `start <= end`. */
  start: number;
  end: number;
  /** Outcomes scored (prequentially: predicted before the head learned from them). */
  count: number;
  /** Sum of per-outcome log loss (classification). Mean = loglossSum / count. */
  loglossSum?: number;
  /** Outcomes whose top prediction was right (classification). Accuracy = correct / count. */
  correct?: number;
  /** Sum of squared and of absolute errors (regression): RMSE, MAE. */
  squaredErrorSum?: number;
  absoluteErrorSum?: number;
  /** Outcomes with the positive label (binary). */
  positives?: number;
  /** Mergeable AUC sketch (binary): see {@link AucSketch}. */
  auc?: AucSketch;
  /** Click-through and conversion counts, where the app's outcomes say so. */
  ctr?: CtrCounts;
  /** Ranking metrics over slates (a predict over N candidates, then outcomes on some). */
  ranking?: RankingSums;
  /** Prediction and feature statistics, and drift alarms. */
  drift?: DriftStats;
  /**
   * Windows of this version the device's outbox had to drop (it was full) since the last
   * delivered window of this version; they are counted here rather than lost silently.
   */
  dropped?: number;
  /** Shadow evaluation of this (staged) version against another one on the same outcomes. */
  paired?: PairedComparison;
  /**
   * What happened to this version on the device during the window, in order (at most
   * {@link MAX_VERSION_EVENTS}): staged, refused while downloading or verifying, rolled back
   * by a local guardrail, promoted. Such a window may have `count` 0.
   */
  events?: VersionEvent[];
  /**
   * A mixture head's candidates (the default head, src/learn/mixture/): for how many of the
   * window's outcomes each one led, i.e. had the largest weight when the outcome was scored
   * (at most {@link MAX_HEAD_CANDIDATES} names). Left out for single-optimizer heads.
   */
  head?: HeadLeaders;
}

export const MAX_VERSION_EVENTS = 16;
export const MAX_HEAD_CANDIDATES = 16;

/** Which head candidate led, outcome by outcome, over a window. */
export interface HeadLeaders {
  /** Outcomes led, by candidate name (e.g. `{ sgd: 180, adagrad: 20 }`); they sum to ≤ count. */
  leaders: Record<string, number>;
}

/** One change of a version's state on a device, for the server's rollout policy and status. */
export interface VersionEvent {
  kind: 'staged' | 'refused' | 'rolled_back' | 'promoted';
  /** Epoch ms. */
  at: number;
  /**
   * Why, for `refused` and `rolled_back`: a stable code first, e.g. `sha256_mismatch: …`,
   * `non_finite: …`, `latency: …` (at most 500 characters).
   */
  reason?: string;
}

/**
 * Histograms of the predicted probability of the positive class, one for outcomes whose label
 * was positive and one for negative ones, over {@link AUC_SKETCH_BINS} equal bins of [0, 1]
 * ({@link aucSketchBin}). Histograms add across windows and devices, and AUC follows from
 * the merged histograms ({@link aucFromSketch}) to within the bin width.
 */
export interface AucSketch {
  /** Exactly {@link AUC_SKETCH_BINS} non-negative integers each. */
  positive: number[];
  negative: number[];
}

export const AUC_SKETCH_BINS = 100;

export interface CtrCounts {
  /** Predictions shown to the user. */
  impressions: number;
  clicks: number;
  conversions: number;
}

export interface RankingSums {
  /** The cut-off (1–1000). One k per version and app. */
  k: number;
  /** Slates evaluated; the sums below are over them: mean P@k = precisionSum / slates. */
  slates: number;
  precisionSum: number;
  recallSum: number;
  ndcgSum: number;
}

/** A window's drift view: the policy's alarm counts (src/drift) and the moments beside them. */
export interface DriftStats extends DriftAlarms {
  /** Moments of the predicted score (positive-class probability, or the regression output). */
  prediction?: Moments;
  /** Moments per input feature (at most 256 features, names up to 128 characters). */
  features?: (Moments & { name: string })[];
}

/**
 * A paired comparison on the same outcomes: d = logloss(this version) − logloss(baseline),
 * for each outcome both scored. Mean difference = diffSum / n; its variance follows from
 * diffSumSq. Negative means this version is better.
 */
export type { Moments };

export interface PairedComparison {
  /** The version compared against (normally the production version). */
  baselineVersionId: string;
  n: number;
  diffSum: number;
  diffSumSq: number;
}

/** The answer to a stored (or replayed) batch. */
export interface MetricsResponse {
  idempotencyKey: string;
  /** Windows in the batch. */
  windows: number;
  /** Windows newly stored by this batch. */
  stored: number;
  /** Windows already stored by an earlier batch (same windowId, same content). */
  duplicates: number;
}
