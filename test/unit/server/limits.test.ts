/**
 * Limits that hold across processes and proxies, on a real PostgreSQL: two server instances
 * (each with its own connection pool and memory, as two processes would have) share one
 * database, and clients come from distinct loopback addresses (127.0.0.0/8 is all local).
 *
 * - registration is limited per address prefix (IPv4 /24), summed over both servers;
 * - device routes are limited per install, summed over both servers;
 * - X-Forwarded-For picks the key only when the peer is a configured proxy;
 * - failed device authentications are limited per prefix; past the limit even a valid token
 *   from that prefix is refused without being looked up;
 * - installs idle longer than `inactiveInstallDays` no longer authenticate.
 *
 * Windows are ~11 days long (burst / perSecond), so no window boundary falls inside a test.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Database } from '../../../server/db/database.ts';
import { migrate } from '../../../server/db/migrations.ts';
import { openPostgres } from '../../../server/db/postgres.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../../server/start.ts';
import type { RegisterResponse } from '../../../src/protocol/index.ts';
import { ADMIN_TOKEN, APP_KEY, makeWindow, SIGNING_KEY } from './support/http.ts';
import {
  findPostgresBinaries,
  type PostgresCluster,
  startPostgresCluster,
} from './support/postgres_cluster.ts';

const TIMEOUT = 120_000;
const LONG = 1_000_000; // seconds per window
const perWindow = (burst: number) => ({ burst, perSecond: burst / LONG });

const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string } } & Partial<RegisterResponse>;
}

/** One request from a chosen local address (so the server sees that peer). */
function send(
  server: RunningServer,
  method: string,
  path: string,
  options: { from?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: server.port,
        method,
        path,
        localAddress: options.from ?? '127.0.0.1',
        headers: {
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? JSON.parse(text) : {},
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const register = (server: RunningServer, from: string, headers?: Record<string, string>) =>
  send(server, 'POST', '/v1/register', {
    from,
    headers,
    body: { appKey: APP_KEY, client: { platform: 'limits' } },
  });

let batchCounter = 0;
const metrics = (server: RunningServer, token: string, from = '127.0.0.1') => {
  const n = ++batchCounter;
  return send(server, 'POST', '/v1/metrics', {
    from,
    headers: { authorization: `Bearer ${token}` },
    body: { idempotencyKey: `limits-batch-${n}`, windows: [makeWindow(`limits-w-${n}`, 'v1', n)] },
  });
};

if ('missing' in binaries) {
  test(`limits test NOT RUN: ${binaries.missing}`, () => {
    console.warn(`\n*** The cross-process limits test did NOT run: ${binaries.missing}.\n`);
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgresCluster(binaries.dir);
  }, TIMEOUT);
  afterAll(async () => {
    await cluster?.stop();
  }, TIMEOUT);

  /** Two servers, each opening its own pool on one fresh database. */
  function twoServers(options: ServerOptions) {
    const pair = {} as { a: RunningServer; b: RunningServer; db: Database };
    beforeAll(async () => {
      const url = await cluster.createDatabase();
      pair.db = await openPostgres(url);
      await migrate(pair.db);
      const start = () =>
        startServer({
          databaseUrl: url,
          port: 0,
          adminToken: ADMIN_TOKEN,
          signingKey: SIGNING_KEY,
          appKey: APP_KEY,
          heartbeatMs: 60_000,
          pollMs: 60_000,
          ...options,
        });
      pair.a = await start();
      pair.b = await start();
    }, TIMEOUT);
    afterAll(async () => {
      await pair.a?.close();
      await pair.b?.close();
      await pair.db?.close();
    }, TIMEOUT);
    return pair;
  }

  describe('rate limits shared by two servers on one PostgreSQL', () => {
    const s = twoServers({ registerRateLimit: perWindow(4), rateLimit: perWindow(3) });

    test(
      'registration: one budget per /24 across both servers; other prefixes unaffected',
      async () => {
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++)
          statuses.push((await register(i % 2 ? s.b : s.a, `127.0.0.${10 + i}`)).status);
        expect(statuses).toEqual([201, 201, 201, 201]);
        for (const server of [s.a, s.b]) {
          const refused = await register(server, '127.0.0.99');
          expect(refused.status).toBe(429);
          expect(refused.body.error?.code).toBe('RATE_LIMITED');
          expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
        }
        // Another /24 has its own budget.
        expect((await register(s.b, '127.0.1.5')).status).toBe(201);
        const { rows } = await s.db.query<{ key: string; hits: number }>(
          `select key, hits from rate_limits where scope = 'register' order by key`,
        );
        expect(rows).toEqual([
          { key: '127.0.0.0/24', hits: 6 },
          { key: '127.0.1.0/24', hits: 1 },
        ]);
      },
      TIMEOUT,
    );

    test(
      'device routes: one budget per install across both servers',
      async () => {
        const device = (await register(s.a, '127.0.2.1')).body as RegisterResponse;
        const other = (await register(s.a, '127.0.2.2')).body as RegisterResponse;
        const statuses = [
          (await metrics(s.a, device.token)).status,
          (await metrics(s.b, device.token)).status,
          (await metrics(s.a, device.token)).status,
        ];
        expect(statuses).toEqual([201, 201, 201]);
        const limited = await metrics(s.b, device.token);
        expect(limited.status).toBe(429);
        expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
        expect((await metrics(s.a, device.token)).status).toBe(429);
        expect((await metrics(s.b, other.token)).status).toBe(201);
      },
      TIMEOUT,
    );
  });

  describe('X-Forwarded-For only from a configured proxy', () => {
    const s = twoServers({ registerRateLimit: perWindow(2), trustProxy: ['127.0.0.1'] });

    test(
      'behind the proxy each client prefix has its budget; others cannot pick their key',
      async () => {
        const viaProxy = (client: string) =>
          register(s.a, '127.0.0.1', { 'x-forwarded-for': client });
        expect((await viaProxy('198.51.100.1')).status).toBe(201);
        expect((await viaProxy('198.51.100.2')).status).toBe(201);
        expect((await viaProxy('198.51.100.3')).status).toBe(429);
        // Another client behind the same proxy is not affected by its neighbour's flood.
        expect((await viaProxy('203.0.113.7')).status).toBe(201);
        // IPv6 clients key on their /64.
        expect((await viaProxy('2001:db8:1:2::1')).status).toBe(201);
        expect((await viaProxy('2001:db8:1:2::ffff')).status).toBe(201);
        expect((await viaProxy('2001:db8:1:2:aaaa::9')).status).toBe(429);
        // A client that is not the proxy writes the header in vain: its own /24 is the key.
        const spoof = (n: number) =>
          register(s.b, '127.0.5.9', { 'x-forwarded-for': `192.0.2.${n}` });
        expect((await spoof(1)).status).toBe(201);
        expect((await spoof(2)).status).toBe(201);
        expect((await spoof(3)).status).toBe(429);
        const { rows } = await s.db.query<{ key: string }>(
          `select key from rate_limits where scope = 'register' order by key`,
        );
        expect(rows.map((r) => r.key)).toEqual([
          '127.0.5.0/24',
          '198.51.100.0/24',
          '2001:db8:1:2::/64',
          '203.0.113.0/24',
        ]);
      },
      TIMEOUT,
    );
  });

  describe('failed device authentication', () => {
    const s = twoServers({ authFailureRateLimit: perWindow(5) });

    test(
      'random tokens from one prefix: 401 until the shared limit, then 429 even for a valid one',
      async () => {
        const honest = (await register(s.a, '127.0.7.1')).body as RegisterResponse;
        const bystander = (await register(s.a, '127.0.8.1')).body as RegisterResponse;
        // Guesses: random install ids, and the honest install's id with a wrong secret.
        const guess = (server: RunningServer, i: number) =>
          metrics(server, `${i % 2 ? honest.installId : randomUUID()}.wrong${i}`, '127.0.7.66');
        const statuses: number[] = [];
        for (let i = 0; i < 5; i++) statuses.push((await guess(i % 2 ? s.b : s.a, i)).status);
        expect(statuses).toEqual([401, 401, 401, 401, 401]);
        // Over the limit: refused on either server, the counter being in the database.
        const refused = await guess(s.b, 99);
        expect(refused.status).toBe(429);
        expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
        expect((await guess(s.a, 100)).status).toBe(429);
        // The prefix is refused before its token is looked at: a valid token from it too.
        expect((await metrics(s.a, honest.token, '127.0.7.1')).status).toBe(429);
        expect((await metrics(s.b, honest.token, '127.0.7.2')).status).toBe(429);
        // Other prefixes are not affected.
        expect((await metrics(s.b, bystander.token, '127.0.8.1')).status).toBe(201);
      },
      TIMEOUT,
    );
  });

  describe('inactive installs expire', () => {
    const s = twoServers({ inactiveInstallDays: 30 });

    test(
      'an install idle past inactiveInstallDays gets 401 and can register again; an active one is kept',
      async () => {
        const idle = (await register(s.a, '127.0.9.1')).body as RegisterResponse;
        const active = (await register(s.a, '127.0.9.2')).body as RegisterResponse;
        await s.db.query(
          `update installs set last_seen_at = now() - interval '31 days' where id = $1`,
          [idle.installId],
        );
        await s.db.query(
          `update installs set last_seen_at = now() - interval '29 days' where id = $1`,
          [active.installId],
        );
        // Server b has cached neither install: it reads their activity.
        const expired = await metrics(s.b, idle.token);
        expect(expired.status).toBe(401);
        expect(expired.body.error?.code).toBe('INVALID_TOKEN');
        expect((await metrics(s.b, active.token)).status).toBe(201);
        const { rows } = await s.db.query<{ fresh: boolean }>(
          `select last_seen_at > now() - interval '1 minute' as fresh from installs where id = $1`,
          [active.installId],
        );
        expect(rows[0].fresh).toBe(true);
        // The expired device registers again and carries on.
        const again = (await register(s.b, '127.0.9.1')).body as RegisterResponse;
        expect((await metrics(s.b, again.token)).status).toBe(201);
      },
      TIMEOUT,
    );

    test(
      'the option is checked',
      async () => {
        await expect(
          startServer({ memory: true, port: 0, inactiveInstallDays: 0, adminToken: ADMIN_TOKEN }),
        ).rejects.toThrow(RangeError);
      },
      TIMEOUT,
    );
  });
}
