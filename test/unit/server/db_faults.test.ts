/**
 * The database fails; the server does not. A real server process (`localfit-server serve`,
 * as operators run it) on a throw-away PostgreSQL cluster takes a metrics flood from several
 * devices while the test terminates its backends (`pg_terminate_backend`) and then restarts
 * PostgreSQL. Devices behave as the protocol asks: a 503 or 429 is retried with the same
 * idempotency key after Retry-After. The properties:
 *
 * - the server process never exits, and /health answers 503 (with Retry-After) while the
 *   database is down and 200 again once it is back;
 * - no request gets a 500 or any 4xx: a lost connection is 503, never a fault;
 * - every acknowledged batch, and each of its windows, is stored exactly once: the database
 *   holds exactly the acknowledged idempotency keys and window ids, no more and no fewer.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RegisterResponse } from '../../../src/protocol/index.ts';
import { ADMIN_TOKEN, APP_KEY, makeWindow } from './support/http.ts';
import {
  findPostgresBinaries,
  type PostgresCluster,
  startPostgresCluster,
} from './support/postgres_cluster.ts';

const DEVICES = 6;
const BATCHES_PER_DEVICE = 30;
const WINDOWS_PER_BATCH = 3;
const TOTAL = DEVICES * BATCHES_PER_DEVICE;

const SERVER_BIN = fileURLToPath(
  new URL('../../../server/bin/localfit-server.mjs', import.meta.url),
);

const binaries = await findPostgresBinaries();

interface ServerProcess {
  url: string;
  child: ChildProcess;
  stderr: () => string;
}

/** `localfit-server serve` on DATABASE_URL; resolves once it prints where it listens. */
function spawnServer(databaseUrl: string, dataDir: string): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [SERVER_BIN, 'serve', '--port', '0', '--data', dataDir, '--autopilot', 'off'],
    {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        LOCALFIT_ADMIN_TOKEN: ADMIN_TOKEN,
        LOCALFIT_APP_KEY: APP_KEY,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    // Keep the tail only: every 503 is logged, and the flood makes many.
    err = (err + chunk).slice(-20_000);
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`server exited (${code}) before listening:\n${out}\n${err}`)),
    );
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve({ url: match[1], child, stderr: () => err });
    });
  });
}

