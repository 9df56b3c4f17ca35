/**
 * Rotating the manifest signing key in two steps, so that no device is ever left with a server
 * whose signatures it cannot check (server/README.md, "Rotating the signing key"):
 *
 * 1. `prepare` makes the next key and keeps it beside the active one; the server publishes its
 *    public half (`GET /v1/public-key`'s `next`) but still signs with the active key. Apps are
 *    then built with both keys (`rollout: { publicKeys: [active, next] }`) and shipped.
 * 2. `activate`, once the fleet runs such builds, makes the next key the one that signs and
 *    forgets the old one. Devices with only the old key refuse the new manifests with
 *    `unknown_key`, naming both ids.
 *
 * Servers read the keys at start: restart every process after each step.
 */
import type { Database } from './db/database.ts';
import { generateSigningKey, keyIdOf, loadSigningKey, type SigningKey } from './signing.ts';
import { getOrCreateSetting, getSetting } from './store/settings.ts';

export const SIGNING_KEY_SETTING = 'signing_key_ed25519_pkcs8';
export const NEXT_SIGNING_KEY_SETTING = 'next_signing_key_ed25519_pkcs8';

export interface SigningKeys {
  active: SigningKey;
  next?: SigningKey;
}

/** The active key (made on first start) and the prepared next one, if any. */
export async function loadSigningKeys(db: Database): Promise<SigningKeys> {
  const active = loadSigningKey(
    (await getOrCreateSetting(db, SIGNING_KEY_SETTING, generateSigningKey)).value,
  );
  const next = await getSetting(db, NEXT_SIGNING_KEY_SETTING);
  return { active, ...(next ? { next: loadSigningKey(next) } : {}) };
}

/** Step 1: the next key (made now, or the one already prepared). */
export async function prepareNextKey(db: Database): Promise<SigningKeys & { next: SigningKey }> {
  const keys = await loadSigningKeys(db);
  const next = loadSigningKey(
    (await getOrCreateSetting(db, NEXT_SIGNING_KEY_SETTING, generateSigningKey)).value,
  );
  return { ...keys, next };
}

export class RotationError extends Error {
  readonly code = 'NO_NEXT_KEY';
}

/** Step 2: the next key signs from now on; the old one is gone. */
export async function activateNextKey(db: Database): Promise<{ old: string; active: string }> {
  return db.transaction(async (tx) => {
    const next = await getSetting(tx, NEXT_SIGNING_KEY_SETTING);
    const old = await getSetting(tx, SIGNING_KEY_SETTING);
    if (!next || !old)
      throw new RotationError(
        'no next key is prepared: run `rotate-key prepare`, ship apps with both keys, then activate',
      );
    await tx.query('update server_settings set value = $1 where name = $2', [
      next,
      SIGNING_KEY_SETTING,
    ]);
    await tx.query('delete from server_settings where name = $1', [NEXT_SIGNING_KEY_SETTING]);
    return { old: keyIdOf(loadSigningKey(old)), active: keyIdOf(loadSigningKey(next)) };
  });
}
