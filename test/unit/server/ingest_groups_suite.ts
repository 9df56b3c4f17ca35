/**
 * Group commit (server/store/ingest_queue.ts), on every back-end: batches that wait for the
 * database go in together, one transaction for many, and a group with any batch that is not
 * the normal case rolls back and goes one by one. What is checked is what must not change:
 * every window stored once with its verdict, every sum (per install, per version's rollup,
 * paired, hourly, events, rejections) equal to what the stored windows add up to, retries
 * answered as before, a conflicting batch writing nothing, and rate-limit hits counted once.
 */
import { describe, expect, test } from 'vitest';
import type { Database } from '../../../server/db/database.ts';
import { ApiError } from '../../../server/http/errors.ts';
import { RateLimiter } from '../../../server/http/rate_limit.ts';
import { IngestQueue } from '../../../server/store/ingest_queue.ts';
import type { IngestResult } from '../../../server/store/metrics.ts';
import type { MetricsBatch, MetricWindow } from '../../../src/protocol/index.ts';
import type { Backend, SuiteHooks } from './support/backends.ts';
import { fakeModel, makeWindow, publishBytes, register } from './support/http.ts';

const rows = async <T>(db: Database, sql: string) => (await db.query<T>(sql)).rows;

/**
 * A window of the staged version, measured just now (while it was staged), without a paired
 * comparison (there is no production version to pair with).
 */
function stagedWindow(id: string, version: string, seed: number): MetricWindow {
  const { paired: _paired, ...window } = makeWindow(id, version, seed);
  return { ...window, start: Date.now() - 60_000, end: Date.now() };
}

/**
 * Every sum the server keeps, recomputed from the stored windows (what the devices sent), next
 * to the sums themselves: equal when ingest added each stored window once, to the right rows.
 */
async function sumsAgree(db: Database): Promise<void> {
  // Per install and version: the running totals against the counted windows.
  // Float sums added in another order agree to rounding, not to the bit.
  const round = (list: { logloss: number }[]) =>
    list.map((r) => ({ ...r, logloss: Math.round(r.logloss * 1e6) }));
  const counted = `select install_id, version_id, count(*)::int as windows,
      sum((body->>'count')::float8) as samples, sum((body->>'loglossSum')::float8) as logloss
    from metric_windows where rejected is null group by 1, 2 order by 1, 2`;
  expect(
    round(
      await rows(
        db,
        `select install_id, version_id, windows::int, samples::float8, logloss_sum as logloss
         from version_install_totals order by 1, 2`,
      ),
    ),
  ).toEqual(round(await rows(db, counted)));
  // Per version: the rollup rows (over shards) against the per-install totals.
  const perVersion = (table: string, devices: string) => `select version_id, ${devices},
      sum(windows)::int as windows, sum(samples)::float8 as samples,
      sum(logloss_sum) as logloss, sum(drift_alerts)::int as alerts
    from ${table} group by version_id order by version_id`;
  const rollup = await rows<{ logloss: number }>(
    db,
    perVersion('version_totals', 'sum(devices)::int as devices'),
  );
  const installs = await rows<{ logloss: number }>(
    db,
    perVersion('version_install_totals', 'count(*)::int as devices'),
  );
  expect(round(rollup)).toEqual(round(installs));
  // AUC histograms: the rollup's element-wise sum against the installs'.
  const histogram = (table: string) => `select version_id, array_agg(total order by i) as bins
    from (select version_id, i, sum(x)::float8 as total
          from ${table}, unnest(auc_positive) with ordinality as u(x, i) group by 1, 2) h
    group by version_id order by version_id`;
  expect(await rows(db, histogram('version_totals'))).toEqual(
    await rows(db, histogram('version_install_totals')),
  );
  // Paired: the installs' rows against the windows, the rollups and the hourly rows against them.
  expect(
    await rows(db, `select install_id, version_id, n::int from paired_totals order by 1, 2`),
  ).toEqual(
    await rows(
      db,
      `select install_id, version_id, sum((body->'paired'->>'n')::int)::int as n
       from metric_windows where rejected is null and body ? 'paired' group by 1, 2 order by 1, 2`,
    ),
  );
  const pairedPerVersion = `select version_id, count(*)::int as devices, sum(n)::int as n
    from paired_totals group by 1 order by 1`;
  expect(
    await rows(
      db,
      `select version_id, sum(devices)::int as devices, sum(n)::int as n
       from paired_version_totals group by 1 order by 1`,
    ),
  ).toEqual(await rows(db, pairedPerVersion));
  expect(
    await rows(
      db,
      `select version_id, count(distinct install_id)::int as devices, sum(n)::int as n
       from paired_hourly group by 1 order by 1`,
    ),
  ).toEqual(await rows(db, pairedPerVersion));
  // Rejections and events against the windows.
  expect(
    await rows(
      db,
      `select install_id, version_id, reason, windows::int from evidence_rejections order by 1, 2, 3`,
    ),
  ).toEqual(
    await rows(
      db,
      `select install_id, version_id, rejected as reason, count(*)::int as windows
       from metric_windows where rejected is not null group by 1, 2, 3 order by 1, 2, 3`,
    ),
  );
  expect(
    await rows(
      db,
      `select install_id, version_id, events::int from version_event_totals order by 1, 2`,
    ),
  ).toEqual(
    await rows(
      db,
      `select install_id, version_id, sum(jsonb_array_length(body->'events'))::int as events
       from metric_windows where rejected is null and body ? 'events' group by 1, 2 order by 1, 2`,
    ),
  );
}

