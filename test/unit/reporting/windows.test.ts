// Metric windows: what one window of outcomes adds up to, and when windows close.
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { createHead } from '../../../src/learn/index.ts';
import { AUC_SKETCH_BINS } from '../../../src/protocol/index.ts';
import { addToWindow, finishWindow, openWindow } from '../../../src/reporting/metric_window.ts';
import type { LearnedOutcome, TaskInfo } from '../../../src/reporting/scored_outcome.ts';
import { measure } from '../../../src/reporting/scored_outcome.ts';
import { WindowSet } from '../../../src/reporting/windows.ts';

const binary: TaskInfo = { task: 'binary' };
const outcome = (seq: number, label: LearnedOutcome['label'], loss: number, ts = 1000 + seq) => ({
  seq,
  ts,
  versionId: 'v1',
  label,
  loss,
});

describe('measuring an outcome from its loss', () => {
  test('binary: P(positive) and correctness follow exactly from the log loss', () => {
    const random = mulberry32(3);
    const head = createHead({ task: 'binary', dim: 4 });
    for (let i = 0; i < 500; i++) {
      const x = Float64Array.from({ length: 4 }, () => random() * 4 - 2);
      const y = random() < 0.4 ? 1 : 0;
      const m = measure(binary, outcome(i + 1, y, head.loss(x, y)))!;
      expect(m.score).toBeCloseTo(head.score(x), 12);
      expect(m.correct).toBe(head.predict(x) === y);
      expect(m.positive).toBe(y === 1);
      head.partialFit(x, y);
    }
  });

  test('binary labels: booleans, and the spec’s own class names', () => {
    expect(measure(binary, outcome(1, true, 0.1))!.positive).toBe(true);
    expect(measure(binary, outcome(1, false, 0.1))!.positive).toBe(false);
    const named: TaskInfo = { task: 'binary', classes: ['no', 'yes'] };
    expect(measure(named, outcome(1, 'yes', 0.1))!.positive).toBe(true);
    expect(measure(named, outcome(1, 'no', 0.1))!.positive).toBe(false);
  });

  test('regression: squared and absolute error; the prediction only when given', () => {
    const m = measure({ task: 'regression' }, outcome(1, 3, 4))!;
    expect(m).toMatchObject({ squaredError: 4, absoluteError: 2 });
    expect(m.score).toBeUndefined();
    expect(measure({ task: 'regression' }, { ...outcome(1, 3, 4), prediction: 5 })!.score).toBe(5);
  });

  test('a non-finite or negative loss is not measured', () => {
    for (const loss of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
      expect(measure(binary, outcome(1, 1, loss))).toBeUndefined();
    }
  });
});

