/**
 * Rotating the manifest signing key in two steps, so that no device is ever left with a server
 * whose signatures it cannot check (server/README.md, "Rotating the signing key"):
 *
 * 1. `prepare` makes the next key (or takes the one in LOCALFIT_NEXT_SIGNING_KEY), writes it
 *    to `<data dir>/signing-key.next` (0600) and records its public half in the database; the
 *    servers publish it (`GET /v1/public-key`'s `next`) but still sign with the active key.
 *    Apps are then built with both keys (`rollout: { publicKeys: [active, next] }`).
 * 2. `activate`, once the fleet runs such builds, makes the database name the next key as the
 *    one that signs, and moves `signing-key.next` over `signing-key` (the old key is gone).
 *    Devices with only the old key refuse the new manifests with `unknown_key`, naming both
 *    ids. Other hosts take their copy of `signing-key.next` at their next start
 *    (key_store.ts); with LOCALFIT_SIGNING_KEY, it must be given the next key's value.
 *
 * Servers never need the next key's private half before step 2: only its public half, which
 * the database holds. Servers read the keys at start: restart every process after each step.
 */
import { CodedError, manifestKeyId } from '../src/protocol/index.ts';
import type { Database } from './db/database.ts';
import {
  type KeyPlaces,
  type LoadedKey,
  loadActiveKey,
  moveLegacyKeys,
  NEXT_SIGNING_KEY_ENV,
  NEXT_SIGNING_PUBLIC_SETTING,
  readKeyFile,
  recordedNextKey,
  removeKeyFile,
  replaceKeyFile,
  SIGNING_PUBLIC_SETTING,
  writeKeyFile,
} from './key_store.ts';
import { generateSigningKey, loadSigningKey, rawPublicKey, type SigningKey } from './signing.ts';
import { getOrCreateSetting, getSetting } from './store/settings.ts';

export interface SigningKeys {
  active: LoadedKey;
  /** The raw public key of the prepared next key, if any. */
  next?: string;
}

/** The active key (checked against the database; made on a fresh one) and the prepared next. */
export async function loadSigningKeys(db: Database, places: KeyPlaces): Promise<SigningKeys> {
  const active = await loadActiveKey(db, places);
  const next = await recordedNextKey(db);
  return { active, ...(next ? { next } : {}) };
}

export type RotationErrorCode =
  /** `activate` before `prepare`. */
  | 'NO_NEXT_KEY'
  /** `activate` where the next key's private half is not (or a different one is). */
  | 'NEXT_KEY_MISSING'
  /** A database no server has started on: it has no key to rotate. */
  | 'NO_SIGNING_KEY';

export class RotationError extends CodedError<RotationErrorCode> {
  override readonly name = 'RotationError';
}

/** The next key's private half held here: LOCALFIT_NEXT_SIGNING_KEY, else the file. */
async function heldNextKey(
  places: KeyPlaces,
): Promise<{ key: SigningKey; file?: string } | undefined> {
  if (places.nextSigningKey !== undefined) {
    try {
      return { key: loadSigningKey(places.nextSigningKey) };
    } catch (error) {
      throw new RotationError(
        'NEXT_KEY_MISSING',
        `${NEXT_SIGNING_KEY_ENV} is not a base64 PKCS#8 Ed25519 private key (${(error as Error).message})`,
      );
    }
  }
  const file = places.dataDir?.nextSigningKey;
  const key = file ? await readKeyFile(file) : undefined;
  return key && file ? { key, file } : undefined;
}

async function activeRecord(db: Database): Promise<string> {
  const active = await getSetting(db, SIGNING_PUBLIC_SETTING);
  if (active === undefined)
    throw new RotationError(
      'NO_SIGNING_KEY',
      'this database has no signing key yet: start the server once (it makes one), then rotate',
    );
  return active;
}

export interface Prepared {
  /** Raw public keys. */
  active: string;
  next: string;
  /** Where its private half is: the file written now or found, or the environment. */
  file?: string;
  /** False when a next key had been prepared already (this returns it). */
  created: boolean;
}

