/**
 * The learner's memory (design invariant 1): every outcome is in IndexedDB before `observe`
 * resolves, snapshots of the heads are written by size and time triggers (`snapshotEvery`
 * outcomes, or `snapshotIntervalMs` after the first outcome not in one), and on start the
 * latest valid snapshots are loaded and the outcomes after them are learned again, in order.
 * An outcome id is stored — and so learned — once. Without IndexedDB the same holds for the
 * session, from memory.
 *
 * Snapshots are captured synchronously (the states as they are now) and written in order
 * behind earlier writes, so outcomes keep flowing while one is written; a failed write loses
 * nothing, because the outcomes stay in the log until a snapshot covers them.
 */
import type { PackedBatch } from '../backbone/features.ts';
import { describeError, isLearnerError, LearnerError } from '../errors.ts';
import type { Label } from '../learn/types.ts';
import type { OutcomeRecord, Store } from '../store/index.ts';
import { isQuotaError, MemoryOutcomeLog } from '../store/index.ts';
import type { OutcomeReport } from '../store/schema.ts';
import type { LearnerEvent } from './events.ts';
import type { ObserveResult, PersistenceOptions } from './options.ts';
import type { PipelineState } from './pipeline.ts';
import type { RecoveryLog } from './recoveries.ts';
import type { RunningVersion } from './running_version.ts';
import type { Scored } from './serving.ts';
import type { StartupTiming } from './startup_timing.ts';

/** Outcomes read from the log per page while replaying. */
const REPLAY_PAGE = 256;

/** What durability needs from the learner around it. */
export interface DurabilityContext {
  /** The versions whose heads a snapshot holds. */
  running(): RunningVersion[];
  /** Before a snapshot is written (the reporter saves what must cover at least as much). */
  beforeSnapshot(): Promise<void>;
  emit(event: LearnerEvent): void;
  recoveries: RecoveryLog;
  /** The time trigger fired: the learner flushes (a snapshot in its queue, then the rest). */
  due(): void;
}

export class Durability {
  /** Sequence number of the last outcome learned. */
  lastSeq: number;
  snapshots = 0;
  replayed = 0;
  /** Without IndexedDB: the ids already learned, so a repeated id is learned once. */
  private readonly memoryLog = new MemoryOutcomeLog();
  private writes: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sinceSnapshot = 0;
  readonly store: Store | undefined;
  private readonly options: Required<Omit<PersistenceOptions, 'name' | 'persist'>>;
  private readonly context: DurabilityContext;

  constructor(
    store: Store | undefined,
    options: Required<Omit<PersistenceOptions, 'name' | 'persist'>>,
    lastSeq: number,
    context: DurabilityContext,
  ) {
    this.store = store;
    this.options = options;
    this.lastSeq = lastSeq;
    this.context = context;
  }

  /** Stores the outcome (or, without IndexedDB, its id); a repeated id is a duplicate. */
  async append(
    batch: PackedBatch,
    label: Label,
    clientId: string,
    ts: number,
    report: OutcomeReport | undefined,
    versionId: string,
  ): Promise<ObserveResult> {
    if (!this.store) return this.memoryLog.append(clientId, this.lastSeq);
    try {
      return await this.store.outcomes.append({
        clientId,
        versionId,
        example: batch,
        label,
        ts,
        ...(report ? { report } : {}),
      });
    } catch (error) {
      // Nothing of this outcome was stored (a write commits whole or not at all), nor learned.
      throw new LearnerError(
        storageCode(error),
        `the outcome could not be stored: ${describeError(error)}`,
      );
    }
  }

