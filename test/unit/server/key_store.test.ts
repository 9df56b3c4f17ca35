// The manifest signing key lives outside the database (server/key_store.ts), on PGlite in a
// data directory and on a real PostgreSQL server shared by several data directories (hosts):
// a database from before keeps its key (moved to a 0600 file, so every device's pinned public
// key still verifies), a key file others may read is refused, LOCALFIT_SIGNING_KEY and the
// file never disagree silently, and a rotation works with file-held keys across hosts.
import { chmod, copyFile, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCli } from '../../../server/cli/commands.ts';
import {
  LEGACY_NEXT_SIGNING_KEY_SETTING,
  LEGACY_SIGNING_KEY_SETTING,
  SigningKeyError,
} from '../../../server/key_store.ts';
import { generateSigningKey, loadSigningKey, rawPublicKey } from '../../../server/signing.ts';
import type { RunningServer } from '../../../server/start.ts';
import { manifestKeyId, SIGNATURE_HEADER } from '../../../src/protocol/index.ts';
import { findPostgresBinaries } from './support/postgres_cluster.ts';
import {
  manifestDevice,
  pgliteStorage,
  postgresStorage,
  type Storage,
  type StorageHandle,
} from './support/storages.ts';

const TIMEOUT = 120_000;
const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();

const raw = (pkcs8: string) => rawPublicKey(loadSigningKey(pkcs8));
const mode = async (path: string) => (await stat(path)).mode & 0o777;

