/**
 * Raw windows partitioned by day, kept for a retention, and the hourly paired rollup (migration
 * 10, server/store/window_partitions.ts), run on every storage back-end from suite.ts: the
 * migration keeps what was stored, partitions are made ahead once however often (and by
 * however many servers) maintenance runs, retention drops old days without letting an old
 * window id in again, and the rollup equals the sums over the raw windows it stands for.
 */
import { describe, expect, test } from 'vitest';
import type { Database } from '../../../server/db/database.ts';
import { MIGRATIONS, migrate } from '../../../server/db/migrations.ts';
import { openPglite } from '../../../server/db/pglite.ts';
import type { RunningServer, ServerOptions } from '../../../server/start.ts';
import {
  listWindowPartitions,
  maintainWindowPartitions,
} from '../../../server/store/window_partitions.ts';
import type { MetricsResponse } from '../../../src/protocol/index.ts';
import type { Backend } from './support/backends.ts';
import { admin, call, fakeModel, makeWindow, publishBytes, register } from './support/http.ts';

const DAY = 86_400_000;
const dayName = (ms: number) =>
  `metric_windows_p${new Date(Math.floor(ms / DAY) * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`;

interface Hooks {
  useDatabase(backend: Backend): { db: Database };
  useServer(
    data: { db: Database },
    options?: ServerOptions,
  ): { server: RunningServer; db: Database };
}

async function rows<T>(db: Database, sql: string): Promise<T[]> {
  return (await db.query<T & Record<string, unknown>>(sql)).rows as T[];
}

