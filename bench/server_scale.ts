/**
 * server.scale (push across replicas): how long a manifest change made through one server
 * process takes to reach apps' event streams on the other processes sharing its PostgreSQL.
 *
 * Three replicas run as separate processes (test/unit/server/support/replicas.ts: the real
 * `startServer`, default 2 s fallback poll) on a throw-away cluster; SSE clients in this
 * process hold streams on each. Each change is a ramp through the admin API of replica A;
 * its latency, per client, is from just before the admin request is sent to that client's
 * receipt of the new manifest event, so it includes the admin transaction itself. The next
 * change starts once every client has heard the last one.
 *
 * The same run then disables the trigger that announces changes (migration 8) and measures a
 * few changes again: what the 2 s poll alone gives, i.e. push before LISTEN/NOTIFY, and the
 * fallback when notifications are lost.
 *
 * The section's second part, durable ingest against the bare-insert limit, is
 * bench/server_ingest_durable.ts.
 *
 * Run alone: `npx tsx bench/server_scale.ts [--quick]`.
 */
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { generateSigningKey } from '../server/signing.ts';
// The admin token the helpers' `admin` sends; any value shared by the replicas would do.
import { ADMIN_TOKEN, admin, fakeModel, publishBytes } from '../test/unit/server/support/http.ts';
import {
  findPostgresBinaries,
  type PostgresCluster,
  startPostgresCluster,
} from '../test/unit/server/support/postgres_cluster.ts';
import {
  ManifestWatcher,
  type Replica,
  startReplicas,
} from '../test/unit/server/support/replicas.ts';
import type { Floor, Section } from './lib/report.ts';
import { quantile } from './lib/stats.ts';
import { DURABLE_PLANS, durableReport, measureDurableIngest } from './server_ingest_durable.ts';

const APP_KEY = 'bench-app-key-0123456789';
const REPLICAS = 3;
const POLL_MS = 2_000;

export interface ScalePlan {
  /** SSE clients per replica. */
  clientsPerReplica: number;
  /** Measured changes with push through the database. */
  changes: number;
  /** Measured changes with the trigger disabled (poll only). */
  pollOnlyChanges: number;
}

export const SCALE_PLANS: Record<'full' | 'quick', ScalePlan> = {
  full: { clientsPerReplica: 20, changes: 60, pollOnlyChanges: 8 },
  quick: { clientsPerReplica: 2, changes: 6, pollOnlyChanges: 2 },
};

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface PushResult {
  /** Clients on replica A, through which the changes were made. */
  sameReplica: LatencySummary;
  /** Clients on replicas B and C. */
  otherReplicas: LatencySummary;
  /** The admin request alone (sent → answered). */
  adminRequest: LatencySummary;
}

function summary(samples: number[]): LatencySummary {
  return {
    samples: samples.length,
    p50Ms: quantile(samples, 0.5),
    p99Ms: quantile(samples, 0.99),
    maxMs: Math.max(...samples),
  };
}

/** `changes` ramps through `via`, each timed to every watcher's receipt. */
async function measurePush(
  via: Replica,
  watchers: ManifestWatcher[],
  changes: number,
  ramp: () => Promise<void>,
): Promise<PushResult> {
  const same: number[] = [];
  const other: number[] = [];
  const adminMs: number[] = [];
  for (let i = 0; i < changes; i++) {
    const before = watchers.map((w) => w.latest.revision);
    const started = performance.now();
    await ramp();
    adminMs.push(performance.now() - started);
    const heard = await Promise.all(watchers.map((w, j) => w.after(before[j])));
    if (new Set(heard.map((a) => a.etag)).size !== 1)
      throw new Error('replicas pushed different manifests for one change');
    for (const [j, arrival] of heard.entries())
      (watchers[j].url === via.url ? same : other).push(arrival.at - started);
  }
  return {
    sameReplica: summary(same),
    otherReplicas: summary(other),
    adminRequest: summary(adminMs),
  };
}

type Skipped = { skipped: string };

export interface ScaleResult {
  plan: ScalePlan;
  cores: number;
  loadAverageAtStart: number;
  push: PushResult;
  pollOnly: PushResult;
  seconds: number;
}

export async function measureScale(plan: ScalePlan): Promise<ScaleResult | Skipped> {
  const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
    ? { dir: '' }
    : await findPostgresBinaries();
  if ('missing' in binaries) return { skipped: binaries.missing };
  const started = performance.now();
  const load = loadavg()[0];
  let cluster: PostgresCluster;
  try {
    cluster = await startPostgresCluster(binaries.dir);
  } catch (error) {
    return { skipped: `the throw-away cluster did not start: ${(error as Error).message}` };
  }
  let replicas: Replica[] = [];
  const watchers: ManifestWatcher[] = [];
  try {
    const databaseUrl = await cluster.createDatabase();
    replicas = await startReplicas(REPLICAS, {
      databaseUrl,
      signingKey: generateSigningKey(),
      adminToken: ADMIN_TOKEN,
      appKey: APP_KEY,
      pollMs: POLL_MS,
      heartbeatMs: 15_000,
    });
    const a = replicas[0];
    for (const replica of replicas)
      for (let i = 0; i < plan.clientsPerReplica; i++)
        watchers.push(await ManifestWatcher.open(replica.url));
    // Not measured: the version every later change ramps (and a first pass over the code).
    const versionId = await publishBytes(a, fakeModel(), 0.01);
    await Promise.all(watchers.map((w) => w.after(w.arrivals[0].revision)));
    let step = 0;
    const ramp = async () => {
      // Between 1 % and 50 %, a new weight each time so that every ramp changes the manifest.
      step++;
      const weight = 0.01 + (step % 50) / 100;
      const reply = await admin(a, 'POST', `/versions/${versionId}/ramp`, { weight });
      if (reply.status !== 200) throw new Error(`ramp: ${reply.status} ${reply.text}`);
    };
    process.stdout.write(`  server.scale: push, ${plan.changes} changes…\n`);
    const push = await measurePush(a, watchers, plan.changes, ramp);

    process.stdout.write(`  server.scale: poll only, ${plan.pollOnlyChanges} changes…\n`);
    const sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    try {
      await sql.query('alter table manifest_state disable trigger manifest_state_notify');
      const pollOnly = await measurePush(a, watchers, plan.pollOnlyChanges, ramp);
      await sql.query('alter table manifest_state enable trigger manifest_state_notify');
      return {
        plan,
        cores: cpus().length,
        loadAverageAtStart: load,
        push,
        pollOnly,
        seconds: (performance.now() - started) / 1000,
      };
    } finally {
      await sql.end();
    }
  } finally {
    for (const watcher of watchers) watcher.close();
    await Promise.all(replicas.map((r) => r.stop()));
    await cluster.stop();
  }
}

