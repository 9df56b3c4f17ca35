/**
 * The server test suite, run against every storage back-end (pglite.test.ts,
 * postgres.test.ts): real servers on 127.0.0.1, real databases, real HTTP. Each group starts
 * its own server on a fresh database; nothing waits on time, only on answers and events.
 */
import { createPublicKey, verify, webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeTestBackbone } from '../../../models/testing.ts';
import { directAdmin } from '../../../server/cli/admin_client.ts';
import type { Database } from '../../../server/db/database.ts';
import { MIGRATIONS, migrate } from '../../../server/db/migrations.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../../server/start.ts';
import { aucFromSketch } from '../../../src/metrics/auc_sketch.ts';
import type { AdminVersion, AuditEntry, StatusResponse } from '../../../src/protocol/admin.ts';
import {
  AUC_SKETCH_BINS,
  type ErrorBody,
  type Manifest,
  type MetricsResponse,
  type PublicKeyResponse,
  SIGNATURE_HEADER,
} from '../../../src/protocol/index.ts';
import { defineIngestGroupTests } from './ingest_groups_suite.ts';
import { defineRolloutTests } from './rollout_suite.ts';
import type { Backend } from './support/backends.ts';
import { defineFuzzTests } from './support/fuzz.ts';
import {
  ADMIN_TOKEN,
  APP_KEY,
  admin,
  call,
  dumpTables,
  FEATURE_SPEC,
  fakeModel,
  makeWindow,
  openEvents,
  publishBytes,
  register,
  SIGNING_KEY,
  sha256,
} from './support/http.ts';
import { defineWindowTests } from './windows_suite.ts';

const HOOK_TIMEOUT = 120_000;

export interface Harness {
  server: RunningServer;
  db: Database;
}

/** A fresh database for the enclosing describe block (servers in it may share it). */
export function useDatabase(backend: Backend): { db: Database } {
  const holder = {} as { db: Database };
  beforeAll(async () => {
    holder.db = await backend.freshDatabase();
  }, HOOK_TIMEOUT);
  afterAll(async () => {
    await holder.db?.close();
  }, HOOK_TIMEOUT);
  return holder;
}

/** A server for the enclosing describe block, on the database of an enclosing block. */
export function useServer(data: { db: Database }, options: ServerOptions = {}): Harness {
  const harness = {} as Harness;
  beforeAll(async () => {
    harness.db = data.db;
    harness.server = await startServer({
      database: harness.db,
      port: 0,
      adminToken: ADMIN_TOKEN,
      signingKey: SIGNING_KEY,
      appKey: APP_KEY,
      heartbeatMs: 60_000,
      pollMs: 60_000,
      ...options,
    });
  }, HOOK_TIMEOUT);
  afterAll(async () => {
    await harness.server?.close();
  }, HOOK_TIMEOUT);
  return harness;
}

const errorCode = (reply: { body: unknown }) => (reply.body as ErrorBody).error?.code;

