/**
 * One window of metrics for one version: running sums over a contiguous run of learned
 * outcomes, as plain data (so the reporter can store an open window in IndexedDB and carry
 * it across a reload), and the `MetricWindow` it becomes when it closes.
 *
 * Sums, not means: the server adds windows from any number of devices and still gets exact
 * fleet-wide means (protocol.ts). Each section appears only where the task produces it.
 */
import type { Task } from '../learn/types.ts';
import { addToSketch, emptySketch } from '../metrics/auc_sketch.ts';
import type { FeatureMoments } from '../metrics/feature_moments.ts';
import { addFeatureValues } from '../metrics/feature_moments.ts';
import type {
  AucSketch,
  CtrCounts,
  MetricWindow,
  Moments,
  PairedComparison,
  RankingSums,
} from '../protocol/index.ts';
import { MAX_HEAD_CANDIDATES } from '../protocol/index.ts';
import type { Measured } from './scored_outcome.ts';

/**
 * The largest sums the reference server accepts (server/schemas.ts: `sum`, `sumOfSquares`).
 * A statistic beyond them (a feature holding epoch times, say) is left out of the window
 * rather than making the server refuse the whole window.
 */
const WIRE_MAX_SUM = 1e15;
const WIRE_MAX_SUM_SQ = 1e30;

/** An open window's running sums; JSON- and structured-clone-safe. */
export interface WindowSums {
  versionId: string;
  task: Task;
  /** Log sequence numbers of its first and last outcome. */
  firstSeq: number;
  lastSeq: number;
  /** Earliest and latest outcome time (epoch ms). */
  start: number;
  end: number;
  count: number;
  lossSum: number;
  /** Outcomes whose correctness is known, and how many of them were right. */
  judged: number;
  correct: number;
  squaredErrorSum: number;
  absoluteErrorSum: number;
  positives: number;
  /** Binary only. */
  auc: AucSketch | null;
  /** Moments of the scores that are known (binary: P(positive); regression: the prediction). */
  prediction: Moments;
  /** Impressions, clicks and conversions: always for binary, else once an outcome says so. */
  ctr?: CtrCounts;
  /** Sums over the slates evaluated while the window was open (slates.ts). */
  ranking?: RankingSums;
  /** Moments of the raw feature values outcomes came with. */
  features?: FeatureMoments[];
  /**
   * Loss differences against one baseline version (the first one the window met: outcomes
   * compared against another baseline are left out, since their differences do not add up).
   */
  paired?: PairedComparison;
  /** Drift alarms by detector name (see `LearnedOutcome.alarms`). */
  alarms?: Record<string, number>;
  /** Outcomes led by each head candidate (see `LearnedOutcome.leader`). */
  leaders?: Record<string, number>;
  /**
   * Set on a window opened to hold slate results before any outcome of its version came
   * (count 0): what its id is made of, since it covers no log positions.
   */
  serial?: number;
}

export function openWindow(versionId: string, task: Task, seq: number, ts: number): WindowSums {
  return {
    versionId,
    task,
    firstSeq: seq,
    lastSeq: seq,
    start: ts,
    end: ts,
    count: 0,
    lossSum: 0,
    judged: 0,
    correct: 0,
    squaredErrorSum: 0,
    absoluteErrorSum: 0,
    positives: 0,
    auc: task === 'binary' ? emptySketch() : null,
    prediction: { count: 0, sum: 0, sumSq: 0 },
    ...(task === 'binary' ? { ctr: { impressions: 0, clicks: 0, conversions: 0 } } : {}),
  };
}

/**
 * A window as stored by an earlier release, brought up to this one's shape: binary windows
 * then counted every outcome as an impression and every positive as a click.
 */
export function reviveWindow(sums: WindowSums): WindowSums {
  if (sums.task === 'binary' && !sums.ctr) {
    sums.ctr = { impressions: sums.count, clicks: sums.positives, conversions: 0 };
  }
  return sums;
}

/** Adds one measured outcome. */
export function addToWindow(sums: WindowSums, seq: number, ts: number, m: Measured): void {
  if (sums.count === 0) {
    // The first outcome: a window opened for slate results takes its span from it.
    sums.firstSeq = seq;
    sums.lastSeq = seq;
    sums.start = ts;
    sums.end = ts;
  }
  sums.lastSeq = Math.max(sums.lastSeq, seq);
  // min/max: a clock set back between two outcomes must not make end < start.
  sums.start = Math.min(sums.start, ts);
  sums.end = Math.max(sums.end, ts);
  sums.count += 1;
  sums.lossSum += m.loss;
  if (m.correct !== undefined) {
    sums.judged += 1;
    if (m.correct) sums.correct += 1;
  }
  if (m.squaredError !== undefined) sums.squaredErrorSum += m.squaredError;
  if (m.absoluteError !== undefined) sums.absoluteErrorSum += m.absoluteError;
  if (m.positive) sums.positives += 1;
  if (m.score !== undefined) {
    sums.prediction.count += 1;
    sums.prediction.sum += m.score;
    sums.prediction.sumSq += m.score * m.score;
    if (sums.auc && m.positive !== undefined) addToSketch(sums.auc, m.score, m.positive);
  }
  if (m.ctr) {
    sums.ctr ??= { impressions: 0, clicks: 0, conversions: 0 };
    sums.ctr.impressions += 1;
    if (m.ctr.click) sums.ctr.clicks += 1;
    if (m.ctr.conversion) sums.ctr.conversions += 1;
  }
  if (m.features) {
    sums.features ??= [];
    addFeatureValues(sums.features, m.features);
  }
  if (m.alarms) {
    sums.alarms ??= {};
    for (const name of m.alarms) sums.alarms[name] = (sums.alarms[name] ?? 0) + 1;
  }
  if (m.leader !== undefined) {
    sums.leaders ??= {};
    sums.leaders[m.leader] = (sums.leaders[m.leader] ?? 0) + 1;
  }
  if (m.paired) {
    const { baselineVersionId, diff } = m.paired;
    sums.paired ??= { baselineVersionId, n: 0, diffSum: 0, diffSumSq: 0 };
    if (sums.paired.baselineVersionId === baselineVersionId) {
      sums.paired.n += 1;
      sums.paired.diffSum += diff;
      sums.paired.diffSumSq += diff * diff;
    }
  }
}

