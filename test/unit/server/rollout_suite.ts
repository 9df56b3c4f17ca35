/**
 * Staged rollout on the server, run on every storage back-end from suite.ts: bucket ranges in
 * the manifest, device version events, and the rollout policy deciding from devices' paired
 * comparisons. Real servers on 127.0.0.1, real databases; devices are registered installs
 * posting metric windows over HTTP, and tests wait on answers (`autopilot.idle()`), not time.
 */
import { describe, expect, test } from 'vitest';
import { formatStatus } from '../../../server/cli/status_table.ts';
import type { Database } from '../../../server/db/database.ts';
import { PolicyConfigError } from '../../../server/rollout/policy.ts';
import type { RunningServer, ServerOptions } from '../../../server/start.ts';
import { startServer } from '../../../server/start.ts';
import type {
  AdminVersion,
  AuditEntry,
  PolicyEvaluation,
  StatusResponse,
} from '../../../src/protocol/admin.ts';
import type {
  ErrorBody,
  Manifest,
  MetricWindow,
  RegisterResponse,
  VersionEvent,
} from '../../../src/protocol/index.ts';
import { rolloutBucket } from '../../../src/rollout/arm.ts';
import { confidenceSequence, rhoFor } from '../../../src/rollout/confidence_sequence.ts';
import type { Backend } from './support/backends.ts';
import {
  ADMIN_TOKEN,
  APP_KEY,
  admin,
  call,
  dumpTables,
  FEATURE_SPEC,
  fakeModel,
  publishBytes,
  register,
  SIGNING_KEY,
  sha256,
} from './support/http.ts';

interface Harness {
  server: RunningServer;
  db: Database;
}

export interface SuiteHooks {
  useDatabase(backend: Backend): { db: Database };
  useServer(data: { db: Database }, options?: ServerOptions): Harness;
}

const errorCode = (reply: { body: unknown }) => (reply.body as ErrorBody).error?.code;

/** Many devices register from one address in these tests. */
const MANY_DEVICES = { registerRateLimit: { burst: 1000, perSecond: 1000 } };

async function manifestOf(server: RunningServer): Promise<Manifest> {
  return (await call<Manifest>(server, 'GET', '/v1/manifest')).body;
}

/** Which version a device with bucket b serves (the rule documented in protocol.ts). */
function armOf(manifest: Manifest, bucket: number): string {
  const staged = manifest.versions.filter((v) => v.status === 'staging');
  const hits = staged.filter(
    (v) =>
      v.bucketStart !== undefined && v.bucketStart <= bucket && bucket < v.bucketStart + v.weight,
  );
  if (hits.length > 1) throw new Error(`bucket ${bucket} is in ${hits.length} staged ranges`);
  return hits[0]?.id ?? 'production';
}

