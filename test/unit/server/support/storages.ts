/**
 * Real servers on real storage, each with its own data directory (where key files live):
 * PGlite in `<data dir>/pglite`, or a database on a throw-away PostgreSQL cluster shared by
 * several data directories (several hosts on one database). For the tests of what lives
 * outside the database: signing keys (key_store.test.ts) and revisions across a restore
 * (manifest_revision.test.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Database } from '../../../../server/db/database.ts';
import { openDatabase } from '../../../../server/db/open.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../../../server/start.ts';
import type { ManifestStateStore } from '../../../../src/rollout/manifest/client_options.ts';
import { ManifestClient } from '../../../../src/rollout/manifest/manifest_client.ts';
import { importManifestKeys } from '../../../../src/rollout/manifest/signature.ts';
import { ADMIN_TOKEN, APP_KEY } from './http.ts';
import { type PostgresCluster, startPostgresCluster } from './postgres_cluster.ts';

const run = promisify(execFile);

/** A PostgreSQL client tool next to the server's binaries, else the one on PATH. */
const tool = (binDir: string, name: string) =>
  binDir && existsSync(join(binDir, name)) ? join(binDir, name) : name;

export interface Storage {
  name: 'pglite' | 'postgres';
  /** A new database (and a data directory for it); its handle. */
  fresh(): Promise<StorageHandle>;
  teardown(): Promise<void>;
}

export interface StorageHandle {
  /** A new data directory on the same database: another host. */
  host(): Promise<string>;
  /** The first data directory. */
  dataDir: string;
  /** PostgreSQL's URL (what DATABASE_URL holds for the CLI). */
  databaseUrl?: string;
  /** Opens the database directly (the server stopped, for PGlite). */
  open(): Promise<Database>;
  /** A server on this database with this data directory (default the first). */
  start(options?: Partial<ServerOptions> & { dataDir?: string }): Promise<RunningServer>;
  /** A backup of the whole database, taken with the server stopped (PGlite) or running. */
  backup(): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

function serverOptions(dataDir: string, databaseUrl?: string): ServerOptions {
  return {
    port: 0,
    dataDir,
    ...(databaseUrl ? { databaseUrl } : {}),
    adminToken: ADMIN_TOKEN,
    appKey: APP_KEY,
    heartbeatMs: 60_000,
    pollMs: 60_000,
    logError: () => {},
  };
}

export function pgliteStorage(): Storage {
  return {
    name: 'pglite',
    async fresh() {
      const dirs: string[] = [];
      const dataDir = await mkdtemp(join(tmpdir(), 'localfit-keys-'));
      dirs.push(dataDir);
      return {
        dataDir,
        async host() {
          throw new Error('PGlite allows one process per database: no second host');
        },
        open: () => openDatabase({ pgliteDir: join(dataDir, 'pglite') }),
        start: (options = {}) => startServer({ ...serverOptions(dataDir), ...options }),
        // PGlite's files are the database: copy them (the server must be stopped).
        async backup() {
          const copy = `${dataDir}-backup-${dirs.length}`;
          dirs.push(copy);
          await cp(join(dataDir, 'pglite'), copy, { recursive: true });
          return async () => {
            await rm(join(dataDir, 'pglite'), { recursive: true, force: true });
            await cp(copy, join(dataDir, 'pglite'), { recursive: true });
          };
        },
        async close() {
          for (const dir of dirs) await rm(dir, { recursive: true, force: true });
        },
      };
    },
    async teardown() {},
  };
}

export function postgresStorage(binDir: string): Storage {
  let cluster: PostgresCluster | undefined;
  return {
    name: 'postgres',
    async fresh() {
      cluster ??= await startPostgresCluster(binDir);
      const url = await cluster.createDatabase();
      const dirs: string[] = [];
      const host = async () => {
        const dir = await mkdtemp(join(tmpdir(), 'localfit-keys-'));
        dirs.push(dir);
        return dir;
      };
      const dataDir = await host();
      return {
        dataDir,
        databaseUrl: url,
        host,
        open: () => openDatabase({ databaseUrl: url }),
        start: (options = {}) =>
          startServer({ ...serverOptions(dataDir, url), ...options, databaseUrl: url }),
        // pg_dump and pg_restore --clean, as an operator restores a backup.
        async backup() {
          const file = join(dataDir, `backup-${dirs.length}-${Date.now()}.dump`);
          await run(tool(binDir, 'pg_dump'), ['--format=custom', `--file=${file}`, url]);
          return async () => {
            await run(tool(binDir, 'pg_restore'), [
              '--clean',
              '--if-exists',
              '--single-transaction',
              `--dbname=${url}`,
              file,
            ]);
          };
        },
        async close() {
          for (const dir of dirs) await rm(dir, { recursive: true, force: true });
        },
      };
    },
    async teardown() {
      await cluster?.stop();
    },
  };
}

/** A device's manifest client (real HTTP), built with these raw public keys. */
export async function manifestDevice(
  url: string,
  keys: string[],
  state?: ManifestStateStore,
): Promise<{
  client: ManifestClient;
  refused: string[];
}> {
  const refused: string[] = [];
  const client = new ManifestClient({
    url,
    verifier: await importManifestKeys(keys),
    onManifest: () => {},
    onRefused: (reason) => refused.push(reason),
    events: false,
    ...(state ? { state } : {}),
  });
  return { client, refused };
}
