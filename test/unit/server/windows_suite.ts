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
import { ROLLUP_SHARDS } from '../../../server/store/metrics.ts';
import {
  listWindowPartitions,
  maintainWindowPartitions,
} from '../../../server/store/window_partitions.ts';
import { aucFromSketch } from '../../../src/metrics/auc_sketch.ts';
import type { StatusResponse } from '../../../src/protocol/admin.ts';
import type { MetricsResponse } from '../../../src/protocol/index.ts';
import type { Backend, SuiteHooks } from './support/backends.ts';
import { admin, call, fakeModel, makeWindow, publishBytes, register } from './support/http.ts';

const DAY = 86_400_000;
const dayName = (ms: number) =>
  `metric_windows_p${new Date(Math.floor(ms / DAY) * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`;

async function rows<T>(db: Database, sql: string): Promise<T[]> {
  return (await db.query<T & Record<string, unknown>>(sql)).rows as T[];
}

export function defineWindowTests(backend: Backend, hooks: SuiteHooks): void {
  describe('window partitions, retention and rollups', () => {
    const shared = hooks.useDatabase(backend);
    const h = hooks.useServer(shared, { partitionMaintenanceMs: 0 });
    /** Posts one window at a time as `device`, each under its own key. */
    const postOne =
      (device: { token: string }) => (key: string, window: ReturnType<typeof makeWindow>) =>
        call<MetricsResponse>(h.server, 'POST', '/v1/metrics', {
          body: { idempotencyKey: key, windows: [window] },
          token: device.token,
        });

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
      const post = postOne(await register(h.server));
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

    test('window bodies are compressed with lz4 where the server has it, in every partition', async () => {
      const [{ lz4 }] = await rows<{ lz4: boolean }>(
        h.db,
        `select 'lz4' = any(enumvals) as lz4 from pg_settings
         where name = 'default_toast_compression'`,
      );
      // PostgreSQL from Debian has lz4; PGlite has pglz only (migration 13 then changes nothing).
      if (backend.name === 'postgres') expect(lz4).toBe(true);
      const post = postOne(await register(h.server));
      expect((await post('compressed-key-1', makeWindow('compressed-w1', 'v1', 5))).status).toBe(
        201,
      );
      // Received 20 days ahead, past the partitions made so far: the window waits in the
      // default partition, and making its day moves it out (createDay's `like` path).
      const ahead = Date.now() + 20 * DAY;
      await h.db.query(
        `update metric_windows set received_at = $1 where window_id = 'compressed-w1'`,
        [new Date(ahead).toISOString()],
      );
      const made = await maintainWindowPartitions(h.db, { retentionDays: 30, now: ahead });
      expect(made.created).toContain(dayName(ahead));
      expect((await post('compressed-key-2', makeWindow('compressed-w2', 'v1', 6))).status).toBe(
        201,
      );
      const settings = await rows<{ t: string; c: string }>(
        h.db,
        `select p.relid::text as t, a.attcompression as c
         from pg_partition_tree('metric_windows') p
         join pg_attribute a on a.attrelid = p.relid and a.attname = 'body'`,
      );
      expect(settings.map((s) => s.t)).toContain(dayName(ahead));
      expect(settings.filter((s) => s.c !== (lz4 ? 'l' : ''))).toEqual([]);
      // The bodies are big enough to be compressed at all, with the method set.
      const stored = await rows<{ window_id: string; method: string | null }>(
        h.db,
        `select window_id, pg_column_compression(body) as method from metric_windows
         where window_id like 'compressed-%' order by window_id`,
      );
      const method = lz4 ? 'lz4' : 'pglz';
      expect(stored).toEqual([
        { window_id: 'compressed-w1', method },
        { window_id: 'compressed-w2', method },
      ]);
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

    test('status equals a direct computation from the raw windows, and reads no per-device rows', async () => {
      // A version this server never published (an app's built-in model): every window counts.
      const version = 'status-rollup-v1';
      const baseline = 'status-rollup-v0';
      const devices = await Promise.all([0, 1, 2, 3].map(() => register(h.server)));
      const window = (d: number, i: number) => {
        const w = makeWindow(`status-${d}-${i}`, version, d * 7 + i);
        // Regression sums on some windows, none on others: each mean has its own denominator.
        const errors = i % 2 === 0 ? { squaredErrorSum: 3 + i, absoluteErrorSum: 1 + d } : {};
        return { ...w, ...errors, paired: { ...w.paired!, baselineVersionId: baseline } };
      };
      const post = (d: number, key: string, windows: ReturnType<typeof window>[]) =>
        call<MetricsResponse>(h.server, 'POST', '/v1/metrics', {
          body: { idempotencyKey: key, windows },
          token: devices[d].token,
        });
      for (const d of [0, 1, 2]) {
        const reply = await post(d, `status-key-${d}-a`, [window(d, 0), window(d, 1)]);
        expect(reply.status).toBe(201);
      }
      // A retry, a batch repeating a stored window beside a new one (the separate steps), and
      // two concurrent batches of a device new to the version (counted as one device).
      expect((await post(0, 'status-key-0-a', [window(0, 0), window(0, 1)])).body).toMatchObject({
        stored: 2,
      });
      expect((await post(1, 'status-key-1-b', [window(1, 1), window(1, 2)])).body).toMatchObject({
        stored: 1,
        duplicates: 1,
      });
      const concurrent = await Promise.all([
        post(3, 'status-key-3-a', [window(3, 0)]),
        post(3, 'status-key-3-b', [window(3, 1), window(3, 2)]),
      ]);
      expect(concurrent.map((r) => r.status)).toEqual([201, 201]);

      const raw = (
        await rows<{ install_id: string; body: ReturnType<typeof window> }>(
          h.db,
          `select install_id, body from metric_windows
           where version_id = '${version}' and rejected is null`,
        )
      ).map((r) => ({ ...r, body: typeof r.body === 'string' ? JSON.parse(r.body) : r.body }));
      expect(raw).toHaveLength(10);
      const sum = (f: (w: ReturnType<typeof window>) => number | undefined) =>
        raw.reduce((acc, { body }) => acc + (f(body) ?? 0), 0);
      const samplesWith = (has: (w: ReturnType<typeof window>) => boolean) =>
        sum((w) => (has(w) ? w.count : 0));
      const histogram = (side: 'positive' | 'negative') =>
        raw.reduce(
          (acc, { body }) => acc.map((x, i) => x + body.auc![side][i]),
          new Array<number>(raw[0].body.auc!.positive.length).fill(0),
        );
      const errorSamples = samplesWith((w) => w.squaredErrorSum !== undefined);
      const n = sum((w) => w.paired.n);
      const diffSum = sum((w) => w.paired.diffSum);
      const mean = diffSum / n;
      const variance = (sum((w) => w.paired.diffSumSq) - n * mean * mean) / (n - 1);
      const slates = sum((w) => w.ranking!.slates);
      const expected = {
        versionId: version,
        devices: new Set(raw.map((r) => r.install_id)).size,
        windows: raw.length,
        samples: sum((w) => w.count),
        logloss: sum((w) => w.loglossSum) / samplesWith((w) => w.loglossSum !== undefined),
        accuracy: sum((w) => w.correct) / samplesWith((w) => w.correct !== undefined),
        auc: aucFromSketch({ positive: histogram('positive'), negative: histogram('negative') }),
        rmse: Math.sqrt(sum((w) => w.squaredErrorSum) / errorSamples),
        mae: sum((w) => w.absoluteErrorSum) / errorSamples,
        ctr: sum((w) => w.ctr!.clicks) / sum((w) => w.ctr!.impressions),
        conversionRate: sum((w) => w.ctr!.conversions) / sum((w) => w.ctr!.impressions),
        impressions: sum((w) => w.ctr!.impressions),
        ranking: {
          k: Math.max(...raw.map((r) => r.body.ranking!.k)),
          slates,
          precision: sum((w) => w.ranking!.precisionSum) / slates,
          recall: sum((w) => w.ranking!.recallSum) / slates,
          ndcg: sum((w) => w.ranking!.ndcgSum) / slates,
        },
        predictionMean:
          sum((w) => w.drift!.prediction!.sum) / sum((w) => w.drift!.prediction!.count),
        driftAlerts: sum((w) => w.drift!.alerts),
        dropped: sum((w) => w.dropped),
        paired: [
          {
            baselineVersionId: baseline,
            devices: new Set(raw.map((r) => r.install_id)).size,
            n,
            meanDiff: mean,
            stdError: Math.sqrt(variance / n),
          },
        ],
      };
      const metricsOf = async () => {
        const reply = await admin(h.server, 'GET', '/status');
        expect(reply.status).toBe(200);
        const entry = (reply.body as StatusResponse).versions.find((v) => v.versionId === version);
        return entry?.metrics ?? null;
      };
      const metrics = await metricsOf();
      expect(metrics).not.toBeNull();
      expect(metrics!.devices).toBe(4);
      // Sums in a different order round differently in the last bits: close, not equal.
      const close = (actual: unknown, want: unknown, path: string): void => {
        if (typeof want === 'number') {
          expect(typeof actual, path).toBe('number');
          expect(Math.abs((actual as number) - want), path).toBeLessThanOrEqual(
            1e-9 * Math.max(1, Math.abs(want)),
          );
        } else if (want && typeof want === 'object') {
          for (const [k, v] of Object.entries(want))
            close((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
        } else expect(actual, path).toEqual(want);
      };
      close(metrics, expected, 'metrics');

      // Status reads the per-version rollups: without the per-device rows it shows the same.
      await h.db.query(`delete from version_install_totals where version_id = '${version}'`);
      await h.db.query(`delete from paired_totals where version_id = '${version}'`);
      expect(await metricsOf()).toEqual(metrics);
      const shards = await rows<{ n: number }>(
        h.db,
        `select count(*)::int as n from version_totals where version_id = '${version}'`,
      );
      expect(shards[0].n).toBeGreaterThanOrEqual(1);
      expect(shards[0].n).toBeLessThanOrEqual(Math.min(ROLLUP_SHARDS, 4));
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
      expect(
        await migrate(
          db,
          MIGRATIONS.filter((m) => m.id <= 10),
        ),
      ).toEqual([10]);
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

  test('migration 11 rolls the existing totals up per version, with the outcomes at weight', async () => {
    if (backend.name !== 'pglite') return;
    const db = await openPglite();
    try {
      await migrate(
        db,
        MIGRATIONS.filter((m) => m.id <= 10),
      );
      await db.query(`insert into installs (id, token_hash) values ('i1', 'h'), ('i2', 'h')`);
      await db.query(
        `insert into models (sha256, bytes, size) values (repeat('a', 64), decode('00', 'hex'), 1)`,
      );
      // The weight last changed at 10:20: whole hours from 11:00, raw windows for 10:20–11:00.
      await db.query(
        `insert into versions (seq, id, semver, model_sha256, feature_spec, status, weight,
           updated_at)
         values (1, 'v1', '1.0.0', repeat('a', 64), '{}', 'staging', 0.5,
           '2026-11-01T10:20:00Z')`,
      );
      const bins = (x: number) => `{${[x, 0, 2 * x].join(',')}}`;
      for (const [install, windows, logloss, k] of [
        ['i1', 3, 1.5, 5],
        ['i2', 4, 2.25, 10],
      ] as const)
        await db.query(
          `insert into version_install_totals (version_id, install_id, windows, samples,
             logloss_sum, logloss_samples, auc_positive, auc_negative, ranking_k)
           values ('v1', $1, $2::bigint, $2::bigint * 10, $3, $2::bigint * 10, $4::float8[],
             $4::float8[], $5)`,
          [install, windows, logloss, bins(windows), k],
        );
      await db.query(
        `insert into paired_totals (version_id, baseline_version_id, install_id, n, diff_sum,
           diff_sum_sq)
         values ('v1', 'v0', 'i1', 30, -0.5, 0.25), ('v1', 'v0', 'i2', 40, 1, 0.5)`,
      );
      await db.query(
        `insert into paired_hourly (version_id, baseline_version_id, hour, install_id, n) values
           ('v1', 'v0', '2026-11-01T09:00:00Z', 'i1', 5),
           ('v1', 'v0', '2026-11-01T10:00:00Z', 'i1', 7),
           ('v1', 'v0', '2026-11-01T11:00:00Z', 'i1', 11),
           ('v1', 'v0', '2026-11-01T12:00:00Z', 'i2', 13)`,
      );
      for (const [id, at, n] of [
        ['w1', '2026-11-01T10:10:00Z', 3],
        ['w2', '2026-11-01T10:30:00Z', 4],
      ] as const)
        await db.query(
          `insert into metric_windows (install_id, window_id, idempotency_key, version_id,
             content_hash, body, received_at)
           values ('i1', $1, 'k', 'v1', 'h', $2::jsonb, $3)`,
          [id, JSON.stringify({ paired: { baselineVersionId: 'v0', n } }), at],
        );
      // Migration 11 alone (later ones are another test's subject).
      expect(
        await migrate(
          db,
          MIGRATIONS.filter((m) => m.id <= 11),
        ),
      ).toEqual([11]);
      const totals = await rows<Record<string, unknown>>(
        db,
        `select version_id, sum(devices)::int as devices, sum(windows)::int as windows,
           sum(samples)::int as samples, sum(logloss_sum) as logloss_sum,
           max(ranking_k) as ranking_k, max(auc_positive::text) as auc_positive
         from version_totals group by version_id`,
      );
      expect(totals).toEqual([
        {
          version_id: 'v1',
          devices: 2,
          windows: 7,
          samples: 70,
          logloss_sum: 3.75,
          ranking_k: 10,
          auc_positive: '{7,0,14}',
        },
      ]);
      expect(
        await rows(
          db,
          `select baseline_version_id, devices::int, n::int, diff_sum, diff_sum_sq
           from paired_version_totals`,
        ),
      ).toEqual([
        { baseline_version_id: 'v0', devices: 2, n: 70, diff_sum: 0.5, diff_sum_sq: 0.75 },
      ]);
      // i1: 11 (from 11:00) + 4 (10:30); i2: 13.
      expect(
        await rows(
          db,
          `select install_id, n_at_weight::int as n, weight_since = v.updated_at as current
           from paired_totals p join versions v on v.id = p.version_id order by install_id`,
        ),
      ).toEqual([
        { install_id: 'i1', n: 15, current: true },
        { install_id: 'i2', n: 13, current: true },
      ]);
    } finally {
      await db.close();
    }
  });
}
