/**
 * The raw windows' daily partitions (migration 10): made ahead, so a day's windows land in
 * their own table, and dropped whole once older than the retention, so the windows table stays
 * the size of the retention however long the server runs. Dropping a day is cheap (no vacuum,
 * no row-by-row delete) and exactly-once ingest does not notice: window ids live on in the id
 * ledger `metric_window_ids`, and every sum status and the policy read lives in the running
 * totals and rollups, not in raw windows.
 *
 * Safe with several server processes on one database: each run takes an advisory lock, checks
 * what exists and only then creates or drops, so concurrent runs do the work once.
 *
 * ```ts
 * import type { Database } from '../db/database.ts';
 * import { maintainWindowPartitions } from './window_partitions.ts';
 * declare const db: Database; // the server's, migrated
 * await maintainWindowPartitions(db, { retentionDays: 30 });
 * // { created: ['metric_windows_p20261202', …], dropped: [], purged: 0 }
 * ```
 */
import type { Database, Queryable } from '../db/database.ts';

/** Arbitrary but fixed: the advisory lock that serialises partition maintenance. */
const PARTITION_LOCK = 7_310_002;
const DAY_MS = 86_400_000;
const PREFIX = 'metric_windows_p';

export interface PartitionOptions {
  /** Raw windows received more than this many days ago are dropped (whole days). */
  retentionDays: number;
  /** Days made ahead, today included. Default 7. */
  aheadDays?: number;
  /** The clock (ms since the epoch). Default Date.now(). */
  now?: number;
}

export interface PartitionOutcome {
  /** Partitions created, by name. */
  created: string[];
  /** Partitions dropped past the retention, by name. */
  dropped: string[];
  /** Windows past the retention deleted from the default partition. */
  purged: number;
}

export const DEFAULT_WINDOW_RETENTION_DAYS = 30;
export const DEFAULT_PARTITIONS_AHEAD_DAYS = 7;

const dayName = (dayStart: number) =>
  `${PREFIX}${new Date(dayStart).toISOString().slice(0, 10).replaceAll('-', '')}`;
const iso = (ms: number) => new Date(ms).toISOString();

/** The partitions of the windows table, by name (the daily ones and the default). */
export async function listWindowPartitions(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'metric_windows'::regclass order by 1`,
  );
  return rows.map((r) => r.name);
}

export async function maintainWindowPartitions(
  db: Database,
  options: PartitionOptions,
): Promise<PartitionOutcome> {
  const retention = options.retentionDays;
  const ahead = options.aheadDays ?? DEFAULT_PARTITIONS_AHEAD_DAYS;
  if (!(Number.isInteger(retention) && retention >= 1))
    throw new RangeError('windowRetentionDays must be an integer of at least 1');
  if (!(Number.isInteger(ahead) && ahead >= 1))
    throw new RangeError('aheadDays must be an integer of at least 1');
  const today = Math.floor((options.now ?? Date.now()) / DAY_MS) * DAY_MS;
  const cutoff = today - retention * DAY_MS;
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
    const existing = new Set(await listWindowPartitions(tx));
    // Days are UTC days; names sort by day.
    const created: string[] = [];
    for (let day = today; day < today + ahead * DAY_MS; day += DAY_MS) {
      const name = dayName(day);
      if (existing.has(name)) continue;
      await createDay(tx, name, iso(day), iso(day + DAY_MS));
      created.push(name);
    }
    const dropped: string[] = [];
    for (const name of existing) {
      const match = /^metric_windows_p(\d{4})(\d{2})(\d{2})$/.exec(name);
      if (!match) continue;
      const day = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
      if (day + DAY_MS > cutoff) continue;
      await tx.query(`drop table ${name}`);
      dropped.push(name);
    }
    const purged = await tx.query('delete from metric_windows_default where received_at < $1', [
      iso(cutoff),
    ]);
    return { created, dropped, purged: purged.rowCount ?? 0 };
  });
}

/**
 * Creates one day's partition. Windows of that day already in the default partition (stored
 * before the day was made) move into it first: PostgreSQL refuses to create a partition whose
 * rows the default partition holds.
 */
async function createDay(tx: Queryable, name: string, from: string, to: string): Promise<void> {
  const waiting = await tx.query(
    'select 1 from metric_windows_default where received_at >= $1 and received_at < $2 limit 1',
    [from, to],
  );
  if (waiting.rowCount === 0) {
    await tx.query(
      `create table ${name} partition of metric_windows for values from ('${from}') to ('${to}')`,
    );
    return;
  }
  // With the parent's compression (migration 13's lz4), which `partition of` inherits anyway.
  await tx.query(
    `create table ${name} (like metric_windows including defaults including compression)`,
  );
  await tx.query(
    `with moved as (
       delete from metric_windows_default where received_at >= $1 and received_at < $2
       returning *
     )
     insert into ${name} select * from moved`,
    [from, to],
  );
  await tx.query(
    `alter table metric_windows attach partition ${name} for values from ('${from}') to ('${to}')`,
  );
}
