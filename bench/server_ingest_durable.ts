/**
 * server.scale (durable ingest): `POST /v1/metrics` with batches of 10 windows into one server
 * process on a PostgreSQL that flushes every commit to disk (fsync and synchronous_commit on,
 * full_page_writes on: PostgreSQL's defaults), against the limit measured in the same run: a
 * bare script that writes the same rows into the same tables (the batch's claim in
 * metric_batches, its window ids in metric_window_ids, its windows in metric_windows) with one
 * `insert … select from unnest(…)` statement per batch, from as many connections as the
 * server's pool. The server does everything a real request does on top: token auth, the
 * per-install rate limit (in the database), validation, the rollout judge, running totals,
 * paired sums and rollups. The two take turns, a window each (the other idle), and the ratio
 * is taken per round: on a shared machine a busy minute then weighs on both sides, where
 * measuring one after the other put 1.28× and 1.72× on two runs of the same code.
 *
 * The same cluster is then switched (`alter system`, reload) to synchronous_commit off, to
 * fsync off, and to both off, and both measurements repeated: what each setting costs.
 * Everything (PostgreSQL, the server, autocannon, the bare script) shares this machine's
 * cores; the load generator's CPU is reported with each figure, as its cost.
 *
 * Run alone: `npx tsx bench/server_ingest_durable.ts [--quick]`.
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { sha256Hex } from '../server/tokens.ts';
import { canonicalJson } from '../src/protocol/canonical_json.ts';
import {
  findPostgresBinaries,
  type PostgresCluster,
  startPostgresCluster,
} from '../test/unit/server/support/postgres_cluster.ts';
import type { Floor } from './lib/report.ts';
import { type Figure, summarise } from './lib/stats.ts';
import {
  type BackendResult,
  clusterCpuMicros,
  measureBackend,
  type Plan,
  REWARM_SECONDS,
  storedOnce,
  type WindowContent,
  windowContent,
} from './server_ingest.ts';

export const WINDOWS_PER_BATCH = 10;
export const DURABLE_FLOOR = 5_000;
export const RATIO_FLOOR = 1.5;

export interface DurablePlan {
  server: Plan;
  /**
   * After each of the server's windows, a bare-insert window of `bareSeconds` after
   * `bareWarmupSeconds` of the same load.
   */
  bareWarmupSeconds: number;
  bareSeconds: number;
  /** Also measure with synchronous_commit and/or fsync off. */
  settingsCosts: boolean;
}

export const DURABLE_PLANS: Record<'full' | 'quick', DurablePlan> = {
  full: {
    server: {
      installs: 500,
      connections: 64,
      warmupSeconds: 3,
      runs: 5,
      runSeconds: 5,
      windowsPerRequest: WINDOWS_PER_BATCH,
    },
    bareWarmupSeconds: 1,
    bareSeconds: 3,
    settingsCosts: true,
  },
  quick: {
    server: {
      installs: 50,
      connections: 16,
      warmupSeconds: 0.5,
      runs: 2,
      runSeconds: 1,
      windowsPerRequest: WINDOWS_PER_BATCH,
    },
    bareWarmupSeconds: 0.5,
    bareSeconds: 1,
    settingsCosts: false,
  },
};

/** The server's PostgreSQL pool (server/db/postgres.ts default); the bare script uses as many. */
export const POOL_SIZE = 10;

interface Setting {
  label: string;
  fsync: 'on' | 'off';
  synchronousCommit: 'on' | 'off';
}

const SETTINGS: Setting[] = [
  { label: 'durable (fsync on, synchronous_commit on)', fsync: 'on', synchronousCommit: 'on' },
  { label: 'synchronous_commit off', fsync: 'on', synchronousCommit: 'off' },
  { label: 'fsync off', fsync: 'off', synchronousCommit: 'on' },
  { label: 'both off', fsync: 'off', synchronousCommit: 'off' },
];

export interface BareResult {
  windowsPerSecond: Figure;
  batchesPerSecond: Figure;
  /** Fraction of one core used by this process while it drove the bare inserts. */
  driverCpu: Figure;
  /** PostgreSQL's CPU time per batch (ms): robust to a busy machine. */
  databaseCpuMsPerBatch: Figure;
}

