/**
 * Group commit for metric batches: batches that arrive while the database is busy with earlier
 * ones wait, and go in together, one transaction for many (store/metrics.ts `ingestGroup`).
 *
 * Under load, most of a batch's cost is per statement and per commit, not per row: the round
 * trips (each a socket write and a wake-up in both processes), parsing and planning, and with
 * durable commits a WAL flush per commit. A group of k batches pays those once, so the cost per
 * batch falls towards the cost of its rows. Nothing waits on a timer: at most `maxGroups`
 * groups are in flight, and the next group is whatever arrived meanwhile (up to `maxBatches`,
 * one batch per install). A lone batch goes alone, straight away, exactly as before; so light
 * load adds no latency, and heavy load gets larger groups (and fewer commits) by itself.
 *
 * A group is all or nothing: when any of its batches is not the normal case (a retry, a window
 * stored before, a fault), the group rolls back and each batch goes through the one-batch path
 * (`ingestPrepared`), which handles every case. So the group changes cost, never answers.
 *
 * ```ts
 * import type { Database } from '../db/database.ts';
 * import type { MetricsBatch } from '../../src/protocol/index.ts';
 * import { IngestQueue } from './ingest_queue.ts';
 * declare const db: Database; // the server's, migrated
 * declare const installId: string, batch: MetricsBatch; // an authenticated device's batch
 * const queue = new IngestQueue(db);
 * await queue.ingest(installId, batch); // as ingestBatch(db, installId, batch)
 * // { status: 201, body: { idempotencyKey, windows: 10, stored: 10, duplicates: 0 }, replayed: false }
 * queue.stats(); // { groups: 0, grouped: 0, fellBack: 0, alone: 1 }
 * ```
 *
 * Measured in `server.scale` (bench/server_ingest_durable.ts): see server/README.md.
 */
import type { MetricsBatch } from '../../src/protocol/index.ts';
import type { Database } from '../db/database.ts';
import { type RateLimiter, refusal } from '../http/rate_limit.ts';
import {
  type IngestResult,
  ingestGroup,
  ingestPrepared,
  type PreparedBatch,
  prepareBatch,
} from './metrics.ts';

export interface IngestQueueOptions {
  /** The per-install limit, counted in each batch's transaction. */
  limiter?: RateLimiter;
  /**
   * Groups in flight at once, each holding one pooled connection: one commits (waiting for
   * its WAL flush) while the next runs. Default 2.
   */
  maxGroups?: number;
  /** Batches per group at most. Default 64. */
  maxBatches?: number;
}

/** What the queue did so far (for tests and operators). */
export interface IngestQueueStats {
  /** Groups of several batches committed together, and the batches in them. */
  groups: number;
  grouped: number;
  /** Batches of groups that were not all normal, then stored one by one. */
  fellBack: number;
  /** Batches that found the queue idle and went alone. */
  alone: number;
}

interface Waiting {
  prepared: PreparedBatch;
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

export class IngestQueue {
  private readonly waiting: Waiting[] = [];
  private running = 0;
  private readonly counts: IngestQueueStats = { groups: 0, grouped: 0, fellBack: 0, alone: 0 };
  private readonly db: Database;
  private readonly limiter: RateLimiter | undefined;
  private readonly maxGroups: number;
  private readonly maxBatches: number;

  constructor(db: Database, options: IngestQueueOptions = {}) {
    this.db = db;
    this.limiter = options.limiter;
    this.maxGroups = options.maxGroups ?? 2;
    this.maxBatches = options.maxBatches ?? 64;
    if (!(this.maxGroups >= 1) || !(this.maxBatches >= 1))
      throw new RangeError('IngestQueue: maxGroups and maxBatches must be ≥ 1');
  }

  /** Stores `batch` for `installId` exactly once; resolves once it is committed. */
  ingest(installId: string, batch: MetricsBatch): Promise<IngestResult> {
    const prepared = prepareBatch(installId, batch);
    return new Promise((resolve, reject) => {
      this.waiting.push({ prepared, resolve, reject });
      this.pump();
    });
  }

  stats(): IngestQueueStats {
    return { ...this.counts };
  }

  private pump(): void {
    while (this.running < this.maxGroups && this.waiting.length > 0) {
      const group = this.take();
      this.running++;
      void this.run(group).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  /** The next group: the oldest waiting batches, one per install (the rest wait their turn). */
  private take(): Waiting[] {
    const group: Waiting[] = [];
    const installs = new Set<string>();
    for (let i = 0; i < this.waiting.length && group.length < this.maxBatches; ) {
      const item = this.waiting[i];
      if (installs.has(item.prepared.installId)) {
        i++;
        continue;
      }
      installs.add(item.prepared.installId);
      group.push(item);
      this.waiting.splice(i, 1);
    }
    return group;
  }

  private async run(group: Waiting[]): Promise<void> {
    const options = this.limiter ? { limiter: this.limiter } : {};
    if (group.length > 1) {
      const outcomes = await ingestGroup(
        this.db,
        group.map((item) => item.prepared),
        options,
      );
      if (outcomes) {
        this.counts.groups++;
        this.counts.grouped += group.length;
        outcomes.forEach((outcome, i) => {
          if ('refused' in outcome) group[i].reject(refusal(outcome.refused));
          else group[i].resolve(outcome);
        });
        return;
      }
      this.counts.fellBack += group.length;
    } else this.counts.alone++;
    // One by one: a lone batch, or a group that was not all normal.
    for (const item of group)
      await ingestPrepared(this.db, item.prepared, options).then(item.resolve, item.reject);
  }
}
