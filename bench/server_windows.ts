/**
 * server.windows (metrics that stay fast): `GET /v1/admin/status` and one rollout policy
 * evaluation (`POST /v1/admin/policy/evaluate`, dry run) with millions of stored windows.
 *
 * The windows are generated straight into a throw-away PostgreSQL (generate_series; the
 * cluster runs with fsync off, for generation speed only: the timed reads write nothing),
 * spread over the last 7 days in their day partitions, half for the production version and
 * half for a staged one with paired comparisons; the running totals per install, the
 * per-version rollups that status, the policy and the scheduler read, the paired totals (with
 * the outcomes since the weight changed) and the hourly paired rollup are derived from them as
 * ingest would have added them. Then one server
 * (the real `startServer`) answers status and policy evaluations, timed from this process.
 *
 * Run alone: `npx tsx bench/server_windows.ts [--quick]`.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPostgres } from '../server/db/postgres.ts';
import { generateSigningKey } from '../server/signing.ts';
import { startServer } from '../server/start.ts';
import { ROLLUP_SHARDS } from '../server/store/metrics.ts';
import { maintainWindowPartitions } from '../server/store/window_partitions.ts';
import { ADMIN_TOKEN, admin, fakeModel, publishBytes } from '../test/unit/server/support/http.ts';
import {
  findPostgresBinaries,
  startPostgresCluster,
} from '../test/unit/server/support/postgres_cluster.ts';
import type { Floor, Section } from './lib/report.ts';
import { quantile } from './lib/stats.ts';

const FLOOR_MS = 200;
const DEVICES = 10_000;
const ROUNDS = 30;

interface Timing {
  windows: number;
  generateSeconds: number;
  status: { p50Ms: number; p95Ms: number };
  policy: { p50Ms: number; p95Ms: number };
}

async function timeIt(fn: () => Promise<unknown>): Promise<{ p50Ms: number; p95Ms: number }> {
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return { p50Ms: quantile(samples, 0.5), p95Ms: quantile(samples, 0.95) };
}

async function measure(binDir: string, count: number): Promise<Timing> {
  const cluster = await startPostgresCluster(binDir);
  try {
    const url = await cluster.createDatabase();
    const server = await startServer({
      databaseUrl: url,
      port: 0,
      adminToken: ADMIN_TOKEN,
      appKey: 'bench-app-key-0123456789',
      signingKey: generateSigningKey(),
      pollMs: 60_000,
      heartbeatMs: 60_000,
      partitionMaintenanceMs: 0,
    });
    const db = await openPostgres(url);
    try {
      const production = await publishBytes(server, fakeModel(), 0);
      await admin(server, 'POST', `/versions/${production}/promote`);
      const staged = await publishBytes(server, fakeModel(), 0.5);
      const started = performance.now();
      await maintainWindowPartitions(db, {
        retentionDays: 30,
        now: Date.now() - 7 * 86_400_000,
        aheadDays: 15,
      });
      await db.query(
        `insert into installs (id, token_hash) select 'bench-' || g, 'x' from generate_series(0, $1 - 1) g`,
        [DEVICES],
      );
      const windows = `select 'bench-' || (g % $1) as install_id, 'w-' || g as window_id,
           case when g % 2 = 0 then $3 else $4 end as version_id,
           now() - (g % 10080) * interval '1 minute' as received_at, g
         from generate_series(1, $2::bigint) g`;
      await db.query(
        `insert into metric_windows (install_id, window_id, idempotency_key, version_id,
           content_hash, body, received_at)
         select install_id, window_id, 'k', version_id, md5(window_id),
           jsonb_build_object('windowId', window_id, 'versionId', version_id, 'count', 50,
             'loglossSum', 20, 'paired', jsonb_build_object('baselineVersionId', $4::text,
             'n', 50, 'diffSum', -0.5 + (g % 7) * 0.1, 'diffSumSq', 0.05)),
           received_at
         from (${windows}) x`,
        [DEVICES, count, staged, production],
      );
      await db.query(
        `insert into metric_window_ids (install_id, window_id, content_hash)
         select install_id, window_id, content_hash from metric_windows`,
      );
      await db.query(
        `insert into version_install_totals (version_id, install_id, windows, samples,
           logloss_sum, logloss_samples)
         select version_id, install_id, count(*), 50 * count(*), 20 * count(*), 50 * count(*)
         from metric_windows group by 1, 2`,
      );
      // As if the staged version's weight changed 3.5 days ago (a partial hour included).
      await db.query(
        `update versions set updated_at = now() - interval '84 hours 20 minutes' where id = $1`,
        [staged],
      );
      // The rollups as ingest adds them (server/store/metrics.ts): each install in its shard.
      const shard = `(('x' || substr(encode(sha256(convert_to(install_id, 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint % ${ROLLUP_SHARDS})`;
      await db.query(
        `insert into version_totals (version_id, shard, devices, windows, samples, logloss_sum,
           logloss_samples)
         select version_id, ${shard}, count(*), sum(windows), sum(samples), sum(logloss_sum),
           sum(logloss_samples)
         from version_install_totals group by 1, 2`,
      );
      await db.query(
        `insert into paired_totals (version_id, baseline_version_id, install_id, n, diff_sum,
           diff_sum_sq, weight_since, n_at_weight)
         select w.version_id, $1, w.install_id, sum((w.body->'paired'->>'n')::bigint),
           sum((w.body->'paired'->>'diffSum')::float8), sum((w.body->'paired'->>'diffSumSq')::float8),
           v.updated_at,
           coalesce(sum((w.body->'paired'->>'n')::bigint)
             filter (where w.received_at >= v.updated_at), 0)
         from metric_windows w join versions v on v.id = w.version_id
         where w.version_id = $2 group by 1, 2, 3, v.updated_at`,
        [production, staged],
      );
      await db.query(
        `insert into paired_version_totals (version_id, baseline_version_id, shard, devices, n,
           diff_sum, diff_sum_sq)
         select version_id, baseline_version_id, ${shard}, count(*), sum(n), sum(diff_sum),
           sum(diff_sum_sq)
         from paired_totals group by 1, 2, 3`,
      );
      await db.query(
        `insert into paired_hourly (version_id, baseline_version_id, hour, install_id, n)
         select version_id, $1,
           date_bin('1 hour', received_at, timestamptz '2000-01-01 00:00:00+00'), install_id,
           sum((body->'paired'->>'n')::bigint)
         from metric_windows where version_id = $2 group by 1, 2, 3, 4`,
        [production, staged],
      );
      await db.query('analyze');
      const generateSeconds = (performance.now() - started) / 1000;
      const status = await timeIt(async () => {
        const reply = await admin(server, 'GET', '/status');
        if (reply.status !== 200) throw new Error(`status: ${reply.status}`);
      });
      const policy = await timeIt(async () => {
        const reply = await admin(server, 'POST', '/policy/evaluate', { dryRun: true });
        if (reply.status !== 200) throw new Error(`evaluate: ${reply.status} ${reply.text}`);
      });
      return { windows: count, generateSeconds, status, policy };
    } finally {
      await db.close();
      await server.close();
    }
  } finally {
    await cluster.stop();
  }
}

export async function serverWindows(quick: boolean): Promise<Section> {
  const binaries = await findPostgresBinaries();
  if ('missing' in binaries)
    return {
      key: 'server.windows',
      title: 'Metrics at millions of windows',
      results: { skipped: binaries.missing },
      floors: [],
      markdown: `Skipped: ${binaries.missing}.`,
      skipped: [`server.windows: ${binaries.missing}`],
    };
  const counts = quick ? [100_000] : [1_000_000, 10_000_000];
  const runs: Timing[] = [];
  for (const count of counts) runs.push(await measure(binaries.dir, count));
  const last = runs[runs.length - 1];
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const floors: Floor[] = [
    {
      name: `server.scale status at ${last.windows.toLocaleString('en')} windows: p95 ≤ ${FLOOR_MS} ms`,
      pass: last.status.p95Ms <= FLOOR_MS,
      measured: ms(last.status.p95Ms),
    },
    {
      name: `server.scale policy evaluation at ${last.windows.toLocaleString('en')} windows: p95 ≤ ${FLOOR_MS} ms`,
      pass: last.policy.p95Ms <= FLOOR_MS,
      measured: ms(last.policy.p95Ms),
    },
  ];
  const markdown = [
    `Status and one policy evaluation (dry run) with windows generated straight into PostgreSQL`,
    `(fsync off, for generation only), ${DEVICES.toLocaleString('en')} devices, 7 days of day`,
    `partitions, half the windows for a staged version with paired comparisons. ${ROUNDS} timed`,
    'requests each after one warm-up, from this process to one server.',
    '',
    '| windows | generation | status p50 | status p95 | policy p50 | policy p95 |',
    '| --- | --- | --- | --- | --- | --- |',
    ...runs.map(
      (r) =>
        `| ${r.windows.toLocaleString('en')} | ${r.generateSeconds.toFixed(0)} s | ${ms(r.status.p50Ms)} | ${ms(r.status.p95Ms)} | ${ms(r.policy.p50Ms)} | ${ms(r.policy.p95Ms)} |`,
    ),
  ].join('\n');
  return {
    key: 'server.windows',
    title: 'Metrics at millions of windows',
    results: runs,
    floors,
    markdown,
    headline: `At ${last.windows.toLocaleString('en')} stored windows: status p95 ${ms(last.status.p95Ms)}, policy evaluation p95 ${ms(last.policy.p95Ms)}.`,
  };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const section = await serverWindows(process.argv.includes('--quick'));
  console.log(`\n${section.markdown}\n`);
  for (const floor of section.floors)
    console.log(`${floor.name} | ${floor.measured} | ${floor.pass ? 'PASS' : 'FAIL'}`);
}
