/**
 * The PostgreSQL back-end (`DATABASE_URL`), through a `pg` connection pool: for production
 * and for several server processes sharing one database.
 *
 * Connections die: an operator terminates a backend, PostgreSQL restarts, a network drops.
 * `pg` reports that as an 'error' event on the client, and an EventEmitter 'error' without a
 * listener throws, which would end the whole process. So every client has a listener, both
 * while idle in the pool (the pool's own) and while checked out for a transaction (ours), and
 * every failure that means "the database is not reachable" leaves this module as one typed
 * error, StorageUnavailableError, which the HTTP layer answers with 503 and Retry-After.
 */
import pg from 'pg';
import {
  type Database,
  preparedName,
  type Queryable,
  type QueryResult,
  StorageUnavailableError,
  sqlState,
  storageError,
} from './database.ts';
import { PostgresListener } from './pg_listener.ts';

/** serialization_failure, deadlock_detected. */
const RETRYABLE = new Set(['40001', '40P01']);

const INT8_OID = 20;

/**
 * pg returns int8 as a string (it may exceed 2^53); PGlite returns a number. Our int8s are
 * counts and revisions far below 2^53, so both back-ends hand out numbers.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    // biome-ignore lint/suspicious/noExplicitAny: pg's overloads do not accept a union format
    return pg.types.getTypeParser(oid, format as any);
  },
};

function toPg(params: unknown[]): unknown[] {
  // pg sends Buffers as bytea but would turn a bare Uint8Array into an array literal.
  return params.map((p) =>
    p instanceof Uint8Array && !Buffer.isBuffer(p)
      ? Buffer.from(p.buffer, p.byteOffset, p.length)
      : p,
  );
}

function wrap(target: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<Row>(sql: string, params: unknown[] = []): Promise<QueryResult<Row>> {
      try {
        const name = preparedName(sql);
        const values = toPg(params);
        const result = await (name
          ? target.query({ name, text: sql, values })
          : target.query(sql, values));
        return { rows: result.rows as Row[], rowCount: result.rowCount ?? result.rows.length };
      } catch (error) {
        throw storageError(error);
      }
    },
  };
}

export interface PostgresOptions {
  /** Pool size; the default suits a small server (pg's default is 10). */
  max?: number;
}

export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, types });
  // An idle client that loses its connection is dropped by the pool, which then emits 'error';
  // without a listener that would crash the process. The next query gets a fresh connection.
  pool.on('error', () => {});
  // Fail fast on a wrong URL rather than at the first request.
  try {
    await pool.query('select 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  const plain = wrap(pool);
  // Made at the first listen: a database nobody listens on holds no extra connection.
  let listener: PostgresListener | undefined;
  return {
    kind: 'postgres',
    query: plain.query,
    listen: (channel, handlers) => {
      listener ??= new PostgresListener(url);
      return listener.listen(channel, handlers);
    },
    async transaction(fn, options) {
      // A deadlock or serialization failure is PostgreSQL asking us to try again; the work is
      // database-only, so running it again is safe.
      for (let attempt = 1; ; attempt++) {
        try {
          return await runTransaction(fn, options?.first);
        } catch (error) {
          const retryable = RETRYABLE.has(sqlState(error) ?? '');
          // A conflict that outlasts the retries is load, not a bug in the request.
          if (retryable && attempt >= 3) throw new StorageUnavailableError(error);
          if (!retryable) throw storageError(error);
        }
      }
    },
    close: async () => {
      await listener?.close();
      await pool.end();
    },
  };

  async function runTransaction<T>(
    fn: (tx: Queryable) => Promise<T>,
    first: string | undefined,
  ): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw storageError(error);
    }
    let broken: Error | undefined;
    // While checked out, the pool no longer listens on this client; a terminated backend
    // would emit an unhandled 'error'. Note it instead: the statement in flight fails on its
    // own, and the client is dropped rather than handed to the next transaction.
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on('error', onError);
    try {
      // Without parameters, both go as one simple query: one round trip.
      await client.query(first === undefined ? 'begin' : `begin; ${first}`);
      const result = await fn(wrap(client));
      await client.query('commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch((rollbackError: Error) => {
        broken = rollbackError; // the connection is unusable: drop it rather than reuse it
      });
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }
}
