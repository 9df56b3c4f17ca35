/**
 * A throw-away PostgreSQL cluster for tests: initdb into a temp directory, start it on a free
 * port on 127.0.0.1 (trust auth, no unix socket outside the temp dir), stop and delete it
 * after. initdb refuses to run as root, so as root the cluster belongs to the `postgres` user.
 *
 * `LOCALFIT_TEST_DATABASE_URL` (a server you run yourself) skips all that.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PostgresCluster {
  /** URL of the cluster's `postgres` database. */
  adminUrl: string;
  /** A new, empty database on the cluster; its URL. */
  createDatabase(): Promise<string>;
  /**
   * Stops PostgreSQL (fast shutdown: open connections are terminated, committed work is
   * kept), runs `whileDown` while nothing listens, and starts it again on the same port.
   * Only for a cluster this helper started.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/** Where initdb and pg_ctl are, or why we cannot start a cluster. */
export async function findPostgresBinaries(): Promise<{ dir: string } | { missing: string }> {
  const candidates = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  try {
    const versions = await readdir('/usr/lib/postgresql');
    for (const version of versions.sort().reverse())
      candidates.push(join('/usr/lib/postgresql', version, 'bin'));
  } catch {
    // not a Debian-style install
  }
  for (const dir of candidates)
    if (['initdb', 'pg_ctl', 'postgres'].every((bin) => existsSync(join(dir, bin)))) return { dir };
  return {
    missing: `initdb, pg_ctl and postgres were not found on PATH or in /usr/lib/postgresql/*/bin`,
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const uid = Number((await run('id', ['-u', name])).stdout.trim());
  const gid = Number((await run('id', ['-g', name])).stdout.trim());
  return { uid, gid };
}

let databaseCounter = 0;

function clusterFor(
  adminUrl: string,
  stop: () => Promise<void>,
  restart: (whileDown?: () => Promise<void>) => Promise<void>,
): PostgresCluster {
  return {
    restart,
    adminUrl,
    async createDatabase() {
      const name = `localfit_test_${process.pid}_${Date.now()}_${databaseCounter++}`;
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`create database ${name}`);
      } finally {
        await client.end();
      }
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    stop,
  };
}

/**
 * Tests run without durability (fsync, synchronous_commit and full_page_writes off): nothing
 * they check depends on surviving a power cut, and commits then cost no disk flush. A
 * benchmark of durable storage asks for `durable` (all three on, PostgreSQL's defaults).
 */
export interface ClusterOptions {
  durable?: boolean;
  /** More server settings, `name=value` (e.g. shared_preload_libraries for diagnostics). */
  settings?: string[];
}

export async function startPostgresCluster(
  binDir: string,
  options: ClusterOptions = {},
): Promise<PostgresCluster> {
  const external = process.env.LOCALFIT_TEST_DATABASE_URL;
  if (external)
    return clusterFor(
      external,
      async () => {},
      async () => {
        throw new Error('LOCALFIT_TEST_DATABASE_URL is a server this helper cannot restart');
      },
    );

  const asRoot = process.getuid?.() === 0;
  const root = await mkdtemp(join(tmpdir(), 'localfit-pg-'));
  const dataDir = join(root, 'data');
  const asOwner = async (bin: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(binDir, bin), ...args])
      : run(join(binDir, bin), args);
  if (asRoot) {
    const { uid, gid } = await userIds('postgres');
    await chown(root, uid, gid);
  }
  await chmod(root, 0o700);
  const port = await freePort();
  await asOwner('initdb', [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--no-sync',
  ]);
  // Durable: PostgreSQL's defaults, left off the command line so that `alter system` and a
  // reload can still change them (command-line settings would override it).
  const settings = [
    `-p ${port}`,
    `-c listen_addresses=127.0.0.1`,
    `-c unix_socket_directories=${root}`,
    ...(options.durable
      ? []
      : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
    '-c max_connections=100',
    ...(options.settings ?? []).map((setting) => `-c ${setting}`),
  ].join(' ');
  const start = () =>
    asOwner('pg_ctl', ['-D', dataDir, '-o', settings, '-l', join(root, 'log'), '-w', 'start']);
  await start();
  const stop = async () => {
    await asOwner('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => {});
    await rm(root, { recursive: true, force: true });
  };
  const restart = async (whileDown?: () => Promise<void>) => {
    await asOwner('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
    try {
      await whileDown?.();
    } finally {
      await start();
    }
  };
  return clusterFor(`postgres://postgres@127.0.0.1:${port}/postgres`, stop, restart);
}
