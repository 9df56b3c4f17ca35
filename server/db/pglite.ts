/**
 * The embedded back-end: PGlite (PostgreSQL compiled to WebAssembly) in this process, with
 * its files in a data directory, or in memory when there is none. Nothing to install.
 */
import { PGlite } from '@electric-sql/pglite';
import { type Database, type Queryable, type QueryResult, storageError } from './database.ts';

type PGliteQueryable = Pick<PGlite, 'query'>;

function wrap(target: PGliteQueryable): Queryable {
  return {
    async query<Row>(sql: string, params: unknown[] = []): Promise<QueryResult<Row>> {
      try {
        const result = await target.query<Row>(sql, params);
        // affectedRows counts writes only (it is 0 for a SELECT); rows returned count too.
        const rowCount = result.rows.length > 0 ? result.rows.length : (result.affectedRows ?? 0);
        return { rows: result.rows, rowCount };
      } catch (error) {
        // A closed database (shutdown) is "unavailable", like a dropped PostgreSQL connection.
        throw storageError(error);
      }
    },
  };
}

export interface PgliteDatabase extends Database {
  /** The whole database as a tarball (PGlite's dumpDataDir): a backup, or a template. */
  dump(): Promise<Blob>;
}

export interface PgliteOptions {
  /** Start from a dump (see `dump`) instead of an empty cluster; much faster than initdb. */
  loadDataDir?: Blob;
}

/**
 * Opens (creating if needed) a PGlite database. `dataDir` undefined means in memory: gone
 * when closed, which is what tests want. PGlite allows one process per data directory; the
 * server's directory lock (server/data_dir.ts) enforces that.
 */
export async function openPglite(
  dataDir?: string,
  options: PgliteOptions = {},
): Promise<PgliteDatabase> {
  const db = await PGlite.create({
    ...(dataDir === undefined ? {} : { dataDir }),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
  });
  const plain = wrap(db);
  return {
    kind: 'pglite',
    query: plain.query,
    transaction: (fn, options) =>
      db
        .transaction(async (tx) => {
          if (options?.first !== undefined) await tx.query(options.first);
          return fn(wrap(tx));
        })
        .catch((error: unknown) => {
          throw storageError(error);
        }),
    // PGlite is one session in this process, so its own NOTIFYs (a trigger's too) are all
    // there is to hear; they arrive after the statement or transaction that sent them. It
    // never loses a connection, so there is nothing to resume.
    listen: async (channel, handlers) => {
      const unlisten = await db.listen(channel, (payload) => handlers.onNotify(payload));
      return () => unlisten().catch(() => {});
    },
    close: () => db.close(),
    dump: () => db.dumpDataDir('none'),
  };
}
