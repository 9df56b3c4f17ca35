/**
 * server.ingest: `POST /v1/metrics` throughput and latency on loopback, for the embedded
 * default (PGlite in a data directory) and for PostgreSQL (a throw-away cluster, when the
 * machine has the binaries; otherwise the section says why it was skipped).
 *
 * The server runs in a child process (the real `startServer`, default limits, rate limiter
 * on), so that the load generator (autocannon, in this process) and the server each get their
 * own event loop, as they would on two machines; on a 2-core box they still share the CPU,
 * which is part of what is measured. A few hundred installs register first; every request
 * then carries one install's token (round robin, so no install exceeds its rate limit), a
 * fresh idempotency key and 1–5 binary-task windows with AUC sketches and drift moments.
 *
 * Run alone: `npx tsx bench/server_ingest.ts [--quick]`. Set LOCALFIT_BENCH_CPU_PROF=<dir>
 * to write a V8 CPU profile of each server process there.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningKey } from '../server/signing.ts';
import { startServer } from '../server/start.ts';
import type { MetricsBatch, MetricWindow, RegisterResponse } from '../src/protocol/index.ts';
import { AUC_SKETCH_BINS } from '../src/protocol/index.ts';
import { mulberry32 } from '../src/random.ts';
import {
  findPostgresBinaries,
  type PostgresCluster,
  startPostgresCluster,
} from '../test/unit/server/support/postgres_cluster.ts';
import type { Floor, Section } from './lib/report.ts';
import { type Figure, quantile, summarise } from './lib/stats.ts';

// ─── autocannon (no bundled types: the little of its API used here) ──────────────────────

type Context = Record<string, unknown>;

interface CannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: CannonRequest, context: Context) => CannonRequest;
  onResponse?: (status: number, body: string, context: Context) => void;
}

interface CannonOptions {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  timeout: number;
  requests: CannonRequest[];
}

interface CannonResult {
  errors: number;
  timeouts: number;
  duration: number;
}

type Autocannon = (
  options: CannonOptions,
  done: (error: Error | null, result: CannonResult) => void,
) => unknown;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

// ─── configuration ──────────────────────────────────────────────────────────────────────

const APP_KEY = 'bench-app-key-0123456789';
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
const CHILD_FLAG = '--ingest-server-child';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Plan {
  installs: number;
  connections: number;
  warmupSeconds: number;
  runs: number;
  runSeconds: number;
  /** Windows in every request; without it, 1–5 (round robin). */
  windowsPerRequest?: number;
}

/** Full: 5 windows of 10 s per back-end. Quick: a smoke test, 1 s of load per back-end. */
export const PLANS: Record<'full' | 'quick', Plan> = {
  full: { installs: 500, connections: 32, warmupSeconds: 5, runs: 5, runSeconds: 10 },
  quick: { installs: 100, connections: 32, warmupSeconds: 0.4, runs: 2, runSeconds: 0.3 },
};

// ─── the child: one server ──────────────────────────────────────────────────────────────

export interface ChildConfig {
  databaseUrl?: string;
  dataDir?: string;
}

type FromChild =
  | { type: 'ready'; url: string; storage: string; settings: Record<string, string> }
  | { type: 'stopped'; windows: number; batches: number; serverErrors: number };

async function childMain(): Promise<void> {
  const config = JSON.parse(process.env.LOCALFIT_INGEST_CHILD ?? '{}') as ChildConfig;
  let serverErrors = 0;
  const server = await startServer({
    // A fresh database each run, and no data directory with PostgreSQL: a key of its own.
    ...(config.databaseUrl
      ? { databaseUrl: config.databaseUrl, signingKey: generateSigningKey() }
      : { dataDir: config.dataDir }),
    port: 0,
    adminToken: ADMIN_TOKEN,
    appKey: APP_KEY,
    // Registration is set-up, not what is measured: no per-address limit on it here. The
    // per-install limit on /v1/metrics stays at its default.
    registerRateLimit: { burst: 1e9, perSecond: 1e9 },
    // LOCALFIT_BENCH_INGEST_MAX_BATCHES=1 measures without group commit (store/ingest_queue.ts).
    ...(process.env.LOCALFIT_BENCH_INGEST_MAX_BATCHES
      ? { ingestGroups: { maxBatches: Number(process.env.LOCALFIT_BENCH_INGEST_MAX_BATCHES) } }
      : {}),
    logError: (message, error) => {
      serverErrors++;
      if (serverErrors <= 5) console.error(`[ingest server] ${message}:`, error);
    },
  });
  const { rows } = await server.database.query<{ name: string; setting: string }>(
    `select name, setting from pg_settings
     where name in ('fsync', 'synchronous_commit', 'full_page_writes', 'server_version')`,
  );
  const send = (message: FromChild) => process.send?.(message);
  send({
    type: 'ready',
    url: server.url,
    storage: server.storage,
    settings: Object.fromEntries(rows.map((row) => [row.name, row.setting])),
  });
  process.on('disconnect', () => process.exit(1));
  process.on('message', async (message: { type: 'stop' }) => {
    if (message.type !== 'stop') return;
    const count = async (table: string) =>
      (await server.database.query<{ n: number }>(`select count(*)::int as n from ${table}`))
        .rows[0].n;
    const windows = await count('metric_windows');
    const batches = await count('metric_batches');
    await server.close();
    send({ type: 'stopped', windows, batches, serverErrors });
    process.disconnect();
  });
}