  /** An outcome was learned: it counts towards the next snapshot's triggers. */
  learned(seq: number): void {
    this.lastSeq = seq;
    if (!this.store) return;
    this.sinceSnapshot++;
    if (this.sinceSnapshot >= this.options.snapshotEvery) {
      void this.snapshot();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.context.due(), this.options.snapshotIntervalMs);
    }
  }

  /** Captures the states synchronously, then writes them in order behind earlier writes. */
  snapshot(): Promise<unknown> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // A store that went away (see RestartOptions): nothing can be written, nor need be.
    if (!this.store || this.store.closed || this.sinceSnapshot === 0) return this.writes;
    const store = this.store;
    const seq = this.lastSeq;
    const states = this.context
      .running()
      .map((version) => ({ versionId: version.id, seq, ...version.pipeline.exportState() }));
    this.sinceSnapshot = 0;
    this.writes = this.writes
      .then(async () => {
        // The reporter's saved state must cover at least what the snapshot covers (see
        // src/reporting/reporter.ts); if it cannot be saved, the snapshot still matters more.
        await this.context.beforeSnapshot().catch(() => undefined);
        for (const state of states) await store.snapshots.write(state);
        this.snapshots++;
        await store.outcomes.compact(await store.snapshots.coveredSeq());
      })
      .catch((error: unknown) => {
        // The outcomes stay in the log, so nothing is lost: the next snapshot covers them.
        this.context.emit({
          type: 'error',
          code: storageCode(error),
          message: `snapshot failed: ${describeError(error)}`,
        });
      });
    return this.writes;
  }

  /** Stops the time trigger and waits for the writes under way. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.writes;
  }

  /**
   * Latest valid snapshots, then the outcomes after them, in order: each record is prepared by
   * every running version that has not learned it yet, and handed to `learn`.
   */
  async restore(
    timing: StartupTiming,
    learn: (scored: Scored[], record: OutcomeRecord) => void,
  ): Promise<void> {
    const store = this.store;
    if (!store) return;
    const running = this.context.running();
    const seqs = new Map<RunningVersion, number>();
    await timing.time('snapshot load', async () => {
      for (const version of running) seqs.set(version, await this.restoreSnapshot(version));
    });
    this.lastSeq = Math.min(...seqs.values());
    await timing.time('replay', async () => {
      for (;;) {
        const page = await store.outcomes.after(this.lastSeq, REPLAY_PAGE);
        for (const record of page) {
          const scored: Scored[] = [];
          for (const version of running) {
            if ((seqs.get(version) ?? 0) >= record.seq) continue;
            const prepared = await learnable(() =>
              version.pipeline.prepare(record.example, [record.label]),
            );
            if (prepared) scored.push({ version, prepared });
          }
          if (scored.length > 0) {
            try {
              learn(scored, record);
            } catch (error) {
              if (!isLearnerError(error)) throw error;
            }
          }
          this.lastSeq = record.seq;
          this.replayed++;
        }
        if (page.length < REPLAY_PAGE) break;
      }
    });
  }

  /** Brings a version back from its snapshot and the log up to `lastSeq`, as on start. */
  async catchUp(version: RunningVersion): Promise<void> {
    const store = this.store;
    if (!store) return;
    let seq = await this.restoreSnapshot(version);
    for (;;) {
      const page = await store.outcomes.after(seq, REPLAY_PAGE);
      for (const record of page) {
        if (record.seq > this.lastSeq) break;
        const prepared = await learnable(() =>
          version.pipeline.prepare(record.example, [record.label]),
        );
        if (prepared) await learnable(async () => version.pipeline.learn(prepared));
        seq = record.seq;
      }
      if (page.length < REPLAY_PAGE || seq >= this.lastSeq) break;
    }
  }

  /** Loads a version's latest valid snapshot (or its initial state); returns the seq it covers. */
  private async restoreSnapshot(version: RunningVersion): Promise<number> {
    const { snapshot, corrupt } = await this.store!.snapshots.latestValid(version.id);
    if (corrupt > 0) {
      this.context.recoveries.add(
        'SNAPSHOT_CORRUPT',
        `${corrupt} snapshot(s) failed their checksum (version ${version.id}); restored from an older state`,
      );
    }
    if (snapshot) {
      version.pipeline.restore({
        head: snapshot.head,
        scaler: snapshot.scaler as PipelineState['scaler'],
      });
      return snapshot.seq;
    }
    version.pipeline.restore(version.initial);
    return version.initial.seq;
  }
}

/**
 * A stored outcome a version refuses (its input or label does not fit that version) is skipped
 * by it: it was refused when observed too. Anything but a LearnerError is a fault, and throws.
 */
async function learnable<T>(step: () => Promise<T>): Promise<T | undefined> {
  try {
    return await step();
  } catch (error) {
    if (!isLearnerError(error)) throw error;
    return undefined;
  }
}

/** QUOTA for a write refused for lack of room (see LearnerErrorCode), else STORAGE. */
export function storageCode(error: unknown): 'QUOTA' | 'STORAGE' {
  return isQuotaError(error) ? 'QUOTA' : 'STORAGE';
}