export interface SettingResult {
  setting: Setting;
  loadAverage: number;
  server: BackendResult;
  bare: BareResult;
  /** bare windows/s ÷ server windows/s (medians): 1 = at the limit. */
  ratio: Figure;
}

async function applySetting(adminUrl: string, setting: Setting): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`alter system set fsync = ${setting.fsync}`);
    await client.query(`alter system set synchronous_commit = ${setting.synchronousCommit}`);
    await client.query('select pg_reload_conf()');
    // The reload is asynchronous: wait until a new session sees it.
    for (let i = 0; i < 100; i++) {
      const check = new pg.Client({ connectionString: adminUrl });
      await check.connect();
      const { rows } = await check.query<{ fsync: string; sc: string }>(
        "select current_setting('fsync') as fsync, current_setting('synchronous_commit') as sc",
      );
      await check.end();
      if (rows[0].fsync === setting.fsync && rows[0].sc === setting.synchronousCommit) return;
      await new Promise((done) => setTimeout(done, 20));
    }
    throw new Error(`PostgreSQL did not take ${setting.label}`);
  } finally {
    await client.end();
  }
}

/**
 * The limit: one statement per batch of 10 windows (claim, ids, windows), from POOL_SIZE
 * connections in a closed loop. Bodies are prepared before the clock starts, so what is
 * measured is the database (and the driver), not making the load. Opened once, measured in
 * rounds between the server's (`measure`: the loops run for a warm-up window and one
 * measured window, then stop).
 */
