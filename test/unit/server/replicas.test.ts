/**
 * Three server replicas — separate processes, as behind a load balancer — on one throw-away
 * PostgreSQL on 127.0.0.1, sharing its signing key, admin token and app key. Their fallback
 * poll is far longer than the test, so whatever crosses from one replica to another goes
 * through the database. The properties:
 *
 * - a change made through any replica's admin API reaches the event streams on all three
 *   (the database's NOTIFY, server/events.ts), and every replica pushes the same manifest
 *   (same ETag) for it;
 * - ingest spread over all three stores every acknowledged window exactly once;
 * - one replica killed outright (SIGKILL) in the middle of the flood loses nothing that was
 *   acknowledged: devices retry the same batch (same idempotency key) on another replica,
 *   which stores it or replays the stored answer; its apps' event streams end, they reconnect
 *   to the others and hear the next change there.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RegisterResponse } from '../../../src/protocol/index.ts';
import {
  ADMIN_TOKEN,
  APP_KEY,
  admin,
  fakeModel,
  makeWindow,
  publishBytes,
  register,
  SIGNING_KEY,
} from './support/http.ts';
import {
  findPostgresBinaries,
  type PostgresCluster,
  startPostgresCluster,
} from './support/postgres_cluster.ts';
import { ManifestWatcher, type Replica, startReplicas } from './support/replicas.ts';

const REPLICAS = 3;
const ROUNDS = 6;
const DEVICES = 12;
const BATCHES_PER_DEVICE = 15;
const WINDOWS_PER_BATCH = 4;
const TOTAL = DEVICES * BATCHES_PER_DEVICE;

const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

if ('missing' in binaries) {
  test(`replica test NOT RUN: ${binaries.missing}`, () => {
    console.warn(`\n*** The replica test did NOT run: ${binaries.missing}.\n`);
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else {
  describe('three replicas on one PostgreSQL', { timeout: 60_000 }, () => {
    let cluster: PostgresCluster;
    let databaseUrl: string;
    let replicas: Replica[] = [];
    const watchers: ManifestWatcher[] = [];
    let versionId: string | undefined;
    let weight = 0.05;

    /** A ramp (or the first publish) through `via`; resolves once it is acknowledged. */
    const change = async (via: Replica) => {
      if (versionId === undefined) {
        versionId = await publishBytes(via, fakeModel(), weight);
        return;
      }
      weight = Math.round((weight + 0.01) * 100) / 100;
      const reply = await admin(via, 'POST', `/versions/${versionId}/ramp`, { weight });
      expect(reply.status).toBe(200);
    };

    beforeAll(async () => {
      cluster = await startPostgresCluster(binaries.dir);
      databaseUrl = await cluster.createDatabase();
      replicas = await startReplicas(REPLICAS, {
        databaseUrl,
        signingKey: SIGNING_KEY,
        adminToken: ADMIN_TOKEN,
        appKey: APP_KEY,
        pollMs: 600_000,
        heartbeatMs: 600_000,
      });
    }, 120_000);

    afterAll(async () => {
      for (const watcher of watchers) watcher.close();
      // Graceful where alive: a replica that cannot shut down cleanly fails here.
      await Promise.all(replicas.map((r) => r.stop()));
      await cluster?.stop();
    }, 120_000);

    test('a change through one replica reaches the event streams on all three', async () => {
      for (const replica of replicas)
        for (let i = 0; i < 2; i++) watchers.push(await ManifestWatcher.open(replica.url));
      const same: number[] = [];
      const other: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const via = replicas[round % REPLICAS];
        const before = watchers.map((w) => w.latest.revision);
        const started = performance.now();
        await change(via);
        const heard = await Promise.all(watchers.map((w, i) => w.after(before[i])));
        // One manifest for the change, the same on every replica.
        expect(new Set(heard.map((a) => a.etag)).size).toBe(1);
        expect(new Set(heard.map((a) => a.revision)).size).toBe(1);
        for (const [i, arrival] of heard.entries())
          (watchers[i].url === via.url ? same : other).push(arrival.at - started);
      }
      console.info(
        `replicas: admin change → SSE, ${ROUNDS} changes: same replica p50 ${median(same).toFixed(0)} ms ` +
          `(max ${Math.max(...same).toFixed(0)}), other replicas p50 ${median(other).toFixed(0)} ms ` +
          `(max ${Math.max(...other).toFixed(0)})`,
      );
    });

    test('ingest through all three stores every acknowledged window once, through a SIGKILL', async () => {
      const devices: RegisterResponse[] = [];
      for (let d = 0; d < DEVICES; d++) devices.push(await register(replicas[d % REPLICAS]));

      const acknowledged = new Map<string, string[]>(); // `${installId} ${key}` → window ids
      const ackedBy = new Array<number>(REPLICAS).fill(0);
      const unexpected: string[] = [];
      let movedOn = 0;
      let replayed = 0;
      const killedIndex = REPLICAS - 1;
      let kill: Promise<void> | undefined;
      let killedAt = -1;
      const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

      const flood = devices.map(async (device, d) => {
        // What this device knows of the replicas: those that failed it are not tried again.
        const usable = replicas.map(() => true);
        let next = d % REPLICAS;
        for (let b = 0; b < BATCHES_PER_DEVICE; b++) {
          const key = `replicas-${d}-${b}`;
          const windows = Array.from({ length: WINDOWS_PER_BATCH }, (_, w) =>
            makeWindow(`replicas-${d}-${b}-${w}`, 'v1', d * 1000 + b * 10 + w),
          );
          const body = JSON.stringify({ idempotencyKey: key, windows });
          for (let attempt = 0; ; attempt++) {
            if (attempt > 20) throw new Error(`batch ${key} was never acknowledged`);
            while (!usable[next]) next = (next + 1) % REPLICAS;
            const target = next;
            next = (next + 1) % REPLICAS; // spread the next batch over the replicas
            let response: Response;
            try {
              response = await fetch(`${replicas[target].url}/v1/metrics`, {
                method: 'POST',
                headers: {
                  'content-type': 'application/json',
                  authorization: `Bearer ${device.token}`,
                },
                body,
              });
            } catch (error) {
              // Only the killed replica may fail a device; then it moves on, same batch.
              if (target !== killedIndex || kill === undefined) throw error;
              usable[target] = false;
              movedOn++;
              continue;
            }
            const text = await response.text();
            if (response.status === 200 || response.status === 201) {
              if (response.headers.get('idempotent-replayed') === 'true') replayed++;
              acknowledged.set(
                `${device.installId} ${key}`,
                windows.map((w) => w.windowId),
              );
              ackedBy[target]++;
              // A third in, the last replica dies outright, with requests in flight.
              if (acknowledged.size >= TOTAL / 3 && kill === undefined) {
                killedAt = acknowledged.size;
                kill = replicas[killedIndex].kill();
              }
              break;
            }
            if (response.status === 503 || response.status === 429) {
              await wait(1000 * Number(response.headers.get('retry-after') ?? '1'));
              continue;
            }
            unexpected.push(`${response.status} ${text}`);
            return;
          }
        }
      });
      await Promise.all(flood);
      await kill;
      expect(unexpected).toEqual([]);
      expect(killedAt).toBeGreaterThan(0);
      expect(replicas[killedIndex].alive).toBe(false);
      expect(acknowledged.size).toBe(TOTAL);
      // All three took part before the kill, the survivors after it.
      expect(ackedBy.every((n) => n > 0)).toBe(true);
      console.info(
        `replicas: ${TOTAL} batches acknowledged (per replica ${ackedBy.join('/')}), replica ` +
          `${killedIndex} killed after ${killedAt}; ${movedOn} requests moved on, ${replayed} replays`,
      );

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
        const expected = [...acknowledged].flatMap(([id, windows]) =>
          windows.map((w) => `${id.split(' ')[0]} ${w}`),
        );
        expect(stored.rows.map((r) => `${r.install_id} ${r.window_id}`).sort()).toEqual(
          expected.sort(),
        );
      } finally {
        await check.end();
      }

      // The apps on the killed replica lost their streams; they reconnect to the survivors
      // (as EventSource does after `retry`) and hear the next change there.
      const orphans = watchers.filter((w) => w.url === replicas[killedIndex].url);
      expect(orphans.length).toBeGreaterThan(0);
      await Promise.all(orphans.map((w) => w.ended));
      const moved: ManifestWatcher[] = [];
      for (const [i, orphan] of orphans.entries()) {
        const watcher = await ManifestWatcher.open(replicas[i % killedIndex].url);
        // What it missed while disconnected is what it gets first.
        expect(watcher.latest.revision).toBeGreaterThanOrEqual(orphan.latest.revision);
        moved.push(watcher);
      }
      watchers.push(...moved);
      const live = watchers.filter((w) => w.url !== replicas[killedIndex].url);
      const before = live.map((w) => w.latest.revision);
      await change(replicas[0]);
      const heard = await Promise.all(live.map((w, i) => w.after(before[i])));
      expect(new Set(heard.map((a) => a.etag)).size).toBe(1);
    });
  });
}
