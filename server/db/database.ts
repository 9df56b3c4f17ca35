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
import { CodedError } from '../../src/protocol/index.ts';
export interface Queryable {
  /** One statement with `$1`-style parameters. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<Row>>;
}

/**
 * Marks a hot statement (one the metrics path runs every request) to be prepared once per
 * connection and reused by name on PostgreSQL, instead of being parsed and planned at every
 * call: measured 0.6 ms of PostgreSQL's ~1.8 ms per 10-window batch went to planning
 * (bench/server_ingest_durable.ts). Only for constant SQL text (each distinct text is kept
 * for good, as a named statement on every pooled connection). Returns `sql` unchanged;
 * PGlite runs it as before.
 */
export function prepared(sql: string): string {
  if (!PREPARED.has(sql)) PREPARED.set(sql, `localfit_${PREPARED.size + 1}`);
  return sql;
}

/** The name a `prepared` statement runs under, or undefined. */
export function preparedName(sql: string): string | undefined {
  return PREPARED.get(sql);
}

const PREPARED = new Map<string, string>();

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
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Hears `NOTIFY channel` from every session on this database: this process, other server
   * processes, the CLI, triggers. A notification is sent when its transaction commits, so
   * what it announces is visible by then. Delivery is best effort (a dropped connection
   * misses some; `onResume` says so), so callers keep a fallback such as a poll. Resolves
   * once listening (or, on PostgreSQL, once the first attempt failed and retrying began);
   * the returned function unsubscribes.
   */
  listen(channel: string, handlers: ListenHandlers): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface TransactionOptions {
  /**
   * A constant statement without parameters to run first (e.g. a lock). PostgreSQL gets it
   * with BEGIN in one round trip: on the metrics path each round trip costs both processes a
   * socket write and a wake-up.
   */
  first?: string;
}

export interface ListenHandlers {
  /** A notification on the channel, with its payload ('' when none). */
  onNotify(payload: string): void;
  /**
   * The listening connection was lost and is back: notifications in between were missed, so
   * whatever depends on them should be checked again.
   */
  onResume?(): void;
  /** Listening stopped working (reported once per outage, not at every retry). */
  onFault?(message: string, error: unknown): void;
}

/** A PostgreSQL error's SQLSTATE (both drivers expose it as `code`). */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The database cannot be reached right now (connection refused or dropped, server shutting
 * down, out of connections, or a conflict that outlasted the retries). Both back-ends turn
 * such failures into this one type, so the HTTP layer maps it to 503 + Retry-After in one
 * place (server/app.ts) instead of guessing from driver messages. Nothing the failed
 * statement or transaction was doing is assumed to have happened: a transaction that lost
 * its connection before COMMIT was answered is rolled back by PostgreSQL, and one that lost
 * it during COMMIT is made safe to repeat by the routes' idempotency keys.
 */
export class StorageUnavailableError extends CodedError<'STORAGE_UNAVAILABLE'> {
  override readonly name = 'StorageUnavailableError';
  /** What the server tells clients to wait before retrying. */
  readonly retryAfterSeconds: number;
  constructor(cause: unknown, retryAfterSeconds = 2) {
    super(
      'STORAGE_UNAVAILABLE',
      `storage is unavailable (${cause instanceof Error ? cause.message : String(cause)}); retry later`,
      { cause },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * SQLSTATEs and driver errors that mean "storage unavailable right now": connection
 * exceptions (class 08), shutdown and termination (57P01–57P03), insufficient resources
 * (class 53), socket errors, and the drivers' own "connection is gone" messages.
 */
const UNAVAILABLE_STATE = /^(08|57P0[1-3]|53)/;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
const GONE_MESSAGE =
  /Connection terminated|not queryable|Client was closed|Cannot use a pool after calling end|PGlite is closed|ECONNREFUSED|ECONNRESET/i;

export function isConnectionFailure(error: unknown): boolean {
  if (error instanceof StorageUnavailableError) return true;
  const code = sqlState(error);
  if (code !== undefined && (UNAVAILABLE_STATE.test(code) || SOCKET_CODES.has(code))) return true;
  return error instanceof Error && GONE_MESSAGE.test(error.message);
}

/** `error` as a StorageUnavailableError when it is a connection failure, else unchanged. */
export function storageError(error: unknown): unknown {
  if (error instanceof StorageUnavailableError || !isConnectionFailure(error)) return error;
  return new StorageUnavailableError(error);
}
