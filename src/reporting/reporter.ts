/**
 * The metrics reporter: learned outcomes → per-version windows → the IndexedDB outbox → the
 * sync server. It runs inside the learner that owns the state (the leader tab: see
 * src/runtime/worker_api.ts), so one device reports once however many tabs are open.
 *
 * Nothing is counted twice or lost across a crash or reload, without a write per outcome:
 *
 * - The reporter's state (open windows, the log position `seq` they cover, closed windows not
 *   yet queued) is written to the store's meta (`syncReporter`) before every head snapshot
 *   (`checkpoint`), so it always covers at least what the snapshot covers. On start the
 *   learner replays the outcomes after its snapshot; the reporter skips those at or before its
 *   `seq` and re-adds the rest, with the losses and times they had the first time (the replay
 *   rebuilds the same head, and the log keeps each outcome's time).
 * - A window that closes is first written into that state ("pending"), then queued in the
 *   outbox under a key derived from its id. A crash between the two re-queues it on start,
 *   which the outbox ignores if it is already there; were it already delivered, the server
 *   stores a window id once. So a window, once closed, is fixed: same id, same contents.
 *
 * Slates (slates.ts) are the exception to "nothing lost": they live in memory, because the
 * predictions that open them are not logged. A slate's results are added to its version's
 * open window when it closes, and saved with that window from then on; slates still open when
 * the page dies are never evaluated, and results added after the last save are lost with it
 * (the replayed outcomes then find no slate and count as unmatched).
 */

import type { ContributionSettled } from '../delivery/contributions.ts';
import { Registration } from '../delivery/credentials.ts';
import { Delivery } from '../delivery/delivery.ts';
import type { ResolvedSyncOptions, SyncOptions } from '../delivery/options.ts';
import { resolveSyncOptions } from '../delivery/options.ts';
import { describeError } from '../errors.ts';
import type { MetricsBatch, MetricWindow, VersionEvent } from '../protocol/index.ts';
import type { Store } from '../store/index.ts';
import { COUNTERS, isStoreError } from '../store/index.ts';
import type { WindowSums } from './metric_window.ts';
import { finishWindow } from './metric_window.ts';
import type { SavedState } from './saved_state.ts';
import { isSavedState, lostWindows, MAX_PENDING, outboxKey } from './saved_state.ts';
import type { LearnedOutcome, TaskInfo } from './scored_outcome.ts';
import { measure, slateGain } from './scored_outcome.ts';
import type { SlateOpening, SlateResults } from './slates.ts';
import { SlateTracker } from './slates.ts';
import type { StorageError, SyncStats } from './sync_stats.ts';
import { syncStats } from './sync_stats.ts';
import { WindowSet } from './windows.ts';

export interface ReporterDeps {
  now?: () => number;
  random?: () => number;
  fetch?: typeof fetch;
  /** Told when the reporter recovers from lost state (src/runtime/recoveries.ts). */
  onRecovery?: (code: 'INSTALL_UNKNOWN' | 'OUTBOX_LOST', message: string) => void;
  /** A federated contribution in the shared outbox was settled (src/federated/participant.ts). */
  onContribution?: ContributionSettled;
}

export class MetricsReporter {
  private readonly windows: WindowSet;
  private readonly slates: SlateTracker;
  private slateSerial: number;
  private rankingRefused = 0;
  private readonly delivery: Delivery;
  private readonly registration: Registration;
  private readonly now: () => number;
  /** Closed windows not yet given their final form (which includes the drop count). */
  private unfinished: WindowSums[] = [];
  /** Final windows written to the saved state and not yet known to be queued. */
  private pending: MetricWindow[];
  private seq: number;
  private closedCount: number;
  private droppedReported: number;
  private writes: Promise<unknown> = Promise.resolve();
  private queuedWrite: Promise<void> | undefined;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private deliveryTimer: ReturnType<typeof setTimeout> | undefined;
  /** `start` ran: the replay is over, timers may run. */
  private started = false;
  /** `close` began: no more timers or requests. */
  private closing = false;
  /** `close` ended: no more writes (the store is about to close). */
  private finished = false;
  private storageError: StorageError | undefined;

