// The window sections issue 5 adds: CTR with conversions, ranking from slates, feature drift.
import { describe, expect, test } from 'vitest';
import type { RankingSums } from '../../../src/protocol/index.ts';
import type { WindowSums } from '../../../src/reporting/metric_window.ts';
import {
  addRankingToWindow,
  addToWindow,
  finishWindow,
  openWindow,
  reviveWindow,
} from '../../../src/reporting/metric_window.ts';
import type { LearnedOutcome, TaskInfo } from '../../../src/reporting/scored_outcome.ts';
import { measure, slateGain } from '../../../src/reporting/scored_outcome.ts';
import { WindowSet } from '../../../src/reporting/windows.ts';

const binary: TaskInfo = { task: 'binary' };
const regression: TaskInfo = { task: 'regression' };
const outcome = (seq: number, more: Partial<LearnedOutcome> = {}): LearnedOutcome => ({
  seq,
  ts: 1000 + seq,
  versionId: 'v1',
  label: 0,
  loss: 0.5,
  ...more,
});

function windowOf(info: TaskInfo, outcomes: LearnedOutcome[]): WindowSums {
  const sums = openWindow('v1', info.task, outcomes[0].seq, outcomes[0].ts);
  for (const o of outcomes) addToWindow(sums, o.seq, o.ts, measure(info, o)!);
  return sums;
}

const ranking = (slates: number, k = 5): RankingSums => ({
  k,
  slates,
  precisionSum: slates * 0.5,
  recallSum: slates * 0.25,
  ndcgSum: slates * 0.75,
});

describe('CTR and conversions', () => {
  test('binary: impressions, clicks from labels, or from the outcome kind', () => {
    const w = finishWindow(
      windowOf(binary, [
        outcome(1, { label: 1 }), // a click, by its label
        outcome(2, { label: 0 }), // an impression
        outcome(3, { label: 1, kind: 'conversion' }),
        outcome(4, { label: 0, kind: 'impression' }),
        outcome(5, { label: 1, kind: 'click' }),
        outcome(6, { label: 1, kind: 'purchase' as never }), // unknown kind: by its label
      ]),
    );
    expect(w.ctr).toEqual({ impressions: 6, clicks: 4, conversions: 1 });
  });

  test('regression and multiclass count only outcomes that say what they were', () => {
    const none = finishWindow(windowOf(regression, [outcome(1, { label: 3, loss: 1 })]));
    expect(none).not.toHaveProperty('ctr');
    const some = finishWindow(
      windowOf(regression, [
        outcome(1, { label: 3, loss: 1, kind: 'conversion' }),
        outcome(2, { label: 3, loss: 1, kind: 'impression' }),
        outcome(3, { label: 3, loss: 1 }),
      ]),
    );
    expect(some.ctr).toEqual({ impressions: 2, clicks: 1, conversions: 1 });
  });

  test('a binary window saved by an earlier release gets the CTR it then implied', () => {
    const legacy = windowOf(binary, [outcome(1, { label: 1 }), outcome(2, { label: 0 })]);
    delete legacy.ctr;
    expect(reviveWindow(legacy).ctr).toEqual({ impressions: 2, clicks: 1, conversions: 0 });
  });

  test('the gain an outcome gives its slate candidate', () => {
    const at = { id: 's', candidate: 0 };
    expect(slateGain(binary, outcome(1, { label: 1, slate: at }))).toBe(1);
    expect(slateGain(binary, outcome(1, { label: 0, slate: at }))).toBe(0);
    expect(slateGain(binary, outcome(1, { label: 1, kind: 'conversion', slate: at }))).toBe(2);
    expect(slateGain(binary, outcome(1, { label: 1, kind: 'impression', slate: at }))).toBe(0);
    expect(slateGain(regression, outcome(1, { label: 4, slate: { ...at, gain: 4 } }))).toBe(4);
    expect(slateGain(regression, outcome(1, { label: 4, slate: at }))).toBe(0);
    expect(slateGain(binary, outcome(1, { slate: { ...at, gain: Number.NaN } }))).toBe(0);
  });
});

describe('feature statistics', () => {
  test('per-feature moments next to the prediction moments', () => {
    const w = finishWindow(
      windowOf(binary, [
        outcome(1, { features: { price: 2, pos: [1, 0] } }),
        outcome(2, { features: { price: 4, pos: [3, 0] } }),
        outcome(3),
      ]),
    );
    expect(w.drift!.prediction!.count).toBe(3);
    expect(w.drift!.features).toEqual([
      { name: 'price', count: 2, sum: 6, sumSq: 20 },
      { name: 'pos[0]', count: 2, sum: 4, sumSq: 10 },
      { name: 'pos[1]', count: 2, sum: 0, sumSq: 0 },
    ]);
  });

  test('a statistic too large for the server is left out, not the window', () => {
    const w = finishWindow(
      windowOf(regression, [
        outcome(1, { label: 1, loss: 1, prediction: 1e20, features: { epoch: 2e15, ok: 1 } }),
      ]),
    );
    expect(w.drift).toEqual({ alerts: 0, features: [{ name: 'ok', count: 1, sum: 1, sumSq: 1 }] });
  });
});