/**
 * Adds the results of closed slates. False (nothing added) when they were cut at a different
 * k than the window's earlier ones: sums at two cut-offs do not add up.
 */
export function addRankingToWindow(sums: WindowSums, ranking: RankingSums): boolean {
  if (!sums.ranking) {
    sums.ranking = { ...ranking };
    return true;
  }
  if (sums.ranking.k !== ranking.k) return false;
  sums.ranking.slates += ranking.slates;
  sums.ranking.precisionSum += ranking.precisionSum;
  sums.ranking.recallSum += ranking.recallSum;
  sums.ranking.ndcgSum += ranking.ndcgSum;
  return true;
}

/** A candidate's name as the protocol allows it (e.g. `adagrad(0.1)`): other characters as `_`. */
function candidateTag(name: string): string {
  return name.replace(/[^A-Za-z0-9._() -]/g, '_').slice(0, 64) || '_';
}

/** How a version id appears in window ids: the id's safe characters, at most 64 of them. */
function versionTag(versionId: string): string {
  return versionId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64) || '_';
}

/**
 * The window's id: its version and the log positions it covers, e.g. `v3:101-200`. Each outcome
 * is in one window of a version, so the id is unique per install, and it is a function of the
 * window's contents: the same window, rebuilt or re-sent, always has the same id.
 */
export function windowIdOf(sums: WindowSums): string {
  if (sums.count === 0 && sums.serial !== undefined) {
    // Slate results only: no log positions to name it by, so a serial the reporter keeps.
    return `${versionTag(sums.versionId)}:slates-${sums.serial}`;
  }
  return `${versionTag(sums.versionId)}:${sums.firstSeq}-${sums.lastSeq}`;
}

/** The window as it travels (protocol.ts `MetricWindow`). */
export function finishWindow(sums: WindowSums, dropped = 0): MetricWindow {
  const window: MetricWindow = {
    windowId: windowIdOf(sums),
    versionId: sums.versionId,
    task: sums.task,
    start: sums.start,
    end: sums.end,
    count: sums.count,
  };
  if (sums.task === 'regression') {
    window.squaredErrorSum = sums.squaredErrorSum;
    window.absoluteErrorSum = sums.absoluteErrorSum;
  } else {
    window.loglossSum = sums.lossSum;
    // Accuracy only when every outcome was judged: a partial count would read as a low accuracy.
    if (sums.judged === sums.count) window.correct = sums.correct;
  }
  if (sums.task === 'binary') {
    window.positives = sums.positives;
    if (sums.auc)
      window.auc = { positive: [...sums.auc.positive], negative: [...sums.auc.negative] };
  }
  if (sums.ctr) window.ctr = { ...sums.ctr };
  if (sums.ranking && sums.ranking.slates > 0) window.ranking = { ...sums.ranking };
  const prediction = sums.prediction.count > 0 && fitsWire(sums.prediction);
  const features = (sums.features ?? []).filter(fitsWire).map((moments) => ({ ...moments }));
  const alarms = Object.entries(sums.alarms ?? {})
    .slice(0, MAX_DETECTOR_NAMES)
    .map(([name, count]) => [name.slice(0, 64), count] as const);
  if (prediction || features.length > 0 || alarms.length > 0) {
    window.drift = { alerts: alarms.reduce((sum, [, count]) => sum + count, 0) };
    if (alarms.length > 0) window.drift.byDetector = Object.fromEntries(alarms);
    if (prediction) window.drift.prediction = { ...sums.prediction };
    if (features.length > 0) window.drift.features = features;
  }
  if (sums.paired && sums.paired.n > 0 && fitsWire(pairedMoments(sums.paired))) {
    window.paired = { ...sums.paired };
  }
  const leaders: Record<string, number> = {};
  for (const [name, count] of Object.entries(sums.leaders ?? {}).slice(0, MAX_HEAD_CANDIDATES)) {
    const tag = candidateTag(name);
    leaders[tag] = (leaders[tag] ?? 0) + count;
  }
  if (sums.leaders) window.head = { leaders };
  if (dropped > 0) window.dropped = dropped;
  return window;
}

/** The protocol's limit on `byDetector` names (protocol.ts `DriftStats`). */
const MAX_DETECTOR_NAMES = 32;

function pairedMoments(paired: PairedComparison): Moments {
  return { count: paired.n, sum: paired.diffSum, sumSq: paired.diffSumSq };
}

function fitsWire(moments: Moments): boolean {
  return Math.abs(moments.sum) <= WIRE_MAX_SUM && moments.sumSq <= WIRE_MAX_SUM_SQ;
}