/** Mulberry32, for reproducible simulated paired differences. */
function generator(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let windowCounter = 0;

/**
 * One window of a staged version from one device: `n` outcomes both heads scored, whose
 * logloss differences (staged − baseline) are drawn with the given mean and spread.
 */
function pairedWindow(
  versionId: string,
  baselineVersionId: string,
  options: { n: number; mean: number; sd: number; seed: number; events?: VersionEvent[] },
): MetricWindow {
  const random = generator(options.seed);
  let diffSum = 0;
  let diffSumSq = 0;
  for (let i = 0; i < options.n; i++) {
    const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const d = options.mean + options.sd * gaussian;
    diffSum += d;
    diffSumSq += d * d;
  }
  const id = `rollout-w-${++windowCounter}`;
  // Measured just now: the server checks the install was in the version's arm at that time.
  const end = Date.now();
  return {
    windowId: id,
    versionId,
    task: 'binary',
    start: end - 60_000,
    end,
    count: options.n,
    loglossSum: options.n * 0.5,
    paired: { baselineVersionId, n: options.n, diffSum, diffSumSq },
    ...(options.events ? { events: options.events } : {}),
  };
}

async function post(server: RunningServer, device: RegisterResponse, windows: MetricWindow[]) {
  const reply = await call(server, 'POST', '/v1/metrics', {
    token: device.token,
    body: { idempotencyKey: `key-${windows[0].windowId}`, windows },
  });
  if (reply.status !== 201) throw new Error(`metrics: ${reply.status} ${reply.text}`);
  return reply;
}

async function registerMany(server: RunningServer, count: number): Promise<RegisterResponse[]> {
  const devices: RegisterResponse[] = [];
  for (let i = 0; i < count; i++) devices.push(await register(server));
  return devices;
}

/** A promoted production version, then 400 installs (before anything else is staged). */
async function productionAndFleet(
  server: RunningServer,
): Promise<{ production: string; pool: RegisterResponse[] }> {
  const production = await publishBytes(server, fakeModel(), 0.1);
  expect((await admin(server, 'POST', `/versions/${production}/promote`)).status).toBe(200);
  return { production, pool: await registerMany(server, 400) };
}

/**
 * The first `count` devices of `pool` whose bucket lies in `versionId`'s range in the current
 * manifest: the devices that serve it, whose windows the server counts for it. Pools are large
 * enough that a 5 % arm holds the devices a test needs (400 installs: 20 expected, and fewer
 * than 6 has a chance below 1e-4).
 */
async function inArm(
  server: RunningServer,
  pool: RegisterResponse[],
  versionId: string,
  count: number,
): Promise<RegisterResponse[]> {
  const manifest = await manifestOf(server);
  const chosen: RegisterResponse[] = [];
  for (const device of pool) {
    if (chosen.length === count) break;
    if (armOf(manifest, await rolloutBucket(device.installId, manifest.rollout)) === versionId)
      chosen.push(device);
  }
  if (chosen.length < count)
    throw new Error(`only ${chosen.length} of ${pool.length} devices are in ${versionId}'s arm`);
  return chosen;
}

/** Each device reports one window of paired comparisons for `versionId` against `baseline`. */
async function report(
  server: RunningServer,
  devices: RegisterResponse[],
  versionId: string,
  baseline: string,
  options: { n: number; mean: number; sd: number; seed: number },
) {
  for (const [i, device] of devices.entries())
    await post(server, device, [
      pairedWindow(versionId, baseline, { ...options, seed: options.seed * 1000 + i }),
    ]);
}

async function versionOf(server: RunningServer, id: string): Promise<AdminVersion> {
  return (await admin<AdminVersion>(server, 'GET', `/versions/${id}`)).body;
}

async function auditOf(server: RunningServer, versionId: string): Promise<AuditEntry[]> {
  const entries = (await admin<{ entries: AuditEntry[] }>(server, 'GET', '/audit?limit=1000')).body
    .entries;
  return entries.filter((e) => e.versionId === versionId);
}

async function evaluate(server: RunningServer, body?: unknown): Promise<PolicyEvaluation> {
  const reply = await admin<PolicyEvaluation>(server, 'POST', '/policy/evaluate', body);
  if (reply.status !== 200) throw new Error(`evaluate: ${reply.status} ${reply.text}`);
  return reply.body;
}

export function defineRolloutTests(backend: Backend, hooks: SuiteHooks): void {
  describe('staged rollout: bucket ranges', () => {
    const h = hooks.useServer(hooks.useDatabase(backend), { policy: { enabled: false } });

    test('staged ranges are disjoint, fixed at publish, and a ramp only adds devices', async () => {
      const a = await publishBytes(h.server, fakeModel(), 0.1);
      const b = await publishBytes(h.server, fakeModel(), 0.2);
      const c = await publishBytes(h.server, fakeModel(), 0.3);
      let m = await manifestOf(h.server);
      expect(m.versions.map((v) => [v.id, v.bucketStart, v.weight])).toEqual([
        [a, 0, 0.1],
        [b, 0.1, 0.2],
        [c, 0.3, 0.3],
      ]);
      expect((await versionOf(h.server, b)).bucketStart).toBe(0.1);

      const grid = Array.from({ length: 1000 }, (_, i) => (i + 0.5) / 1000);
      const before = grid.map((bucket) => armOf(m, bucket));
      expect(before.filter((arm) => arm === c).length).toBe(300);

      // b cannot grow into c's range; nothing changes.
      const dump = await dumpTables(h.db);
      const overlap = await admin(h.server, 'POST', `/versions/${b}/ramp`, { weight: 0.3 });
      expect(overlap.status).toBe(409);
      expect(errorCode(overlap)).toBe('BUCKETS_OVERLAP');
      expect((overlap.body as ErrorBody).error.message).toContain(c);
      expect(await dumpTables(h.db)).toBe(dump);

      // c ramps to the end: its start stays, every device that served it still does.
      const ramped = await admin<AdminVersion>(h.server, 'POST', `/versions/${c}/ramp`, {
        weight: 0.7,
      });
      expect(ramped.status).toBe(200);
      expect(ramped.body.bucketStart).toBe(0.3);
      const revision = m.revision;
      m = await manifestOf(h.server);
      expect(m.revision).toBeGreaterThan(revision);
      const after = grid.map((bucket) => armOf(m, bucket));
      grid.forEach((_, i) => {
        if (before[i] !== 'production') expect(after[i]).toBe(before[i]);
      });
      expect(after.filter((arm) => arm === c).length).toBe(700);

      // Shrinking and growing again keeps the start too.
      await admin(h.server, 'POST', `/versions/${b}/ramp`, { weight: 0.05 });
      expect((await versionOf(h.server, b)).bucketStart).toBe(0.1);
      await admin(h.server, 'POST', `/versions/${b}/ramp`, { weight: 0.2 });
      expect((await versionOf(h.server, b)).bucketStart).toBe(0.1);

      // With a freed: staged weights sum to 0.9, but c may not pass 1.
      expect((await admin(h.server, 'POST', `/versions/${a}/rollback`)).status).toBe(200);
      const pastOne = await admin(h.server, 'POST', `/versions/${c}/ramp`, { weight: 0.75 });
      expect(pastOne.status).toBe(409);
      expect(errorCode(pastOne)).toBe('BUCKETS_OVERLAP');
      const tooMuch = await admin(h.server, 'POST', `/versions/${c}/ramp`, { weight: 0.81 });
      expect(errorCode(tooMuch)).toBe('WEIGHTS_EXCEED_ONE');

      // A new version takes the lowest free start: a's old range.
      const d = await publishBytes(h.server, fakeModel(), 0.1);
      expect((await versionOf(h.server, d)).bucketStart).toBe(0);
      m = await manifestOf(h.server);
      expect(m.versions.find((v) => v.id === a)).toBeUndefined();

      // Fragmented free space: [0, 0.1) and [0.8, 1) after this; 0.15 fits only at 0.8, and
      // 0.12 fits nowhere although the weights would allow it.
      await admin(h.server, 'POST', `/versions/${c}/ramp`, { weight: 0.5 });
      await admin(h.server, 'POST', `/versions/${d}/rollback`);
      const e = await publishBytes(h.server, fakeModel(), 0.15);
      expect((await versionOf(h.server, e)).bucketStart).toBe(0.8);
      const dumpBefore = await dumpTables(h.db);
      const extra = fakeModel();
      await call(h.server, 'PUT', `/v1/admin/models/${sha256(extra)}`, {
        raw: extra as Uint8Array<ArrayBuffer>,
        token: ADMIN_TOKEN,
        headers: { 'content-type': 'application/octet-stream' },
      });
      const afterUpload = await dumpTables(h.db);
      expect(afterUpload).not.toBe(dumpBefore);
      const noRoom = await admin(h.server, 'POST', '/versions', {
        model: { sha256: sha256(extra) },
        featureSpec: FEATURE_SPEC,
        weight: 0.12,
      });
      expect(noRoom.status).toBe(409);
      expect(errorCode(noRoom)).toBe('BUCKETS_OVERLAP');
      expect(await dumpTables(h.db)).toBe(afterUpload);

      // Promotion leaves the staged ranges alone; production carries no start.
      await admin(h.server, 'POST', `/versions/${b}/promote`);
      m = await manifestOf(h.server);
      const production = m.versions.find((v) => v.status === 'production')!;
      expect(production.id).toBe(b);
      expect('bucketStart' in production).toBe(false);
      expect(
        m.versions.filter((v) => v.status === 'staging').map((v) => [v.id, v.bucketStart]),
      ).toEqual([
        [c, 0.3],
        [e, 0.8],
      ]);
    });

    test('a version at weight 0 serves nobody, so its first ramp places it afresh', async () => {
      // State from the test above: c [0.3, 0.8), e [0.8, 0.95); free [0, 0.3) and [0.95, 1).
      const z = await publishBytes(h.server, fakeModel(), 0);
      const ramped = await admin<AdminVersion>(h.server, 'POST', `/versions/${z}/ramp`, {
        weight: 0.25,
      });
      expect(ramped.status).toBe(200);
      expect(ramped.body.bucketStart).toBe(0);
      const m = await manifestOf(h.server);
      for (const bucket of Array.from({ length: 200 }, (_, i) => i / 200)) armOf(m, bucket);
    });
  });

  describe('staged rollout: device version events', () => {
    const h = hooks.useServer(hooks.useDatabase(backend), {
      policy: { enabled: false },
      ...MANY_DEVICES,
    });

    const eventWindow = (windowId: string, versionId: string, events: unknown[]) => ({
      windowId,
      versionId,
      task: 'binary',
      start: Date.now(),
      end: Date.now(),
      count: 0,
      events,
    });

    test('events are stored once and counted as devices per kind and reason code', async () => {
      // Registered before v is staged, and v on every device (weight 1): all four count.
      const devices = await registerMany(h.server, 4);
      const v = await publishBytes(h.server, fakeModel(), 1);
      const at = Date.now();
      const sends: [RegisterResponse, unknown[]][] = [
        [devices[0], [{ kind: 'staged', at }]],
        [
          devices[1],
          [
            { kind: 'staged', at },
            { kind: 'rolled_back', at: at + 5, reason: 'non_finite: score NaN' },
          ],
        ],
        [devices[2], [{ kind: 'refused', at, reason: 'sha256_mismatch: got 00ff…' }]],
        [
          devices[3],
          [
            { kind: 'refused', at, reason: 'sha256_mismatch: got abcd…' },
            { kind: 'refused', at: at + 1, reason: 'shape: output 4 ≠ 3' },
          ],
        ],
      ];
      for (const [i, [device, events]] of sends.entries()) {
        const body = {
          idempotencyKey: `events-key-${i}`,
          windows: [eventWindow(`ev-${i}`, v, events)],
        };
        const first = await call(h.server, 'POST', '/v1/metrics', { token: device.token, body });
        expect(first.status).toBe(201);
        // A retry and a re-batch count nothing twice.
        expect(
          (await call(h.server, 'POST', '/v1/metrics', { token: device.token, body })).status,
        ).toBe(201);
        const rebatched = await call(h.server, 'POST', '/v1/metrics', {
          token: device.token,
          body: { ...body, idempotencyKey: `events-again-${i}` },
        });
        expect(rebatched.status).toBe(201);
      }
      const status = (await admin<StatusResponse>(h.server, 'GET', '/status')).body;
      const events = status.versions.find((e) => e.versionId === v)!.metrics!.events;
      expect(events).toEqual({
        staged: 2,
        promoted: 0,
        rolledBack: 1,
        rolledBackBy: [
          { code: 'non_finite', devices: 1, events: 1, example: 'non_finite: score NaN' },
        ],
        refused: 2,
        refusedBy: [
          {
            code: 'sha256_mismatch',
            devices: 2,
            events: 2,
            example: expect.stringMatching(/^sha256_mismatch: got /),
          },
          { code: 'shape', devices: 1, events: 1, example: 'shape: output 4 ≠ 3' },
        ],
      });
      const text = formatStatus(status);
      expect(text).toContain('Devices reporting version events:');
      expect(text).toMatch(
        new RegExp(
          `${v}\\s+2\\s+0\\s+1 \\(non_finite ×1\\)\\s+2 \\(sha256_mismatch ×2, shape ×1\\)`,
        ),
      );
    });

    test('malformed events are refused with a path, and nothing is stored', async () => {
      const [device] = await registerMany(h.server, 1);
      const at = 1_700_000_000_000;
      const bad: [unknown, string][] = [
        [[{ kind: 'exploded', at }], 'windows[0].events[0].kind'],
        [[{ kind: 'refused', at, reason: 'x'.repeat(501) }], 'windows[0].events[0].reason'],
        [[{ kind: 'refused', at: -1 }], 'windows[0].events[0].at'],
        [[{ kind: 'refused' }], 'windows[0].events[0].at'],
        [[{ kind: 'refused', at, reason: 42 }], 'windows[0].events[0].reason'],
        [[{ kind: 'refused', at, reason: 'nul\u0000here' }], 'windows[0].events[0].reason'],
        [Array.from({ length: 17 }, () => ({ kind: 'staged', at })), 'windows[0].events'],
        [{ kind: 'staged', at }, 'windows[0].events'],
        [['staged'], 'windows[0].events[0]'],
      ];
      const before = await dumpTables(h.db);
      for (const [i, [events, path]] of bad.entries()) {
        const reply = await call(h.server, 'POST', '/v1/metrics', {
          token: device.token,
          body: {
            idempotencyKey: `bad-events-${i}`,
            windows: [eventWindow(`bad-ev-${i}`, 'v1', events as unknown[])],
          },
        });
        expect(reply.status, JSON.stringify(events).slice(0, 80)).toBe(400);
        expect(errorCode(reply)).toBe('INVALID_BODY');
        expect((reply.body as ErrorBody).error.path).toBe(path);
      }
      expect(await dumpTables(h.db)).toBe(before);
      // The limits themselves are fine: 16 events, a 500-character reason.
      const ok = await call(h.server, 'POST', '/v1/metrics', {
        token: device.token,
        body: {
          idempotencyKey: 'ok-events-0001',
          windows: [
            eventWindow('ok-ev', 'v1', [
              ...Array.from({ length: 15 }, () => ({ kind: 'staged', at })),
              { kind: 'refused', at, reason: 'y'.repeat(500) },
            ]),
          ],
        },
      });
      expect(ok.status).toBe(201);
    });
  });

  describe('staged rollout: the policy decides from paired comparisons', () => {
    const data = hooks.useDatabase(backend);
    // Evaluations only when asked (the after-ingest path has its own test below).
    const h = hooks.useServer(data, {
      policy: { minDevices: 5, minSamples: 1000, debounceMs: 3_600_000 },
      ...MANY_DEVICES,
    });
    let production = '';
    let pool: RegisterResponse[] = [];

    test('setup: a production version and a fleet of 400 installs', async () => {
      ({ production, pool } = await productionAndFleet(h.server));
    });

    test('worse than production: rolled back by the policy, audited with the numbers', async () => {
      const v = await publishBytes(h.server, fakeModel(), 0.2);
      const devices = await inArm(h.server, pool, v, 6);
      const revision = (await manifestOf(h.server)).revision;
      await report(h.server, devices, v, production, { n: 300, mean: 0.08, sd: 0.3, seed: 1 });

      const dry = await evaluate(h.server, { dryRun: true });
      expect(dry.verdicts.find((x) => x.versionId === v)).toMatchObject({
        decision: 'rollback',
        outcome: 'none',
      });
      expect((await versionOf(h.server, v)).status).toBe('staging');

      const result = await evaluate(h.server);
      const verdict = result.verdicts.find((x) => x.versionId === v)!;
      expect(verdict).toMatchObject({
        decision: 'rollback',
        outcome: 'applied',
        devices: 6,
        n: 1800,
        baselineVersionId: production,
      });
      expect(verdict.lower!).toBeGreaterThan(0);
      expect(verdict.meanDiff!).toBeGreaterThan(0.05);
      expect((await versionOf(h.server, v)).status).toBe('rolled_back');
      const m = await manifestOf(h.server);
      expect(m.revision).toBeGreaterThan(revision);
      expect(m.versions.map((x) => x.id)).toEqual([production]);

      const [entry] = await auditOf(h.server, v);
      expect(entry).toMatchObject({ actor: 'policy', action: 'rollback' });
      expect(entry.why).toContain('n=1,800 outcomes, 6 devices');
      expect(entry.why).toMatch(/mean \+0\.0\d{3}, 95% CS \[\+0\.\d{4}, \+0\.\d{4}\]/);
      expect(entry.details).toMatchObject({
        from: 'staging',
        policy: { baseline: production, devices: 6, n: 1800 },
      });
      // Nothing left to do: evaluating again changes nothing.
      expect((await evaluate(h.server)).verdicts.find((x) => x.versionId === v)).toBeUndefined();
    });

    test('better than production: promoted by the policy', async () => {
      const v = await publishBytes(h.server, fakeModel(), 0.2);
      const devices = await inArm(h.server, pool, v, 6);
      await report(h.server, devices, v, production, { n: 300, mean: -0.08, sd: 0.3, seed: 2 });
      const verdict = (await evaluate(h.server)).verdicts.find((x) => x.versionId === v)!;
      expect(verdict).toMatchObject({ decision: 'promote', outcome: 'applied' });
      expect(verdict.upper!).toBeLessThan(0);
      expect((await versionOf(h.server, v)).status).toBe('production');
      expect((await versionOf(h.server, production)).status).toBe('archived');
      const [entry] = await auditOf(h.server, v);
      expect(entry).toMatchObject({ actor: 'policy', action: 'promote' });
      expect(entry.why).toContain('better than');
      production = v;
    });

    test('too few devices or samples, or no clear difference: no decision', async () => {
      const v = await publishBytes(h.server, fakeModel(), 0.2);
      const devices = await inArm(h.server, pool, v, 6);
      // Four devices, plenty of outcomes.
      await report(h.server, devices.slice(0, 4), v, production, {
        n: 600,
        mean: 0.1,
        sd: 0.3,
        seed: 3,
      });
      let verdict = (await evaluate(h.server)).verdicts.find((x) => x.versionId === v)!;
      expect(verdict).toMatchObject({ decision: 'hold', outcome: 'none', devices: 4 });
      expect(verdict.reason).toContain('too few devices (4 < 5)');

      const w = await publishBytes(h.server, fakeModel(), 0.2);
      const wDevices = await inArm(h.server, pool, w, 6);
      await report(h.server, wDevices, w, production, { n: 100, mean: 0.1, sd: 0.3, seed: 4 });
      verdict = (await evaluate(h.server)).verdicts.find((x) => x.versionId === w)!;
      expect(verdict).toMatchObject({ decision: 'hold', devices: 6, n: 600 });
      expect(verdict.reason).toContain('too few paired outcomes (600 < 1,000)');

      // Comparisons against a version that is not production do not count.
      const x = await publishBytes(h.server, fakeModel(), 0.2);
      const xDevices = await inArm(h.server, pool, x, 6);
      await report(h.server, xDevices, x, 'v-old', { n: 300, mean: 0.1, sd: 0.3, seed: 5 });
      verdict = (await evaluate(h.server)).verdicts.find((y) => y.versionId === x)!;
      expect(verdict).toMatchObject({ decision: 'hold', n: 0 });

      // Indistinguishable heads: the bound straddles 0.
      const y = await publishBytes(h.server, fakeModel(), 0.2);
      const yDevices = await inArm(h.server, pool, y, 6);
      await report(h.server, yDevices, y, production, { n: 300, mean: 0, sd: 0.3, seed: 6 });
      verdict = (await evaluate(h.server)).verdicts.find((z) => z.versionId === y)!;
      expect(verdict.decision).toBe('hold');
      expect(verdict.lower!).toBeLessThan(0);
      expect(verdict.upper!).toBeGreaterThan(0);
      expect(verdict.reason).toContain('inconclusive');

      // Devices that disagree: three find it much worse, three better. Outcome by outcome that
      // looks like 1,800 samples against it; device by device it is six split opinions.
      const z = await publishBytes(h.server, fakeModel(), 0.2);
      const zDevices = await inArm(h.server, pool, z, 6);
      let sum = 0;
      let sumSq = 0;
      for (const [i, device] of zDevices.entries()) {
        const window = pairedWindow(z, production, {
          n: 300,
          mean: i < 3 ? 0.3 : -0.2,
          sd: 0.05,
          seed: 90 + i,
        });
        sum += window.paired!.diffSum;
        sumSq += window.paired!.diffSumSq;
        await post(h.server, device, [window]);
      }
      verdict = (await evaluate(h.server)).verdicts.find((a) => a.versionId === z)!;
      expect(verdict).toMatchObject({ decision: 'hold', devices: 6, n: 1800 });
      expect(verdict.lower!).toBeLessThan(0);
      // Taking the outcomes as independent, the same sums would have rolled it back.
      const naive = confidenceSequence(
        { n: 1800, sum, sumSq },
        { alpha: 0.05, rho: rhoFor(1000, 0.05) },
      )!;
      expect(naive.lower).toBeGreaterThan(0);

      for (const id of [v, w, x, y, z]) {
        expect((await versionOf(h.server, id)).status).toBe('staging');
        expect(await auditOf(h.server, id)).toHaveLength(1); // the publish only
        await admin(h.server, 'POST', `/versions/${id}/rollback`, { why: 'test cleanup' });
      }
    });

    test('devices rolling back locally (guardrails) roll it back, with few samples', async () => {
      const v = await publishBytes(h.server, fakeModel(), 0.2);
      const devices = await inArm(h.server, pool, v, 6);
      const at = Date.now();
      for (const [i, device] of devices.slice(0, 3).entries())
        await post(h.server, device, [
          {
            ...pairedWindow(v, production, { n: 20, mean: 0, sd: 0.3, seed: 70 + i }),
            events: [{ kind: 'rolled_back', at, reason: `non_finite: device ${i}` }],
          },
        ]);
      const verdict = (await evaluate(h.server)).verdicts.find((x) => x.versionId === v)!;
      expect(verdict).toMatchObject({
        decision: 'rollback',
        outcome: 'applied',
        guardrailDevices: 3,
      });
      expect(verdict.reason).toContain('3 devices rolled it back locally');
      expect((await versionOf(h.server, v)).status).toBe('rolled_back');
      expect((await auditOf(h.server, v))[0]).toMatchObject({
        actor: 'policy',
        action: 'rollback',
      });
    });

    test('autopilot off (per version, or server-wide): verdict shown, nothing done; admin still acts', async () => {
      const v = await publishBytes(h.server, fakeModel(), 0.2);
      const devices = await inArm(h.server, pool, v, 6);
      const off = await admin<AdminVersion>(h.server, 'POST', `/versions/${v}/autopilot`, {
        enabled: false,
        why: 'watching it myself',
      });
      expect(off.status).toBe(200);
      expect(off.body.autopilot).toBe(false);
      await report(h.server, devices, v, production, { n: 300, mean: 0.08, sd: 0.3, seed: 8 });
      const verdict = (await evaluate(h.server)).verdicts.find((x) => x.versionId === v)!;
      expect(verdict).toMatchObject({ decision: 'rollback', outcome: 'off' });
      expect((await versionOf(h.server, v)).status).toBe('staging');

      // status shows the reading and the verdict.
      const status = (await admin<StatusResponse>(h.server, 'GET', '/status')).body;
      expect(status.versions.find((e) => e.versionId === v)?.policy).toMatchObject({
        decision: 'rollback',
        outcome: 'off',
        devices: 6,
        n: 1800,
      });
      const text = formatStatus(status);
      expect(text).toContain('Rollout policy (staged versions');
      expect(text).toMatch(
        new RegExp(
          `${v}\\s+rollback \\(autopilot off\\)\\s+0\\.200\\s+${production}\\s+6\\s+1,800\\s+\\+0\\.\\d{4}\\s+\\[\\+0\\.\\d{4}, \\+0\\.\\d{4}\\]\\s+0`,
        ),
      );

      // Server-wide off: another server on the same database with the autopilot disabled.
      const global = await startServer({
        database: h.db,
        port: 0,
        adminToken: ADMIN_TOKEN,
        signingKey: SIGNING_KEY,
        appKey: APP_KEY,
        policy: { enabled: false, minDevices: 5 },
      });
      try {
        await admin(global, 'POST', `/versions/${v}/autopilot`, { enabled: true });
        const result = await evaluate(global);
        expect(result.enabled).toBe(false);
        expect(result.verdicts.find((x) => x.versionId === v)).toMatchObject({
          decision: 'rollback',
          outcome: 'off',
        });
        expect((await versionOf(global, v)).status).toBe('staging');
      } finally {
        await global.close();
      }

      // The admin overrides: promotes it anyway, whatever the policy thinks.
      const promoted = await admin<AdminVersion>(h.server, 'POST', `/versions/${v}/promote`, {
        why: 'override',
      });
      expect(promoted.body.status).toBe('production');
      const audit = await auditOf(h.server, v);
      expect(audit.map((e) => [e.actor, e.action])).toEqual([
        ['admin', 'promote'],
        ['admin', 'autopilot'],
        ['admin', 'autopilot'],
        ['admin', 'publish'],
      ]);
      // And rolls it back: production returns to the version it replaced.
      await admin(h.server, 'POST', `/versions/${v}/rollback`, { why: 'override undone' });
      expect((await versionOf(h.server, production)).status).toBe('production');
      expect(
        (await admin(h.server, 'POST', `/versions/${v}/autopilot`, { enabled: 'no' })).status,
      ).toBe(400);
    });

    test('auto-ramp through the steps while not worse, with enough outcomes at each weight', async () => {
      const ramping = await startServer({
        database: h.db,
        port: 0,
        adminToken: ADMIN_TOKEN,
        signingKey: SIGNING_KEY,
        appKey: APP_KEY,
        policy: {
          minDevices: 5,
          minSamples: 1000,
          rampSteps: [0.05, 0.25, 0.5],
          rampMinSamples: 600,
          rampMargin: 0.02,
          debounceMs: 3_600_000,
        },
      });
      try {
        const v = await publishBytes(ramping, fakeModel(), 0.05);
        const devices = await inArm(ramping, pool, v, 6);
        await report(ramping, devices, v, production, { n: 300, mean: 0, sd: 0.05, seed: 9 });
        let verdict = (await evaluate(ramping)).verdicts.find((x) => x.versionId === v)!;
        expect(verdict).toMatchObject({ decision: 'ramp', toWeight: 0.25, outcome: 'applied' });
        let version = await versionOf(ramping, v);
        expect([version.weight, version.bucketStart]).toEqual([0.25, 0]);
        // Nothing new at 0.25 yet: wait for outcomes there.
        verdict = (await evaluate(ramping)).verdicts.find((x) => x.versionId === v)!;
        expect(verdict).toMatchObject({ decision: 'hold', nAtWeight: 0 });
        expect(verdict.reason).toContain('0 of 600 outcomes needed at weight 0.25');
        await report(ramping, devices, v, production, { n: 100, mean: 0, sd: 0.05, seed: 10 });
        verdict = (await evaluate(ramping)).verdicts.find((x) => x.versionId === v)!;
        expect(verdict).toMatchObject({ decision: 'ramp', toWeight: 0.5, outcome: 'applied' });
        version = await versionOf(ramping, v);
        expect([version.weight, version.bucketStart]).toEqual([0.5, 0]);
        const ramps = (await auditOf(ramping, v)).filter((e) => e.action === 'ramp');
        expect(ramps.map((e) => [e.actor, e.details.from, e.details.to])).toEqual([
          ['policy', 0.25, 0.5],
          ['policy', 0.05, 0.25],
        ]);
        // The last step reached: it holds (promotion needs it to be better).
        await report(ramping, devices, v, production, { n: 100, mean: 0, sd: 0.05, seed: 11 });
        verdict = (await evaluate(ramping)).verdicts.find((x) => x.versionId === v)!;
        expect(verdict.decision).toBe('hold');
        await admin(ramping, 'POST', `/versions/${v}/rollback`);
      } finally {
        await ramping.close();
      }
    });

    test('after metrics arrive the policy runs by itself (without the admin endpoint)', async () => {
      const auto = await startServer({
        database: h.db,
        port: 0,
        adminToken: ADMIN_TOKEN,
        signingKey: SIGNING_KEY,
        appKey: APP_KEY,
        policy: { minDevices: 5, minSamples: 1000, debounceMs: 0 },
      });
      try {
        const v = await publishBytes(auto, fakeModel(), 0.2);
        const devices = await inArm(auto, pool, v, 6);
        await report(auto, devices, v, production, { n: 300, mean: 0.08, sd: 0.3, seed: 12 });
        await auto.autopilot.idle();
        expect((await versionOf(auto, v)).status).toBe('rolled_back');
        expect((await auditOf(auto, v))[0]).toMatchObject({ actor: 'policy', action: 'rollback' });
      } finally {
        await auto.close();
      }
    });

    test('bad policy options are refused before the server starts', async () => {
      for (const policy of [
        { alpha: 0 },
        { minDevices: 0 },
        { rampSteps: [0.5, 0.25] },
        { rampSteps: [0, 1] },
        { promoteMargin: Number.NaN },
        { debounceMs: -1 },
      ])
        await expect(
          startServer({
            database: h.db,
            port: 0,
            adminToken: ADMIN_TOKEN,
            signingKey: SIGNING_KEY,
            appKey: APP_KEY,
            policy,
          }),
        ).rejects.toBeInstanceOf(PolicyConfigError);
    });
  });

  describe('staged rollout: nobody outside the arm steers the fleet', () => {
    // The autopilot runs after every ingest (debounce 0), as in production; tests wait on it.
    const h = hooks.useServer(hooks.useDatabase(backend), {
      policy: { minDevices: 5, minSamples: 1000, debounceMs: 0 },
      ...MANY_DEVICES,
    });
    let production = '';
    let pool: RegisterResponse[] = [];

    const settle = () => h.server.autopilot.idle();
    /** After the autopilot settled: the version is still staged; the policy's reading of it. */
    const stillStaged = async (versionId: string) => {
      await settle();
      expect((await versionOf(h.server, versionId)).status).toBe('staging');
      return (await evaluate(h.server, { dryRun: true })).verdicts.find(
        (x) => x.versionId === versionId,
      )!;
    };
    const rejectedOf = async (versionId: string) =>
      (await admin<StatusResponse>(h.server, 'GET', '/status')).body.versions.find(
        (e) => e.versionId === versionId,
      )?.rejected ?? [];
    /** Devices of `pool` outside `versionId`'s arm. */
    const outsideArm = async (versionId: string, count: number) => {
      const manifest = await manifestOf(h.server);
      const chosen: RegisterResponse[] = [];
      for (const device of pool)
        if (
          chosen.length < count &&
          armOf(manifest, await rolloutBucket(device.installId, manifest.rollout)) !== versionId
        )
          chosen.push(device);
      return chosen;
    };
    const rollbackWindow = (versionId: string) => ({
      ...pairedWindow(versionId, production, { n: 0, mean: 0, sd: 0, seed: 1 }),
      paired: undefined,
      events: [{ kind: 'rolled_back' as const, at: Date.now(), reason: 'latency: 900 ms' }],
    });
    /** The forged pair: 300 outcomes, mean −0.5, spread ≈ 0.02. */
    const forgedPair = (versionId: string): MetricWindow => ({
      ...pairedWindow(versionId, production, { n: 300, mean: 0, sd: 0, seed: 1 }),
      paired: { baselineVersionId: production, n: 300, diffSum: -150, diffSumSq: 78 },
    });
    /** What an attack may not change: every version's state, the manifest, the audit log. */
    const snapshot = async () =>
      JSON.stringify({
        versions: (await admin<{ versions: AdminVersion[] }>(h.server, 'GET', '/versions')).body
          .versions,
        revision: (await manifestOf(h.server)).revision,
        audit: (await admin<{ entries: AuditEntry[] }>(h.server, 'GET', '/audit?limit=1000')).body
          .entries,
      });

    test('setup: a production version and 400 installs registered before anything is staged', async () => {
      ({ production, pool } = await productionAndFleet(h.server));
    });

    test('forged rollback: fresh installs and installs outside the arm change nothing, and are counted', async () => {
      const v = await publishBytes(h.server, fakeModel(), 0.2);
      const before = await snapshot();
      // The attack: three installs registered with the app key after v was staged.
      for (const device of await registerMany(h.server, 3))
        await post(h.server, device, [rollbackWindow(v)]);
      // Installs registered in time, but whose bucket is not in v's range.
      for (const device of await outsideArm(v, 10))
        await post(h.server, device, [rollbackWindow(v)]);
      await settle();
      expect(await snapshot()).toBe(before);
      expect(await rejectedOf(v)).toEqual([
        { reason: 'outside_arm', installs: 10, windows: 10, outcomes: 0 },
        { reason: 'registered_after_staging', installs: 3, windows: 3, outcomes: 0 },
      ]);
      const verdict = (await evaluate(h.server, { dryRun: true })).verdicts.find(
        (x) => x.versionId === v,
      )!;
      expect(verdict).toMatchObject({ decision: 'hold', guardrailDevices: 0, armDevices: 0 });
      const text = formatStatus((await admin<StatusResponse>(h.server, 'GET', '/status')).body);
      expect(text).toContain('Evidence rejected');
      expect(text).toMatch(new RegExp(`${v}\\s+registered_after_staging\\s+3\\s+3\\s+0`));
      await admin(h.server, 'POST', `/versions/${v}/rollback`, { why: 'test cleanup' });
    });

    test('forged promotion: pairs from fresh installs, outside the arm, or against another baseline change nothing', async () => {
      const v = await publishBytes(h.server, fakeModel(), 0.01);
      const before = await snapshot();
      for (const device of await registerMany(h.server, 5))
        await post(h.server, device, [forgedPair(v)]);
      for (const device of await outsideArm(v, 5)) await post(h.server, device, [forgedPair(v)]);
      // In the arm, but claiming a baseline that is not production.
      const w = await publishBytes(h.server, fakeModel(), 0.5);
      const inW = await inArm(h.server, pool, w, 6);
      for (const device of inW)
        await post(h.server, device, [
          { ...forgedPair(w), paired: { ...forgedPair(w).paired!, baselineVersionId: 'v0' } },
        ]);
      await settle();
      const after = JSON.parse(await snapshot());
      const was = JSON.parse(before);
      expect(after.versions.find((x: AdminVersion) => x.id === v)).toEqual(
        was.versions.find((x: AdminVersion) => x.id === v),
      );
      expect((await versionOf(h.server, production)).status).toBe('production');
      expect((await versionOf(h.server, w)).status).toBe('staging');
      expect(after.audit.filter((e: AuditEntry) => e.actor === 'policy')).toEqual([]);
      expect(await rejectedOf(v)).toEqual([
        { reason: 'outside_arm', installs: 5, windows: 5, outcomes: 1500 },
        { reason: 'registered_after_staging', installs: 5, windows: 5, outcomes: 1500 },
      ]);
      expect(await rejectedOf(w)).toEqual([
        { reason: 'wrong_baseline', installs: 6, windows: 6, outcomes: 1800 },
      ]);
      for (const id of [v, w]) await admin(h.server, 'POST', `/versions/${id}/rollback`);
    });

    test('windows sent for a version id before it exists are purged when it is published', async () => {
      const listed = (await admin<{ versions: AdminVersion[] }>(h.server, 'GET', '/versions')).body;
      const next = `v${listed.versions.length + 1}`;
      for (const device of pool.slice(0, 5)) await post(h.server, device, [forgedPair(next)]);
      const v = await publishBytes(h.server, fakeModel(), 0.2);
      expect(v).toBe(next);
      const verdict = await stillStaged(v);
      expect(verdict).toMatchObject({ devices: 0, n: 0, decision: 'hold' });
      expect(await rejectedOf(v)).toEqual([
        { reason: 'before_staging', installs: 5, windows: 5, outcomes: 1500 },
      ]);
      await admin(h.server, 'POST', `/versions/${v}/rollback`);
    });

    test('one install sending 100x the outcomes of the others counts as one device', async () => {
      const v = await publishBytes(h.server, fakeModel(), 0.3);
      const [heavy, ...honest] = await inArm(h.server, pool, v, 7);
      // Six honest devices: no difference. Alone they hold (inconclusive).
      await report(h.server, honest, v, production, { n: 300, mean: 0, sd: 0.3, seed: 40 });
      const window = pairedWindow(v, production, { n: 30_000, mean: -0.5, sd: 0.02, seed: 41 });
      await post(h.server, heavy, [window]);
      const verdict = await stillStaged(v);
      expect(verdict).toMatchObject({ decision: 'hold', devices: 7, cappedDevices: 1 });
      // It counts for at most twice the median device (600 of its 30,000 outcomes).
      expect(verdict.n).toBeCloseTo(6 * 300 + 600, 6);
      // Uncapped, the same sums would have promoted it.
      const rows = await h.db.query<{ n: number; diff_sum: number; diff_sum_sq: number }>(
        `select sum(n)::float8 as n, sum(diff_sum) as diff_sum, sum(diff_sum_sq) as diff_sum_sq
         from paired_totals where version_id = $1`,
        [v],
      );
      const raw = rows.rows[0];
      const naive = confidenceSequence(
        { n: raw.n, sum: raw.diff_sum, sumSq: raw.diff_sum_sq },
        { alpha: 0.05, rho: rhoFor(1000, 0.05) },
      )!;
      expect(naive.upper).toBeLessThan(0);
      await admin(h.server, 'POST', `/versions/${v}/rollback`);
    });

    test('guardrails need a share of the arm: 3 of 100 active devices hold, 5 roll back', async () => {
      const v = await publishBytes(h.server, fakeModel(), 0.5);
      const arm = await inArm(h.server, pool, v, 100);
      for (const [i, device] of arm.slice(3).entries())
        await post(h.server, device, [
          pairedWindow(v, production, { n: 5, mean: 0, sd: 0.3, seed: 200 + i }),
        ]);
      for (const device of arm.slice(0, 3)) await post(h.server, device, [rollbackWindow(v)]);
      const verdict = await stillStaged(v);
      expect(verdict).toMatchObject({ guardrailDevices: 3, armDevices: 100, decision: 'hold' });
      // Two more of the arm's own devices: 5 of 100 is the 5 % share.
      for (const device of arm.slice(3, 5)) await post(h.server, device, [rollbackWindow(v)]);
      await settle();
      expect((await versionOf(h.server, v)).status).toBe('rolled_back');
      const [entry] = await auditOf(h.server, v);
      expect(entry).toMatchObject({ actor: 'policy', action: 'rollback' });
      expect(entry.why).toContain('5 devices rolled it back locally (guardrail threshold 5 of 100');
    });

    test('honest devices of the arm still decide: worse rolls back, better promotes', async () => {
      const worse = await publishBytes(h.server, fakeModel(), 0.2);
      await report(h.server, await inArm(h.server, pool, worse, 6), worse, production, {
        n: 300,
        mean: 0.08,
        sd: 0.3,
        seed: 50,
      });
      await settle();
      expect((await versionOf(h.server, worse)).status).toBe('rolled_back');
      const better = await publishBytes(h.server, fakeModel(), 0.2);
      await report(h.server, await inArm(h.server, pool, better, 6), better, production, {
        n: 300,
        mean: -0.08,
        sd: 0.3,
        seed: 51,
      });
      await settle();
      expect((await versionOf(h.server, better)).status).toBe('production');
      expect(await rejectedOf(better)).toEqual([]);
    });
  });
}
