/**
 * Where the manifest signing keys live: outside the database. Whoever holds the private key can
 * sign manifests every device runs, so it must not be readable by everyone who can read the
 * database or a backup of it (README "Threat model"). The database keeps only the public
 * halves, which every process checks its own key against.
 *
 * A process gets its key from, in order:
 *
 * 1. the environment, `LOCALFIT_SIGNING_KEY` (base64 PKCS#8; `startServer({ signingKey })`);
 * 2. the file `<data dir>/signing-key` (the same text), which must not be readable by group
 *    or others (mode 0600 or stricter): a looser file is refused at start (`KEY_FILE_MODE`);
 * 3. none: on a database that has no key yet, one is made and written to that file (0600).
 *    `memory: true` servers (tests) keep theirs in memory. A database that already has a key
 *    is never given another: the process refuses to start (`NO_SIGNING_KEY`), saying where to
 *    copy it from.
 *
 * Both set and different: refused (`KEY_CONFLICT`), never a silent pick. A key that is not the
 * database's (`server_settings.signing_public_key`) is refused too (`KEY_MISMATCH`): every
 * process must sign with the key devices are built with. The exception is the second step of
 * a rotation: a process whose `signing-key.next` is what the database now names takes it.
 *
 * Databases from before keys moved out kept the private keys in `server_settings`. The first
 * start moves each to its file (written, synced, then deleted from the database, in one
 * transaction holding the row, so concurrent starts move it once) and keeps its public half;
 * the key and so every device's pinned public key stay the same. Old backups still hold the
 * key: server/README.md, "Where the signing key lives", says what operators do about that.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CodedError, manifestKeyId } from '../src/protocol/index.ts';
import type { DataDir } from './data_dir.ts';
import type { Database, Queryable } from './db/database.ts';
import { generateSigningKey, loadSigningKey, rawPublicKey, type SigningKey } from './signing.ts';
import { getOrCreateSetting, getSetting } from './store/settings.ts';

/** The environment variables the CLI reads (base64 PKCS#8, like the key files). */
export const SIGNING_KEY_ENV = 'LOCALFIT_SIGNING_KEY';
export const NEXT_SIGNING_KEY_ENV = 'LOCALFIT_NEXT_SIGNING_KEY';

/** Public halves (raw, base64) in `server_settings`: what every process checks against. */
export const SIGNING_PUBLIC_SETTING = 'signing_public_key';
export const NEXT_SIGNING_PUBLIC_SETTING = 'next_signing_public_key';

/** Where databases from before this module kept the private keys; moved out at start. */
export const LEGACY_SIGNING_KEY_SETTING = 'signing_key_ed25519_pkcs8';
export const LEGACY_NEXT_SIGNING_KEY_SETTING = 'next_signing_key_ed25519_pkcs8';

export type SigningKeyErrorCode =
  /** The key file may be read by group or others. */
  | 'KEY_FILE_MODE'
  /** Not a base64 PKCS#8 Ed25519 private key. */
  | 'BAD_SIGNING_KEY'
  /** The environment and the file hold different keys. */
  | 'KEY_CONFLICT'
  /** This process's key is not the one the database's manifests are signed with. */
  | 'KEY_MISMATCH'
  /** No key here, and the database already has one (or there is nowhere to keep a new one). */
  | 'NO_SIGNING_KEY';

/** A start refused for the signing key; the message says how to fix it. */
export class SigningKeyError extends CodedError<SigningKeyErrorCode> {
  override readonly name = 'SigningKeyError';
}

export interface KeyPlaces {
  /** The data directory whose `signing-key` / `signing-key.next` files hold keys. */
  dataDir?: DataDir;
  /** The active key as configured (LOCALFIT_SIGNING_KEY); wins over the file. */
  signingKey?: string;
  /** The next key as configured (LOCALFIT_NEXT_SIGNING_KEY), for `rotate-key`. */
  nextSigningKey?: string;
  /** No file and no key configured: make one and keep it in memory (`memory: true` only). */
  ephemeral?: boolean;
}

export type KeySource = 'configured' | 'file' | 'generated' | 'memory';

export interface LoadedKey {
  key: SigningKey;
  source: KeySource;
  /** The file it came from or went to. */
  file?: string;
}

const idOf = (raw: string) => manifestKeyId(raw);
const keyId = (key: SigningKey) => idOf(rawPublicKey(key));

