/**
 * The retraining scheduler against a real server (real HTTP on 127.0.0.1, real database: the
 * same suite runs on PGlite and PostgreSQL). Devices register and report metric windows over
 * HTTP; time is a ManualClock the test moves, and every wait is on the scheduler's own
 * promises (`idle`: ticks done; `settled`: ticks and jobs done), never on a timer.
 *
 * The trainer is a stand-in (`FakeTrainer`): the real one (models/train on MovieLens) takes
 * about 30 s a run, and these tests need exact control over the held-out figures (better or
 * worse than production), failures and how long a job runs. It still returns a real ONNX
 * model (models/testing.ts) and its feature spec; the real trainer's adapter is exercised in
 * scheduler_movielens.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { makeTestBackbone } from '../../../models/testing.ts';
import { type CliIo, runCli } from '../../../server/cli/commands.ts';
import type { Database } from '../../../server/db/database.ts';
import { ManualClock } from '../../../server/scheduler/clock.ts';
import type { JobsResponse } from '../../../server/scheduler/routes.ts';
import type { SchedulerOptions } from '../../../server/scheduler/start.ts';
import type {
  HeldOutMetrics,
  Trainer,
  TrainRequest,
  TrainResult,
} from '../../../server/scheduler/trainer.ts';
import { type RunningServer, startServer } from '../../../server/start.ts';
import { enqueueJob } from '../../../server/store/jobs.ts';
import type { AuditEntry } from '../../../src/protocol/admin.ts';
import type { Manifest, MetricWindow, RegisterResponse } from '../../../src/protocol/index.ts';
import type { Backend } from './support/backends.ts';
import {
  ADMIN_TOKEN,
  APP_KEY,
  admin,
  call,
  makeWindow,
  publishBytes,
  register,
  SIGNING_KEY,
} from './support/http.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** 2026-01-01 00:00:30 UTC: half a minute past a cron slot, as a real start would be. */
const START = Date.UTC(2026, 0, 1, 0, 0, 30);
const HOOK_TIMEOUT = 120_000;

let modelSeed = 100;

/** A trainer with scripted figures, failures and an optional gate that holds a job running. */
class FakeTrainer implements Trainer {
  readonly description = 'fake trainer (test stand-in)';
  calls: TrainRequest[] = [];
  /** Held-out figures per call (the last one repeats). */
  figures: { candidate: HeldOutMetrics; production: HeldOutMetrics | null }[] = [
    { candidate: { logloss: 0.4, auc: 0.8 }, production: { logloss: 0.45, auc: 0.75 } },
  ];
  failWith: string | null = null;
  /** While set, a job reports progress 0.5 and waits for `release()`. */
  private gate: { promise: Promise<void>; release: () => void } | null = null;
  /** Resolves when a gated job has stored its 0.5 progress. */
  reachedGate: Promise<void> = Promise.resolve();
  private signalReached: () => void = () => {};

  hold(): void {
    let release = () => {};
    const promise = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.gate = { promise, release };
    this.reachedGate = new Promise((resolve) => {
      this.signalReached = resolve;
    });
  }

  release(): void {
    const gate = this.gate;
    this.gate = null;
    gate?.release();
  }

  async train(request: TrainRequest): Promise<TrainResult> {
    const index = this.calls.length;
    this.calls.push(request);
    await request.progress(0.1, 'fit');
    if (this.failWith) throw new Error(this.failWith);
    if (this.gate) {
      await request.progress(0.5, 'held');
      this.signalReached();
      const aborted = new Promise<never>((_, reject) =>
        request.signal.addEventListener('abort', () => reject(request.signal.reason)),
      );
      await Promise.race([this.gate.promise, aborted]);
    }
    const backbone = makeTestBackbone({ seed: modelSeed++ });
    const figures = this.figures[Math.min(index, this.figures.length - 1)];
    return {
      candidate: {
        bytes: backbone.bytes,
        featureSpec: backbone.spec as unknown as Record<string, unknown>,
        head: null,
      },
      evaluation: {
        heldOut: 'scripted',
        examples: 1000,
        candidate: figures.candidate,
        production: request.production ? figures.production : null,
      },
    };
  }
}

interface Rig {
  server: RunningServer;
  db: Database;
  clock: ManualClock;
  trainer: FakeTrainer;
  device: RegisterResponse;
  windows: number;
}

async function jobs(rig: Rig): Promise<JobsResponse> {
  const reply = await admin<JobsResponse>(rig.server, 'GET', '/jobs?limit=100');
  expect(reply.status).toBe(200);
  return reply.body;
}

