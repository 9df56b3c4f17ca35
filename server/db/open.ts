/**
 * Opens the configured back-end and brings its schema up to date: PostgreSQL when a URL is
 * given, otherwise PGlite in a data directory (or in memory).
 */
import type { Database } from './database.ts';
import { migrate } from './migrations.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';

export type StorageOptions =
  /** PostgreSQL, e.g. `postgres://user:pass@host:5432/db` (what `DATABASE_URL` holds). */
  | { databaseUrl: string }
  /** PGlite files in this directory (created if needed). */
  | { pgliteDir: string }
  /** PGlite in memory: gone on close. For tests. */
  | { memory: true };

export async function openDatabase(options: StorageOptions): Promise<Database> {
  const db =
    'databaseUrl' in options
      ? await openPostgres(options.databaseUrl)
      : await openPglite('pgliteDir' in options ? options.pgliteDir : undefined);
  try {
    await migrate(db);
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
  return db;
}