function parseKey(text: string, where: string): SigningKey {
  try {
    return loadSigningKey(text);
  } catch (error) {
    throw new SigningKeyError(
      'BAD_SIGNING_KEY',
      `${where} is not a base64 PKCS#8 Ed25519 private key (${(error as Error).message}); restore the key that was there, or remove it to have one made on a fresh database`,
    );
  }
}

/** The key in `path`, undefined if there is no such file; refuses a file others may read. */
export async function readKeyFile(path: string): Promise<SigningKey | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    // POSIX modes only mean something off Windows (there, ACLs protect the file).
    if (process.platform !== 'win32') {
      const { mode } = await handle.stat();
      if ((mode & 0o077) !== 0)
        throw new SigningKeyError(
          'KEY_FILE_MODE',
          `${path} (the manifest signing key) is readable by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): run \`chmod 600 ${path}\`, and if others could read it, rotate the key (server/README.md, "Rotating the signing key")`,
        );
    }
    return parseKey(await handle.readFile('utf8'), path);
  } finally {
    await handle.close();
  }
}

/**
 * Writes a key to a new file, mode 0600, and syncs it and its directory before returning: the
 * caller may then delete the only other copy. Throws EEXIST if the file exists.
 */
export async function writeKeyFile(path: string, pkcs8Base64: string): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.writeFile(`${pkcs8Base64}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDirectory(dirname(path));
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not every platform syncs a directory (Windows); the file itself is synced.
  }
}

/** Replaces `to` with `from` (a rotation's second step), durably. */
export async function replaceKeyFile(from: string, to: string): Promise<void> {
  await rename(from, to);
  await syncDirectory(dirname(to));
}

export async function removeKeyFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * Moves keys a database from before this module holds in `server_settings` out of it: to the
 * configured key if it is the same one, else to the data directory's file. Idempotent; a key
 * already moved is not looked at again.
 */
export async function moveLegacyKeys(db: Database, places: KeyPlaces): Promise<void> {
  const roles = [
    {
      setting: LEGACY_SIGNING_KEY_SETTING,
      publicSetting: SIGNING_PUBLIC_SETTING,
      configured: places.signingKey,
      env: SIGNING_KEY_ENV,
      file: places.dataDir?.signingKey,
    },
    {
      setting: LEGACY_NEXT_SIGNING_KEY_SETTING,
      publicSetting: NEXT_SIGNING_PUBLIC_SETTING,
      configured: places.nextSigningKey,
      env: NEXT_SIGNING_KEY_ENV,
      file: places.dataDir?.nextSigningKey,
    },
  ];
  for (const role of roles) {
    // Cheap check first: after the move, every start reads one absent row and goes on.
    if ((await getSetting(db, role.setting)) === undefined) continue;
    await db.transaction(async (tx) => {
      const { rows } = await tx.query<{ value: string }>(
        'select value from server_settings where name = $1 for update',
        [role.setting],
      );
      if (rows.length === 0) return; // another process moved it meanwhile
      const stored = rows[0].value;
      const key = parseKey(stored, `the database's ${role.setting}`);
      const held = role.configured
        ? { key: parseKey(role.configured, role.env), where: role.env }
        : role.file
          ? { key: await readKeyFile(role.file), where: role.file }
          : undefined;
      if (!held)
        throw new SigningKeyError(
          'NO_SIGNING_KEY',
          `the database still holds a signing key (${keyId(key)}, from before keys moved out of it) and this server has no data directory to move it to: start it once with one (the key goes to <data dir>/signing-key), or set ${role.env} to that key`,
        );
      if (held.key && keyId(held.key) !== keyId(key))
        throw new SigningKeyError(
          'KEY_CONFLICT',
          `the database holds signing key ${keyId(key)} (from before keys moved out of it) but ${held.where} holds ${keyId(held.key)}: devices are built with ${keyId(key)}; remove ${held.where} (or set it to the database's key) and start again`,
        );
      if (!held.key && role.file) await writeKeyFile(role.file, stored);
      await putSetting(tx, role.publicSetting, rawPublicKey(key));
      await tx.query('delete from server_settings where name = $1', [role.setting]);
    });
  }
}

async function putSetting(tx: Queryable, name: string, value: string): Promise<void> {
  await tx.query(
    `insert into server_settings (name, value) values ($1, $2)
     on conflict (name) do update set value = excluded.value`,
    [name, value],
  );
}

