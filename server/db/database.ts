/**
 * The one seam between the server and its storage. Both back-ends (embedded PGlite and a
 * PostgreSQL server) speak real PostgreSQL, so every query and migration is written once;
 * this interface only hides how a statement reaches the database and how a transaction is
 * held (PGlite has one connection, PostgreSQL a pool).
 *
 * Values come back the same from both: int8 as a JS number (our counts stay far below 2^53),
 * bytea as a Uint8Array, timestamptz as a Date, json/jsonb parsed. Pass JSON parameters as
 * strings (`$1::jsonb`) and bytes as Uint8Array.
 */
export interface Queryable {
  /** One statement with `$1`-style parameters. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<Row>>;
}

export interface QueryResult<Row> {
  rows: Row[];
  /** Rows inserted, updated, deleted or returned. */
  rowCount: number;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /**
   * Runs `fn` in one transaction (READ COMMITTED): commits when it resolves, rolls back when
   * it throws (and rethrows). Nothing `fn` wrote is visible to others until the commit, which
   * is how every write in the server stays all-or-nothing. `fn` may run more than once when
   * the database reports a transient conflict (deadlock, serialization failure), so it must
   * do nothing but database work.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A PostgreSQL error's SQLSTATE (both drivers expose it as `code`). */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