async function openBare(url: string, tag: string) {
  const port = Number(new URL(url).port);
  const pools: WindowContent[][] = [false, true].map((staged) =>
    Array.from({ length: 64 }, (_, i) => windowContent(i + (staged ? 1000 : 0), staged)),
  );
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  const installs = (
    await setup.query<{ id: string }>('select id from installs order by id limit 500')
  ).rows.map((r) => r.id);
  await setup.end();
  if (installs.length === 0) throw new Error('bare inserts: no installs to write for');

  type Batch = { params: unknown[] };
  const prepared: Batch[] = [];
  for (let seq = 0; seq < 4_000; seq++) prepared.push(makeBatch(seq));
  function makeBatch(seq: number): Batch {
    const install = installs[seq % installs.length];
    const pool = pools[seq % 5 === 0 ? 1 : 0];
    const key = `${tag}-${seq}`;
    const ids: string[] = [];
    const versions: string[] = [];
    const hashes: string[] = [];
    const bodies: string[] = [];
    for (let i = 0; i < WINDOWS_PER_BATCH; i++) {
      const w = { windowId: `${key}-${i}`, ...pool[(seq * 7 + i) % pool.length] };
      const body = canonicalJson(w);
      ids.push(w.windowId);
      versions.push(w.versionId);
      hashes.push(sha256Hex(body));
      bodies.push(body);
    }
    const response = JSON.stringify({
      idempotencyKey: key,
      windows: WINDOWS_PER_BATCH,
      stored: WINDOWS_PER_BATCH,
      duplicates: 0,
    });
    return { params: [install, key, sha256Hex(key), response, ids, versions, hashes, bodies] };
  }
  let seq = 0;
  // A fresh batch each time (keys and window ids must be new), made from the prepared ones by
  // renaming: cheap next to the statement.
  const next = (): unknown[] => {
    const s = seq++;
    if (s < prepared.length) return prepared[s].params;
    return makeBatch(s).params;
  };

  const clients = await Promise.all(
    Array.from({ length: POOL_SIZE }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  let windows = 0;
  let done = 0;
  const sample = async (seconds: number): Promise<BareSample> => {
    const w0 = windows;
    const b0 = done;
    const c0 = process.cpuUsage();
    const d0 = clusterCpuMicros(port);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const database = clusterCpuMicros(port) - d0;
    return {
      databaseMs: database / 1e3 / Math.max(1, done - b0),
      windows: (windows - w0) / elapsed,
      batches: (done - b0) / elapsed,
      cpu: (cpu.user + cpu.system) / 1e6 / elapsed,
    };
  };
  return {
    async measure(warmupSeconds: number, seconds: number): Promise<BareSample> {
      let stop = false;
      const loops = clients.map(async (client) => {
        while (!stop) {
          await client.query({ name: 'bare-ingest', text: BARE_SQL, values: next() });
          windows += WINDOWS_PER_BATCH;
          done++;
        }
      });
      try {
        await sample(warmupSeconds);
        return await sample(seconds);
      } finally {
        stop = true;
        await Promise.all(loops);
      }
    },
    /** Windows the bare statements inserted (every one answered: loops end after theirs). */
    inserted: () => windows,
    close: () => Promise.all(clients.map((c) => c.end())),
  };
}

interface BareSample {
  databaseMs: number;
  windows: number;
  batches: number;
  cpu: number;
}

function bareResult(samples: BareSample[]): BareResult {
  return {
    windowsPerSecond: summarise(samples.map((s) => s.windows)),
    batchesPerSecond: summarise(samples.map((s) => s.batches)),
    driverCpu: summarise(samples.map((s) => s.cpu)),
    databaseCpuMsPerBatch: summarise(samples.map((s) => s.databaseMs)),
  };
}

/** The batch's rows, as ingest writes them: its claim, its window ids, its windows. */
const BARE_SQL = `
  with claim as (
    insert into metric_batches (install_id, idempotency_key, body_hash, response)
    values ($1, $2, $3, $4::jsonb)
  ), ids as (
    insert into metric_window_ids (install_id, window_id, content_hash)
    select $1, u.id, u.hash from unnest($5::text[], $7::text[]) as u(id, hash)
  )
  insert into metric_windows (install_id, window_id, idempotency_key, version_id, content_hash, body)
  select $1, u.id, $2, u.version, u.hash, u.body
  from unnest($5::text[], $6::text[], $7::text[], $8::jsonb[]) as u(id, version, hash, body)`;

/**
 * LOCALFIT_BENCH_PG_STATEMENTS=1: load pg_stat_statements and print, after each server run,
 * the statements PostgreSQL spent its time on, with calls per request (a diagnostic: the
 * extension itself costs a little).
 */
const STATEMENTS = process.env.LOCALFIT_BENCH_PG_STATEMENTS === '1';

async function resetStatements(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('create extension if not exists pg_stat_statements');
  await client.query('select pg_stat_statements_reset()');
  await client.end();
}

async function printStatements(url: string, server: BackendResult): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{
    calls: string;
    total: number;
    plan: number;
    query: string;
  }>(
    `select calls, total_exec_time as total, total_plan_time as plan, query
     from pg_stat_statements order by total_exec_time + total_plan_time desc limit 15`,
  );
  await client.end();
  const requests = server.windowsInDatabase / WINDOWS_PER_BATCH;
  for (const row of rows)
    process.stdout.write(
      `    ${(Number(row.calls) / requests).toFixed(2)}/req exec ${(row.total / Number(row.calls)).toFixed(3)} ms plan ${(row.plan / Number(row.calls)).toFixed(3)} ms total ${(row.total / 1000).toFixed(1)} s: ${row.query.replace(/\s+/g, ' ').slice(0, 110)}\n`,
    );
}

export type DurableResult =
  | { skipped: string }
  | { plan: DurablePlan; results: SettingResult[]; seconds: number };

export async function measureDurableIngest(plan: DurablePlan): Promise<DurableResult> {
  if (process.env.LOCALFIT_TEST_DATABASE_URL)
    return { skipped: 'durable ingest needs a throw-away cluster it can reconfigure' };
  const binaries = await findPostgresBinaries();
  if ('missing' in binaries) return { skipped: binaries.missing };
  const started = performance.now();
  let cluster: PostgresCluster;
  try {
    cluster = await startPostgresCluster(binaries.dir, {
      durable: true,
      ...(STATEMENTS ? { settings: ['shared_preload_libraries=pg_stat_statements'] } : {}),
    });
  } catch (error) {
    return { skipped: `the throw-away cluster did not start: ${(error as Error).message}` };
  }
  try {
    const results: SettingResult[] = [];
    for (const setting of plan.settingsCosts ? SETTINGS : SETTINGS.slice(0, 1)) {
      await applySetting(cluster.adminUrl, setting);
      const loadAverage = loadavg()[0];
      process.stdout.write(
        `  server.scale ingest, ${setting.label} (load ${loadAverage.toFixed(1)})\n`,
      );
      const url = await cluster.createDatabase();
      if (STATEMENTS) await resetStatements(url);
      // Server and bare inserts take turns, a window each, on the same database: the ratio
      // is taken per round, so that a busy minute of the shared machine weighs on both.
      let bareDriver: Awaited<ReturnType<typeof openBare>> | undefined;
      const bareSamples: BareSample[] = [];
      let server: BackendResult;
      try {
        server = await measureBackend('postgres', { databaseUrl: url }, plan.server, async () => {
          bareDriver ??= await openBare(url, `bare-${results.length}`);
          const sample = await bareDriver.measure(plan.bareWarmupSeconds, plan.bareSeconds);
          bareSamples.push(sample);
          process.stdout.write(`    bare inserts: ${num(sample.windows)} windows/s\n`);
        });
      } finally {
        await bareDriver?.close();
      }
      // The server counted every window in the database at its stop, the bare ones included.
      server = {
        ...server,
        windowsInDatabase: server.windowsInDatabase - (bareDriver?.inserted() ?? 0),
      };
      if (STATEMENTS) await printStatements(url, server);
      const bare = bareResult(bareSamples);
      const ratios = summarise(bareSamples.map((b, i) => b.windows / server.perWindow[i].windows));
      process.stdout.write(
        `  server.scale ingest, ${setting.label}: server ${num(server.windowsPerSecond.median)} windows/s, ` +
          `bare ${num(bare.windowsPerSecond.median)} windows/s\n`,
      );
      results.push({
        setting,
        loadAverage,
        server,
        bare,
        ratio: ratios,
      });
    }
    return { plan, results, seconds: (performance.now() - started) / 1000 };
  } finally {
    await cluster.stop();
  }
}

/** PostgreSQL's CPU per answered request, from the medians (ms). */
const databaseMsPerRequest = (r: BackendResult) =>
  ((r.databaseCpu?.median ?? Number.NaN) * 1e3) / r.requestsPerSecond.median;

const num = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      })
    : '—';