/** Step 1: the next key (made now, or the one already prepared). */
export async function prepareNextKey(db: Database, places: KeyPlaces): Promise<Prepared> {
  await moveLegacyKeys(db, places);
  const active = await activeRecord(db);
  const recorded = await recordedNextKey(db);
  const held = await heldNextKey(places);
  if (recorded !== undefined) {
    const here = held && rawPublicKey(held.key) === recorded ? held : undefined;
    return { active, next: recorded, ...(here?.file ? { file: here.file } : {}), created: false };
  }
  let made: { raw: string; file?: string; wrote: boolean };
  if (held) made = { raw: rawPublicKey(held.key), ...held, wrote: false };
  else {
    const file = places.dataDir?.nextSigningKey;
    if (!file)
      throw new RotationError(
        'NEXT_KEY_MISSING',
        `nowhere to keep the next key: give a data directory, or set ${NEXT_SIGNING_KEY_ENV}`,
      );
    const pkcs8 = generateSigningKey();
    await writeKeyFile(file, pkcs8);
    made = { raw: rawPublicKey(loadSigningKey(pkcs8)), file, wrote: true };
  }
  if (made.raw === active)
    throw new RotationError('NEXT_KEY_MISSING', 'the next key is the active key: use a new one');
  const won = await getOrCreateSetting(db, NEXT_SIGNING_PUBLIC_SETTING, () => made.raw);
  if (won.value !== made.raw) {
    // Another `prepare` got there first: that one is the next key.
    if (made.wrote && made.file) await removeKeyFile(made.file);
    return { active, next: won.value, created: false };
  }
  return { active, next: made.raw, ...(made.file ? { file: made.file } : {}), created: true };
}

export interface Activated {
  /** Key ids. */
  old: string;
  active: string;
  /** The file the active key is in now, when it was moved there. */
  file?: string;
}

/** Step 2: the next key signs from now on (after a restart); the old one is forgotten. */
export async function activateNextKey(db: Database, places: KeyPlaces): Promise<Activated> {
  await moveLegacyKeys(db, places);
  const { old, next } = await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ name: string; value: string }>(
      'select name, value from server_settings where name in ($1, $2) for update',
      [SIGNING_PUBLIC_SETTING, NEXT_SIGNING_PUBLIC_SETTING],
    );
    const old = rows.find((r) => r.name === SIGNING_PUBLIC_SETTING)?.value;
    const next = rows.find((r) => r.name === NEXT_SIGNING_PUBLIC_SETTING)?.value;
    if (!next || !old)
      throw new RotationError(
        'NO_NEXT_KEY',
        'no next key is prepared: run `rotate-key prepare`, ship apps with both keys, then activate',
      );
    // The database must not name a key nobody here can sign with.
    const held = await heldNextKey(places);
    if (!held || rawPublicKey(held.key) !== next)
      throw new RotationError(
        'NEXT_KEY_MISSING',
        `the prepared next key ${manifestKeyId(next)} is not here: put it in ${places.dataDir?.nextSigningKey ?? '<data dir>/signing-key.next'} (chmod 600) or ${NEXT_SIGNING_KEY_ENV}, as \`rotate-key prepare\` left it`,
      );
    await tx.query('update server_settings set value = $1 where name = $2', [
      next,
      SIGNING_PUBLIC_SETTING,
    ]);
    await tx.query('delete from server_settings where name = $1', [NEXT_SIGNING_PUBLIC_SETTING]);
    return { old, next };
  });
  const from = places.dataDir?.nextSigningKey;
  const to = places.dataDir?.signingKey;
  // The database names the new key now; a crash before this rename is mended at the next
  // start (key_store.ts takes signing-key.next when the database names it).
  const held = from && to ? await readKeyFile(from) : undefined;
  if (held && from && to && rawPublicKey(held) === next) {
    await replaceKeyFile(from, to);
    return { old: manifestKeyId(old), active: manifestKeyId(next), file: to };
  }
  return { old: manifestKeyId(old), active: manifestKeyId(next) };
}
