/**
 * The storage back-ends the shared server suite runs against. Each test group gets a fresh,
 * migrated database: PGlite from a migrated template (loading a dump is several times faster
 * than initdb), PostgreSQL as a new database on a throw-away cluster.
 */
import type { Database } from '../../../../server/db/database.ts';
import { migrate } from '../../../../server/db/migrations.ts';
import { openPglite } from '../../../../server/db/pglite.ts';
import { openPostgres } from '../../../../server/db/postgres.ts';
import type { RunningServer, ServerOptions } from '../../../../server/start.ts';
import { type PostgresCluster, startPostgresCluster } from './postgres_cluster.ts';

/** What the shared suite (suite.ts) hands the suites it includes: its database and server hooks. */
export interface SuiteHooks {
  useDatabase(backend: Backend): { db: Database };
  useServer(
    data: { db: Database },
    options?: ServerOptions,
  ): { server: RunningServer; db: Database };
}

export interface Backend {
  name: 'pglite' | 'postgres';
  setup(): Promise<void>;
  /** A new, empty, migrated database. The caller closes it. */
  freshDatabase(): Promise<Database>;
  teardown(): Promise<void>;
}

export function pgliteBackend(): Backend {
  let template: Blob | undefined;
  return {
    name: 'pglite',
    async setup() {
      const db = await openPglite();
      await migrate(db);
      template = await db.dump();
      await db.close();
    },
    async freshDatabase() {
      return openPglite(undefined, { loadDataDir: template });
    },
    async teardown() {},
  };
}

export function postgresBackend(binDir: string): Backend {
  let cluster: PostgresCluster | undefined;
  return {
    name: 'postgres',
    async setup() {
      cluster = await startPostgresCluster(binDir);
    },
    async freshDatabase() {
      const db = await openPostgres(await cluster!.createDatabase());
      await migrate(db);
      return db;
    },
    async teardown() {
      await cluster?.stop();
    },
  };
}