/** The configured key and the file's, refusing two different ones. */
async function heldKey(places: KeyPlaces): Promise<LoadedKey | undefined> {
  const configured =
    places.signingKey !== undefined ? parseKey(places.signingKey, SIGNING_KEY_ENV) : undefined;
  const file = places.dataDir?.signingKey;
  const fromFile = file ? await readKeyFile(file) : undefined;
  if (configured && fromFile && keyId(configured) !== keyId(fromFile))
    throw new SigningKeyError(
      'KEY_CONFLICT',
      `${SIGNING_KEY_ENV} holds signing key ${keyId(configured)} but ${file} holds ${keyId(fromFile)}: keep one (delete the file, or unset ${SIGNING_KEY_ENV})`,
    );
  if (configured) return { key: configured, source: 'configured' };
  if (fromFile) return { key: fromFile, source: 'file', file };
  return undefined;
}

/**
 * This process's signing key, checked against the database's (made and recorded on a fresh
 * database). Moves legacy keys out of the database first.
 */
export async function loadActiveKey(db: Database, places: KeyPlaces): Promise<LoadedKey> {
  await moveLegacyKeys(db, places);
  const recorded = await getSetting(db, SIGNING_PUBLIC_SETTING);
  const held = await heldKey(places);
  const file = places.dataDir?.signingKey;
  if (held) {
    const raw = rawPublicKey(held.key);
    const expected =
      recorded ?? (await getOrCreateSetting(db, SIGNING_PUBLIC_SETTING, () => raw)).value;
    if (expected === raw) return held;
    // `rotate-key activate` ran (elsewhere, or it stopped before moving the file): this
    // directory's prepared next key is the one that signs now.
    const next = places.dataDir?.nextSigningKey;
    const nextKey = held.source === 'file' && next ? await readKeyFile(next) : undefined;
    if (nextKey && rawPublicKey(nextKey) === expected && file && next) {
      await replaceKeyFile(next, file);
      return { key: nextKey, source: 'file', file };
    }
    throw new SigningKeyError(
      'KEY_MISMATCH',
      `this server's signing key ${idOf(raw)} (from ${held.source === 'file' ? held.file : SIGNING_KEY_ENV}) is not the one this database's manifests are signed with, ${idOf(expected)}, which devices are built with: give every server process that key (after \`rotate-key activate\` it is the prepared next key, signing-key.next or ${NEXT_SIGNING_KEY_ENV})`,
    );
  }
  if (recorded !== undefined)
    throw new SigningKeyError(
      'NO_SIGNING_KEY',
      `this database's manifests are signed by key ${idOf(recorded)}, and this server has no private key for it: copy signing-key from the data directory of the server that made it${file ? ` to ${file} (chmod 600)` : ''}, or set ${SIGNING_KEY_ENV} to its contents`,
    );
  if (!file && !places.ephemeral)
    throw new SigningKeyError(
      'NO_SIGNING_KEY',
      `no manifest signing key: set ${SIGNING_KEY_ENV} (base64 PKCS#8 Ed25519), or give the server a data directory to keep one in`,
    );
  // A fresh database: make its key. The file comes first, so a key devices could ever be
  // built with is never only in memory.
  const made = generateSigningKey();
  if (file) {
    try {
      await writeKeyFile(file, made);
    } catch (error) {
      // Another process sharing the directory made one a moment ago: take that one.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadActiveKey(db, places);
      throw error;
    }
  }
  const key = loadSigningKey(made);
  const raw = rawPublicKey(key);
  const won = await getOrCreateSetting(db, SIGNING_PUBLIC_SETTING, () => raw);
  if (won.value !== raw) {
    if (file) await removeKeyFile(file);
    throw new SigningKeyError(
      'NO_SIGNING_KEY',
      `another server made this database's signing key ${idOf(won.value)} at the same moment: copy its signing-key${file ? ` to ${file} (chmod 600)` : ''}, or set ${SIGNING_KEY_ENV}, and start again`,
    );
  }
  return file ? { key, source: 'generated', file } : { key, source: 'memory' };
}

/** The raw public key of the prepared next key, if a rotation is under way. */
export async function recordedNextKey(db: Queryable): Promise<string | undefined> {
  return getSetting(db, NEXT_SIGNING_PUBLIC_SETTING);
}
