// Whatever outcomes, features and slates a device sees, the windows it builds are ones the
// reference server accepts (server/schemas.ts): a refused window would be lost for good.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { metricWindow } from '../../../server/schemas.ts';
import { finishWindow } from '../../../src/reporting/metric_window.ts';
import type {
  LearnedOutcome,
  OutcomeKind,
  TaskInfo,
} from '../../../src/reporting/scored_outcome.ts';
import { measure, slateGain } from '../../../src/reporting/scored_outcome.ts';
import { SlateTracker } from '../../../src/reporting/slates.ts';
import { WindowSet } from '../../../src/reporting/windows.ts';

const value = fc.oneof(
  fc.double({ min: -10, max: 10, noNaN: true }),
  fc.double(), // NaN, ±∞, ±1e308
  fc.constantFrom(1.7e12, -2e15, 1e200),
);
/** Any UTF-16 code units: NUL, unpaired surrogates, pairs cut at the 128th character. */
const utf16 = (minLength: number, maxLength: number) =>
  fc
    .array(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 0xd83d, 0xde00)), {
      minLength,
      maxLength,
    })
    .map((units) => String.fromCharCode(...units));
const features = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 4 }), utf16(0, 6), utf16(120, 300)),
  fc.oneof(value, fc.array(value, { maxLength: 300 })),
  { maxKeys: 4 },
);
const step = fc.record({
  label: fc.boolean(),
  loss: fc.double({ min: 0, max: 30, noNaN: true }),
  prediction: fc.double({ min: -1e9, max: 1e9, noNaN: true }),
  kind: fc.option(fc.constantFrom<OutcomeKind>('impression', 'click', 'conversion'), {
    nil: undefined,
  }),
  features: fc.option(features, { nil: undefined }),
  open: fc.option(
    fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 2, maxLength: 8 }),
    { nil: undefined },
  ),
  candidate: fc.nat(8),
  leader: fc.option(
    fc.oneof(fc.constantFrom('sgd', 'adagrad(0.1)', 'sgd(invscaling 0.01)'), utf16(0, 80)),
    { nil: undefined },
  ),
  closeAll: fc.boolean(),
  paired: fc.option(
    fc.record({ baselineVersionId: fc.constantFrom('v0', 'v2'), diff: fc.double() }),
    { nil: undefined },
  ),
});

test('every window built from any outcomes passes the server’s validation', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<TaskInfo['task']>('binary', 'regression', 'multiclass'),
      fc.array(step, { maxLength: 40 }),
      (task, steps) => {
        const info: TaskInfo = { task };
        const windows = new WindowSet({ maxOutcomes: 7, maxAgeMs: 1_000_000 });
        const slates = new SlateTracker({ k: 3, maxOpen: 3 });
        const closed = [];
        let serial = 0;
        const addResults = (seq: number) => {
          for (const { versionId, ranking } of slates.closeAll()) {
            const at = { seq, ts: seq, serial };
            if (windows.addRanking(versionId, task, ranking, at).opened) serial++;
          }
        };
        steps.forEach((s, i) => {
          const seq = i + 1;
          if (s.open) slates.open({ id: `s${seq}`, versionId: 'v1', scores: s.open });
          const o: LearnedOutcome = {
            seq,
            ts: seq,
            versionId: 'v1',
            label: task === 'regression' ? s.prediction : s.label,
            loss: s.loss,
            prediction: s.prediction,
            correct: s.label,
            kind: s.kind,
            features: s.features,
            slate: { id: `s${seq - (s.candidate % 3)}`, candidate: s.candidate },
            paired: s.paired,
            leader: s.leader,
          };
          slates.mark(o.slate!.id, o.slate!.candidate, slateGain(info, o));
          closed.push(...windows.add('v1', task, seq, seq, measure(info, o)!));
          if (s.closeAll) addResults(seq);
        });
        addResults(steps.length);
        closed.push(...windows.closeAll());
        for (const sums of closed) {
          const window = finishWindow(sums);
          expect(() => metricWindow(window, 'window')).not.toThrow();
          if (window.ctr) {
            expect(window.ctr.clicks).toBeLessThanOrEqual(window.ctr.impressions);
            expect(window.ctr.conversions).toBeLessThanOrEqual(window.ctr.clicks);
          }
          expect(window.drift?.features?.length ?? 0).toBeLessThanOrEqual(256);
        }
      },
    ),
    { numRuns: 200 },
  );
});