describe('paired comparison', () => {
  test('loss differences against the window’s baseline add up; others are left out', () => {
    const paired = (baselineVersionId: string, diff: number) => ({ baselineVersionId, diff });
    const w = finishWindow(
      windowOf(binary, [
        outcome(1, { paired: paired('v0', 0.5) }),
        outcome(2, { paired: paired('v0', -1) }),
        outcome(3), // not compared
        outcome(4, { paired: paired('v9', 3) }), // another baseline
        outcome(5, { paired: paired('v0', Number.NaN) }),
      ]),
    );
    expect(w.paired).toEqual({ baselineVersionId: 'v0', n: 2, diffSum: -0.5, diffSumSq: 1.25 });
    expect(finishWindow(windowOf(binary, [outcome(1)]))).not.toHaveProperty('paired');
  });
});

describe('ranking sums in windows', () => {
  test('slate results add up in the open window; another k is refused', () => {
    const sums = windowOf(binary, [outcome(1)]);
    expect(addRankingToWindow(sums, ranking(2))).toBe(true);
    expect(addRankingToWindow(sums, ranking(1))).toBe(true);
    expect(addRankingToWindow(sums, ranking(4, 10))).toBe(false);
    expect(finishWindow(sums).ranking).toEqual(ranking(3));
    expect(finishWindow(windowOf(binary, [outcome(1)]))).not.toHaveProperty('ranking');
  });

  test('with no window open, one opens to hold them, named by a serial', () => {
    const set = new WindowSet({ maxOutcomes: 2, maxAgeMs: 1000 });
    const m = measure(binary, outcome(1))!;
    set.add('v1', 'binary', 1, 0, m);
    set.add('v1', 'binary', 2, 1, m); // fills and closes v1's window
    const at = { seq: 2, ts: 50, serial: 7 };
    expect(set.addRanking('v1', 'binary', ranking(1), at)).toEqual({ added: true, opened: true });
    expect(set.addRanking('v1', 'binary', ranking(1), at)).toEqual({ added: true, opened: false });
    expect(set.nextExpiry()).toBe(1050);
    const [held] = set.closeAll();
    expect(finishWindow(held)).toMatchObject({
      windowId: 'v1:slates-7',
      count: 0,
      start: 50,
      end: 50,
      ranking: ranking(2),
      ctr: { impressions: 0, clicks: 0, conversions: 0 },
    });
  });

  test('the version’s next outcome continues such a window, which is then named by the log', () => {
    const set = new WindowSet({ maxOutcomes: 2, maxAgeMs: 1000 });
    set.addRanking('v1', 'binary', ranking(1), { seq: 0, ts: 50, serial: 0 });
    const m = measure(binary, outcome(1))!;
    set.add('v1', 'binary', 5, 60, m);
    const closed = set.add('v1', 'binary', 6, 70, m);
    expect(closed.map((sums) => finishWindow(sums))).toMatchObject([
      { windowId: 'v1:5-6', start: 60, end: 70, count: 2, ranking: ranking(1) },
    ]);
  });

  test('left idle, it closes by age like any window', () => {
    const set = new WindowSet({ maxOutcomes: 2, maxAgeMs: 1000 });
    set.addRanking('v2', 'binary', ranking(1), { seq: 3, ts: 50, serial: 1 });
    expect(set.closeExpired(1049)).toEqual([]);
    expect(set.closeExpired(1050).map((sums) => finishWindow(sums).windowId)).toEqual([
      'v2:slates-1',
    ]);
  });

  test('every new section survives a save and restore, and the window continues the same', () => {
    const limits = { maxOutcomes: 10, maxAgeMs: 1000 };
    const set = new WindowSet(limits);
    const more = { kind: 'conversion' as const, features: { a: 1, b: [2, 3] } };
    const m = measure(binary, outcome(1, { label: 1, ...more }))!;
    set.add('v1', 'binary', 1, 0, m);
    set.addRanking('v1', 'binary', ranking(1), { seq: 1, ts: 0, serial: 0 });
    const restored = new WindowSet(limits, JSON.parse(JSON.stringify(set.save())));
    for (const windows of [set, restored]) {
      windows.add('v1', 'binary', 2, 1, m);
      windows.addRanking('v1', 'binary', ranking(2), { seq: 2, ts: 1, serial: 1 });
    }
    const [a] = restored.closeAll().map((sums) => finishWindow(sums));
    expect(a).toEqual(finishWindow(set.closeAll()[0]));
    expect(a.ctr).toEqual({ impressions: 2, clicks: 2, conversions: 2 });
    expect(a.ranking).toEqual(ranking(3));
    expect(a.drift!.features!.map((f) => [f.name, f.count, f.sum])).toEqual([
      ['a', 2, 2],
      ['b[0]', 2, 4],
      ['b[1]', 2, 6],
    ]);
  });
});

describe('which head candidate led', () => {
  test('a mixture head: outcomes counted by the candidate leading when each was scored', () => {
    const w = finishWindow(
      windowOf(binary, [
        outcome(1, { leader: 'sgd' }),
        outcome(2, { leader: 'sgd' }),
        outcome(3, { leader: 'adagrad(0.1)' }),
        outcome(4, { leader: 'sgd' }),
      ]),
    );
    expect(w.head).toEqual({ leaders: { sgd: 3, 'adagrad(0.1)': 1 } });
  });

  test('names outside the protocol’s characters are sent as `_`; a single optimizer sends none', () => {
    const odd = finishWindow(windowOf(binary, [outcome(1, { leader: 'ftrl\u0000α' })]));
    expect(odd.head).toEqual({ leaders: { ftrl__: 1 } });
    const single = finishWindow(windowOf(binary, [outcome(1), outcome(2)]));
    expect(single).not.toHaveProperty('head');
  });
});