describe('one window', () => {
  test('binary: counts, sums, sketch, CTR and prediction moments', () => {
    const sums = openWindow('v1', 'binary', 11, 5000);
    const rows: [number, number, number][] = [
      // label, loss, ts
      [1, -Math.log(0.9), 5000],
      [0, -Math.log(1 - 0.2), 5100],
      [1, -Math.log(0.3), 4900], // a clock set back: start moves, end does not
      [0, -Math.log(1 - 0.7), 5200],
    ];
    rows.forEach(([label, loss, ts], i) => {
      addToWindow(sums, 11 + i, ts, measure(binary, outcome(11 + i, label, loss, ts))!);
    });
    const w = finishWindow(sums, 2);
    expect(w).toMatchObject({
      windowId: 'v1:11-14',
      versionId: 'v1',
      task: 'binary',
      start: 4900,
      end: 5200,
      count: 4,
      correct: 2, // 0.9 → 1 right, 0.2 → 0 right, 0.3 → 1 wrong, 0.7 → 0 wrong
      positives: 2,
      ctr: { impressions: 4, clicks: 2, conversions: 0 },
      dropped: 2,
    });
    expect(w.loglossSum).toBeCloseTo(
      rows.reduce((sum, [, loss]) => sum + loss, 0),
      12,
    );
    expect(w.auc!.positive).toHaveLength(AUC_SKETCH_BINS);
    expect(w.auc!.positive[90]).toBe(1);
    expect(w.auc!.positive[30 - 1] + w.auc!.positive[30]).toBe(1); // 0.3 at the bin edge
    expect(w.auc!.negative[20 - 1] + w.auc!.negative[20]).toBe(1);
    expect(w.drift!.alerts).toBe(0);
    expect(w.drift!.prediction!.count).toBe(4);
    expect(w.drift!.prediction!.sum).toBeCloseTo(0.9 + 0.2 + 0.3 + 0.7, 12);
    expect(w.drift!.prediction!.sumSq).toBeCloseTo(0.81 + 0.04 + 0.09 + 0.49, 12);
    expect(w).not.toHaveProperty('squaredErrorSum');
  });

  test('regression: error sums and no classification sections', () => {
    const sums = openWindow('v2', 'regression', 1, 0);
    addToWindow(sums, 1, 0, measure({ task: 'regression' }, outcome(1, 2, 9))!);
    addToWindow(sums, 2, 1, measure({ task: 'regression' }, outcome(2, 2, 1))!);
    const w = finishWindow(sums);
    expect(w).toEqual({
      windowId: 'v2:1-2',
      versionId: 'v2',
      task: 'regression',
      start: 0,
      end: 1,
      count: 2,
      squaredErrorSum: 10,
      absoluteErrorSum: 4,
    });
  });

  test('multiclass: accuracy only when every outcome was judged', () => {
    const info: TaskInfo = { task: 'multiclass', classes: ['a', 'b', 'c'] };
    const judged = openWindow('v3', 'multiclass', 1, 0);
    addToWindow(judged, 1, 0, measure(info, { ...outcome(1, 'a', 0.5), correct: true })!);
    addToWindow(judged, 2, 0, measure(info, { ...outcome(2, 'b', 1.5), correct: false })!);
    expect(finishWindow(judged)).toMatchObject({ count: 2, correct: 1, loglossSum: 2 });
    const partly = openWindow('v3', 'multiclass', 1, 0);
    addToWindow(partly, 1, 0, measure(info, { ...outcome(1, 'a', 0.5), correct: true })!);
    addToWindow(partly, 2, 0, measure(info, outcome(2, 'b', 1.5))!);
    expect(finishWindow(partly)).not.toHaveProperty('correct');
  });

  test('version ids become safe window ids', () => {
    const sums = openWindow('model v2/€', 'binary', 7, 0);
    expect(finishWindow(sums).windowId).toBe('model_v2__:7-7');
    expect(finishWindow(openWindow('a'.repeat(100), 'binary', 1, 0)).windowId).toBe(
      `${'a'.repeat(64)}:1-1`,
    );
  });
});

describe('closing windows', () => {
  const m = measure(binary, outcome(1, 1, 0.5))!;

  test('by size: every maxOutcomes outcomes of a version', () => {
    const set = new WindowSet({ maxOutcomes: 3, maxAgeMs: 60_000 });
    const closed = [];
    for (let seq = 1; seq <= 7; seq++) closed.push(...set.add('v1', 'binary', seq, seq, m));
    expect(closed.map((w) => [w.firstSeq, w.lastSeq, w.count])).toEqual([
      [1, 3, 3],
      [4, 6, 3],
    ]);
    expect(set.pendingOutcomes).toBe(1);
  });

  test('by age, judged by the outcomes’ own times: a late outcome starts a new window', () => {
    const set = new WindowSet({ maxOutcomes: 100, maxAgeMs: 1000 });
    expect(set.add('v1', 'binary', 1, 0, m)).toEqual([]);
    expect(set.add('v1', 'binary', 2, 999, m)).toEqual([]);
    const closed = set.add('v1', 'binary', 3, 1000, m);
    expect(closed.map((w) => [w.firstSeq, w.lastSeq])).toEqual([[1, 2]]);
    expect(set.nextExpiry()).toBe(2000);
  });

  test('by age on the clock, for windows left idle; versions are windowed apart', () => {
    const set = new WindowSet({ maxOutcomes: 100, maxAgeMs: 1000 });
    set.add('v1', 'binary', 1, 0, m);
    set.add('v2', 'binary', 2, 500, m);
    expect(set.nextExpiry()).toBe(1000);
    expect(set.closeExpired(999)).toEqual([]);
    expect(set.closeExpired(1000).map((w) => w.versionId)).toEqual(['v1']);
    expect(set.closeAll().map((w) => w.versionId)).toEqual(['v2']);
    expect(set.nextExpiry()).toBeUndefined();
  });

  test('open windows survive a save and restore unchanged', () => {
    const set = new WindowSet({ maxOutcomes: 10, maxAgeMs: 1000 });
    set.add('v1', 'binary', 1, 0, m);
    const restored = new WindowSet(
      { maxOutcomes: 10, maxAgeMs: 1000 },
      JSON.parse(JSON.stringify(set.save())),
    );
    restored.add('v1', 'binary', 2, 1, m);
    set.add('v1', 'binary', 2, 1, m);
    expect(restored.closeAll()).toEqual(set.closeAll());
  });
});
