/**
 * The server's data directory (`--data DIR`, default `.localfit-server/`):
 *
 *   pglite/        the embedded database (when there is no DATABASE_URL)
 *   admin-token    the generated admin token (mode 0600), if none was configured
 *   signing-key    the manifest signing key, base64 PKCS#8 (mode 0600; key_store.ts), unless
 *                  LOCALFIT_SIGNING_KEY holds it
 *   signing-key.next  the prepared next key during a rotation (key_rotation.ts)
 *   server.json    where the running server listens, so the CLI can find it
 *   lock           the pid of the process that owns pglite/ (PGlite allows one process)
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const DEFAULT_DATA_DIR = '.localfit-server';

export interface DataDir {
  root: string;
  pglite: string;
  adminToken: string;
  signingKey: string;
  nextSigningKey: string;
  serverInfo: string;
  lock: string;
}

export function dataDirPaths(dir: string): DataDir {
  const root = resolve(dir);
  return {
    root,
    pglite: join(root, 'pglite'),
    adminToken: join(root, 'admin-token'),
    signingKey: join(root, 'signing-key'),
    nextSigningKey: join(root, 'signing-key.next'),
    serverInfo: join(root, 'server.json'),
    lock: join(root, 'lock'),
  };
}

export async function ensureDataDir(dir: string): Promise<DataDir> {
  const paths = dataDirPaths(dir);
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  return paths;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the directory's lock for this process; throws if another live process holds it. A
 * lock left by a dead process is taken over. Returns the release function.
 */
export function lockDataDir(paths: DataDir): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(paths.lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(paths.lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(paths.lock, 'utf8').trim());
      // Our own pid counts too: two PGlite instances on one directory corrupt it either way.
      if (Number.isInteger(pid) && pid > 0 && alive(pid))
        throw new Error(
          `${paths.root} is in use by process ${pid} (a running server?). Stop it, or run admin commands against it with --server.`,
        );
      rmSync(paths.lock, { force: true });
    }
  }
  throw new Error(`could not lock ${paths.root}`);
}

export async function readAdminTokenFile(paths: DataDir): Promise<string | undefined> {
  try {
    return (await readFile(paths.adminToken, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function writeAdminTokenFile(paths: DataDir, token: string): Promise<void> {
  await writeFile(paths.adminToken, `${token}\n`, { mode: 0o600 });
}

export interface ServerInfo {
  url: string;
  pid: number;
  storage: 'pglite' | 'postgres';
}

export async function writeServerInfo(paths: DataDir, info: ServerInfo): Promise<void> {
  await writeFile(paths.serverInfo, `${JSON.stringify(info, null, 2)}\n`);
}

export async function readServerInfo(paths: DataDir): Promise<ServerInfo | undefined> {
  try {
    const info = JSON.parse(await readFile(paths.serverInfo, 'utf8')) as ServerInfo;
    return typeof info.url === 'string' && typeof info.pid === 'number' && alive(info.pid)
      ? info
      : undefined;
  } catch {
    return undefined;
  }
}

export async function removeServerInfo(paths: DataDir): Promise<void> {
  await rm(paths.serverInfo, { force: true });
}