  private readonly store: Store;
  private readonly options: ResolvedSyncOptions;
  private readonly info: TaskInfo;
  private constructor(
    store: Store,
    options: ResolvedSyncOptions,
    info: TaskInfo,
    saved: SavedState | undefined,
    deps: ReporterDeps,
  ) {
    this.store = store;
    this.options = options;
    this.info = info;
    this.now = deps.now ?? Date.now;
    this.slates = new SlateTracker(info.ranking, this.now);
    this.windows = new WindowSet(options, saved?.open ?? []);
    const serial = saved?.slateSerial;
    this.slateSerial =
      Number.isSafeInteger(serial) && serial !== undefined && serial >= 0 ? serial : 0;
    this.pending = saved?.pending ?? [];
    this.seq = saved?.seq ?? 0;
    this.closedCount = saved?.closed ?? 0;
    this.droppedReported = saved?.droppedReported ?? 0;
    this.registration = new Registration(
      {
        read: () => store.meta.value('syncCredentials'),
        write: (value) => store.meta.setValue('syncCredentials', value),
      },
      options,
      { fetch: deps.fetch, now: this.now },
    );
    this.delivery = new Delivery({
      outbox: store.outbox,
      registration: this.registration,
      onReregistered: (previous, current) =>
        deps.onRecovery?.(
          'INSTALL_UNKNOWN',
          `the sync server no longer knows install ${previous.installId}: registered again as ${current.installId}`,
        ),
      options,
      now: this.now,
      random: deps.random,
      fetch: deps.fetch,
      ...(deps.onContribution ? { onContribution: deps.onContribution } : {}),
    });
  }

  /**
   * Loads the saved state. Call `record` for the outcomes the learner replays, then `start`.
   * Throws BAD_CONFIG for invalid options.
   */
  static async open(
    store: Store,
    options: SyncOptions,
    info: TaskInfo,
    deps: ReporterDeps = {},
  ): Promise<MetricsReporter> {
    const resolved = resolveSyncOptions(options);
    const saved = await store.meta.value('syncReporter');
    const reporter = new MetricsReporter(
      store,
      resolved,
      info,
      isSavedState(saved) ? saved : undefined,
      deps,
    );
    const [counters, keys] = await Promise.all([store.meta.counters(), store.outbox.keys()]);
    const lost = lostWindows(reporter.closedCount, reporter.pending, counters, keys);
    if (lost > 0) {
      // They cannot be rebuilt (their outcomes may be compacted away): the server hears how
      // many with the next window (`dropped`), as for windows the full outbox dropped.
      await store.meta.bump(COUNTERS.outboxDropped, lost);
      deps.onRecovery?.(
        'OUTBOX_LOST',
        `${lost} metric window(s) queued for the server are gone from the outbox: counted as dropped, and reported so with the next window`,
      );
    }
    return reporter;
  }

  /**
   * Counts a learned outcome (synchronous: it only adds to sums in memory). With `slate`, it
   * also marks its candidate in that slate (see `openSlate`); with `kind`, it counts an
   * impression, click or conversion; with `features`, their values go into the window's drift
   * statistics.
   */
  record(outcome: LearnedOutcome): void {
    if (this.finished || outcome.seq <= this.seq) return; // counted before the restart
    this.seq = outcome.seq;
    if (outcome.slate) {
      this.addSlateResults(this.slates.closeExpired());
      this.slates.mark(outcome.slate.id, outcome.slate.candidate, slateGain(this.info, outcome));
    }
    const measured = measure(this.info, outcome);
    if (!measured) return;
    const closed = this.windows.add(
      outcome.versionId,
      this.info.task,
      outcome.seq,
      outcome.ts,
      measured,
    );
    if (closed.length > 0) this.closeWindows(closed);
    if (this.started && this.expiryTimer === undefined) this.armExpiry();
  }

  /**
   * Reports a change of a version's state on this device (staged, refused, rolled back,
   * promoted) in a window of its own, with no outcomes, queued at once: the version may never
   * score another outcome here.
   */
  recordVersionEvent(versionId: string, event: VersionEvent): void {
    if (this.finished) return;
    this.pending.push({
      windowId: `event-${crypto.randomUUID()}`,
      versionId,
      task: this.info.task,
      start: event.at,
      end: event.at,
      count: 0,
      events: [{ ...event, ...(event.reason ? { reason: event.reason.slice(0, 500) } : {}) }],
    });
    this.closedCount++;
    this.save().catch(() => undefined);
  }