export function defineIngestGroupTests(backend: Backend, hooks: SuiteHooks): void {
  describe('group commit (store/ingest_queue.ts)', () => {
    const shared = hooks.useDatabase(backend);
    const h = hooks.useServer(shared);

    test('batches that wait go in as one group; a group with a retry or a conflict goes one by one, with the same answers and sums', async () => {
      // Devices registered before the version is staged at half the traffic: about half are
      // in its arm (their windows count), the others' windows are stored and rejected.
      const devices = await Promise.all(Array.from({ length: 12 }, () => register(h.server)));
      const staged = await publishBytes(h.server, fakeModel(), 0.5);
      const batchOf = (key: string, windows: MetricWindow[]): MetricsBatch => ({
        idempotencyKey: key,
        sentAt: Date.now(),
        windows,
      });
      const first = devices.map((_, i) =>
        batchOf(`k1-${i}`, [
          stagedWindow(`s-${i}`, staged, i),
          // Not a version: counted (status shows it), with paired sums and an event.
          {
            ...makeWindow(`u-${i}`, 'not-a-version', i + 1),
            events: [{ kind: 'rolled_back', at: 1_700_000_000_000 + i, reason: 'test' }],
          },
          makeWindow(`v-${i}`, 'not-a-version', i + 2),
        ]),
      );
      // One group in flight at a time: the first batch goes alone, the other 11 wait for it
      // and then go together.
      const queue = new IngestQueue(h.db, { maxGroups: 1 });
      const results = await Promise.all(first.map((b, i) => queue.ingest(devices[i].installId, b)));
      for (const [i, result] of results.entries())
        expect(result).toEqual({
          status: 201,
          body: { idempotencyKey: `k1-${i}`, windows: 3, stored: 3, duplicates: 0 },
          replayed: false,
        });
      expect(queue.stats()).toEqual({ groups: 1, grouped: 11, fellBack: 0, alone: 1 });
      const rejected = await rows<{ n: number }>(
        h.db,
        `select count(*)::int as n from metric_windows where rejected = 'outside_arm'`,
      );
      // Both verdicts occurred (12 devices at 50 %: all in or all out has p = 2^-11).
      expect(rejected[0].n).toBeGreaterThan(0);
      expect(rejected[0].n).toBeLessThan(12);
      await sumsAgree(h.db);

      // A group holding a retry (device 0's first batch again, a later sentAt), a conflict (a
      // new key re-using device 1's window id with other contents) and new batches.
      const second = [
        { ...first[0], sentAt: Date.now() + 1 },
        batchOf('k2-1', [{ ...makeWindow('v-1', 'not-a-version', 99) }]),
        ...devices
          .slice(2)
          .map((_, j) =>
            batchOf(`k2-${j + 2}`, [makeWindow(`w-${j + 2}`, 'not-a-version', j + 7)]),
          ),
      ];
      const stalled = new IngestQueue(h.db, { maxGroups: 1 });
      const answers = await Promise.allSettled(
        second.map((b, i) => stalled.ingest(devices[i].installId, b)),
      );
      expect(answers[0]).toEqual({
        status: 'fulfilled',
        value: { status: 201, body: results[0].body, replayed: true },
      });
      expect(answers[1].status).toBe('rejected');
      const conflict = (answers[1] as PromiseRejectedResult).reason;
      expect(conflict).toBeInstanceOf(ApiError);
      expect((conflict as ApiError).code).toBe('WINDOW_CONFLICT');
      for (const answer of answers.slice(2))
        expect((answer as PromiseFulfilledResult<IngestResult>).value.body.stored).toBe(1);
      // The retry and the conflict sent the whole group one by one: nothing was lost to it.
      expect(stalled.stats()).toEqual({ groups: 0, grouped: 0, fellBack: 11, alone: 1 });
      expect(
        await rows(
          h.db,
          `select count(*)::int as n from metric_batches where idempotency_key = 'k2-1'`,
        ),
      ).toEqual([{ n: 0 }]);
      expect(await rows(h.db, `select count(*)::int as n from metric_windows`)).toEqual([
        { n: 36 + 10 },
      ]);
      await sumsAgree(h.db);

      // Rate limits in a group: one request per install per window, so each device's next
      // batch is refused with 429, its hit counted once and nothing stored.
      const limiter = new RateLimiter(h.db, 'device', { burst: 1, perSecond: 1 / 3600 });
      const limited = new IngestQueue(h.db, { limiter, maxGroups: 1 });
      const round = (tag: string) =>
        Promise.allSettled(
          devices
            .slice(0, 4)
            .map((d, i) =>
              limited.ingest(
                d.installId,
                batchOf(`${tag}-${i}`, [makeWindow(`${tag}-${i}`, 'not-a-version', i)]),
              ),
            ),
        );
      expect((await round('r1')).map((a) => a.status)).toEqual(Array(4).fill('fulfilled'));
      const refused = await round('r2');
      for (const answer of refused) {
        expect(answer.status).toBe('rejected');
        expect(((answer as PromiseRejectedResult).reason as ApiError).status).toBe(429);
      }
      expect(
        await rows(
          h.db,
          `select count(*)::int as n from metric_windows where window_id like 'r2-%'`,
        ),
      ).toEqual([{ n: 0 }]);
      const hits = await rows<{ hits: number }>(
        h.db,
        `select hits from rate_limits where scope = 'device' and key = any(array[${devices
          .slice(0, 4)
          .map((d) => `'${d.installId}'`)
          .join(',')}]) order by key`,
      );
      expect(hits).toEqual(Array(4).fill({ hits: 2 }));
      await sumsAgree(h.db);
    });
  });
}
