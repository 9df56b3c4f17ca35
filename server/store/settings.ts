/**
 * Server-wide values made once (the signing key's public half — the private key lives outside
 * the database, key_store.ts — the app key, the admin token's hash). The
 * first process to start writes them; insert-if-absent and read back means concurrent first
 * starts against one PostgreSQL database all end up with the same value.
 */
import type { Queryable } from '../db/database.ts';

export async function getSetting(db: Queryable, name: string): Promise<string | undefined> {
  const { rows } = await db.query<{ value: string }>(
    'select value from server_settings where name = $1',
    [name],
  );
  return rows[0]?.value;
}

export async function getOrCreateSetting(
  db: Queryable,
  name: string,
  make: () => string,
): Promise<{ value: string; created: boolean }> {
  const existing = await getSetting(db, name);
  if (existing !== undefined) return { value: existing, created: false };
  const candidate = make();
  const inserted = await db.query(
    'insert into server_settings (name, value) values ($1, $2) on conflict (name) do nothing',
    [name, candidate],
  );
  if (inserted.rowCount === 1) return { value: candidate, created: true };
  return { value: (await getSetting(db, name))!, created: false };
}
