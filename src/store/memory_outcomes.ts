import { DEFAULT_LIMITS } from './context.ts';
import type { AppendResult } from './outcomes.ts';

/**
 * The outcome log's "an id is stored, and learned, once" without IndexedDB (`store: { name:
 * false }`, or the fallback when IndexedDB fails): the ids of the latest outcomes with their
 * seqs, in memory. It answers exactly as {@link OutcomeLog.append} does — a repeated id writes
 * nothing and gets the original seq with `duplicate: true` — and forgets ids as that log does:
 * oldest first, past `capacity` outcomes (the IndexedDB log's `maxOutcomes`, 50 000 by
 * default; about 4 MB of ids at most). Nothing survives a reload: memory is all there is.
 *
 * ```ts
 * import { MemoryOutcomeLog } from './memory_outcomes.ts';
 * const log = new MemoryOutcomeLog();
 * log.append('evt-1'); // { seq: 1, duplicate: false }
 * log.append('evt-1'); // { seq: 1, duplicate: true }
 * ```
 */
export class MemoryOutcomeLog {
  /** Insertion order is seq order, so the first key is the oldest outcome. */
  private readonly seqs = new Map<string, number>();
  private last = 0;

  private readonly capacity: number;

  constructor(capacity: number = DEFAULT_LIMITS.maxOutcomes) {
    this.capacity = capacity;
  }

  /** `floor`: the seq the learner's state already covers; new seqs go after it. */
  append(clientId: string, floor = 0): AppendResult {
    const seen = this.seqs.get(clientId);
    if (seen !== undefined) return { seq: seen, duplicate: true };
    this.last = Math.max(this.last, floor) + 1;
    this.seqs.set(clientId, this.last);
    if (this.seqs.size > this.capacity) {
      const oldest = this.seqs.keys().next();
      if (!oldest.done) this.seqs.delete(oldest.value);
    }
    return { seq: this.last, duplicate: false };
  }
}
