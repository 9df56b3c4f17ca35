/**
 * Federated rounds on the server (server/federated/), run on every storage back-end
 * (federated_pglite.test.ts, federated_postgres.test.ts): real servers on 127.0.0.1, real
 * databases, real HTTP. Devices are registered installs posting contributions; time is a
 * clock the test moves (deadlines), and the noise is a seeded stream whose draws the test
 * records, so an aggregated head can be checked number by number.
 */
import { createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Database } from '../../../server/db/database.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../../server/start.ts';
import { epsilonOf, RdpAccountant } from '../../../src/federated/accountant.ts';
import { seededRandom } from '../../../src/federated/contribution.ts';
import { headToJson } from '../../../src/learn/head_json.ts';
import { createHead } from '../../../src/learn/index.ts';
import type {
  AdminRound,
  AdminVersion,
  AuditEntry,
  FederatedStatus,
} from '../../../src/protocol/admin.ts';
import {
  CONTRIBUTIONS_PATH,
  type ContributionRequest,
  type ContributionResponse,
  type ErrorBody,
  type Manifest,
  type ManifestRounds,
  type RegisterResponse,
  SIGNATURE_HEADER,
  takesPart,
} from '../../../src/protocol/index.ts';
import { rolloutBucket } from '../../../src/rollout/arm.ts';
import type { Backend } from './support/backends.ts';
import {
  ADMIN_TOKEN,
  APP_KEY,
  admin,
  call,
  fakeModel,
  openEvents,
  publishBytes,
  register,
  SIGNING_KEY,
} from './support/http.ts';

const HOOK_TIMEOUT = 120_000;
const DIM = 3;

const errorCode = (reply: { body: unknown }) => (reply.body as ErrorBody).error?.code;
const errorMessage = (reply: { body: unknown }) => (reply.body as ErrorBody).error?.message ?? '';

/** A base head of dimension 3 with known weights, as the manifest carries it. */
function baseHead(weights = [0.5, -0.25, 1], intercept = 0.1): Record<string, unknown> {
  const state = createHead({ task: 'binary', dim: DIM, optimizer: { kind: 'sgd' } }).exportState();
  state.weights = Float64Array.from(weights);
  state.intercepts = Float64Array.from([intercept]);
  return headToJson(state) as unknown as Record<string, unknown>;
}

interface World {
  server: RunningServer;
  db: Database;
  clock: { now: number };
  /** Every uniform the server drew for noise, in order. */
  draws: number[];
}

function useWorld(backend: Backend, options: ServerOptions['federated'] = {}): World {
  const world = { clock: { now: Date.now() }, draws: [] as number[] } as World;
  beforeAll(async () => {
    world.db = await backend.freshDatabase();
    const stream = seededRandom(20_26);
    world.server = await startServer({
      database: world.db,
      port: 0,
      adminToken: ADMIN_TOKEN,
      signingKey: SIGNING_KEY,
      appKey: APP_KEY,
      heartbeatMs: 60_000,
      pollMs: 60_000,
      registerRateLimit: { burst: 1000, perSecond: 1000 },
      rateLimit: { burst: 1000, perSecond: 1000 },
      policy: { enabled: false },
      federated: {
        sweepMs: 0,
        now: () => world.clock.now,
        random: () => {
          const u = stream();
          world.draws.push(u);
          return u;
        },
        ...options,
      },
    });
  }, HOOK_TIMEOUT);
  afterAll(async () => {
    await world.server?.close();
    await world.db?.close();
  }, HOOK_TIMEOUT);
  return world;
}

/** A production version with a head (promoted), returned with its id. */
async function productionWithHead(server: RunningServer): Promise<string> {
  const id = await publishBytes(server, fakeModel(), 0.1, { head: baseHead() });
  expect((await admin(server, 'POST', `/versions/${id}/promote`)).status).toBe(200);
  return id;
}

async function registerMany(server: RunningServer, n: number): Promise<RegisterResponse[]> {
  const devices: RegisterResponse[] = [];
  for (let i = 0; i < n; i++) devices.push(await register(server));
  return devices;
}

async function openRound(server: RunningServer, body: Record<string, unknown>) {
  return admin<AdminRound>(server, 'POST', '/federated/rounds', {
    clip: 1,
    minClients: 2,
    minOutcomes: 10,
    noiseMultiplier: 2,
    durationSeconds: 3600,
    ...body,
  });
}

