import type { StoreContext } from './context.ts';
import { StoreError } from './errors.ts';
import { addUsage, bumpCounters, COUNTERS } from './meta.ts';
import type { OutboxRecord } from './schema.ts';
import { approxSize } from './size.ts';
import { inTransaction } from './tx.ts';

/**
 * Metrics batches waiting to be sent. A batch stays until it is acknowledged (sent at least
 * once; its idempotency key lets the server store it once). Bounded: beyond `maxOutbox` the
 * oldest batches are dropped, and counted, so a device offline for months does not fill up.
 */
export class Outbox {
  private readonly ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /**
   * Queues a batch under its idempotency key. Queuing a key again writes nothing and returns
   * the original id with `duplicate: true`.
   */
  async enqueue(key: string, body: unknown): Promise<{ id: number; duplicate: boolean }> {
    if (typeof key !== 'string' || key === '') {
      throw new StoreError('BAD_RECORD', 'an outbox key must be a non-empty string');
    }
    const createdAt = this.ctx.now();
    const content = { key, body, attempts: 0, nextAttemptAt: createdAt, createdAt };
    const size = approxSize(content);
    return this.ctx.guardWrite(size, () =>
      inTransaction(this.ctx.db, ['outbox', 'meta'], 'readwrite', async (tx) => {
        const outbox = tx.objectStore('outbox');
        const existing = await outbox.index('by-key').getKey(key);
        if (existing !== undefined) return { id: existing, duplicate: true };
        const id = await outbox.add({ ...content, size } as OutboxRecord);
        let count = await outbox.count();
        let dropped = 0;
        let droppedSize = 0;
        let cursor = count > this.ctx.limits.maxOutbox ? await outbox.openCursor() : null;
        while (cursor && count > this.ctx.limits.maxOutbox && cursor.key !== id) {
          count -= 1;
          dropped += 1;
          droppedSize += cursor.value.size ?? 0;
          await cursor.delete();
          cursor = await cursor.continue();
        }
        const meta = tx.objectStore('meta');
        await addUsage(meta, 'outbox', 1 - dropped, size - droppedSize, this.ctx.limits.maxBytes);
        await bumpCounters(meta, { [COUNTERS.outboxDropped]: dropped });
        return { id, duplicate: false };
      }),
    );
  }

  /**
   * Up to `limit` batches due at `now` (nextAttemptAt ≤ now), in enqueue order. They stay queued
   * until `ack`ed; on a failed send, call `fail` to schedule the next attempt.
   */
  async due(limit = 10, now = this.ctx.now()): Promise<OutboxRecord[]> {
    const items: OutboxRecord[] = [];
    let cursor = await this.ctx.db.transaction('outbox').store.openCursor();
    while (cursor && items.length < limit) {
      if (cursor.value.nextAttemptAt <= now) items.push(cursor.value);
      cursor = await cursor.continue();
    }
    return items;
  }

  /**
   * Removes a sent batch, adding `counters` to the meta counters in the same transaction (what
   * became of it: delivered, rejected). Returns false, counting nothing, if it was not queued
   * (already acked or dropped).
   */
  async ack(key: string, counters: Record<string, number> = {}): Promise<boolean> {
    return inTransaction(this.ctx.db, ['outbox', 'meta'], 'readwrite', async (tx) => {
      const outbox = tx.objectStore('outbox');
      const record = await outbox.index('by-key').get(key);
      if (!record) return false;
      await outbox.delete(record.id);
      const meta = tx.objectStore('meta');
      await addUsage(meta, 'outbox', -1, -(record.size ?? 0));
      await bumpCounters(meta, counters);
      return true;
    });
  }

  /** The keys of every queued batch, in queue order. */
  async keys(): Promise<string[]> {
    return (await this.ctx.db.getAll('outbox')).map((record) => record.key);
  }

  /** Records a failed send: one more attempt, and no retry before `nextAttemptAt`. */
  async fail(key: string, nextAttemptAt: number): Promise<OutboxRecord | undefined> {
    return inTransaction(this.ctx.db, ['outbox'], 'readwrite', async (tx) => {
      const outbox = tx.objectStore('outbox');
      const record = await outbox.index('by-key').get(key);
      if (!record) return undefined;
      const updated = { ...record, attempts: record.attempts + 1, nextAttemptAt };
      await outbox.put(updated);
      return updated;
    });
  }

  /** When the earliest queued batch is due (to schedule a wake-up), or undefined if empty. */
  async nextAttemptAt(): Promise<number | undefined> {
    const tx = this.ctx.db.transaction('outbox');
    const cursor = await tx.store.index('by-next-attempt').openKeyCursor();
    return cursor?.key;
  }

  async count(): Promise<number> {
    return this.ctx.db.count('outbox');
  }
}