  /** This device's install id on the server; registers first when it has none (undefined: offline). */
  async installId(): Promise<string | undefined> {
    const current = await this.registration.current();
    if (current) return current.installId;
    const reply = await this.registration.register();
    return reply.kind === 'ok' ? reply.body.installId : undefined;
  }

  /**
   * Opens a slate at predict time: `scores` are the version's scores of the candidates, in the
   * order the app gave them; outcomes then name the slate and a candidate (`record`, `slate`).
   * The slate is evaluated (P@k, R@k, NDCG@k) when it closes: `closeSlate`, the next slate on
   * the same `surface`, its TTL, eviction, or `flush`. Throws BAD_INPUT, changing nothing, for
   * a slate that cannot be (see `SlateTracker.open`).
   */
  openSlate(slate: SlateOpening): void {
    if (this.finished) return;
    this.addSlateResults(this.slates.open(slate));
    if (this.started && this.expiryTimer === undefined) this.armExpiry();
  }

  /** Closes a slate now (the app knows no more outcomes will come); unknown ids are ignored. */
  closeSlate(slateId: string): void {
    if (this.finished) return;
    this.addSlateResults(this.slates.close(slateId));
  }

  /** After the replay: queues what a crash left pending, closes stale windows, starts sending. */
  start(): void {
    this.started = true;
    this.addSlateResults(this.slates.closeExpired());
    this.closeWindows(this.windows.closeExpired(this.now()));
    this.armExpiry();
    void this.deliver();
  }

  /** Sends what the outbox holds now (a contribution was queued), unless backing off. */
  deliverNow(): void {
    if (this.started) void this.deliver();
  }

  /** Saves the state now; the learner calls it before writing a head snapshot. */
  checkpoint(): Promise<void> {
    return this.save();
  }

  /**
   * Closes the open windows, queues them and tries to send what is due (the page is being
   * hidden). Resolves once that attempt is over, delivered or not.
   */
  async flush(): Promise<void> {
    if (this.closing) return;
    // The page may not come back: slates are evaluated as they stand, with their windows.
    this.addSlateResults(this.slates.closeAll());
    const closed = this.windows.closeAll();
    if (closed.length > 0) this.closeWindows(closed);
    await this.save();
    await this.deliver();
  }

  async stats(): Promise<SyncStats> {
    const [counters, queued, credentials] = await Promise.all([
      this.store.meta.counters(),
      this.store.outbox.count(),
      this.registration.current(),
    ]);
    return syncStats({
      url: this.options.url,
      counters,
      queued,
      credentials,
      delivery: this.delivery.status,
      refusal: this.registration.refusal,
      storageError: this.storageError,
      openOutcomes: this.windows.pendingOutcomes,
      windows: this.closedCount + this.unfinished.length,
      slates: { ...this.slates.stats, rankingRefused: this.rankingRefused },
      now: this.now(),
    });
  }

  /** Stops timers and requests and saves the state (open windows stay open for next time). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.expiryTimer);
    clearTimeout(this.deliveryTimer);
    // Open slates would be lost with the page; their results go into the windows kept open.
    this.addSlateResults(this.slates.closeAll());
    await this.delivery.stop();
    await this.save().catch(() => undefined);
    this.finished = true;
  }

  /** Adds closed slates' results to their versions' open windows (saved with them). */
  private addSlateResults(results: SlateResults[]): void {
    for (const { versionId, ranking } of results) {
      const { added, opened } = this.windows.addRanking(versionId, this.info.task, ranking, {
        seq: this.seq,
        ts: this.now(),
        serial: this.slateSerial,
      });
      if (opened) this.slateSerial++;
      if (!added) this.rankingRefused += ranking.slates;
    }
  }

  /** Saves (and so queues) closed windows; with none, saves anyway, which queues any pending. */
  private closeWindows(closed: WindowSums[]): void {
    this.unfinished.push(...closed);
    // A failed write is kept in stats (storageError) and redone by the next save.
    this.save().catch(() => undefined);
  }