function contribution(
  round: AdminRound,
  weights: number[],
  intercept: number,
  extra: Partial<ContributionRequest> = {},
): ContributionRequest {
  return {
    roundId: round.id,
    baseVersionId: round.baseVersionId,
    outcomes: 25,
    delta: { weights, intercepts: [intercept] },
    ...extra,
  };
}

const send = (server: RunningServer, device: RegisterResponse, body: unknown) =>
  call<ContributionResponse>(server, 'POST', CONTRIBUTIONS_PATH, { token: device.token, body });

async function rowCount(db: Database, table: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from ${table}`);
  return rows[0].n;
}

async function manifestOf(server: RunningServer): Promise<Manifest & ManifestRounds> {
  return (await call<Manifest & ManifestRounds>(server, 'GET', '/v1/manifest')).body;
}

export function defineFederatedSuite(backend: Backend): void {
  describe(`federated rounds on ${backend.name}`, { timeout: 60_000 }, () => {
    beforeAll(() => backend.setup(), HOOK_TIMEOUT);
    afterAll(() => backend.teardown(), HOOK_TIMEOUT);

    describe('announcement, contributions and their refusals', () => {
      const w = useWorld(backend);
      let base: string;
      let round: AdminRound;
      let devices: RegisterResponse[];

      test('the manifest has no federated field until a round opens; then it is signed in', async () => {
        base = await productionWithHead(w.server);
        devices = await registerMany(w.server, 6);
        expect('federated' in (await manifestOf(w.server))).toBe(false);
        const opened = await openRound(w.server, { baseVersionId: base });
        expect(opened.status).toBe(201);
        round = opened.body;
        expect(round).toMatchObject({ id: 'r1', baseVersionId: base, status: 'open', clip: 1 });

        const response = await fetch(`${w.server.url}/v1/manifest`);
        const bytes = new Uint8Array(await response.arrayBuffer());
        const signature = Buffer.from(response.headers.get(SIGNATURE_HEADER)!, 'base64');
        const key = createPublicKey(w.server.publicKey.spki);
        expect(verify(null, bytes, key, signature)).toBe(true);
        const manifest = JSON.parse(new TextDecoder().decode(bytes)) as Manifest & ManifestRounds;
        expect(manifest.federated).toEqual([
          {
            roundId: 'r1',
            baseVersionId: base,
            clip: 1,
            samplingRate: 1,
            minOutcomes: 10,
            deadline: round.deadline,
          },
        ]);
        const tampered = bytes.slice();
        tampered[bytes.length - 5] ^= 1;
        expect(verify(null, tampered, key, signature)).toBe(false);
      });

      test('opening is refused with clear codes, and changes nothing', async () => {
        const before = await rowCount(w.db, 'federated_rounds');
        const again = await openRound(w.server, { baseVersionId: base });
        expect([again.status, errorCode(again)]).toEqual([409, 'ROUND_OPEN']);
        const headless = await publishBytes(w.server, fakeModel(), 0.05);
        const noHead = await openRound(w.server, { baseVersionId: headless });
        expect([noHead.status, errorCode(noHead)]).toEqual([422, 'NO_BASE_HEAD']);
        const missing = await openRound(w.server, { baseVersionId: 'v999' });
        expect([missing.status, errorCode(missing)]).toEqual([404, 'NOT_FOUND']);
        const unknownField = await openRound(w.server, { baseVersionId: base, clipp: 1 });
        expect([unknownField.status, errorCode(unknownField)]).toEqual([400, 'INVALID_BODY']);
        const device = await call(w.server, 'POST', '/v1/admin/federated/rounds', {
          token: devices[0].token,
          body: { baseVersionId: base, clip: 1, minClients: 1 },
        });
        expect([device.status, errorCode(device)]).toEqual([403, 'FORBIDDEN']);
        expect(await rowCount(w.db, 'federated_rounds')).toBe(before);
        // Roll the headless version back: it takes no part in what follows.
        expect((await admin(w.server, 'POST', `/versions/${headless}/rollback`)).status).toBe(200);
      });

      test('every refusal has its code, and stores nothing', async () => {
        const d = devices[0];
        const cases: [unknown, number, string][] = [
          [{ ...contribution(round, [0.1, 0, 0], 0), roundId: 'r99' }, 404, 'ROUND_NOT_FOUND'],
          [contribution(round, [0.1, 0, 0], 0, { baseVersionId: 'v42' }), 409, 'BASE_MISMATCH'],
          [contribution(round, [0.8, 0.8, 0], 0), 422, 'CLIP_EXCEEDED'],
          [contribution(round, [0.1, 0], 0), 422, 'SHAPE_MISMATCH'],
          [contribution(round, [0.1, 0, 0], 0, { outcomes: 9 }), 422, 'TOO_FEW_OUTCOMES'],
          [{ roundId: round.id }, 400, 'INVALID_BODY'],
          [
            {
              ...contribution(round, [0.1, 0, 0], 0),
              delta: { weights: [0.1, 'x', 0], intercepts: [0] },
            },
            400,
            'INVALID_BODY',
          ],
          [contribution(round, [0.1, 0, 0], 0, { outcomes: -1 }), 400, 'INVALID_BODY'],
        ];
        for (const [body, status, code] of cases) {
          const reply = await send(w.server, d, body);
          expect([reply.status, errorCode(reply)], code).toEqual([status, code]);
          expect(errorMessage(reply).length).toBeGreaterThan(20);
        }
        const none = await call(w.server, 'POST', CONTRIBUTIONS_PATH, {
          body: contribution(round, [0.1, 0, 0], 0),
        });
        expect([none.status, errorCode(none)]).toEqual([401, 'UNAUTHORIZED']);
        const wrongMethod = await call(w.server, 'GET', CONTRIBUTIONS_PATH);
        expect([wrongMethod.status, errorCode(wrongMethod)]).toEqual([405, 'METHOD_NOT_ALLOWED']);
        // Within the clip up to float rounding: accepted (norm 1·(1 + 1e-7)).
        const edge = await send(w.server, devices[5], contribution(round, [1 + 1e-7, 0, 0], 0));
        expect(edge.status).toBe(201);
        expect(await rowCount(w.db, 'federated_contributions')).toBe(1);
      });

      test('an install registered after the round opened is not eligible', async () => {
        const late = await register(w.server);
        const reply = await send(w.server, late, contribution(round, [0.1, 0, 0], 0));
        expect([reply.status, errorCode(reply)]).toEqual([403, 'NOT_ELIGIBLE']);
        expect(errorMessage(reply)).toContain('registered after');
      });

      test('a contribution is stored once: a retry is replayed, a second one refused', async () => {
        const body = contribution(round, [0.3, 0, 0.1], -0.2);
        const first = await send(w.server, devices[1], body);
        expect(first.status).toBe(201);
        expect(first.body).toEqual({ roundId: round.id, contributions: 2, replayed: false });
        const retry = await send(w.server, devices[1], body);
        expect(retry.status).toBe(200);
        expect(retry.headers.get('idempotent-replayed')).toBe('true');
        expect(retry.body).toEqual({ roundId: round.id, contributions: 2, replayed: true });
        const other = await send(w.server, devices[1], contribution(round, [0.2, 0, 0], 0));
        expect([other.status, errorCode(other)]).toEqual([409, 'DUPLICATE_CONTRIBUTION']);
        expect(await rowCount(w.db, 'federated_contributions')).toBe(2);
        const status = (await admin<FederatedStatus>(w.server, 'GET', '/federated/rounds')).body;
        expect(status.rounds[0]).toMatchObject({ id: round.id, contributions: 2 });
      });

      test('after the deadline: ROUND_EXPIRED, but a retry is still acknowledged', async () => {
        const saved = w.clock.now;
        w.clock.now = Date.parse(round.deadline);
        try {
          const late = await send(w.server, devices[2], contribution(round, [0.1, 0, 0], 0));
          expect([late.status, errorCode(late)]).toEqual([409, 'ROUND_EXPIRED']);
          const retry = await send(w.server, devices[1], contribution(round, [0.3, 0, 0.1], -0.2));
          expect([retry.status, retry.body.replayed]).toEqual([200, true]);
        } finally {
          w.clock.now = saved;
        }
      });

      test('a cancelled round leaves the manifest and refuses with ROUND_CLOSED', async () => {
        const events = await openEvents(w.server);
        const first = (await events.next('manifest')).data as { revision: number };
        const closed = await admin<AdminRound>(
          w.server,
          'POST',
          `/federated/rounds/${round.id}/close`,
          {
            cancel: true,
            why: 'test',
          },
        );
        // Pushed to open streams at once: the manifest changed.
        const pushed = (await events.next('manifest')).data as { revision: number };
        events.close();
        expect(pushed.revision).toBeGreaterThan(first.revision);
        expect(closed.status).toBe(200);
        expect(closed.body).toMatchObject({ status: 'closed', closedReason: 'cancelled' });
        expect('federated' in (await manifestOf(w.server))).toBe(false);
        const reply = await send(w.server, devices[3], contribution(round, [0.1, 0, 0], 0));
        expect([reply.status, errorCode(reply)]).toEqual([409, 'ROUND_CLOSED']);
        const twice = await admin(w.server, 'POST', `/federated/rounds/${round.id}/close`);
        expect(errorCode(twice)).toBe('ROUND_CLOSED');
      });

      test('only installs that serve the base may contribute', async () => {
        // A staged version takes half the buckets: installs there do not serve production.
        const staged = await publishBytes(w.server, fakeModel(), 0.5, { head: baseHead() });
        const pool = await registerMany(w.server, 12);
        const opened = await openRound(w.server, { baseVersionId: base, minClients: 1 });
        expect(opened.status).toBe(201);
        const r2 = opened.body;
        const manifest = await manifestOf(w.server);
        const range = manifest.versions.find((v) => v.id === staged)!;
        const inStaged = async (d: RegisterResponse) => {
          const b = await rolloutBucket(d.installId, manifest.rollout);
          return b >= range.bucketStart! && b < range.bucketStart! + range.weight;
        };
        let refused = 0;
        let accepted = 0;
        for (const d of pool) {
          const reply = await send(w.server, d, contribution(r2, [0.1, 0, 0], 0));
          if (await inStaged(d)) {
            expect([reply.status, errorCode(reply)]).toEqual([403, 'NOT_ELIGIBLE']);
            refused++;
          } else {
            expect(reply.status).toBe(201);
            accepted++;
          }
        }
        expect(refused + accepted).toBe(12);
        await admin(w.server, 'POST', `/federated/rounds/${r2.id}/close`, { cancel: true });
        await admin(w.server, 'POST', `/versions/${staged}/rollback`);
      });

      test('a round with a sampling rate takes only the sampled installs', async () => {
        const opened = await openRound(w.server, {
          baseVersionId: base,
          minClients: 1,
          samplingRate: 0.5,
        });
        const r3 = opened.body;
        for (const d of devices) {
          const reply = await send(w.server, d, contribution(r3, [0.1, 0, 0], 0));
          if (takesPart(r3.id, d.installId, 0.5)) expect(reply.status).toBe(201);
          else expect([reply.status, errorCode(reply)]).toEqual([403, 'NOT_ELIGIBLE']);
        }
        await admin(w.server, 'POST', `/federated/rounds/${r3.id}/close`, { cancel: true });
      });
    });

    describe('aggregation into a staged version', () => {
      const w = useWorld(backend);
      let base: string;
      let devices: RegisterResponse[];

      test('closing averages the deltas, adds the drawn noise, and stages the head at 0.1', async () => {
        base = await productionWithHead(w.server);
        devices = await registerMany(w.server, 4);
        const round = (await openRound(w.server, { baseVersionId: base, minClients: 3 })).body;
        const deltas = [
          { weights: [0.3, 0, 0.1], intercept: -0.2 },
          { weights: [0.1, 0.2, -0.1], intercept: 0.1 },
          { weights: [-0.4, 0.1, 0.3], intercept: 0.4 },
        ];
        const early = await admin(w.server, 'POST', `/federated/rounds/${round.id}/close`);
        expect([early.status, errorCode(early)]).toEqual([409, 'TOO_FEW_CONTRIBUTIONS']);
        for (const [i, d] of deltas.entries())
          expect(
            (await send(w.server, devices[i], contribution(round, d.weights, d.intercept))).status,
          ).toBe(201);

        w.draws.length = 0;
        const closed = await admin<AdminRound>(
          w.server,
          'POST',
          `/federated/rounds/${round.id}/close`,
          {
            why: 'enough devices',
          },
        );
        expect(closed.status).toBe(200);
        const result = closed.body;
        expect(result).toMatchObject({ status: 'aggregated', contributions: 3, delta: 1e-5 });
        const sigma = (2 * 1) / 3;
        expect(result.noiseStd).toBeCloseTo(sigma, 12);
        const expectedEpsilon = new RdpAccountant()
          .compose({ samplingRate: 1, noiseMultiplier: 2 })
          .epsilon(1e-5).epsilon;
        expect(result.epsilon).toBeCloseTo(expectedEpsilon, 10);
        expect(result.roundEpsilon).toBeCloseTo(expectedEpsilon, 10);

        // The noise: Box–Muller on the recorded uniforms, weights first, then the intercept.
        expect(w.draws).toHaveLength(8);
        const noise = [0, 1, 2, 3].map(
          (i) =>
            sigma *
            Math.sqrt(-2 * Math.log(w.draws[2 * i])) *
            Math.cos(2 * Math.PI * w.draws[2 * i + 1]),
        );
        const mean = (pick: (d: (typeof deltas)[number]) => number) =>
          deltas.reduce((s, d) => s + pick(d), 0) / deltas.length;
        const baseWeights = [0.5, -0.25, 1];
        const version = (
          await admin<AdminVersion>(w.server, 'GET', `/versions/${result.resultVersionId}`)
        ).body;
        expect(version).toMatchObject({ status: 'staging', weight: 0.1 });
        const head = version.head as { weights: number[]; intercepts: number[] };
        for (let j = 0; j < DIM; j++)
          expect(head.weights[j]).toBeCloseTo(
            baseWeights[j] + mean((d) => d.weights[j]) + noise[j],
            12,
          );
        expect(head.intercepts[0]).toBeCloseTo(0.1 + mean((d) => d.intercept) + noise[3], 12);
        expect(version.metadata).toEqual({
          federated: {
            roundId: round.id,
            baseVersionId: base,
            epsilon: result.epsilon,
            delta: 1e-5,
            roundEpsilon: result.roundEpsilon,
            contributions: 3,
            clip: 1,
            noiseMultiplier: 2,
            samplingRate: 1,
            noiseStd: result.noiseStd,
          },
        });
        const baseVersion = (await admin<AdminVersion>(w.server, 'GET', `/versions/${base}`)).body;
        expect(version.model).toEqual(baseVersion.model);
        expect(version.featureSpec).toEqual(baseVersion.featureSpec);

        // In the manifest as a staged version; the round is gone from it.
        const manifest = await manifestOf(w.server);
        expect(manifest.versions.map((v) => [v.id, v.status, v.weight])).toContainEqual([
          version.id,
          'staging',
          0.1,
        ]);
        expect('federated' in manifest).toBe(false);
        const audit = (await admin<{ entries: AuditEntry[] }>(w.server, 'GET', '/audit?limit=5'))
          .body.entries;
        const aggregated = audit.find((e) => e.action === 'federated_aggregate')!;
        expect(aggregated).toMatchObject({ versionId: version.id, why: 'enough devices' });
        expect(aggregated.details).toMatchObject({ roundId: round.id, delta: 1e-5 });
        expect(audit.find((e) => e.action === 'publish')).toMatchObject({
          versionId: version.id,
          actor: 'admin',
        });

        const status = (await admin<FederatedStatus>(w.server, 'GET', '/federated/rounds')).body;
        expect(status.budget).toMatchObject({ epsilon: 8, delta: 1e-5, aggregatedRounds: 1 });
        expect(status.budget.spent).toBeCloseTo(expectedEpsilon, 10);
        // Out of the way of the next round's installs and its version's bucket range.
        expect((await admin(w.server, 'POST', `/versions/${version.id}/rollback`)).status).toBe(
          200,
        );
      });

      test('a round past its deadline is aggregated by the sweep, or expired with too few', async () => {
        const promoteFresh = await productionWithHead(w.server);
        const pool = await registerMany(w.server, 3);
        const enough = (await openRound(w.server, { baseVersionId: promoteFresh, minClients: 2 }))
          .body;
        for (const d of pool.slice(0, 2))
          expect((await send(w.server, d, contribution(enough, [0.1, 0.1, 0], 0))).status).toBe(
            201,
          );
        expect(await w.server.federated.sweep()).toEqual([]);
        const saved = w.clock.now;
        w.clock.now = Date.parse(enough.deadline) + 1;
        try {
          expect(await w.server.federated.sweep()).toEqual([
            { roundId: enough.id, status: 'aggregated' },
          ]);
        } finally {
          w.clock.now = saved;
        }
        const after = (await admin<AdminRound>(w.server, 'GET', `/federated/rounds/${enough.id}`))
          .body;
        expect(after.status).toBe('aggregated');
        expect(after.resultVersionId).toMatch(/^v\d+$/);

        // Its version is staged at 0.1; roll it back so the next round's can be staged too.
        await admin(w.server, 'POST', `/versions/${after.resultVersionId}/rollback`);
        const few = (await openRound(w.server, { baseVersionId: promoteFresh, minClients: 3 }))
          .body;
        expect((await send(w.server, pool[0], contribution(few, [0.1, 0, 0], 0))).status).toBe(201);
        w.clock.now = Date.parse(few.deadline) + 1;
        try {
          const [outcome] = await w.server.federated.sweep();
          expect(outcome).toMatchObject({ roundId: few.id, status: 'expired' });
          expect(outcome.reason).toMatch(/^TOO_FEW_CONTRIBUTIONS: /);
        } finally {
          w.clock.now = saved;
        }
        const expired = await send(w.server, pool[1], contribution(few, [0.1, 0, 0], 0));
        expect([expired.status, errorCode(expired)]).toEqual([409, 'ROUND_EXPIRED']);
      });
      test('a round whose base was rolled back makes no version', async () => {
        const staged = await publishBytes(w.server, fakeModel(), 0.2, { head: baseHead() });
        const round = (await openRound(w.server, { baseVersionId: staged, minClients: 1 })).body;
        expect((await admin(w.server, 'POST', `/versions/${staged}/rollback`)).status).toBe(200);
        const versions = await rowCount(w.db, 'versions');
        const refused = await admin(w.server, 'POST', `/federated/rounds/${round.id}/close`);
        expect([refused.status, errorCode(refused)]).toEqual([409, 'INVALID_TRANSITION']);
        expect(errorMessage(refused)).toContain('cancel');
        expect(await rowCount(w.db, 'versions')).toBe(versions);
        const cancelled = await admin<AdminRound>(
          w.server,
          'POST',
          `/federated/rounds/${round.id}/close`,
          {
            cancel: true,
          },
        );
        expect(cancelled.body.status).toBe('closed');
      });
    });

    describe('the privacy budget', () => {
      // A budget between the ε of one round at z = 2 (q = 1, δ = 1e-5) and that of two.
      const one = epsilonOf({ samplingRate: 1, noiseMultiplier: 2 }, 1e-5);
      const two = epsilonOf({ samplingRate: 1, noiseMultiplier: 2, steps: 2 }, 1e-5);
      const budget = (one + two) / 2;
      const w = useWorld(backend, { budget: { epsilon: budget } });

      test('a round that would exceed the budget is refused at open and at aggregation', async () => {
        const base = await productionWithHead(w.server);
        const other = await publishBytes(w.server, fakeModel(), 0.3, { head: baseHead() });
        const pool = await registerMany(w.server, 30);
        const tooNoisy = await openRound(w.server, { baseVersionId: base, noiseMultiplier: 0.5 });
        expect([tooNoisy.status, errorCode(tooNoisy)]).toEqual([409, 'BUDGET_EXCEEDED']);
        expect(errorMessage(tooNoisy)).toContain('noise multiplier');

        const first = (await openRound(w.server, { baseVersionId: base, minClients: 1 })).body;
        const second = (await openRound(w.server, { baseVersionId: other, minClients: 1 })).body;
        const manifest = await manifestOf(w.server);
        expect(manifest.federated?.map((r) => r.roundId)).toEqual([first.id, second.id]);
        // Each round takes the installs that serve its base.
        const sent = [0, 0];
        for (const d of pool) {
          for (const [i, r] of [first, second].entries()) {
            const reply = await send(w.server, d, contribution(r, [0.1, 0, 0], 0));
            if (reply.status === 201) sent[i]++;
          }
        }
        expect(sent[0]).toBeGreaterThan(0);
        expect(sent[1]).toBeGreaterThan(0);
        expect((await admin(w.server, 'POST', `/federated/rounds/${first.id}/close`)).status).toBe(
          200,
        );
        const refused = await admin(w.server, 'POST', `/federated/rounds/${second.id}/close`);
        expect([refused.status, errorCode(refused)]).toEqual([409, 'BUDGET_EXCEEDED']);
        // Refused: nothing changed, the round is still open.
        const still = (await admin<AdminRound>(w.server, 'GET', `/federated/rounds/${second.id}`))
          .body;
        expect(still.status).toBe('open');
        const next = await openRound(w.server, { baseVersionId: base, minClients: 1 });
        expect(errorCode(next)).toBe('BUDGET_EXCEEDED');
        const status = (await admin<FederatedStatus>(w.server, 'GET', '/federated/rounds')).body;
        expect(status.budget.spent).toBeCloseTo(one, 10);
        expect(status.budget.aggregatedRounds).toBe(1);
      });
    });
  });
}
