/**
 * One window of metrics for one version: running sums over a contiguous run of learned
 * outcomes, as plain data (so the reporter can store an open window in IndexedDB and carry
 * it across a reload), and the `MetricWindow` it becomes when it closes.
 *
 * Sums, not means: the server adds windows from any number of devices and still gets exact
 * fleet-wide means (protocol.ts). Each section appears only where the task produces it.
 */
import type { Task } from '../learn/types.ts';
import { addToSketch, emptySketch } from './auc_sketch.ts';
import type { AucSketch, MetricWindow, Moments } from './protocol.ts';
import type { Measured } from './scored_outcome.ts';

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
  };
}

/** Adds one measured outcome. */
export function addToWindow(sums: WindowSums, seq: number, ts: number, m: Measured): void {
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
    // Every scored binary outcome was a shown prediction; a positive one is a click.
    window.ctr = { impressions: sums.count, clicks: sums.positives, conversions: 0 };
  }
  if (sums.prediction.count > 0) window.drift = { prediction: { ...sums.prediction }, alerts: 0 };
  if (dropped > 0) window.dropped = dropped;
  return window;
}