const range = (f: Figure, digits = 0) =>
  `${num(f.median, digits)} (${num(f.min, digits)} – ${num(f.max, digits)})`;
const pct = (fraction: number) => `${num(fraction * 100)} %`;

/** The floors and the report's markdown for a measurement (quick: reported, never failed). */
export function durableReport(
  result: DurableResult,
  quick: boolean,
): { floors: Floor[]; markdown: string; headline?: string } {
  if ('skipped' in result)
    return {
      floors: [
        {
          name: 'server.scale durable ingest: measured',
          pass: !process.env.LOCALFIT_REQUIRE_POSTGRES,
          measured: `SKIPPED: ${result.skipped}`,
        },
      ],
      markdown: `Durable ingest skipped: ${result.skipped}.`,
    };
  const durable = result.results[0];
  const plan = result.plan.server;
  const judged = (pass: boolean) => quick || pass;
  const note = quick ? ' (quick: not judged)' : '';
  const floors: Floor[] = [
    {
      name: `server.scale durable ingest: ≥ ${num(DURABLE_FLOOR)} windows/s${note}`,
      pass: judged(durable.server.windowsPerSecond.median >= DURABLE_FLOOR),
      measured: `${num(durable.server.windowsPerSecond.median)} windows/s (load ${durable.loadAverage.toFixed(1)})`,
    },
    {
      name: `server.scale durable ingest: within ${RATIO_FLOOR}× of bare unnest inserts${note}`,
      pass: judged(durable.ratio.median <= RATIO_FLOOR),
      measured: `${durable.ratio.median.toFixed(2)}× (rounds ${durable.ratio.min.toFixed(2)}–${durable.ratio.max.toFixed(2)}; bare ${num(durable.bare.windowsPerSecond.median)} windows/s)`,
    },
    {
      name: 'server.scale durable ingest: every request 2xx, every acknowledged window stored once',
      pass: result.results.every(
        (r) =>
          r.server.non2xx === 0 &&
          r.server.socketErrors === 0 &&
          r.server.serverErrors === 0 &&
          storedOnce(r.server, plan),
      ),
      measured: result.results
        .map(
          (r) =>
            `${r.setting.label}: ${r.server.non2xx} non-2xx, ${r.server.windowsAcknowledged} acknowledged, ${r.server.windowsInDatabase} stored`,
        )
        .join('; '),
    },
  ];
  const rows = result.results.map(
    (r) =>
      `| ${r.setting.label} | ${range(r.server.windowsPerSecond)} | ${range(r.server.p99Ms, 1)} | ` +
      `${range(r.bare.windowsPerSecond)} | ${num(r.ratio.median, 2)}× (${num(r.ratio.min, 2)} – ${num(r.ratio.max, 2)}) | ` +
      `${num(r.server.cpuMsPerRequest.median, 2)} | ${pct(r.server.serverCpu.median)} + ${pct(r.server.databaseCpu?.median ?? Number.NaN)} | ` +
      `${num(databaseMsPerRequest(r.server), 2)} / ${num(r.bare.databaseCpuMsPerBatch.median, 2)} | ` +
      `${pct(r.server.loadgenCpu.median)} | ${pct(r.bare.driverCpu.median)} | ${r.loadAverage.toFixed(1)} |`,
  );
  const markdown = [
    `Durable ingest: one server process (the real \`startServer\`, pool of ${POOL_SIZE}) on a throw-away`,
    'PostgreSQL with fsync, synchronous_commit and full_page_writes on; autocannon in the bench',
    `process, ${plan.connections} connections, ${plan.installs} installs round robin, every request a fresh key and`,
    `${WINDOWS_PER_BATCH} windows. ${plan.runs} windows of ${plan.runSeconds} s, the first after ${plan.warmupSeconds} s of warm-up, each later one after ${REWARM_SECONDS} s; medians (min – max).`,
    `"Bare": the same rows into the same tables (claim, window ids, windows) with one`,
    `\`insert … select from unnest(…)\` statement per batch from ${POOL_SIZE} connections, on the same`,
    `database, in turns with the server: after each server window, ${result.plan.bareSeconds} s of bare inserts`,
    `after ${result.plan.bareWarmupSeconds} s of warm-up (the server idle). That is the limit; "bare ÷ server" is the median of the rounds' ratios.`,
    'The other rows switch the same cluster (`alter system`, reload).',
    'Everything shares the machine: "load generator" is autocannon\'s share of a core, "bare',
    'driver" the bare script\'s.',
    '',
    '| PostgreSQL | server windows/s | p99 ms | bare windows/s | bare ÷ server | CPU ms / request | server + PostgreSQL CPU | PostgreSQL CPU ms / batch, server / bare | load generator | bare driver | load avg |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `Section part time: ${result.seconds.toFixed(0)} s.`,
  ].join('\n');
  return {
    floors,
    markdown,
    headline:
      `Durable ingest (fsync and synchronous_commit on), one process, batches of ${WINDOWS_PER_BATCH}: ` +
      `${num(durable.server.windowsPerSecond.median)} windows/s, ${durable.ratio.median.toFixed(2)}× under bare unnest inserts ` +
      `(${num(durable.bare.windowsPerSecond.median)} windows/s).`,
  };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const quick = process.argv.includes('--quick');
  const plan = DURABLE_PLANS[quick ? 'quick' : 'full'];
  // --durable-only: the durable row alone (for profiling: LOCALFIT_BENCH_CPU_PROF=<dir>).
  const only = process.argv.includes('--durable-only');
  const result = await measureDurableIngest(only ? { ...plan, settingsCosts: false } : plan);
  const report = durableReport(result, quick);
  console.log(`\n${report.markdown}\n`);
  for (const floor of report.floors)
    console.log(`${floor.name} | ${floor.measured} | ${floor.pass ? 'PASS' : 'FAIL'}`);
}