/** Reports `n` windows from the rig's device, `alerts` drift alarms in all; returns samples. */
async function report(rig: Rig, n: number, alerts = 0, versionId = 'v1'): Promise<number> {
  const windows: MetricWindow[] = [];
  for (let i = 0; i < n; i++) {
    const seed = ++rig.windows;
    const w = makeWindow(`w${seed}`, versionId, seed);
    const a = i < alerts ? 1 : 0;
    w.drift = { ...w.drift, alerts: a, byDetector: { adwin: a } };
    windows.push(w);
  }
  const reply = await call(rig.server, 'POST', '/v1/metrics', {
    body: { idempotencyKey: `batch-${rig.windows}-${n}`, windows },
    token: rig.device.token,
  });
  expect(reply.status, reply.text).toBe(201);
  return windows.reduce((sum, w) => sum + w.count, 0);
}

/** Moves the clock (firing one tick per minute) and waits until those ticks are done. */
async function pass(rig: Rig, ms: number): Promise<void> {
  rig.clock.advance(ms);
  await rig.server.scheduler!.idle();
}

async function manifest(rig: Rig): Promise<Manifest> {
  const reply = await call<Manifest>(rig.server, 'GET', '/v1/manifest');
  expect(reply.status).toBe(200);
  return reply.body;
}

function capture(): { io: CliIo; out: string[] } {
  const out: string[] = [];
  return {
    out,
    io: {
      out: (line) => out.push(line),
      err: (line) => out.push(line),
      env: { LOCALFIT_ADMIN_TOKEN: ADMIN_TOKEN, USER: 'tester' },
    },
  };
}