const P50_FLOOR_MS = 100;
const P99_FLOOR_MS = 500;

const ms = (value: number) => `${value.toFixed(value < 10 ? 1 : 0)} ms`;
const row = (label: string, s: LatencySummary) =>
  `| ${label} | ${s.samples} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${ms(s.maxMs)} |`;

/**
 * server.scale: push across replicas, then durable ingest on one process against the bare
 * insert limit (bench/server_ingest_durable.ts).
 */
export async function serverScale(quick: boolean): Promise<Section> {
  const push = await serverPush(quick);
  const ingest = await measureDurableIngest(DURABLE_PLANS[quick ? 'quick' : 'full']);
  const report = durableReport(ingest, quick);
  return {
    ...push,
    results: { push: push.results, durableIngest: ingest },
    floors: [...push.floors, ...report.floors],
    markdown: `${push.markdown}\n\n${report.markdown}`,
    ...(push.headline || report.headline
      ? { headline: [push.headline, report.headline].filter(Boolean).join(' ') }
      : {}),
  };
}

async function serverPush(quick: boolean): Promise<Section> {
  const plan = SCALE_PLANS[quick ? 'quick' : 'full'];
  const result = await measureScale(plan);
  if ('skipped' in result)
    return {
      key: 'server.scale',
      title: 'Sync server across replicas',
      results: result,
      floors: [
        {
          name: 'server.scale: measured',
          pass: !process.env.LOCALFIT_REQUIRE_POSTGRES,
          measured: `SKIPPED: ${result.skipped}`,
        },
      ],
      markdown: `Skipped: ${result.skipped}.`,
      skipped: [`server.scale: ${result.skipped}`],
    };
  const { push, pollOnly } = result;
  const floors: Floor[] = [
    {
      name: `server.scale push across replicas: p50 ≤ ${P50_FLOOR_MS} ms`,
      pass: push.otherReplicas.p50Ms <= P50_FLOOR_MS,
      measured: ms(push.otherReplicas.p50Ms),
    },
    {
      name: `server.scale push across replicas: p99 ≤ ${P99_FLOOR_MS} ms`,
      pass: push.otherReplicas.p99Ms <= P99_FLOOR_MS,
      measured: ms(push.otherReplicas.p99Ms),
    },
  ];
  const clients = plan.clientsPerReplica;
  const markdown = [
    `Push across replicas: ${REPLICAS} server processes (the real \`startServer\`, fallback poll`,
    `${POLL_MS / 1000} s) on one throw-away PostgreSQL, ${clients} SSE clients on each (in the bench process). Each change is a`,
    'ramp through the admin API of replica A; latency is from just before the admin request is',
    "sent to a client's receipt of the new manifest event (so it includes the admin transaction);",
    'the next change starts once every client has it. Every replica pushed the same ETag for',
    'every change. "Poll only": the same with the announcing trigger disabled, i.e. push as it',
    'was before LISTEN/NOTIFY, and the fallback when notifications are lost. Each poll-only',
    'change follows just after a poll delivered the last one, so it waits close to the whole',
    'interval; changes at random times would wait about half of it on average.',
    '',
    '| clients | samples | p50 | p99 | max |',
    '| --- | --- | --- | --- | --- |',
    row('on B and C (other replicas)', push.otherReplicas),
    row('on A (same replica)', push.sameReplica),
    row('admin request alone', push.adminRequest),
    row('poll only: on B and C', pollOnly.otherReplicas),
    row('poll only: on A', pollOnly.sameReplica),
    '',
    `${result.cores} cores; load average ${result.loadAverageAtStart.toFixed(1)} when the section started. Section time: ${result.seconds.toFixed(0)} s.`,
  ].join('\n');
  return {
    key: 'server.scale',
    title: 'Sync server across replicas',
    results: result,
    floors,
    markdown,
    headline:
      `Push across ${REPLICAS} replicas through PostgreSQL LISTEN/NOTIFY: p50 ${ms(push.otherReplicas.p50Ms)}, ` +
      `p99 ${ms(push.otherReplicas.p99Ms)} from an admin change on one to SSE receipt on the others ` +
      `(poll only: p50 ${ms(pollOnly.otherReplicas.p50Ms)}).`,
  };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const section = await serverScale(process.argv.includes('--quick'));
  console.log(`\n${section.markdown}\n`);
  console.log(JSON.stringify(section.results, null, 2));
  for (const floor of section.floors)
    console.log(`${floor.name} | ${floor.measured} | ${floor.pass ? 'PASS' : 'FAIL'}`);
}
