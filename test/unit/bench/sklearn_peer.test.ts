import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { probeSklearn, runSklearn } from '../../../bench/lib/sklearn.ts';
import type { ElecRun } from '../../../bench/quality_elec.ts';
import { curveOf } from '../../../bench/quality_elec.ts';
import { parseNumber, splitCsvLine } from '../../../models/cli/csv.ts';
import { Prequential } from '../../../models/cli/prequential.ts';

const ELEC = fileURLToPath(new URL('../../../../shared/data/streams/elec.csv', import.meta.url));
const peer = probeSklearn();
const ROWS = 1_000;

describe('scikit-learn peer', () => {
  it('is reported unavailable with a reason, never silently', () => {
    if (peer.available) expect(peer.version).toMatch(/^\d+\.\d+/);
    else expect(peer.reason).toMatch(/python3/);
  });

  // The comparison in quality.elec is fair only if the peer sees the stream as localfit does:
  // same rows, same running scaling, same test-then-train order. Same model, so per event the
  // two must agree on (almost) every prediction. The same model is localfit's single SGD with
  // the optimal schedule, not the default mixture (which the bench compares separately).
  it.skipIf(!peer.available || !existsSync(ELEC))(
    'scores the Elec2 stream per event as localfit does (same scaling and order)',
    async () => {
      const lines = readFileSync(ELEC, 'utf8')
        .split('\n')
        .slice(1, ROWS + 1);
      const run = new Prequential({
        task: 'binary',
        dim: 6,
        classes: [0, 1],
        optimizer: { kind: 'sgd', schedule: 'optimal' },
        l2: 1e-4,
      });
      for (const line of lines) {
        const fields = splitCsvLine(line).map(parseNumber);
        run.step(fields.slice(0, 6), fields[6]);
      }
      const own = run.finish();
      const sk = await runSklearn<ElecRun & { n: number }>({
        job: 'elec',
        path: ELEC,
        batch: 1,
        every: 500,
        limit: ROWS,
      });
      expect(sk.n).toBe(ROWS);
      expect(Math.abs(sk.accuracy - own.accuracy!)).toBeLessThanOrEqual(0.002);
      expect(sk.logloss).toBeCloseTo(own.logloss!, 2);
      expect(sk.curve[sk.curve.length - 1]).toEqual([ROWS, Math.round(sk.accuracy * ROWS)]);
      expect(curveOf(new Array(ROWS).fill(0)).length).toBe(sk.curve.length);
    },
    60_000,
  );
});