export function defineWindowTests(backend: Backend, hooks: Hooks): void {
  describe('window partitions, retention and rollups', () => {
    const shared = hooks.useDatabase(backend);
    const h = hooks.useServer(shared, { partitionMaintenanceMs: 0 });

    test('the server makes 7 days of partitions ahead at start, and again makes none', async () => {
      const names = await listWindowPartitions(h.db);
      for (let d = 0; d < 7; d++) expect(names).toContain(dayName(Date.now() + d * DAY));
      expect(names).toContain('metric_windows_default');
      const again = await Promise.all([
        maintainWindowPartitions(h.db, { retentionDays: 30 }),
        maintainWindowPartitions(h.db, { retentionDays: 30 }),
      ]);
      expect(again.map((o) => o.created)).toEqual([[], []]);
      // Concurrent runs for a later day make each new partition once.
      const later = await Promise.all([
        maintainWindowPartitions(h.db, { retentionDays: 30, now: Date.now() + 3 * DAY }),
        maintainWindowPartitions(h.db, { retentionDays: 30, now: Date.now() + 3 * DAY }),
      ]);
      expect(later.flatMap((o) => o.created).sort()).toEqual(
        [7, 8, 9].map((d) => dayName(Date.now() + d * DAY)),
      );
    });

    test('retention drops old days; an old window id stays a duplicate, a changed one a conflict', async () => {
      const device = await register(h.server);
      const post = (key: string, window: ReturnType<typeof makeWindow>) =>
        call<MetricsResponse>(h.server, 'POST', '/v1/metrics', {
          body: { idempotencyKey: key, windows: [window] },
          token: device.token,
        });
      const old = makeWindow('retained-w1', 'v1', 3);
      const older = makeWindow('retained-w2', 'v1', 4);
      expect((await post('retention-key-1', old)).status).toBe(201);
      expect((await post('retention-key-2', older)).status).toBe(201);
      // One window into a day 40 days back that has its own partition, one into the default.
      const past = Date.now() - 40 * DAY;
      const made = await maintainWindowPartitions(h.db, { retentionDays: 30, now: past });
      expect(made.created).toContain(dayName(past));
      await h.db.query(
        `update metric_windows set received_at = $1 where window_id = 'retained-w1'`,
        [new Date(past).toISOString()],
      );
      await h.db.query(
        `update metric_windows set received_at = $1 where window_id = 'retained-w2'`,
        [new Date(past - 5 * DAY).toISOString()],
      );
      const where = await rows<{ t: string; window_id: string }>(
        h.db,
        `select tableoid::regclass::text as t, window_id from metric_windows
         where window_id like 'retained-%' order by window_id`,
      );
      expect(where).toEqual([
        { t: dayName(past), window_id: 'retained-w1' },
        { t: 'metric_windows_default', window_id: 'retained-w2' },
      ]);

      const swept = await maintainWindowPartitions(h.db, { retentionDays: 30 });
      expect(swept.dropped).toContain(dayName(past));
      expect(swept.purged).toBe(1);
      expect(await listWindowPartitions(h.db)).not.toContain(dayName(past));
      const left = await rows<{ n: number }>(
        h.db,
        `select count(*)::int as n from metric_windows where window_id like 'retained-%'`,
      );
      expect(left[0].n).toBe(0);

      const again = await post('retention-key-3', old);
      expect(again.status).toBe(201);
      expect(again.body).toMatchObject({ stored: 0, duplicates: 1 });
      const changed = await post('retention-key-4', { ...older, count: older.count + 1 });
      expect(changed.status).toBe(409);
      expect((again.body as MetricsResponse).windows).toBe(1);
      const windows = await rows<{ n: number }>(
        h.db,
        `select count(*)::int as n from metric_windows where window_id like 'retained-%'`,
      );
      expect(windows[0].n).toBe(0);
    });

    test('the hourly paired rollup equals the sums over the raw windows and the totals', async () => {
      // Counted windows only: a production baseline, devices registered before the staged
      // version, windows measured just now, for a staged version whose arm is everyone.
      const production = await publishBytes(h.server, fakeModel(), 0);
      expect((await admin(h.server, 'POST', `/versions/${production}/promote`)).status).toBe(200);
      const devices = [
        await register(h.server),
        await register(h.server),
        await register(h.server),
      ];
      const version = await publishBytes(h.server, fakeModel(), 1);
      for (const [d, device] of devices.entries()) {
        const end = Date.now();
        const windows = [0, 1, 2].map((i) => {
          const w = makeWindow(`rollup-${d}-${i}`, version, d * 3 + i);
          return {
            ...w,
            start: end - 60_000,
            end,
            paired: { ...w.paired!, baselineVersionId: production },
          };
        });
        const reply = await call(h.server, 'POST', '/v1/metrics', {
          body: { idempotencyKey: `rollup-key-${d}-xx`, windows },
          token: device.token,
        });
        expect(reply.status).toBe(201);
      }
      const raw = await rows<{ version_id: string; install_id: string; n: number }>(
        h.db,
        `select version_id, install_id, sum((body->'paired'->>'n')::float8) as n
         from metric_windows where rejected is null and body ? 'paired'
         group by 1, 2 order by 1, 2`,
      );
      const hourly = await rows<{ version_id: string; install_id: string; n: number }>(
        h.db,
        `select version_id, install_id, sum(n)::float8 as n from paired_hourly
         group by 1, 2 order by 1, 2`,
      );
      const totals = await rows<{ version_id: string; install_id: string; n: number }>(
        h.db,
        `select version_id, install_id, sum(n)::float8 as n from paired_totals
         group by 1, 2 order by 1, 2`,
      );
      // Only this version: the earlier test's raw windows were dropped, its rollups kept.
      const of = <T extends { version_id: string }>(list: T[]) =>
        list.filter((r) => r.version_id === version);
      expect(of(raw)).toHaveLength(3);
      expect(of(hourly)).toEqual(of(raw));
      expect(of(totals)).toEqual(of(raw));
    });
  });

  test('migration 10 moves existing windows into day partitions and keeps every answer', async () => {
    if (backend.name !== 'pglite') return;
    const db = await openPglite();
    try {
      await migrate(
        db,
        MIGRATIONS.filter((m) => m.id < 10),
      );
      await db.query(`insert into installs (id, token_hash) values ('i1', 'h')`);
      const body = (id: string, n: number) =>
        JSON.stringify({ windowId: id, paired: { baselineVersionId: 'v0', n } });
      const stored = [
        ['w1', '2026-11-01T10:15:00Z', 5, null],
        ['w2', '2026-11-01T10:45:00Z', 7, null],
        ['w3', '2026-11-02T23:59:59Z', 11, null],
        ['w4', '2026-11-02T01:00:00Z', 13, 'before_staging'],
      ] as const;
      for (const [id, at, n, rejected] of stored)
        await db.query(
          `insert into metric_windows (install_id, window_id, idempotency_key, version_id,
             content_hash, body, received_at, rejected)
           values ('i1', $1, 'k', 'v1', 'hash-' || $1, $2::jsonb, $3, $4)`,
          [id, body(id, n), at, rejected],
        );
      const before = await rows(db, 'select * from metric_windows order by window_id');
      expect(await migrate(db)).toEqual([10]);
      expect(await rows(db, 'select * from metric_windows order by window_id')).toEqual(before);
      expect(await listWindowPartitions(db)).toEqual([
        'metric_windows_default',
        'metric_windows_p20261101',
        'metric_windows_p20261102',
      ]);
      expect(
        await rows(db, 'select window_id, content_hash from metric_window_ids order by 1'),
      ).toEqual(stored.map(([id]) => ({ window_id: id, content_hash: `hash-${id}` })));
      const hourly = await rows<{ hour: Date; n: number }>(
        db,
        'select hour, n::int as n from paired_hourly order by hour',
      );
      expect(hourly.map((r) => [new Date(r.hour).toISOString(), r.n])).toEqual([
        ['2026-11-01T10:00:00.000Z', 12],
        ['2026-11-02T23:00:00.000Z', 11],
      ]);
    } finally {
      await db.close();
    }
  });
}
