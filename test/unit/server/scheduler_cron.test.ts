/** The five-field cron matcher and the scheduler's configuration checks. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { type CliIo, runCli } from '../../../server/cli/commands.ts';
import { ManualClock } from '../../../server/scheduler/clock.ts';
import { resolveSchedulerConfig } from '../../../server/scheduler/config.ts';
import { CronError, cronMatches, nextCronTime, parseCron } from '../../../server/scheduler/cron.ts';
import { ValidationError } from '../../../server/validate.ts';

const at = (text: string) => Date.parse(text);
const next = (expr: string, from: string) => {
  const t = nextCronTime(parseCron(expr), at(from));
  return t === null ? null : new Date(t).toISOString();
};

/** Brute force: the first matching minute after `from`, one minute at a time. */
function bruteNext(expr: string, from: number, limitMinutes: number): number | null {
  const cron = parseCron(expr);
  let t = Math.floor(from / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < limitMinutes; i++, t += 60_000) if (cronMatches(cron, t)) return t;
  return null;
}

describe('cron', () => {
  test('fields: lists, ranges, steps, names, weekday 7', () => {
    const c = parseCron('*/15 9-17/4 1,15 jan-mar MON-fri');
    expect([...c.minutes]).toEqual([0, 15, 30, 45]);
    expect([...c.hours]).toEqual([9, 13, 17]);
    expect([...c.days]).toEqual([1, 15]);
    expect([...c.months]).toEqual([1, 2, 3]);
    expect([...c.weekdays]).toEqual([1, 2, 3, 4, 5]);
    expect([...parseCron('0 0 * * 7').weekdays]).toEqual([0]);
    expect([...parseCron('5/20 * * * *').minutes]).toEqual([5, 25, 45]);
  });

  test('next times (UTC)', () => {
    expect(next('0 * * * *', '2026-01-01T00:00:30Z')).toBe('2026-01-01T01:00:00.000Z');
    expect(next('0 * * * *', '2026-01-01T01:00:00Z')).toBe('2026-01-01T02:00:00.000Z');
    expect(next('30 2 * * *', '2026-01-01T03:00:00Z')).toBe('2026-01-02T02:30:00.000Z');
    // 2026-01-05 is a Monday.
    expect(next('0 9 * * mon', '2026-01-01T00:00:00Z')).toBe('2026-01-05T09:00:00.000Z');
    expect(next('0 0 29 2 *', '2026-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
    expect(next('0 0 1 1 *', '2026-12-31T23:59:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next('0 0 31 2 *', '2026-01-01T00:00:00Z')).toBeNull();
  });

  test('both day fields restricted: either matches (Vixie cron)', () => {
    // The 13th, or any Friday: 2026-02-06 is a Friday, before the 13th.
    expect(next('0 0 13 * fri', '2026-02-01T00:00:00Z')).toBe('2026-02-06T00:00:00.000Z');
    expect(next('0 0 13 * fri', '2026-02-12T00:00:00Z')).toBe('2026-02-13T00:00:00.000Z');
  });

  test('the skipping search agrees with a minute-by-minute one', () => {
    const exprs = [
      '*/7 */5 * * *',
      '15 3 */3 * 1-5',
      '0 12 1,16 feb,aug *',
      '59 23 * * sun',
      '0 0 10-12 * 2',
    ];
    let from = at('2026-01-01T00:00:00Z');
    for (let k = 0; k < 40; k++) {
      const expr = exprs[k % exprs.length];
      from += 1_234_567_891 % (k * 97_000_003 + 1);
      const expected = bruteNext(expr, from, 400 * 24 * 60);
      expect(
        nextCronTime(parseCron(expr), from),
        `${expr} after ${new Date(from).toISOString()}`,
      ).toBe(expected);
    }
  });

  test('bad expressions name the field', () => {
    for (const [expr, message] of [
      ['* * * *', /has 4 fields/],
      ['60 * * * *', /minute: 60 is outside 0-59/],
      ['* 24 * * *', /hour: 24/],
      ['* * 0 * *', /day of month: 0/],
      ['* * * 13 *', /month: 13/],
      ['* * * * 8', /day of week: 8/],
      ['*/0 * * * *', /step "0"/],
      ['5-1 * * * *', /runs backwards/],
      ['a * * * *', /not a number/],
      ['1,,2 * * * *', /malformed/],
    ] as const)
      expect(() => parseCron(expr), expr).toThrow(message);
    expect(() => parseCron('')).toThrow(CronError);
  });
});

describe('scheduler configuration', () => {
  test('defaults and durations', () => {
    const config = resolveSchedulerConfig({
      schedules: [
        { name: 'n', kind: 'cron', cron: '0 3 * * *' },
        { name: 'i', kind: 'interval', every: '6h', minNewSamples: 500, minInterval: '90s' },
        { name: 'd', kind: 'drift', alertsPerWindow: 0.1, model: 'recs' },
      ],
      trainingData: 'data/ml',
    });
    expect(config).toMatchObject({
      tickMs: 60_000,
      maxAttempts: 3,
      retryDelayMs: 300_000,
      stagedWeight: 0.1,
      metric: 'logloss',
      holdout: 0.1,
    });
    expect(config.schedules).toEqual([
      {
        name: 'n',
        model: 'default',
        minNewSamples: 0,
        minIntervalMs: 0,
        kind: 'cron',
        cron: '0 3 * * *',
      },
      {
        name: 'i',
        model: 'default',
        minNewSamples: 500,
        minIntervalMs: 90_000,
        kind: 'interval',
        everyMs: 21_600_000,
      },
      {
        name: 'd',
        model: 'recs',
        minNewSamples: 0,
        minIntervalMs: 0,
        kind: 'drift',
        alertsPerWindow: 0.1,
        minAlerts: 1,
      },
    ]);
  });

  test('refusals name the path', () => {
    const bad = (input: unknown, path: string) => {
      try {
        resolveSchedulerConfig(input);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).path).toBe(path);
        return;
      }
      throw new Error(`accepted ${JSON.stringify(input)}`);
    };
    bad({ schedules: [{ name: 'x', kind: 'cron', cron: '61 * * * *' }] }, 'schedules[0].cron');
    bad({ schedules: [{ name: 'x', kind: 'weekly' }] }, 'schedules[0].kind');
    bad(
      { schedules: [{ name: 'x', kind: 'interval', every: '10 parsecs' }] },
      'schedules[0].every',
    );
    bad({ schedules: [{ name: 'x', kind: 'interval', every: 10 }] }, 'schedules[0].every');
    bad(
      { schedules: [{ name: 'x', kind: 'drift', alertsPerWindow: 0.1, extra: 1 }] },
      'schedules[0].extra',
    );
    bad(
      {
        schedules: [
          { name: 'x', kind: 'drift', alertsPerWindow: 1 },
          { name: 'x', kind: 'drift', alertsPerWindow: 1 },
        ],
      },
      'schedules[1].name',
    );
    bad({ schedules: [], stagedWeight: 2 }, 'stagedWeight');
  });
});

describe('ManualClock', () => {
  test('fires due timers in time order, each at its own time', () => {
    const clock = new ManualClock(1000);
    const seen: [string, number][] = [];
    clock.setTimer(() => seen.push(['b', clock.now()]), 200);
    clock.setTimer(() => seen.push(['a', clock.now()]), 100);
    const cancelled = clock.setTimer(() => seen.push(['c', clock.now()]), 150);
    cancelled.cancel();
    clock.setTimer(() => seen.push(['late', clock.now()]), 1000);
    clock.advance(500);
    expect(seen).toEqual([
      ['a', 1100],
      ['b', 1200],
    ]);
    expect(clock.now()).toBe(1500);
    expect(clock.pending).toBe(1);
  });
});

describe('serve --scheduler', () => {
  test('a bad configuration file is a usage error before anything starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'localfit-sched-'));
    try {
      const file = join(dir, 'retrain.json');
      writeFileSync(
        file,
        JSON.stringify({ schedules: [{ name: 'x', kind: 'cron', cron: '* * *' }] }),
      );
      const out: string[] = [];
      const io: CliIo = { out: (l) => out.push(l), err: (l) => out.push(l), env: {} };
      const data = join(dir, 'data');
      expect(await runCli(['serve', '--port', '0', '--data', data, '--scheduler', file], io)).toBe(
        2,
      );
      expect(out.join('\n')).toMatch(
        /retrain\.json: schedules\[0\]\.cron: "\* \* \*" has 3 fields/,
      );
      expect(existsSync(data)).toBe(false);
      expect(await runCli(['serve', '--training-data', dir], io)).toBe(2);
      expect(out.join('\n')).toContain('--training-data needs --scheduler FILE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