  /**
   * Writes the state, then queues pending windows. Calls while a write waits to start share
   * it; a call made after a write started gets a new one, so what it sees is always saved.
   */
  private save(): Promise<void> {
    if (this.queuedWrite) return this.queuedWrite;
    const write = this.writes.then(() => {
      this.queuedWrite = undefined;
      return this.write();
    });
    this.queuedWrite = write;
    this.writes = write.catch(() => undefined);
    return write;
  }

  private async write(): Promise<void> {
    if (this.finished) return;
    try {
      if (this.unfinished.length > 0) {
        // Drops since the last report travel with the next window (protocol: `dropped`).
        const dropped = await this.store.meta.counter(COUNTERS.outboxDropped);
        for (const sums of this.unfinished.splice(0)) {
          this.pending.push(finishWindow(sums, dropped - this.droppedReported));
          this.droppedReported = dropped;
          this.closedCount++;
        }
      }
      if (this.pending.length > MAX_PENDING) {
        // Queuing keeps failing (a full disk): keep the newest, count the rest as dropped.
        const excess = this.pending.splice(0, this.pending.length - MAX_PENDING);
        await this.store.meta.bump(COUNTERS.outboxDropped, excess.length);
      }
      const state: SavedState = {
        format: 1,
        seq: this.seq,
        open: this.windows.save(),
        pending: [...this.pending],
        closed: this.closedCount,
        droppedReported: this.droppedReported,
        slateSerial: this.slateSerial,
      };
      await this.store.meta.setValue('syncReporter', state);
      const queuing = [...this.pending];
      for (const window of queuing) {
        const key = outboxKey(window);
        const batch: MetricsBatch = { idempotencyKey: key, windows: [window] };
        await this.store.outbox.enqueue(key, batch);
      }
      this.pending = this.pending.filter((window) => !queuing.includes(window));
      if (queuing.length === 0) return;
      // Save again without them, so a later start does not queue them twice (harmless — the
      // server stores a window once — but it would send them twice).
      this.save().catch(() => undefined);
      if ((await this.store.outbox.count()) >= this.options.flushAtQueued) void this.deliver();
      else this.armDelivery(this.options.flushIntervalMs, true);
    } catch (error) {
      // Kept in memory and written with the next save; a closed store means the learner is
      // shutting down, and the log lets the next start rebuild what was not saved.
      if (isStoreError(error, 'CLOSED')) return;
      this.storageError = { at: this.now(), kind: 'storage', message: describeError(error) };
      throw error;
    }
  }

  /** Sends what is due, then sets the next wake-up: the end of a backoff, or the interval. */
  private async deliver(): Promise<void> {
    if (this.closing) return;
    clearTimeout(this.deliveryTimer);
    this.deliveryTimer = undefined;
    try {
      await this.delivery.run();
    } catch (error) {
      if (!isStoreError(error, 'CLOSED')) {
        this.storageError = { at: this.now(), kind: 'storage', message: describeError(error) };
      }
    }
    if (this.closing) return;
    const now = this.now();
    const { notBefore } = this.delivery.status;
    // Nothing queued and no retry pending: no wake-up until a window is queued (write() arms
    // it then), so an idle learner sets no timer (bench/idle.ts).
    if (notBefore <= now && (await this.store.outbox.count().catch(() => 1)) === 0) return;
    this.armDelivery(notBefore > now ? notBefore - now : this.options.flushIntervalMs);
  }

  /** The next delivery in `delayMs`; `ifIdle`: only when none is set already. */
  private armDelivery(delayMs: number, ifIdle = false): void {
    if (this.closing || (ifIdle && this.deliveryTimer !== undefined)) return;
    clearTimeout(this.deliveryTimer);
    this.deliveryTimer = setTimeout(() => void this.deliver(), Math.max(0, delayMs));
  }

  /**
   * Wakes when the oldest open window reaches its age, or the oldest slate its TTL, to close
   * it even if no outcome comes.
   */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const at = earliest(this.windows.nextExpiry(), this.slates.nextExpiry());
    if (at === undefined || this.closing) return;
    this.expiryTimer = setTimeout(
      () => {
        this.expiryTimer = undefined;
        this.addSlateResults(this.slates.closeExpired());
        const expired = this.windows.closeExpired(this.now());
        if (expired.length > 0) this.closeWindows(expired);
        this.armExpiry();
      },
      Math.max(0, at - this.now()),
    );
  }
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