/** The parent's handle on a child server. */
class ServerProcess {
  private readonly exited: Promise<unknown>;

  private readonly child: ChildProcess;
  readonly ready: Extract<FromChild, { type: 'ready' }>;
  private constructor(child: ChildProcess, ready: Extract<FromChild, { type: 'ready' }>) {
    this.child = child;
    this.ready = ready;
    this.exited = new Promise((done) => child.once('exit', done));
  }

  static async start(config: ChildConfig, profileDir?: string): Promise<ServerProcess> {
    const child = spawn(
      process.execPath,
      [
        ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
        '--import',
        'tsx',
        fileURLToPath(import.meta.url),
        CHILD_FLAG,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, LOCALFIT_INGEST_CHILD: JSON.stringify(config) },
      },
    );
    try {
      const ready = await new Promise<FromChild>((done, fail) => {
        child.once('message', done);
        child.once('exit', (code) =>
          fail(new Error(`ingest server exited (${code}) before ready`)),
        );
      });
      if (ready.type !== 'ready') throw new Error(`unexpected message ${ready.type}`);
      return new ServerProcess(child, ready);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Counts what the database holds, closes the server, waits for the process to end. */
  async stop(): Promise<Extract<FromChild, { type: 'stopped' }>> {
    const stopped = new Promise<FromChild>((done) => this.child.once('message', done));
    this.child.send({ type: 'stop' });
    const reply = await stopped;
    await this.exited;
    if (reply.type !== 'stopped') throw new Error(`unexpected message ${reply.type}`);
    return reply;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

// ─── CPU accounting (Linux /proc; NaN elsewhere) ────────────────────────────────────────

const USER_HZ = 100;

/** Fields of /proc/<pid>/stat after the command name: [0] state, [1] ppid, [11] utime, … */
function procStat(pid: number | string): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** CPU time (µs) of one process, all its threads. */
function processCpuMicros(pid: number): number {
  try {
    const fields = procStat(pid);
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU time (µs) of a PostgreSQL cluster: the postmaster listening on `port`, its children
 * (backends, background workers) and the children it already reaped.
 */
export function clusterCpuMicros(port: number): number {
  const all: { pid: string; fields: string[] }[] = [];
  let postmaster: string | undefined;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const fields = procStat(pid);
        all.push({ pid, fields });
        if (postmaster) continue;
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const flag = args.indexOf('-p');
        if (args[0].endsWith('postgres') && flag !== -1 && args[flag + 1] === String(port))
          postmaster = pid;
      } catch {
        // the process ended meanwhile
      }
    }
  } catch {
    return Number.NaN;
  }
  if (!postmaster) return Number.NaN;
  let ticks = 0;
  for (const { pid, fields } of all) {
    if (pid === postmaster)
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    else if (fields[1] === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1e6) / USER_HZ;
}

/** Busy and total jiffies of the whole machine. */
function machineJiffies(): { busy: number; total: number } {
  try {
    const values = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const total = values.reduce((a, b) => a + b, 0);
    return { busy: total - values[3] - (values[4] ?? 0), total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

// ─── the load ───────────────────────────────────────────────────────────────────────────

/** Deterministic pseudo-random numbers (mulberry32), so every run sends the same shapes. */
const random = mulberry32;

export type WindowContent = Omit<MetricWindow, 'windowId'>;

/**
 * A realistic binary-task window: a few hundred outcomes, histograms of predicted
 * probabilities spread over many bins (positives high, negatives low), drift moments; a
 * staged version's windows also carry the shadow comparison against production.
 */
export function windowContent(seed: number, staged: boolean): WindowContent {
  const next = random(seed);
  const count = 20 + Math.floor(next() * 480);
  const positive = new Array<number>(AUC_SKETCH_BINS).fill(0);
  const negative = new Array<number>(AUC_SKETCH_BINS).fill(0);
  let positives = 0;
  let loglossSum = 0;
  let correct = 0;
  let predictionSum = 0;
  let predictionSumSq = 0;
  for (let i = 0; i < count; i++) {
    const label = next() < 0.3;
    // Scores skewed towards the right answer, with overlap: a useful but imperfect model.
    const p = Math.min(0.999, Math.max(0.001, (label ? 0.35 : 0.05) + next() * 0.6));
    (label ? positive : negative)[Math.min(AUC_SKETCH_BINS - 1, Math.floor(p * 100))]++;
    if (label) positives++;
    loglossSum += -Math.log(label ? p : 1 - p);
    if (p >= 0.5 === label) correct++;
    predictionSum += p;
    predictionSumSq += p * p;
  }
  const start = 1_700_000_000_000 + Math.floor(next() * 1e9);
  return {
    versionId: staged ? 'v2' : 'v1',
    task: 'binary',
    start,
    end: start + 60_000,
    count,
    loglossSum,
    correct,
    positives,
    auc: { positive, negative },
    drift: {
      prediction: { count, sum: predictionSum, sumSq: predictionSumSq },
      alerts: next() < 0.02 ? 1 : 0,
    },
    ...(staged
      ? {
          paired: {
            baselineVersionId: 'v1',
            n: count,
            diffSum: -0.01 * count,
            diffSumSq: 0.002 * count,
          },
        }
      : {}),
  };
}

interface Device {
  token: string;
  staged: boolean;
}

async function registerDevices(url: string, n: number): Promise<Device[]> {
  const devices: Device[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const response = await fetch(`${url}/v1/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appKey: APP_KEY, client: { platform: 'bench' } }),
      });
      if (response.status !== 201)
        throw new Error(`register: ${response.status} ${await response.text()}`);
      const { token } = (await response.json()) as RegisterResponse;
      // A fifth of the fleet serves the staged version (and reports the paired comparison).
      devices[i] = { token, staged: i % 5 === 0 };
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return devices;
}

/** One window of the load: what the client saw, and what the machine did meanwhile. */
interface WindowStats {
  seconds: number;
  /** 2xx answers per second. */
  requests: number;
  /** Windows the server answered as newly stored, per second. */
  windows: number;
  non2xx: number;
  p50: number;
  p99: number;
  /** Fractions of one core: the server process (all its threads), PostgreSQL's processes. */
  serverCpu: number;
  databaseCpu: number;
  /** CPU time per answered request, server process + PostgreSQL: robust to a busy machine. */
  cpuMsPerRequest: number;
  loadgenCpu: number;
  /** Share of all cores busy, whoever used them (1 = every core at 100 %). */
  machineCpu: number;
}

/** Counters at a window boundary. */
interface Probe {
  at: number;
  server: number;
  database: number;
  loadgen: number;
  machine: { busy: number; total: number };
}

class Load {
  private seq = 0;
  private readonly contents: { v1: WindowContent[]; v2: WindowContent[] };
  /** The window being filled; responses are counted in the window they complete in. */
  private current = Load.emptyWindow();
  private readonly failures = new Map<number, number>();
  private firstFailure: string | undefined;
  windowsAcknowledged = 0;

  private readonly devices: Device[];
  private readonly tag: string;
  private readonly windowsPerRequest: number | undefined;
  constructor(devices: Device[], tag: string, windowsPerRequest?: number) {
    this.devices = devices;
    this.tag = tag;
    this.windowsPerRequest = windowsPerRequest;
    const pool = (staged: boolean) =>
      Array.from({ length: 64 }, (_, i) => windowContent(i + (staged ? 1000 : 0), staged));
    this.contents = { v1: pool(false), v2: pool(true) };
  }

  private static emptyWindow() {
    return { ok: 0, windows: 0, non2xx: 0, latencies: [] as number[] };
  }

  /** The next request: round robin over devices, a fresh key, 1–5 windows (or the plan's). */
  private nextBatch(): { token: string; body: string } {
    const seq = this.seq++;
    const device = this.devices[seq % this.devices.length];
    const pool = device.staged ? this.contents.v2 : this.contents.v1;
    const size = this.windowsPerRequest ?? 1 + (seq % 5);
    const windows: MetricWindow[] = [];
    for (let i = 0; i < size; i++)
      windows.push({ windowId: `${this.tag}-${seq}-${i}`, ...pool[(seq * 7 + i) % pool.length] });
    const batch: MetricsBatch = {
      idempotencyKey: `${this.tag}-${seq}`,
      windows,
      sentAt: Date.now(),
    };
    return { token: device.token, body: JSON.stringify(batch) };
  }

  /**
   * One continuous autocannon run (the connections stay open throughout), cut into a
   * warm-up and then `runs` windows of `runSeconds`, each reported on its own.
   */
  async drive(
    url: string,
    plan: Plan,
    probe: () => Probe,
    progress: (index: number, stats: WindowStats) => void,
  ): Promise<{ windows: WindowStats[]; failures: Record<string, number>; socketErrors: number }> {
    const request: CannonRequest = {
      method: 'POST',
      path: '/v1/metrics',
      setupRequest: (base, context) => {
        const { token, body } = this.nextBatch();
        context.sentAt = performance.now();
        return {
          ...base,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body,
        };
      },
      onResponse: (status, body, context) => {
        const window = this.current;
        window.latencies.push(performance.now() - (context.sentAt as number));
        if (status >= 200 && status < 300) {
          const stored = (JSON.parse(body) as { stored: number }).stored;
          window.ok++;
          window.windows += stored;
          this.windowsAcknowledged += stored;
        } else {
          window.non2xx++;
          this.failures.set(status, (this.failures.get(status) ?? 0) + 1);
          this.firstFailure ??= `${status} ${body.slice(0, 300)}`;
        }
      },
    };

    const windows: WindowStats[] = [];
    let previous: Probe | undefined;
    const cut = () => {
      const now = probe();
      const window = this.current;
      this.current = Load.emptyWindow();
      if (previous) {
        const seconds = (now.at - previous.at) / 1000;
        const server = now.server - previous.server;
        const database = now.database - previous.database;
        const cpuMicros = server + (Number.isNaN(database) ? 0 : database);
        const stats: WindowStats = {
          seconds,
          requests: window.ok / seconds,
          windows: window.windows / seconds,
          non2xx: window.non2xx,
          p50: window.latencies.length ? quantile(window.latencies, 0.5) : Number.NaN,
          p99: window.latencies.length ? quantile(window.latencies, 0.99) : Number.NaN,
          serverCpu: server / 1e6 / seconds,
          databaseCpu: database / 1e6 / seconds,
          cpuMsPerRequest: cpuMicros / 1e3 / window.ok,
          loadgenCpu: (now.loadgen - previous.loadgen) / 1e6 / seconds,
          machineCpu:
            (now.machine.busy - previous.machine.busy) /
            (now.machine.total - previous.machine.total),
        };
        windows.push(stats);
        progress(windows.length, stats);
      }
      previous = now;
    };
    const timers = [setTimeout(cut, plan.warmupSeconds * 1000)];
    for (let i = 1; i <= plan.runs; i++)
      timers.push(setTimeout(cut, (plan.warmupSeconds + i * plan.runSeconds) * 1000));
    // A little longer than the last window, so that it closes while the load is still on.
    const duration = plan.warmupSeconds + plan.runs * plan.runSeconds + 0.25;
    try {
      const result = await new Promise<CannonResult>((done, fail) =>
        autocannon(
          {
            url,
            connections: plan.connections,
            pipelining: 1,
            duration,
            timeout: 10,
            requests: [request],
          },
          (error, value) => (error ? fail(error) : done(value)),
        ),
      );
      if (windows.length < plan.runs)
        throw new Error(`only ${windows.length} of ${plan.runs} windows closed during the load`);
      return {
        windows,
        failures: Object.fromEntries(this.failures),
        socketErrors: result.errors + result.timeouts,
      };
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  }

  get failureSample(): string | undefined {
    return this.firstFailure;
  }
}

/** Load before each later round's window: connections open and the server busy again. */
export const REWARM_SECONDS = 1;

// ─── one back-end ───────────────────────────────────────────────────────────────────────

export interface BackendResult {
  storage: 'pglite' | 'postgres';
  settings: Record<string, string>;
  requestsPerSecond: Figure;
  windowsPerSecond: Figure;
  p50Ms: Figure;
  p99Ms: Figure;
  /** Fraction of one core used by the server process (all threads; PGlite runs in it). */
  serverCpu: Figure;
  /** Fraction of one core used by PostgreSQL's processes (null for PGlite). */
  databaseCpu: Figure | null;
  /** CPU time per answered request: server process + PostgreSQL's processes. */
  cpuMsPerRequest: Figure;
  /** Fraction of one core used by the load generator. */
  loadgenCpu: Figure;
  /** Share of the whole machine busy, whoever used it (1 = all cores). */
  machineCpu: Figure;
  non2xx: number;
  failures: Record<string, number>;
  firstFailure?: string;
  socketErrors: number;
  serverErrors: number;
  /** Windows acknowledged as stored by 2xx answers, and what the database holds after. */
  windowsAcknowledged: number;
  windowsInDatabase: number;
  /** Each measured window of the run, in order. */
  perWindow: WindowStats[];
  /** Runs of the load generator (one, or one per window with `between`). */
  rounds: number;
}

type Skipped = { skipped: string };

/**
 * Drives one server process with the plan's load. With `between`, each measured window is a
 * round of its own (autocannon reconnects, after REWARM_SECONDS of load) and `between(round)`
 * runs after it with the server idle: the durable bench measures its baseline there, so that
 * both see the same minutes of a shared machine.
 */
export async function measureBackend(
  storage: 'pglite' | 'postgres',
  config: ChildConfig,
  plan: Plan,
  between?: (round: number) => Promise<void>,
): Promise<BackendResult> {
  const profileDir = process.env.LOCALFIT_BENCH_CPU_PROF;
  const server = await ServerProcess.start(config, profileDir ? resolve(profileDir) : undefined);
  try {
    const port = config.databaseUrl ? Number(new URL(config.databaseUrl).port) : 0;
    const probe = (): Probe => {
      const loadgen = process.cpuUsage();
      return {
        at: performance.now(),
        server: processCpuMicros(server.pid),
        database: port ? clusterCpuMicros(port) : Number.NaN,
        loadgen: loadgen.user + loadgen.system,
        machine: machineJiffies(),
      };
    };
    process.stdout.write(`  server.ingest ${storage}: registering ${plan.installs} installs…\n`);
    const devices = await registerDevices(server.ready.url, plan.installs);
    const load = new Load(
      devices,
      `bench-${storage}-${process.pid}-${Math.round(performance.now())}`,
      plan.windowsPerRequest,
    );
    process.stdout.write(
      `  server.ingest ${storage}: ${plan.warmupSeconds} s warm-up, then ${plan.runs} × ${plan.runSeconds} s…\n`,
    );
    const report = (i: number, w: WindowStats) =>
      process.stdout.write(
        `  server.ingest ${storage} ${i}/${plan.runs}: ${num(w.requests)} req/s, ` +
          `${num(w.windows)} windows/s, p50 ${w.p50.toFixed(1)} ms, p99 ${w.p99.toFixed(1)} ms, ` +
          `non-2xx ${w.non2xx}, ${w.cpuMsPerRequest.toFixed(2)} ms CPU/request (server ` +
          `${percentOf(w.serverCpu)}${port ? ` + PostgreSQL ${percentOf(w.databaseCpu)}` : ''} of a core; ` +
          `machine ${percentOf(w.machineCpu)} busy)\n`,
      );
    let run: Awaited<ReturnType<Load['drive']>>;
    if (!between) run = await load.drive(server.ready.url, plan, probe, report);
    else {
      run = { windows: [], failures: {}, socketErrors: 0 };
      for (let round = 1; round <= plan.runs; round++) {
        const warmupSeconds = round === 1 ? plan.warmupSeconds : REWARM_SECONDS;
        const one = await load.drive(
          server.ready.url,
          { ...plan, warmupSeconds, runs: 1 },
          probe,
          (_, w) => report(round, w),
        );
        run = {
          windows: [...run.windows, ...one.windows],
          failures: one.failures, // Load keeps the count across rounds
          socketErrors: run.socketErrors + one.socketErrors,
        };
        await between(round);
      }
    }
    const stopped = await server.stop();
    const figure = (pick: (w: WindowStats) => number) => summarise(run.windows.map(pick));
    return {
      storage,
      settings: server.ready.settings,
      requestsPerSecond: figure((w) => w.requests),
      windowsPerSecond: figure((w) => w.windows),
      p50Ms: figure((w) => w.p50),
      p99Ms: figure((w) => w.p99),
      serverCpu: figure((w) => w.serverCpu),
      databaseCpu: port ? figure((w) => w.databaseCpu) : null,
      cpuMsPerRequest: figure((w) => w.cpuMsPerRequest),
      loadgenCpu: figure((w) => w.loadgenCpu),
      machineCpu: figure((w) => w.machineCpu),
      non2xx: Object.values(run.failures).reduce((a, b) => a + b, 0),
      failures: run.failures,
      ...(load.failureSample ? { firstFailure: load.failureSample } : {}),
      socketErrors: run.socketErrors,
      serverErrors: stopped.serverErrors,
      windowsAcknowledged: load.windowsAcknowledged,
      windowsInDatabase: stopped.windows,
      perWindow: run.windows,
      rounds: between ? plan.runs : 1,
    };
  } finally {
    server.kill();
  }
}

export async function measurePglite(plan: Plan): Promise<BackendResult> {
  const dir = await mkdtemp(join(tmpdir(), 'localfit-bench-ingest-'));
  try {
    return await measureBackend('pglite', { dataDir: dir }, plan);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function measurePostgres(plan: Plan): Promise<BackendResult | Skipped> {
  const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
    ? { dir: '' }
    : await findPostgresBinaries();
  if ('missing' in binaries) return { skipped: binaries.missing };
  let cluster: PostgresCluster;
  try {
    cluster = await startPostgresCluster(binaries.dir);
  } catch (error) {
    return { skipped: `the throw-away cluster did not start: ${(error as Error).message}` };
  }
  try {
    return await measureBackend('postgres', { databaseUrl: await cluster.createDatabase() }, plan);
  } finally {
    await cluster.stop();
  }
}

// ─── the section ────────────────────────────────────────────────────────────────────────

const num = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      })
    : '—';
const range = (f: Figure, digits = 0) =>
  `${num(f.median, digits)} (${num(f.min, digits)} – ${num(f.max, digits)})`;
const percentOf = (fraction: number) => `${num(fraction * 100)} %`;

function row(label: string, r: BackendResult): string {
  const cpu = `${percentOf(r.serverCpu.median)}${r.databaseCpu ? ` + ${percentOf(r.databaseCpu.median)}` : ''}`;
  return `| ${label} | ${range(r.requestsPerSecond)} | ${range(r.windowsPerSecond)} | ${range(r.p50Ms, 1)} | ${range(r.p99Ms, 1)} | ${r.non2xx} | ${num(r.cpuMsPerRequest.median, 2)} | ${cpu} | ${percentOf(r.machineCpu.median)} |`;
}

function settingsNote(r: BackendResult): string {
  const s = r.settings;
  return `${r.storage} (PostgreSQL ${s.server_version ?? '?'}): fsync=${s.fsync ?? '?'}, synchronous_commit=${s.synchronous_commit ?? '?'}`;
}

/**
 * Every window acknowledged is in the database, plus at most the batches in flight when each
 * round's load stopped (stored, but their answers never read).
 */
export function storedOnce(r: BackendResult, plan: Plan): boolean {
  const inFlight = r.rounds * plan.connections * (plan.windowsPerRequest ?? 5);
  return (
    r.windowsInDatabase >= r.windowsAcknowledged &&
    r.windowsInDatabase <= r.windowsAcknowledged + inFlight
  );
}

/** server.ingest: POST /v1/metrics throughput and latency, PGlite and PostgreSQL. */
export async function serverIngest(quick: boolean): Promise<Section> {
  const plan = PLANS[quick ? 'quick' : 'full'];
  const started = performance.now();
  const load = loadavg()[0];
  process.stdout.write('  server.ingest: PGlite (data directory)…\n');
  const pglite = await measurePglite(plan);
  process.stdout.write('  server.ingest: PostgreSQL (throw-away cluster)…\n');
  const postgres = await measurePostgres(plan);
  const seconds = (performance.now() - started) / 1000;

  const measured = [pglite, ...('skipped' in postgres ? [] : [postgres])];
  const ratio =
    'skipped' in postgres
      ? null
      : {
          requestsPerSecond: postgres.requestsPerSecond.median / pglite.requestsPerSecond.median,
          p99: postgres.p99Ms.median / pglite.p99Ms.median,
          cpuMsPerRequest: postgres.cpuMsPerRequest.median / pglite.cpuMsPerRequest.median,
        };
  const floors: Floor[] = measured.map((r) => ({
    name: `server.ingest ${r.storage}: every request 2xx, every acknowledged window stored once`,
    pass: r.non2xx === 0 && r.socketErrors === 0 && r.serverErrors === 0 && storedOnce(r, plan),
    measured:
      `${r.non2xx} non-2xx, ${r.socketErrors} socket errors, ${r.serverErrors} server faults; ` +
      `windows ${r.windowsAcknowledged} acknowledged, ${r.windowsInDatabase} stored`,
  }));
  if ('skipped' in postgres)
    floors.push({
      name: 'server.ingest postgres: measured',
      // Like the PostgreSQL test suite: visible, and a failure only where PostgreSQL is required.
      pass: !process.env.LOCALFIT_REQUIRE_POSTGRES,
      measured: `SKIPPED: ${postgres.skipped}`,
    });

  const noFsync = measured.every((r) => r.settings.fsync === 'off');
  const markdown = [
    '`POST /v1/metrics` on loopback against the real server (`startServer`: default body and',
    'per-install rate limits) in a child process, driven by autocannon from the bench process',
    `with ${plan.connections} keep-alive connections, no pipelining. ${plan.installs} registered installs, round robin;`,
    'each request has a fresh idempotency key and 1–5 binary-task windows (AUC sketch of',
    '2 × 100 bins, drift moments; a fifth of the installs also send a paired comparison).',
    `One continuous run per back-end: ${plan.warmupSeconds} s of warm-up, then ${plan.runs} windows of ${plan.runSeconds} s; figures are`,
    'the median of the windows (min – max). Latency: from writing a request to its whole',
    'answer, per request. CPU/request: CPU time of the server process (and of PostgreSQL) per',
    'answered request, the figure that least depends on what else the machine is doing.',
    '',
    '| back-end | requests/s | windows/s | p50 ms | p99 ms | non-2xx | CPU ms / request | CPU, server (+ PostgreSQL), 1 core = 100 % | machine busy, all cores |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    row('PGlite (embedded, data dir)', pglite),
    'skipped' in postgres
      ? `| PostgreSQL | **skipped**: ${postgres.skipped} | | | | | | | |`
      : row('PostgreSQL (throw-away cluster, pool of 10)', postgres),
    '',
    ratio
      ? `PostgreSQL / PGlite, same run: ${ratio.requestsPerSecond.toFixed(2)}× the requests/s, ` +
        `${ratio.p99.toFixed(2)}× the p99, ${ratio.cpuMsPerRequest.toFixed(2)}× the CPU per request.`
      : '',
    '',
    `${cpus().length} cores; load average ${load.toFixed(1)} when the section started (other work on the`,
    'machine shares the cores: see "machine busy").',
    `Storage: ${measured.map(settingsNote).join('; ')}.${noFsync ? ' With fsync off on both, no commit waits for a disk flush: this measures CPU and round trips, not the disk.' : ''}`,
    `Windows acknowledged as stored / in the database afterwards: ${measured
      .map((r) => `${r.storage} ${r.windowsAcknowledged} / ${r.windowsInDatabase}`)
      .join(', ')} (the database may also hold the batches in flight when the load stopped).`,
    `Section time: ${seconds.toFixed(0)} s.`,
  ].join('\n');

  return {
    key: 'server.ingest',
    title: 'Sync server ingest (POST /v1/metrics)',
    results: {
      plan,
      cores: cpus().length,
      loadAverageAtStart: load,
      pglite,
      postgres,
      ratio_postgres_to_pglite: ratio,
      seconds,
    },
    floors,
    markdown,
  };
}

// ─── entry points ───────────────────────────────────────────────────────────────────────

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain && process.argv.includes(CHILD_FLAG)) {
  await childMain();
} else if (isMain) {
  const section = await serverIngest(process.argv.includes('--quick'));
  console.log(`\n${section.markdown}\n`);
  console.log(JSON.stringify(section.results, null, 2));
  for (const floor of section.floors)
    console.log(`${floor.name} | ${floor.measured} | ${floor.pass ? 'PASS' : 'FAIL'}`);
}