if ('missing' in binaries) {
  test(`database fault test NOT RUN: ${binaries.missing}`, () => {
    console.warn(`\n*** The database fault test did NOT run: ${binaries.missing}.\n`);
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else {
  describe('database faults during a metrics flood (PostgreSQL)', () => {
    let cluster: PostgresCluster;
    let databaseUrl: string;
    let dataDir: string;
    let server: ServerProcess;

    beforeAll(async () => {
      // Always a cluster of our own: the test restarts it.
      const external = process.env.LOCALFIT_TEST_DATABASE_URL;
      delete process.env.LOCALFIT_TEST_DATABASE_URL;
      try {
        cluster = await startPostgresCluster(binaries.dir);
      } finally {
        if (external !== undefined) process.env.LOCALFIT_TEST_DATABASE_URL = external;
      }
      databaseUrl = await cluster.createDatabase();
      dataDir = await mkdtemp(join(tmpdir(), 'localfit-faults-'));
      server = await spawnServer(databaseUrl, dataDir);
    }, 180_000);

    afterAll(async () => {
      const child = server?.child;
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await cluster?.stop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    }, 120_000);

    test('the process stays up, health recovers, every acknowledged batch is stored once', async () => {
      const alive = () => server.child.exitCode === null && server.child.signalCode === null;
      const health = async () => {
        const response = await fetch(`${server.url}/v1/health`);
        return {
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          body: (await response.json()) as { error?: { code: string } },
        };
      };

      const devices: RegisterResponse[] = [];
      for (let d = 0; d < DEVICES; d++) {
        const response = await fetch(`${server.url}/v1/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ appKey: APP_KEY, client: { platform: 'faults' } }),
        });
        expect(response.status).toBe(201);
        devices.push((await response.json()) as RegisterResponse);
      }

      // What the server acknowledged (2xx), and what else happened on the way.
      const acknowledged = new Map<string, string[]>(); // `${installId} ${key}` → window ids
      const unexpected: string[] = [];
      let unavailable = 0;
      let unavailableWithoutRetryAfter = 0;
      let replayed = 0;
      let networkErrors = 0;
      const milestones: { at: number; resolve: () => void }[] = [];
      const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

      const flood = devices.map(async (device, d) => {
        for (let b = 0; b < BATCHES_PER_DEVICE; b++) {
          const key = `faults-${d}-${b}-batch`;
          const windows = Array.from({ length: WINDOWS_PER_BATCH }, (_, w) =>
            makeWindow(`faults-${d}-${b}-${w}`, 'v1', d * 1000 + b * 10 + w),
          );
          const body = JSON.stringify({ idempotencyKey: key, windows });
          for (;;) {
            let response: Response;
            try {
              response = await fetch(`${server.url}/v1/metrics`, {
                method: 'POST',
                headers: {
                  'content-type': 'application/json',
                  authorization: `Bearer ${device.token}`,
                },
                body,
              });
            } catch (error) {
              // The server must still be there; a reset connection is retried like a 503.
              networkErrors++;
              if (!alive()) throw new Error(`the server process died: ${server.stderr()}`);
              if (networkErrors > 50) throw error;
              await wait(100);
              continue;
            }
            const text = await response.text();
            if (response.status === 200 || response.status === 201) {
              if (response.headers.get('idempotent-replayed') === 'true') replayed++;
              acknowledged.set(
                `${device.installId} ${key}`,
                windows.map((w) => w.windowId),
              );
              for (const m of milestones.filter((m) => acknowledged.size >= m.at)) {
                milestones.splice(milestones.indexOf(m), 1);
                m.resolve();
              }
              break;
            }
            if (response.status === 503 || response.status === 429) {
              const retryAfter = response.headers.get('retry-after');
              if (response.status === 503) {
                unavailable++;
                if (!retryAfter) unavailableWithoutRetryAfter++;
              }
              // As the protocol asks: wait what the server said, then send the same batch.
              await wait(1000 * Number(retryAfter ?? '1'));
              continue;
            }
            unexpected.push(`${response.status} ${text}`);
            return;
          }
        }
      });

      // A flood that fails (the server died, an unexpected answer) fails the test now, not
      // at the timeout: waiting for a milestone also waits for that.
      const floodDone = Promise.all(flood);
      floodDone.catch(() => {});
      const reached = (at: number) =>
        Promise.race([
          new Promise<void>((resolve) => {
            if (acknowledged.size >= at) resolve();
            else milestones.push({ at, resolve });
          }),
          floodDone.then(() => {
            throw new Error(`the flood ended before ${at} acknowledgements: ${unexpected}`);
          }),
        ]);

      const admin = new pg.Client({ connectionString: cluster.adminUrl });
      await admin.connect();
      const databaseName = new URL(databaseUrl).pathname.slice(1);
      let terminated = 0;
      try {
        // A quarter in: kill every backend the server holds, busy or idle, twice over so
        // that transactions in flight are among them.
        await reached(TOTAL / 4);
        for (let round = 0; round < 2; round++) {
          const { rows } = await admin.query<{ n: number }>(
            `select count(*)::int as n from (
               select pg_terminate_backend(pid) from pg_stat_activity
               where datname = $1 and pid <> pg_backend_pid()) killed`,
            [databaseName],
          );
          terminated += rows[0].n;
        }
      } finally {
        await admin.end();
      }
      expect(terminated).toBeGreaterThan(0);

      // Half way: restart PostgreSQL. While it is down the server is up and says so.
      await reached(TOTAL / 2);
      let down: Awaited<ReturnType<typeof health>> | undefined;
      await cluster.restart(async () => {
        down = await health();
      });
      expect(down?.status).toBe(503);
      expect(down?.body.error?.code).toBe('UNAVAILABLE');
      expect(Number(down?.retryAfter)).toBeGreaterThan(0);

      // Health recovers: the pool reconnects on its own.
      let recovered = await health();
      for (let attempt = 0; recovered.status !== 200 && attempt < 50; attempt++) {
        await wait(100);
        recovered = await health();
      }
      expect(recovered.status).toBe(200);

      await floodDone;
      expect(unexpected).toEqual([]);
      expect(alive()).toBe(true);
      expect(acknowledged.size).toBe(TOTAL);
      expect(unavailableWithoutRetryAfter).toBe(0);
      console.info(
        `db faults: ${terminated} backends terminated, ${unavailable} answers 503, ` +
          `${replayed} replays, ${networkErrors} network errors, ${TOTAL} batches acknowledged`,
      );

      // Exactly what was acknowledged is stored, each once (the keys are primary keys, so
      // "at most once" is the schema's; "at least once" and "nothing else" are checked here).
      const check = new pg.Client({ connectionString: databaseUrl });
      await check.connect();
      try {
        const batches = await check.query<{ install_id: string; idempotency_key: string }>(
          'select install_id, idempotency_key from metric_batches',
        );
        expect(batches.rows.map((r) => `${r.install_id} ${r.idempotency_key}`).sort()).toEqual(
          [...acknowledged.keys()].sort(),
        );
        const stored = await check.query<{ install_id: string; window_id: string; n: number }>(
          `select install_id, window_id, count(*)::int as n from metric_windows
           group by install_id, window_id`,
        );
        expect(stored.rows.every((r) => r.n === 1)).toBe(true);
        const expectedWindows = [...acknowledged].flatMap(([id, windows]) =>
          windows.map((w) => `${id.split(' ')[0]} ${w}`),
        );
        expect(stored.rows.map((r) => `${r.install_id} ${r.window_id}`).sort()).toEqual(
          expectedWindows.sort(),
        );
      } finally {
        await check.end();
      }
      expect(alive()).toBe(true);
    }, 240_000);
  });
}
