/**
 * Push across server processes on PostgreSQL when the listening connection dies: two servers,
 * each on its own connections to one throw-away cluster (as two processes would be), with no
 * poll within the test's time. The watched server's listening backend is terminated; a change
 * made on the other server right after still reaches the watched server's event stream —
 * through a notification on the new connection, or the re-read the listener does when it is
 * back (notifications sent while it was gone are lost). And the loss was reported, once.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MANIFEST_CHANNEL } from '../../../server/db/migrations.ts';
import { openDatabase } from '../../../server/db/open.ts';
import { type RunningServer, startServer } from '../../../server/start.ts';
import {
  ADMIN_TOKEN,
  APP_KEY,
  fakeModel,
  openEvents,
  publishBytes,
  SIGNING_KEY,
} from './support/http.ts';
import {
  findPostgresBinaries,
  type PostgresCluster,
  startPostgresCluster,
} from './support/postgres_cluster.ts';

const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();

if ('missing' in binaries) {
  test(`PostgreSQL listen test NOT RUN: ${binaries.missing}`, () => {
    console.warn(`\n*** The PostgreSQL listen test did NOT run: ${binaries.missing}.\n`);
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else {
  describe('change notifications on PostgreSQL', { timeout: 60_000 }, () => {
    let cluster: PostgresCluster;
    let url: string;
    beforeAll(async () => {
      cluster = await startPostgresCluster(binaries.dir);
      url = await cluster.createDatabase();
    }, 120_000);
    afterAll(() => cluster?.stop(), 120_000);

    test('a notification reaches every listener on the database, with the new revision', async () => {
      const listening = await openDatabase({ databaseUrl: url });
      const writer = await openDatabase({ databaseUrl: url });
      try {
        const heard: string[][] = [[], []];
        let wake = () => {};
        const unlisten = await Promise.all(
          heard.map((list) =>
            listening.listen(MANIFEST_CHANNEL, {
              onNotify: (payload) => {
                list.push(payload);
                wake();
              },
            }),
          ),
        );
        // One connection serves every subscription of a Database.
        const { rows } = await writer.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
           where application_name = 'localfit-listen' and datname = current_database()`,
        );
        expect(rows[0].n).toBe(1);
        const both = new Promise<void>((resolve) => {
          wake = () => heard.every((l) => l.length > 0) && resolve();
        });
        const { rows: bumped } = await writer.query<{ revision: number }>(
          'update manifest_state set revision = revision + 1 where id = 1 returning revision',
        );
        await both;
        expect(heard).toEqual([[String(bumped[0].revision)], [String(bumped[0].revision)]]);
        for (const stop of unlisten) await stop();
      } finally {
        await listening.close();
        await writer.close();
      }
    });

    test('a change made while the listening connection is lost still reaches the streams', async () => {
      const faults: string[] = [];
      let faulted = () => {};
      const servers: RunningServer[] = [];
      const start = async (watch: boolean) => {
        const server = await startServer({
          databaseUrl: url,
          port: 0,
          adminToken: ADMIN_TOKEN,
          signingKey: SIGNING_KEY,
          appKey: APP_KEY,
          pollMs: 600_000,
          policy: { enabled: false },
          logError: (message) => {
            if (!watch) return;
            faults.push(message);
            faulted();
          },
        });
        servers.push(server);
        return server;
      };
      try {
        const watched = await start(true);
        const other = await start(false);
        const events = await openEvents(watched);
        try {
          const initial = (await events.next('manifest')).data as { revision: number };
          const lost = new Promise<void>((resolve) => {
            faulted = resolve;
          });
          const admin = new pg.Client({ connectionString: cluster.adminUrl });
          await admin.connect();
          try {
            const { rows } = await admin.query<{ n: number }>(
              `select count(*)::int as n from (
                 select pg_terminate_backend(pid) from pg_stat_activity
                 where application_name = 'localfit-listen' and datname = $1) killed`,
              [new URL(url).pathname.slice(1)],
            );
            expect(rows[0].n).toBe(2);
          } finally {
            await admin.end();
          }
          // Made at once, while the watched listener is down or coming back.
          await publishBytes(other, fakeModel(), 0.05);
          const pushed = (await events.next('manifest')).data as { revision: number };
          expect(pushed.revision).toBeGreaterThan(initial.revision);
          await lost;
          expect(faults).toEqual([
            expect.stringContaining('manifest change listener: the listening connection was lost'),
          ]);
        } finally {
          events.close();
        }
      } finally {
        for (const server of servers) await server.close();
      }
    });
  });
}