async function refusal(start: Promise<RunningServer>): Promise<SigningKeyError> {
  const error = await start.then(
    async (server) => {
      await server.close();
      throw new Error('the server started');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SigningKeyError);
  return error as SigningKeyError;
}

async function manifestOf(server: RunningServer) {
  const response = await fetch(`${server.url}/v1/manifest`);
  return {
    keyId: response.headers.get('localfit-signature-key'),
    signature: response.headers.get(SIGNATURE_HEADER),
    text: await response.text(),
  };
}

function defineKeyStoreSuite(storage: Storage) {
  describe(`signing keys outside the database (${storage.name})`, { timeout: TIMEOUT }, () => {
    const handles: StorageHandle[] = [];
    const servers: RunningServer[] = [];
    const fresh = async () => {
      const handle = await storage.fresh();
      handles.push(handle);
      return handle;
    };
    const start = async (h: StorageHandle, options: Parameters<StorageHandle['start']>[0] = {}) => {
      const server = await h.start(options);
      servers.push(server);
      return server;
    };
    const stopAll = async () => {
      for (const server of servers.splice(0)) await server.close();
    };
    const cli = async (h: StorageHandle, dataDir: string, ...argv: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli([...argv, '--data', dataDir], {
        out: (l) => out.push(l),
        err: (l) => err.push(l),
        env: h.databaseUrl ? { DATABASE_URL: h.databaseUrl } : {},
      });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };
    afterAll(async () => {
      await stopAll();
      for (const h of handles) await h.close();
      await storage.teardown();
    }, TIMEOUT);

    test('a database from before: its key moves to a 0600 file, and pinned devices still verify', async () => {
      const h = await fresh();
      const legacy = generateSigningKey();
      const legacyNext = generateSigningKey();
      const db = await h.open();
      for (const [name, value] of [
        [LEGACY_SIGNING_KEY_SETTING, legacy],
        [LEGACY_NEXT_SIGNING_KEY_SETTING, legacyNext],
      ])
        await db.query('insert into server_settings (name, value) values ($1, $2)', [name, value]);
      await db.close();

      const server = await start(h);
      expect(server.publicKey.raw).toBe(raw(legacy));
      expect(server.publicKey.next?.raw).toBe(raw(legacyNext));
      expect(server.signingKeySource).toBe('file');
      const file = join(h.dataDir, 'signing-key');
      expect(server.signingKeyFile).toBe(file);
      expect((await readFile(file, 'utf8')).trim()).toBe(legacy);
      expect((await readFile(`${file}.next`, 'utf8')).trim()).toBe(legacyNext);
      expect(await mode(file)).toBe(0o600);
      expect(await mode(`${file}.next`)).toBe(0o600);
      // The database keeps public halves only.
      const { rows } = await server.database.query<{ name: string; value: string }>(
        'select name, value from server_settings order by name',
      );
      const names = rows.map((r) => r.name);
      expect(names).not.toContain(LEGACY_SIGNING_KEY_SETTING);
      expect(names).not.toContain(LEGACY_NEXT_SIGNING_KEY_SETTING);
      for (const row of rows) expect(row.value).not.toContain(legacy.slice(20, 60));
      expect(rows.find((r) => r.name === 'signing_public_key')?.value).toBe(raw(legacy));

      // A device built with the old key follows the server as before.
      const device = await manifestDevice(server.url, [raw(legacy)]);
      expect((await device.client.start()).kind).toBe('accepted');
      device.client.stop();
      expect((await manifestOf(server)).keyId).toBe(manifestKeyId(raw(legacy)));
      const before = await manifestOf(server);

      // Again: nothing left to move, the same key from the file, the same bytes.
      await stopAll();
      const again = await start(h);
      expect(again.publicKey.raw).toBe(raw(legacy));
      expect(await manifestOf(again)).toEqual(before);
      await stopAll();
    });

    test('a key file others may read is refused, saying how to fix it; 0600 starts', async () => {
      const h = await fresh();
      await start(h);
      const file = join(h.dataDir, 'signing-key');
      expect(await mode(file)).toBe(0o600);
      await stopAll();

      await chmod(file, 0o644);
      const error = await refusal(h.start());
      expect(error.code).toBe('KEY_FILE_MODE');
      expect(error.message).toContain(`chmod 600 ${file}`);
      expect(error.message).toContain('mode 0644');
      // The CLI says the same and exits 1.
      const served = await cli(h, h.dataDir, 'serve', '--port', '0');
      expect(served.code).toBe(1);
      expect(served.err).toMatch(/^refused: KEY_FILE_MODE: .*chmod 600/);

      await chmod(file, 0o640);
      expect((await refusal(h.start())).code).toBe('KEY_FILE_MODE');
      await chmod(file, 0o600);
      expect((await start(h)).signingKeySource).toBe('file');
      await stopAll();
    });

    test('LOCALFIT_SIGNING_KEY: the same key as the file wins; a different one is refused', async () => {
      const h = await fresh();
      const first = await start(h);
      const file = join(h.dataDir, 'signing-key');
      const key = (await readFile(file, 'utf8')).trim();
      const before = await manifestOf(first);
      await stopAll();

      const configured = await start(h, { signingKey: key });
      expect(configured.signingKeySource).toBe('configured');
      expect(await manifestOf(configured)).toEqual(before);
      await stopAll();

      const other = generateSigningKey();
      const conflict = await refusal(h.start({ signingKey: other }));
      expect(conflict.code).toBe('KEY_CONFLICT');
      expect(conflict.message).toContain(manifestKeyId(raw(other)));
      expect(conflict.message).toContain(manifestKeyId(raw(key)));
      expect(conflict.message).toContain(file);

      // Only the environment, with a key that is not the database's: refused too.
      await rename(file, `${file}.moved`);
      const mismatch = await refusal(h.start({ signingKey: other }));
      expect(mismatch.code).toBe('KEY_MISMATCH');
      expect(mismatch.message).toContain(
        `is not the one this database's manifests are signed with, ${manifestKeyId(raw(key))}`,
      );
      // No key at all: never a new one for a database that has one.
      const none = await refusal(h.start());
      expect(none.code).toBe('NO_SIGNING_KEY');
      expect(none.message).toContain(`signed by key ${manifestKeyId(raw(key))}`);
      expect(none.message).toContain(`to ${file} (chmod 600)`);
      expect((await refusal(h.start({ signingKey: 'not a key' }))).code).toBe('BAD_SIGNING_KEY');

      // The environment alone, with the right key.
      const fromEnv = await start(h, { signingKey: key });
      expect(await manifestOf(fromEnv)).toEqual(before);
      await stopAll();
      await rename(`${file}.moved`, file);
    });

    test('rotation with file-held keys: prepare, activate, and every host signs with the new key', async () => {
      const h = await fresh();
      const a = await start(h);
      const oldRaw = a.publicKey.raw;
      // A second host on the same PostgreSQL database has a copy of the key.
      const otherHost = storage.name === 'postgres' ? await h.host() : undefined;
      if (otherHost) {
        await copyFile(join(h.dataDir, 'signing-key'), join(otherHost, 'signing-key'));
        await chmod(join(otherHost, 'signing-key'), 0o600);
        const b = await start(h, { dataDir: otherHost });
        expect(await manifestOf(b)).toEqual(await manifestOf(a));
      }
      await stopAll();

      const prepared = await cli(h, h.dataDir, 'rotate-key', 'prepare');
      expect(prepared.code).toBe(0);
      const nextFile = join(h.dataDir, 'signing-key.next');
      expect(await mode(nextFile)).toBe(0o600);
      const nextRaw = raw((await readFile(nextFile, 'utf8')).trim());
      expect(prepared.out).toContain(nextRaw);
      expect(prepared.out).toContain(`in ${nextFile}`);
      if (otherHost) {
        await copyFile(nextFile, join(otherHost, 'signing-key.next'));
        await chmod(join(otherHost, 'signing-key.next'), 0o600);
      }
      const hosts = [h.dataDir, ...(otherHost ? [otherHost] : [])];
      for (const dataDir of hosts) {
        const server = await start(h, { dataDir });
        expect(server.publicKey).toMatchObject({ raw: oldRaw, next: { raw: nextRaw } });
        expect((await manifestOf(server)).keyId).toBe(manifestKeyId(oldRaw));
      }
      await stopAll();

      const activated = await cli(h, h.dataDir, 'rotate-key', 'activate');
      expect(activated.code).toBe(0);
      expect(raw((await readFile(join(h.dataDir, 'signing-key'), 'utf8')).trim())).toBe(nextRaw);
      await expect(stat(nextFile)).rejects.toMatchObject({ code: 'ENOENT' });
      const signed: string[] = [];
      for (const dataDir of hosts) {
        // The other host takes its signing-key.next, as the database now names it.
        const server = await start(h, { dataDir });
        expect(server.publicKey.raw).toBe(nextRaw);
        expect(server.publicKey.next).toBeUndefined();
        const m = await manifestOf(server);
        expect(m.keyId).toBe(manifestKeyId(nextRaw));
        signed.push(JSON.stringify(m));
        const both = await manifestDevice(server.url, [oldRaw, nextRaw]);
        expect((await both.client.start()).kind).toBe('accepted');
        both.client.stop();
        const old = await manifestDevice(server.url, [oldRaw]);
        expect(await old.client.start()).toMatchObject({ kind: 'refused' });
        expect(old.refused[0]).toMatch(/^unknown_key: /);
        old.client.stop();
      }
      expect(new Set(signed).size).toBe(1);
      for (const dataDir of hosts)
        expect(raw((await readFile(join(dataDir, 'signing-key'), 'utf8')).trim())).toBe(nextRaw);
      await stopAll();
    });
  });
}

defineKeyStoreSuite(pgliteStorage());
if ('missing' in binaries) {
  test(`key store on PostgreSQL NOT RUN: ${binaries.missing}`, () => {
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else defineKeyStoreSuite(postgresStorage(binaries.dir));