export function defineSchedulerSuite(backend: Backend): void {
  describe(`retraining scheduler on ${backend.name}`, { timeout: 60_000 }, () => {
    beforeAll(() => backend.setup(), HOOK_TIMEOUT);
    afterAll(() => backend.teardown(), HOOK_TIMEOUT);

    const open: { server?: RunningServer; db?: Database }[] = [];
    afterEach(async () => {
      for (const entry of open.splice(0)) {
        await entry.server?.close();
        await entry.db?.close();
      }
    }, HOOK_TIMEOUT);

    async function rig(
      scheduler: Omit<SchedulerOptions, 'trainer' | 'clock'>,
      given: { db?: Database; trainer?: FakeTrainer; clock?: ManualClock } = {},
    ): Promise<Rig> {
      const db = given.db ?? (await backend.freshDatabase());
      const clock = given.clock ?? new ManualClock(START);
      const trainer = given.trainer ?? new FakeTrainer();
      const server = await startServer({
        database: db,
        port: 0,
        adminToken: ADMIN_TOKEN,
        signingKey: SIGNING_KEY,
        appKey: APP_KEY,
        heartbeatMs: 60_000,
        pollMs: 60_000,
        policy: { enabled: false },
        scheduler: { tick: MINUTE, ...scheduler, trainer, clock },
      });
      open.push({ server, ...(given.db ? {} : { db }) });
      return { server, db, clock, trainer, device: await register(server), windows: 0 };
    }

    test('cron: one job at the first slot with enough new samples, none before or after', async () => {
      const r = await rig({
        schedules: [{ name: 'hourly', kind: 'cron', cron: '0 * * * *', minNewSamples: 100 }],
      });
      // The 01:00 slot passes with no samples reported: no job, and the reason is recorded.
      await pass(r, HOUR);
      let state = await jobs(r);
      expect(state.jobs).toEqual([]);
      expect(state.schedules[0].decision).toMatch(
        /^waiting \(cron slot 2026-01-01T01:00.*0 of 100 new samples/,
      );
      expect(state.schedules[0].nextDue).toBe('2026-01-01T02:00:00.000Z');

      const samples = await report(r, 3);
      expect(samples).toBeGreaterThanOrEqual(100);
      // Between slots nothing happens, however many samples arrive.
      await pass(r, 30 * MINUTE);
      expect((await jobs(r)).jobs).toEqual([]);
      await pass(r, 30 * MINUTE);
      await r.server.scheduler!.settled();
      state = await jobs(r);
      expect(state.jobs).toHaveLength(1);
      const [job] = state.jobs;
      expect(job).toMatchObject({ schedule: 'hourly', trigger: 'cron', state: 'succeeded' });
      expect(job.createdAt).toBe('2026-01-01T02:00:30.000Z');
      expect(job.reason).toContain(`${samples} new samples`);
      expect(state.schedules[0]).toMatchObject({
        lastJobId: job.id,
        nextDue: '2026-01-01T03:00:00.000Z',
      });
      // No production yet: the candidate is staged at 0.1 with nothing to beat.
      expect(job.result).toMatchObject({ published: true, weight: 0.1 });

      // The next slots: no new samples since the job, so no job.
      await pass(r, 2 * HOUR);
      expect((await jobs(r)).jobs).toHaveLength(1);
      expect(r.trainer.calls).toHaveLength(1);
    });

    test('interval: no second job while one runs; progress is visible meanwhile', async () => {
      const r = await rig({
        schedules: [{ name: 'every2h', kind: 'interval', every: '2h', minNewSamples: 50 }],
      });
      await report(r, 2);
      r.trainer.hold();
      await pass(r, 2 * HOUR);
      await r.trainer.reachedGate;
      let state = await jobs(r);
      expect(state.jobs).toHaveLength(1);
      expect(state.jobs[0]).toMatchObject({
        state: 'running',
        progress: 0.5,
        step: 'held',
        attempts: 1,
      });

      // Due again with new samples, but the model's job still runs: skipped, not queued.
      await report(r, 2);
      await pass(r, 2 * HOUR);
      state = await jobs(r);
      expect(state.jobs).toHaveLength(1);
      expect(state.schedules[0].decision).toMatch(/^skipped .*job \d+ is running/);
      // The database itself refuses a second active job for the model.
      expect(
        await enqueueJob(r.db, {
          model: 'default',
          schedule: 'manual',
          trigger: 'interval',
          reason: 'test',
          maxAttempts: 1,
          counters: { samples: 0, windows: 0, alerts: 0 },
          now: r.clock.now(),
        }),
      ).toBeNull();

      r.trainer.release();
      await r.server.scheduler!.settled();
      expect((await jobs(r)).jobs[0].state).toBe('succeeded');
      // The samples that came in while it ran count for the next one, at the next tick.
      await pass(r, MINUTE);
      await r.server.scheduler!.settled();
      state = await jobs(r);
      expect(state.jobs.map((j) => j.state)).toEqual(['succeeded', 'succeeded']);
      expect(r.trainer.calls).toHaveLength(2);
    });

    test('drift: a better candidate is staged at 0.1 (manifest, audit); a worse one is refused', async () => {
      const r = await rig({
        schedules: [
          {
            name: 'on-drift',
            kind: 'drift',
            alertsPerWindow: 0.2,
            minAlerts: 3,
            minInterval: '1h',
          },
        ],
      });
      // Production: a real model, published and promoted by an admin.
      const production = await publishBytes(r.server, makeTestBackbone({ seed: 7 }).bytes, 0.5);
      expect((await admin(r.server, 'POST', `/versions/${production}/promote`, {})).status).toBe(
        200,
      );

      await report(r, 10, 0);
      await pass(r, MINUTE);
      expect((await jobs(r)).jobs).toEqual([]);
      expect((await jobs(r)).schedules[0].decision).toMatch(/^quiet: 0 drift alerts in 10 windows/);

      // 5 alarms in 20 windows = 0.25 per window ≥ 0.2, and ≥ 3 alarms.
      await report(r, 10, 5);
      await pass(r, MINUTE);
      await r.server.scheduler!.settled();
      let state = await jobs(r);
      expect(state.jobs).toHaveLength(1);
      const first = state.jobs[0];
      expect(first).toMatchObject({ trigger: 'drift', state: 'succeeded', progress: 1 });
      expect(first.reason).toMatch(/^5 drift alerts in 20 windows \(0\.250\/window\)/);
      expect(r.trainer.calls[0].production?.id).toBe(production);
      expect(first.result).toMatchObject({
        published: true,
        weight: 0.1,
        evaluation: {
          metric: 'logloss',
          candidate: { logloss: 0.4, auc: 0.8 },
          production: { logloss: 0.45, auc: 0.75 },
          productionVersion: production,
        },
      });
      const staged = first.result!.versionId!;
      const live = (await manifest(r)).versions.find((v) => v.id === staged);
      expect(live).toMatchObject({ status: 'staging', weight: 0.1 });
      const audit = await admin<{ entries: AuditEntry[] }>(r.server, 'GET', '/audit?limit=5');
      const entry = audit.body.entries.find(
        (e) => e.action === 'publish' && e.versionId === staged,
      );
      expect(entry).toMatchObject({ actor: 'scheduler' });
      expect(entry?.why).toContain('logloss 0.4000 vs 0.4500');
      expect(entry?.why).toContain(`job ${first.id}`);

      // More drift at once: the minimum interval holds it back…
      r.trainer.figures = [
        { candidate: { logloss: 0.5, auc: 0.7 }, production: { logloss: 0.45, auc: 0.75 } },
      ];
      await report(r, 10, 10);
      await pass(r, MINUTE);
      state = await jobs(r);
      expect(state.jobs).toHaveLength(1);
      expect(state.schedules[0].decision).toMatch(/^waiting .*minimum 1h/);
      // …until an hour has passed; then one job, whose worse candidate is refused.
      const versionsBefore = (await manifest(r)).versions.length;
      await pass(r, HOUR);
      await r.server.scheduler!.settled();
      state = await jobs(r);
      expect(state.jobs).toHaveLength(2);
      const second = state.jobs[0];
      expect(second.state).toBe('succeeded');
      expect(second.result?.published).toBe(false);
      expect(second.result?.reason).toMatch(
        /^not published: not better on logloss: gain -0\.0500, needs > 0; logloss 0\.5000 vs 0\.4500/,
      );
      expect((await manifest(r)).versions).toHaveLength(versionsBefore);
    });

    test('a failing trainer is retried up to the limit, then the job fails for good', async () => {
      const r = await rig({
        schedules: [{ name: 'hourly', kind: 'interval', every: '1h' }],
        maxAttempts: 3,
        retryDelay: '5m',
      });
      r.trainer.failWith = 'out of memory';
      await pass(r, HOUR);
      await r.server.scheduler!.settled();
      let [job] = (await jobs(r)).jobs;
      expect(job).toMatchObject({ state: 'queued', attempts: 1, error: 'Error: out of memory' });
      // Not before the retry delay.
      await pass(r, 4 * MINUTE);
      await r.server.scheduler!.settled();
      expect(r.trainer.calls).toHaveLength(1);
      await pass(r, MINUTE);
      await r.server.scheduler!.settled();
      expect(r.trainer.calls).toHaveLength(2);
      await pass(r, 5 * MINUTE);
      await r.server.scheduler!.settled();
      [job] = (await jobs(r)).jobs;
      expect(job).toMatchObject({ state: 'failed', attempts: 3, maxAttempts: 3 });
      expect(r.trainer.calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
      await pass(r, 10 * MINUTE);
      await r.server.scheduler!.settled();
      expect(r.trainer.calls).toHaveLength(3);
      expect((await jobs(r)).jobs).toHaveLength(1);
    });

    test('jobs survive a restart: a job left running is re-queued, or failed when out of tries', async () => {
      const db = await backend.freshDatabase();
      open.push({ db });
      const at = new Date(START).toISOString();
      // What a server that died mid-job leaves behind: two running jobs for two models.
      for (const [model, attempts] of [
        ['a', 1],
        ['b', 3],
      ] as const)
        await db.query(
          `insert into jobs (model, schedule, trigger, reason, state, attempts, max_attempts,
             fleet_samples, fleet_windows, fleet_alerts, created_at, run_after, started_at, updated_at)
           values ($1, 'old', 'interval', 'before the crash', 'running', $2, 3, 0, 0, 0, $3, $3, $3, $3)`,
          [model, attempts, at],
        );
      const r = await rig({ schedules: [], maxAttempts: 3 }, { db });
      let state = await jobs(r);
      expect(state.jobs.map((j) => [j.model, j.state])).toEqual([
        ['b', 'failed'],
        ['a', 'queued'],
      ]);
      await pass(r, MINUTE);
      await r.server.scheduler!.settled();
      state = await jobs(r);
      expect(state.jobs.find((j) => j.model === 'a')).toMatchObject({
        state: 'succeeded',
        attempts: 2,
      });
      expect(r.trainer.calls.map((c) => c.model)).toEqual(['a']);
    });

    test('status and jobs on the command line show schedules and jobs', async () => {
      const r = await rig({
        schedules: [{ name: 'nightly', kind: 'cron', cron: '0 3 * * *', minNewSamples: 10 }],
      });
      await report(r, 1);
      await pass(r, 3 * HOUR);
      await r.server.scheduler!.settled();
      const status = capture();
      expect(await runCli(['status', '--server', r.server.url], status.io)).toBe(0);
      const text = status.out.join('\n');
      expect(text).toContain('Retraining schedules');
      expect(text).toMatch(
        /nightly\s+default\s+cron "0 3 \* \* \*" \(UTC\); ≥ 10 new samples\s+2026-01-02 03:00Z\s+2026-01-01 03:00Z \(job 1\)/,
      );
      expect(text).toMatch(/1\s+default\s+nightly\s+cron\s+succeeded/);
      const list = capture();
      expect(await runCli(['jobs', '--server', r.server.url, '--limit', '5'], list.io)).toBe(0);
      expect(list.out.join('\n')).toMatch(/staged v1 at weight 0\.1/);
      // Admin only.
      expect((await call(r.server, 'GET', '/v1/admin/jobs')).status).toBe(401);
    });
  });
}