async function countRows(db: Database, table: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from ${table}`);
  return rows[0].n;
}

export function defineServerSuite(backend: Backend): void {
  // Generous per-test time: under a loaded CI machine the fuzz properties take a few seconds.
  describe(`sync server on ${backend.name}`, { timeout: 60_000 }, () => {
    beforeAll(() => backend.setup(), HOOK_TIMEOUT);
    afterAll(() => backend.teardown(), HOOK_TIMEOUT);

    // Groups whose tests tolerate each other's data share one database (a fresh PGlite costs
    // seconds); the manifest and lifecycle groups assert exact manifests and get their own.
    describe('device routes, storage, limits and fuzzing', () => {
      const shared = useDatabase(backend);

      describe('health, registration and device auth', () => {
        const h = useServer(shared);

        test('migrations are recorded and apply once', async () => {
          expect(await migrate(h.db)).toEqual([]);
          const { rows } = await h.db.query<{ id: number }>(
            'select id from schema_migrations order by id',
          );
          expect(rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
        });

        test('health names the storage', async () => {
          const reply = await call(h.server, 'GET', '/v1/health');
          expect(reply.status).toBe(200);
          expect(reply.body).toEqual({ ok: true, protocol: 1, storage: backend.name });
        });

        test('register returns an install id and a token, stored hashed', async () => {
          const device = await register(h.server);
          expect(device.installId).toMatch(/^[0-9a-f-]{36}$/);
          const secret = device.token.split('.')[1];
          const { rows } = await h.db.query<{ token_hash: string }>(
            'select token_hash from installs where id = $1',
            [device.installId],
          );
          expect(rows[0].token_hash).toBe(sha256(new TextEncoder().encode(secret)));
          expect(JSON.stringify(rows)).not.toContain(secret);
        });

        test('a wrong app key is refused and registers nothing', async () => {
          const before = await countRows(h.db, 'installs');
          const reply = await call(h.server, 'POST', '/v1/register', { body: { appKey: 'nope' } });
          expect(reply.status).toBe(401);
          expect(errorCode(reply)).toBe('INVALID_APP_KEY');
          expect(await countRows(h.db, 'installs')).toBe(before);
        });

        test('metrics need a valid device token', async () => {
          const device = await register(h.server);
          const batch = { idempotencyKey: 'auth-batch-1', windows: [makeWindow('auth-w-1', 'v1')] };
          const batchesBefore = await countRows(h.db, 'metric_batches');
          const none = await call(h.server, 'POST', '/v1/metrics', { body: batch });
          expect(none.status).toBe(401);
          expect(errorCode(none)).toBe('UNAUTHORIZED');
          expect(none.headers.get('www-authenticate')).toBe('Bearer');
          for (const token of [
            'garbage',
            `${device.installId}.wrong-secret`,
            `00000000-0000-0000-0000-000000000000.${device.token.split('.')[1]}`,
          ]) {
            const bad = await call(h.server, 'POST', '/v1/metrics', { body: batch, token });
            expect(bad.status).toBe(401);
            expect(errorCode(bad)).toBe('INVALID_TOKEN');
          }
          expect(await countRows(h.db, 'metric_batches')).toBe(batchesBefore);
          const good = await call(h.server, 'POST', '/v1/metrics', {
            body: batch,
            token: device.token,
          });
          expect(good.status).toBe(201);
        });

        test('unknown routes are 404 and wrong methods 405, as JSON', async () => {
          const missing = await call(h.server, 'GET', '/v1/nothing-here');
          expect(missing.status).toBe(404);
          expect(errorCode(missing)).toBe('NOT_FOUND');
          const wrong = await call(h.server, 'DELETE', '/v1/manifest');
          expect(wrong.status).toBe(405);
          expect(wrong.headers.get('allow')).toContain('GET');
          expect(errorCode(wrong)).toBe('METHOD_NOT_ALLOWED');
          // Allow comes from the registered routes, parameterised paths and later routes too (admin
          // paths answer 401 first: their auth runs before any route).
          for (const [method, path, allow] of [
            ['DELETE', '/v1/metrics', 'POST'],
            ['POST', '/v1/models/abc', 'GET, HEAD'],
            ['PUT', '/v1/register', 'POST'],
            ['POST', '/v1/public-key', 'GET, HEAD'],
            ['GET', '/v1/federated/contributions', 'POST'],
          ]) {
            const refused = await call(h.server, method, path);
            expect([method, path, refused.status, refused.headers.get('allow')]).toEqual([
              method,
              path,
              405,
              allow,
            ]);
          }
        });

        test('CORS: preflight allowed, headers exposed, also on errors', async () => {
          const preflight = await fetch(`${h.server.url}/v1/metrics`, {
            method: 'OPTIONS',
            headers: {
              origin: 'https://app.example',
              'access-control-request-method': 'POST',
              'access-control-request-headers': 'authorization, content-type',
            },
          });
          expect(preflight.status).toBe(204);
          expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
          const refused = await fetch(`${h.server.url}/v1/metrics`, {
            method: 'POST',
            headers: { origin: 'https://app.example' },
          });
          expect(refused.status).toBe(401);
          expect(refused.headers.get('access-control-allow-origin')).toBe('*');
          const manifest = await fetch(`${h.server.url}/v1/manifest`, {
            headers: { origin: 'https://app.example' },
          });
          expect(manifest.headers.get('access-control-expose-headers')).toContain(SIGNATURE_HEADER);
        });
      });

      describe('metrics ingest', () => {
        const h = useServer(shared);

        test('the same key twice is stored once and answered the same', async () => {
          const device = await register(h.server);
          const batch = {
            idempotencyKey: 'batch-twice-0001',
            windows: [makeWindow('twice-w1', 'v1', 1), makeWindow('twice-w2', 'v1', 2)],
          };
          const first = await call<MetricsResponse>(h.server, 'POST', '/v1/metrics', {
            body: batch,
            token: device.token,
          });
          expect(first.status).toBe(201);
          expect(first.body).toEqual({
            idempotencyKey: 'batch-twice-0001',
            windows: 2,
            stored: 2,
            duplicates: 0,
          });
          const before = await dumpTables(h.db);
          const second = await call(h.server, 'POST', '/v1/metrics', {
            body: batch,
            token: device.token,
          });
          expect(second.status).toBe(first.status);
          expect(second.text).toBe(first.text);
          expect(second.headers.get('idempotent-replayed')).toBe('true');
          expect(await dumpTables(h.db)).toBe(before);
        });

        test('concurrent retries of one batch are stored once', async () => {
          const device = await register(h.server);
          const batch = {
            idempotencyKey: 'batch-concurrent-1',
            windows: Array.from({ length: 20 }, (_, i) => makeWindow(`conc-w${i}`, 'v7', i)),
          };
          const replies = await Promise.all(
            Array.from({ length: 12 }, () =>
              call<MetricsResponse>(h.server, 'POST', '/v1/metrics', {
                body: batch,
                token: device.token,
              }),
            ),
          );
          for (const reply of replies) {
            expect(reply.status).toBe(201);
            expect(reply.body).toEqual({
              idempotencyKey: 'batch-concurrent-1',
              windows: 20,
              stored: 20,
              duplicates: 0,
            });
          }
          const windows = await h.db.query<{ n: number }>(
            'select count(*)::int as n from metric_windows where install_id = $1',
            [device.installId],
          );
          expect(windows.rows[0].n).toBe(20);
          const totals = await h.db.query<{ windows: number; samples: number }>(
            `select windows, samples from version_install_totals where install_id = $1`,
            [device.installId],
          );
          expect(totals.rows).toEqual([
            { windows: 20, samples: batch.windows.reduce((s, w) => s + w.count, 0) },
          ]);
        });

        test('a different body under a used key is a 409 and stores nothing', async () => {
          const device = await register(h.server);
          const key = 'batch-conflict-01';
          const ok = await call(h.server, 'POST', '/v1/metrics', {
            body: { idempotencyKey: key, windows: [makeWindow('conf-w1', 'v1')] },
            token: device.token,
          });
          expect(ok.status).toBe(201);
          const before = await dumpTables(h.db);
          const conflict = await call(h.server, 'POST', '/v1/metrics', {
            body: { idempotencyKey: key, windows: [makeWindow('conf-w2', 'v1')] },
            token: device.token,
          });
          expect(conflict.status).toBe(409);
          expect(errorCode(conflict)).toBe('IDEMPOTENCY_CONFLICT');
          expect(await dumpTables(h.db)).toBe(before);
        });

        test('keys are per install: another device may reuse one', async () => {
          const a = await register(h.server);
          const b = await register(h.server);
          const body = {
            idempotencyKey: 'shared-key-0001',
            windows: [makeWindow('shared-w1', 'v1')],
          };
          expect(
            (await call(h.server, 'POST', '/v1/metrics', { body, token: a.token })).status,
          ).toBe(201);
          const other = await call<MetricsResponse>(h.server, 'POST', '/v1/metrics', {
            body,
            token: b.token,
          });
          expect(other.status).toBe(201);
          expect(other.body.stored).toBe(1);
        });

        test('windows are stored once even when re-batched under a new key', async () => {
          const device = await register(h.server);
          const w1 = makeWindow('rebatch-w1', 'v1', 1);
          const w2 = makeWindow('rebatch-w2', 'v1', 2);
          await call(h.server, 'POST', '/v1/metrics', {
            body: { idempotencyKey: 'rebatch-key-1', windows: [w1] },
            token: device.token,
          });
          const again = await call<MetricsResponse>(h.server, 'POST', '/v1/metrics', {
            body: { idempotencyKey: 'rebatch-key-2', windows: [w1, w2] },
            token: device.token,
          });
          expect(again.status).toBe(201);
          expect(again.body).toMatchObject({ windows: 2, stored: 1, duplicates: 1 });
          const { rows } = await h.db.query<{ windows: number }>(
            'select windows from version_install_totals where install_id = $1',
            [device.installId],
          );
          expect(rows[0].windows).toBe(2);
        });

        test('a window id reused with other contents fails the whole batch (no partial write)', async () => {
          const device = await register(h.server);
          await call(h.server, 'POST', '/v1/metrics', {
            body: { idempotencyKey: 'partial-key-1', windows: [makeWindow('partial-w1', 'v1', 1)] },
            token: device.token,
          });
          const before = await dumpTables(h.db);
          const reply = await call(h.server, 'POST', '/v1/metrics', {
            body: {
              idempotencyKey: 'partial-key-2',
              windows: [makeWindow('partial-w2', 'v1', 2), makeWindow('partial-w1', 'v1', 3)],
            },
            token: device.token,
          });
          expect(reply.status).toBe(409);
          expect(errorCode(reply)).toBe('WINDOW_CONFLICT');
          expect(await dumpTables(h.db)).toBe(before);
        });

        test('stored windows keep their exact contents', async () => {
          const device = await register(h.server);
          const w = makeWindow('exact-w1', 'v9', 5);
          await call(h.server, 'POST', '/v1/metrics', {
            body: { idempotencyKey: 'exact-key-01', windows: [w], sentAt: 1 },
            token: device.token,
          });
          const { rows } = await h.db.query<{ body: unknown }>(
            'select body from metric_windows where install_id = $1 and window_id = $2',
            [device.installId, 'exact-w1'],
          );
          expect(rows[0].body).toEqual(w);
        });

        test('aggregates merge devices: samples, means, AUC from merged sketches, paired', async () => {
          const [a, b] = [await register(h.server), await register(h.server)];
          const windows = [makeWindow('agg-a1', 'agg-v', 1), makeWindow('agg-a2', 'agg-v', 2)];
          const other = makeWindow('agg-b1', 'agg-v', 3);
          await call(h.server, 'POST', '/v1/metrics', {
            body: { idempotencyKey: 'agg-key-a', windows },
            token: a.token,
          });
          await call(h.server, 'POST', '/v1/metrics', {
            body: { idempotencyKey: 'agg-key-b', windows: [other] },
            token: b.token,
          });
          const all = [...windows, other];
          const status = await admin<StatusResponse>(h.server, 'GET', '/status');
          const entry = status.body.versions.find((v) => v.versionId === 'agg-v')!;
          expect(entry.version).toBeNull();
          const m = entry.metrics!;
          const samples = all.reduce((s, w) => s + w.count, 0);
          expect(m.devices).toBe(2);
          expect(m.windows).toBe(3);
          expect(m.samples).toBe(samples);
          expect(m.logloss).toBeCloseTo(all.reduce((s, w) => s + w.loglossSum!, 0) / samples, 10);
          expect(m.accuracy).toBeCloseTo(all.reduce((s, w) => s + w.correct!, 0) / samples, 10);
          const merged = {
            positive: Array.from({ length: AUC_SKETCH_BINS }, (_, i) =>
              all.reduce((s, w) => s + w.auc!.positive[i], 0),
            ),
            negative: Array.from({ length: AUC_SKETCH_BINS }, (_, i) =>
              all.reduce((s, w) => s + w.auc!.negative[i], 0),
            ),
          };
          expect(m.auc).toBeCloseTo(aucFromSketch(merged)!, 12);
          expect(m.ctr).toBeCloseTo(
            all.reduce((s, w) => s + w.ctr!.clicks, 0) /
              all.reduce((s, w) => s + w.ctr!.impressions, 0),
            12,
          );
          expect(m.ranking?.slates).toBe(12);
          expect(m.driftAlerts).toBe(all.reduce((s, w) => s + w.drift!.alerts, 0));
          expect(m.paired).toHaveLength(1);
          expect(m.paired[0]).toMatchObject({ baselineVersionId: 'v0', devices: 2, n: samples });
          expect(m.paired[0].meanDiff).toBeCloseTo(-0.01, 10);
        });

        test('invalid batches are 400 with the path of the problem', async () => {
          const device = await register(h.server);
          const w = makeWindow('invalid-w1', 'v1');
          const cases: [unknown, string][] = [
            [{ idempotencyKey: 'short', windows: [w] }, 'idempotencyKey'],
            [{ idempotencyKey: 'valid-key-001', windows: [] }, 'windows'],
            [
              { idempotencyKey: 'valid-key-001', windows: [{ ...w, count: -1 }] },
              'windows[0].count',
            ],
            [
              { idempotencyKey: 'valid-key-001', windows: [{ ...w, correct: w.count + 1 }] },
              'windows[0].correct',
            ],
            [{ idempotencyKey: 'valid-key-001', windows: [w, w] }, 'windows[1].windowId'],
            [
              {
                idempotencyKey: 'valid-key-001',
                windows: [
                  { ...w, auc: { positive: [1], negative: new Array(AUC_SKETCH_BINS).fill(0) } },
                ],
              },
              'windows[0].auc.positive',
            ],
          ];
          for (const [body, path] of cases) {
            const reply = await call(h.server, 'POST', '/v1/metrics', {
              body,
              token: device.token,
            });
            expect(reply.status, JSON.stringify(body).slice(0, 80)).toBe(400);
            expect(errorCode(reply)).toBe('INVALID_BODY');
            expect((reply.body as ErrorBody).error.path).toBe(path);
          }
          const notJson = await call(h.server, 'POST', '/v1/metrics', {
            raw: '{"idempotencyKey":',
            token: device.token,
            headers: { 'content-type': 'application/json' },
          });
          expect(notJson.status).toBe(400);
          expect(errorCode(notJson)).toBe('BAD_JSON');
          const wrongType = await call(h.server, 'POST', '/v1/metrics', {
            raw: '{}',
            token: device.token,
            headers: { 'content-type': 'text/plain' },
          });
          expect(wrongType.status).toBe(415);
        });
      });

      describe('model downloads', () => {
        const h = useServer(shared);
        const bytes = fakeModel(5000);
        const digest = sha256(bytes);
        beforeAll(async () => {
          await publishBytes(h.server, bytes, 0);
        }, HOOK_TIMEOUT);

        test('immutable bytes with the sha256 as ETag', async () => {
          const response = await fetch(`${h.server.url}/v1/models/${digest}`);
          expect(response.status).toBe(200);
          expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
          expect(response.headers.get('etag')).toBe(`"${digest}"`);
          expect(response.headers.get('accept-ranges')).toBe('bytes');
          expect(sha256(new Uint8Array(await response.arrayBuffer()))).toBe(digest);
          const cached = await fetch(`${h.server.url}/v1/models/${digest}`, {
            headers: { 'if-none-match': `"${digest}"` },
          });
          expect(cached.status).toBe(304);
        });

        test('range requests: 206 with Content-Range, 416 outside', async () => {
          const get = (range: string) =>
            fetch(`${h.server.url}/v1/models/${digest}`, { headers: { range } });
          const cases: [string, number, number][] = [
            ['bytes=0-99', 0, 99],
            ['bytes=4990-', 4990, 4999],
            ['bytes=-10', 4990, 4999],
            ['bytes=100-999999', 100, 4999],
          ];
          for (const [range, start, end] of cases) {
            const response = await get(range);
            expect(response.status, range).toBe(206);
            expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/5000`);
            const part = new Uint8Array(await response.arrayBuffer());
            expect(Buffer.from(part).equals(Buffer.from(bytes.subarray(start, end + 1)))).toBe(
              true,
            );
          }
          const outside = await get('bytes=5000-');
          expect(outside.status).toBe(416);
          expect(outside.headers.get('content-range')).toBe('bytes */5000');
          expect(((await outside.json()) as ErrorBody).error.code).toBe('RANGE_NOT_SATISFIABLE');
          // Several ranges or bad syntax: the RFC lets us send the whole thing.
          for (const range of ['bytes=0-1,5-6', 'items=0-5', 'bytes=abc']) {
            const whole = await get(range);
            expect(whole.status, range).toBe(200);
            expect((await whole.arrayBuffer()).byteLength).toBe(5000);
          }
          const stale = await fetch(`${h.server.url}/v1/models/${digest}`, {
            headers: { range: 'bytes=0-9', 'if-range': '"other"' },
          });
          expect(stale.status).toBe(200);
          await stale.arrayBuffer();
        });

        test('unknown or malformed names', async () => {
          expect((await call(h.server, 'GET', `/v1/models/${'0'.repeat(64)}`)).status).toBe(404);
          const malformed = await call(h.server, 'GET', '/v1/models/not-a-sha');
          expect(malformed.status).toBe(400);
          expect(errorCode(malformed)).toBe('BAD_REQUEST');
        });
      });

      describe('limits: rate limit and body size', () => {
        const h = useServer(shared, {
          rateLimit: { burst: 3, perSecond: 0.01 },
          registerRateLimit: { burst: 6, perSecond: 0.01 },
          maxBodyBytes: 2048,
        });

        test('bodies over the limit are 413, declared or streamed, and change nothing', async () => {
          const before = await dumpTables(h.db);
          const big = JSON.stringify({ appKey: 'x'.repeat(5000) });
          const declared = await fetch(`${h.server.url}/v1/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: big,
          });
          expect(declared.status).toBe(413);
          expect(((await declared.json()) as ErrorBody).error.code).toBe('BODY_TOO_LARGE');
          const chunks = [
            new TextEncoder().encode(big.slice(0, 1500)),
            new TextEncoder().encode(big.slice(1500)),
          ];
          const streamed = await fetch(`${h.server.url}/v1/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: new ReadableStream({
              pull(controller) {
                const next = chunks.shift();
                if (next) controller.enqueue(next);
                else controller.close();
              },
            }),
            duplex: 'half',
          } as RequestInit);
          expect(streamed.status).toBe(413);
          await streamed.arrayBuffer();
          expect(await dumpTables(h.db)).toBe(before);
          expect((await call(h.server, 'GET', '/v1/health')).status).toBe(200);
        });
        test('per-install rate limit: 429 with Retry-After, other installs unaffected', async () => {
          const a = await register(h.server);
          const b = await register(h.server);
          const post = (token: string, i: number) =>
            call(h.server, 'POST', '/v1/metrics', {
              body: {
                idempotencyKey: `rate-key-${i}-xx`,
                windows: [{ ...makeWindow(`rate-w${i}`, 'v1'), auc: undefined, drift: undefined }],
              },
              token,
            });
          for (let i = 0; i < 3; i++) expect((await post(a.token, i)).status).toBe(201);
          const limited = await post(a.token, 3);
          expect(limited.status).toBe(429);
          expect(errorCode(limited)).toBe('RATE_LIMITED');
          expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
          expect((await post(b.token, 10)).status).toBe(201);
        });

        test('registration is rate limited per client address', async () => {
          let status = 0;
          for (let i = 0; i < 5 && status !== 429; i++)
            status = (await call(h.server, 'POST', '/v1/register', { body: { appKey: APP_KEY } }))
              .status;
          expect(status).toBe(429);
        });
      });

      describe('fuzzing every endpoint', () => {
        const h = useServer(shared, {
          rateLimit: { burst: 1e9, perSecond: 1e9 },
          registerRateLimit: { burst: 1e9, perSecond: 1e9 },
          maxBodyBytes: 16 * 1024,
          maxModelBytes: 64 * 1024,
        });
        defineFuzzTests(h);
      });
    });

    describe('manifest, signature and events', () => {
      const h = useServer(useDatabase(backend), { heartbeatMs: 50 });

      test('ETag and If-None-Match → 304', async () => {
        const first = await fetch(`${h.server.url}/v1/manifest`);
        const etag = first.headers.get('etag')!;
        expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
        expect(first.headers.get('cache-control')).toBe('no-cache');
        await first.arrayBuffer();
        const again = await fetch(`${h.server.url}/v1/manifest`, {
          headers: { 'if-none-match': etag },
        });
        expect(again.status).toBe(304);
        expect(again.headers.get('etag')).toBe(etag);
        expect(await again.text()).toBe('');
        const other = await fetch(`${h.server.url}/v1/manifest`, {
          headers: { 'if-none-match': '"something-else"' },
        });
        expect(other.status).toBe(200);
        await other.arrayBuffer();
      });

      test('the signature verifies with the public key and fails on a changed byte', async () => {
        await publishBytes(h.server, fakeModel(), 0.25);
        const response = await fetch(`${h.server.url}/v1/manifest`);
        const bytes = new Uint8Array(await response.arrayBuffer());
        const signature = Buffer.from(response.headers.get(SIGNATURE_HEADER)!, 'base64');
        const key = (await call<PublicKeyResponse>(h.server, 'GET', '/v1/public-key')).body;
        expect(key.raw).toBe(h.server.publicKey.raw);
        const publicKey = createPublicKey(key.spki);
        expect(verify(null, bytes, publicKey, signature)).toBe(true);
        // As a browser would: WebCrypto with the raw 32-byte key.
        const webKey = await webcrypto.subtle.importKey(
          'raw',
          Buffer.from(key.raw, 'base64'),
          { name: 'Ed25519' },
          false,
          ['verify'],
        );
        expect(await webcrypto.subtle.verify('Ed25519', webKey, signature, bytes)).toBe(true);
        for (const index of [0, Math.floor(bytes.length / 2), bytes.length - 1]) {
          const tampered = bytes.slice();
          tampered[index] ^= 0x01;
          expect(verify(null, tampered, publicKey, signature)).toBe(false);
          expect(await webcrypto.subtle.verify('Ed25519', webKey, signature, tampered)).toBe(false);
        }
        const manifest = JSON.parse(new TextDecoder().decode(bytes)) as Manifest;
        expect(manifest.protocol).toBe(1);
        expect(manifest.versions[0]).toMatchObject({ status: 'staging', weight: 0.25 });
      });

      test('the same state always gives the same bytes, from every server process', async () => {
        const twin = await startServer({
          database: h.db,
          port: 0,
          adminToken: ADMIN_TOKEN,
          signingKey: SIGNING_KEY,
          appKey: APP_KEY,
        });
        try {
          const [a, b] = await Promise.all(
            [h.server, twin].map(async (s) => {
              const r = await fetch(`${s.url}/v1/manifest`);
              return {
                etag: r.headers.get('etag'),
                sig: r.headers.get(SIGNATURE_HEADER),
                text: await r.text(),
              };
            }),
          );
          expect(b).toEqual(a);
        } finally {
          await twin.close();
        }
      });

      test('SSE: a manifest event on connect, on publish and on ramp; heartbeats', async () => {
        const events = await openEvents(h.server);
        try {
          expect(events.response.headers.get('content-type')).toContain('text/event-stream');
          const initial = (await events.next('manifest')).data as {
            etag: string;
            revision: number;
          };
          const current = await fetch(`${h.server.url}/v1/manifest`);
          expect(initial.etag).toBe(current.headers.get('etag'));
          await current.arrayBuffer();

          const id = await publishBytes(h.server, fakeModel(), 0.1);
          const onPublish = (await events.next('manifest')).data as {
            etag: string;
            revision: number;
          };
          expect(onPublish.revision).toBeGreaterThan(initial.revision);
          const afterPublish = await fetch(`${h.server.url}/v1/manifest`);
          expect(onPublish.etag).toBe(afterPublish.headers.get('etag'));
          const published = (await afterPublish.json()) as Manifest;

          expect(
            (await admin(h.server, 'POST', `/versions/${id}/ramp`, { weight: 0.2 })).status,
          ).toBe(200);
          const onRamp = (await events.next('manifest')).data as {
            etag: string;
            revision: number;
            rollout: string;
          };
          expect(onRamp.revision).toBeGreaterThan(onPublish.revision);
          // A ramp keeps the rollout id (so a ramp only adds devices to an arm).
          expect(onRamp.rollout).toBe(published.rollout);

          const beat = (await events.next('heartbeat')).data as { at: string };
          expect(Date.parse(beat.at)).not.toBeNaN();
        } finally {
          events.close();
        }
      });

      test('SSE: changes made by another process, or on the database directly, are pushed too', async () => {
        // No poll within the test's time: only the database's notification can tell `watched`.
        const watched = await startServer({
          database: h.db,
          port: 0,
          adminToken: ADMIN_TOKEN,
          signingKey: SIGNING_KEY,
          appKey: APP_KEY,
          pollMs: 600_000,
        });
        const events = await openEvents(watched);
        try {
          const initial = (await events.next('manifest')).data as { revision: number };
          // Published through the other server: its commit notifies every listener.
          const id = await publishBytes(h.server, fakeModel(), 0.05);
          const pushed = (await events.next('manifest')).data as { revision: number };
          expect(pushed.revision).toBeGreaterThan(initial.revision);
          // As the CLI does without a server: straight on the database, no server involved.
          await directAdmin(h.db, 'test').ramp(id, { weight: 0.1, actor: 'test' });
          const ramped = (await events.next('manifest')).data as { revision: number };
          expect(ramped.revision).toBeGreaterThan(pushed.revision);
        } finally {
          events.close();
          await watched.close();
        }
      });

      test('open event streams are capped (429); HEAD opens none', async () => {
        const capped = await startServer({
          database: h.db,
          port: 0,
          adminToken: ADMIN_TOKEN,
          signingKey: SIGNING_KEY,
          appKey: APP_KEY,
          maxStreams: 1,
        });
        try {
          for (let i = 0; i < 3; i++) {
            const head = await fetch(`${capped.url}/v1/events`, { method: 'HEAD' });
            expect(head.status).toBe(200);
            expect(head.headers.get('content-type')).toContain('text/event-stream');
          }
          const events = await openEvents(capped);
          await events.next('manifest');
          const refused = await call(capped, 'GET', '/v1/events');
          expect(refused.status).toBe(429);
          expect(errorCode(refused)).toBe('RATE_LIMITED');
          expect(refused.headers.get('retry-after')).toBeTruthy();
          events.close();
        } finally {
          await capped.close();
        }
      });

      test('closing the server ends open event streams', async () => {
        const temporary = await startServer({
          database: h.db,
          port: 0,
          adminToken: ADMIN_TOKEN,
          signingKey: SIGNING_KEY,
          appKey: APP_KEY,
        });
        const events = await openEvents(temporary);
        await events.next('manifest');
        await temporary.close();
        await expect(events.next('manifest')).rejects.toThrow();
      });
    });

    describe('admin: auth, lifecycle and audit log', () => {
      const h = useServer(useDatabase(backend));

      test('admin routes need the admin token: 401 without, 403 with another', async () => {
        const none = await call(h.server, 'GET', '/v1/admin/versions');
        expect(none.status).toBe(401);
        expect(errorCode(none)).toBe('UNAUTHORIZED');
        const wrong = await call(h.server, 'GET', '/v1/admin/versions', {
          token: 'not-the-admin-token',
        });
        expect(wrong.status).toBe(403);
        expect(errorCode(wrong)).toBe('FORBIDDEN');
        const device = await register(h.server);
        const asDevice = await call(h.server, 'POST', '/v1/admin/versions', {
          token: device.token,
          body: { model: { sha256: '0'.repeat(64) }, weight: 0.1 },
        });
        expect(asDevice.status).toBe(403);
        const basic = await call(h.server, 'GET', '/v1/admin/status', {
          headers: {
            authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`,
          },
        });
        expect(basic.status).toBe(401);
      });

      test('uploads are content-addressed and checked', async () => {
        const bytes = fakeModel(300);
        const wrongName = await call(h.server, 'PUT', `/v1/admin/models/${'a'.repeat(64)}`, {
          raw: bytes as Uint8Array<ArrayBuffer>,
          token: ADMIN_TOKEN,
          headers: { 'content-type': 'application/octet-stream' },
        });
        expect(wrongName.status).toBe(422);
        expect(errorCode(wrongName)).toBe('SHA256_MISMATCH');
        expect(await countRows(h.db, 'models')).toBe(0);
        const put = () =>
          call<{ created: boolean }>(h.server, 'PUT', `/v1/admin/models/${sha256(bytes)}`, {
            raw: bytes as Uint8Array<ArrayBuffer>,
            token: ADMIN_TOKEN,
            headers: { 'content-type': 'application/octet-stream' },
          });
        const first = await put();
        expect(first.status).toBe(201);
        const second = await put();
        expect(second.status).toBe(200);
        expect(second.body.created).toBe(false);
      });

      test('publish refuses unknown models, bad specs and duplicate semvers', async () => {
        const unknown = await admin(h.server, 'POST', '/versions', {
          model: { sha256: 'b'.repeat(64) },
          featureSpec: FEATURE_SPEC,
          weight: 0.1,
        });
        expect(unknown.status).toBe(422);
        expect(errorCode(unknown)).toBe('UNKNOWN_MODEL');
        const bytes = fakeModel();
        await publishBytes(h.server, bytes, 0, { semver: '0.9.0' });
        const badSpec = await admin(h.server, 'POST', '/versions', {
          model: { sha256: sha256(bytes) },
          featureSpec: { inputs: [], output: { name: 'e', size: 2 }, task: 'binary' },
          weight: 0,
        });
        expect(badSpec.status).toBe(422);
        expect(errorCode(badSpec)).toBe('INVALID_FEATURE_SPEC');
        // Non-ONNX bytes and no spec: nothing to read one from.
        const noSpec = await admin(h.server, 'POST', '/versions', {
          model: { sha256: sha256(bytes) },
          weight: 0,
        });
        expect(noSpec.status).toBe(422);
        const duplicate = await admin(h.server, 'POST', '/versions', {
          model: { sha256: sha256(bytes) },
          featureSpec: FEATURE_SPEC,
          semver: '0.9.0',
          weight: 0,
        });
        expect(duplicate.status).toBe(409);
        expect(errorCode(duplicate)).toBe('VERSION_EXISTS');
        const typo = await admin(h.server, 'POST', '/versions', {
          model: { sha256: sha256(bytes) },
          featureSpec: FEATURE_SPEC,
          wieght: 0.1,
        });
        expect(typo.status).toBe(400);
        expect(errorCode(typo)).toBe('INVALID_BODY');
        // Clean up: this test's version must not take part in the lifecycle below.
        expect(
          (await admin(h.server, 'POST', '/versions/0.9.0/rollback', { why: 'test fixture' }))
            .status,
        ).toBe(200);
      });

      test('publish reads the feature spec from an ONNX model when none is given', async () => {
        const backbone = makeTestBackbone({ seed: 3 });
        const up = await call(h.server, 'PUT', `/v1/admin/models/${sha256(backbone.bytes)}`, {
          raw: backbone.bytes as Uint8Array<ArrayBuffer>,
          token: ADMIN_TOKEN,
          headers: { 'content-type': 'application/octet-stream' },
        });
        expect(up.status).toBe(201);
        const reply = await admin<AdminVersion>(h.server, 'POST', '/versions', {
          model: { sha256: sha256(backbone.bytes) },
          weight: 0,
          semver: '0.8.0',
        });
        expect(reply.status).toBe(201);
        expect(reply.body.featureSpec).toEqual(JSON.parse(JSON.stringify(backbone.spec)));
        expect((await admin(h.server, 'POST', '/versions/0.8.0/rollback')).status).toBe(200);
      });

      test('lifecycle: weights ≤ 1, promote archives, rollback restores; every step audited', async () => {
        const manifest = async () => (await call<Manifest>(h.server, 'GET', '/v1/manifest')).body;
        const a = await publishBytes(h.server, fakeModel(), 0.2, { semver: '1.0.0', why: 'first' });
        const b = await publishBytes(h.server, fakeModel(), 0.5, { semver: '1.1.0' });
        const rolloutAB = (await manifest()).rollout;

        const extra = fakeModel();
        await call(h.server, 'PUT', `/v1/admin/models/${sha256(extra)}`, {
          raw: extra as Uint8Array<ArrayBuffer>,
          token: ADMIN_TOKEN,
          headers: { 'content-type': 'application/octet-stream' },
        });
        const overweight = await admin(h.server, 'POST', '/versions', {
          model: { sha256: sha256(extra) },
          featureSpec: FEATURE_SPEC,
          weight: 0.4,
        });
        expect(overweight.status).toBe(409);
        expect(errorCode(overweight)).toBe('WEIGHTS_EXCEED_ONE');
        const rampTooFar = await admin(h.server, 'POST', `/versions/${b}/ramp`, { weight: 0.81 });
        expect(rampTooFar.status).toBe(409);
        expect(errorCode(rampTooFar)).toBe('WEIGHTS_EXCEED_ONE');
        const rampExact = await admin<AdminVersion>(h.server, 'POST', `/versions/1.1.0/ramp`, {
          weight: 0.8,
          why: 'looks good',
          actor: 'alice',
        });
        expect(rampExact.status).toBe(200);
        expect(rampExact.body.weight).toBe(0.8);
        expect((await manifest()).rollout).toBe(rolloutAB);

        const promoted = await admin<AdminVersion>(h.server, 'POST', `/versions/${a}/promote`, {
          why: 'better',
        });
        expect(promoted.body.status).toBe('production');
        let m = await manifest();
        expect(m.rollout).not.toBe(rolloutAB);
        expect(m.versions.map((v) => [v.id, v.status, v.weight])).toEqual([
          [a, 'production', 0.2],
          [b, 'staging', 0.8],
        ]);
        expect(m.versions[0].model.url).toBe(`/v1/models/${m.versions[0].model.sha256}`);

        const notStaged = await admin(h.server, 'POST', `/versions/${a}/ramp`, { weight: 0.1 });
        expect(notStaged.status).toBe(409);
        expect(errorCode(notStaged)).toBe('INVALID_TRANSITION');

        await admin(h.server, 'POST', `/versions/${b}/promote`);
        m = await manifest();
        expect(m.versions.map((v) => [v.id, v.status, v.weight])).toEqual([[b, 'production', 1]]);
        const listed = (await admin<{ versions: AdminVersion[] }>(h.server, 'GET', '/versions'))
          .body.versions;
        expect(listed.find((v) => v.id === a)?.status).toBe('archived');

        const again = await admin(h.server, 'POST', `/versions/${a}/promote`);
        expect(again.status).toBe(409);
        expect(errorCode(again)).toBe('INVALID_TRANSITION');

        // Rolling back production restores the version it replaced.
        const rolledBack = await admin<AdminVersion>(h.server, 'POST', `/versions/${b}/rollback`, {
          why: 'regression in CTR',
        });
        expect(rolledBack.body.status).toBe('rolled_back');
        m = await manifest();
        expect(m.versions.map((v) => [v.id, v.status])).toEqual([[a, 'production']]);
        expect((await admin(h.server, 'POST', `/versions/${b}/rollback`)).status).toBe(409);
        expect((await admin(h.server, 'POST', '/versions/v999/promote')).status).toBe(404);

        const audit = (await admin<{ entries: AuditEntry[] }>(h.server, 'GET', '/audit?limit=100'))
          .body.entries;
        const mine = audit
          .filter((e) => e.versionId === a || e.versionId === b)
          .reverse()
          .map((e) => [e.action, e.versionId, e.actor, e.why]);
        expect(mine).toEqual([
          ['publish', a, 'admin', 'first'],
          ['publish', b, 'admin', null],
          ['ramp', b, 'alice', 'looks good'],
          ['promote', a, 'admin', 'better'],
          ['promote', b, 'admin', null],
          ['rollback', b, 'admin', 'regression in CTR'],
        ]);
        const rollback = audit.find((e) => e.action === 'rollback' && e.versionId === b)!;
        expect(rollback.details).toMatchObject({ from: 'production', restoredProduction: a });
        expect(Date.parse(rollback.at)).not.toBeNaN();
      });

      test('refused admin actions change nothing', async () => {
        const before = await dumpTables(h.db);
        const refused = [
          await admin(h.server, 'POST', '/versions/v1/ramp', { weight: 2 }),
          await admin(h.server, 'POST', '/versions/v1/ramp', { weight: 0.5 }),
          await admin(h.server, 'POST', '/versions/v2/promote'),
          await admin(h.server, 'POST', '/versions', {
            model: { sha256: 'c'.repeat(64) },
            weight: 0,
          }),
        ];
        for (const reply of refused) expect(reply.status).toBeGreaterThanOrEqual(400);
        expect(await dumpTables(h.db)).toBe(before);
      });
    });

    defineRolloutTests(backend, { useDatabase, useServer });
    defineWindowTests(backend, { useDatabase, useServer });
    defineIngestGroupTests(backend, { useDatabase, useServer });
  });
}
