/**
 * Recoveries: what the learner found wrong with (or missing from) its stored state, and what it
 * did about it, each with a stable code so that an app can branch on it without parsing
 * messages. They are kept in `stats().recovered` (and their messages in `stats().recoveries`)
 * and sent as `recovery` events when they happen; the ones that stem from a failure are also
 * sent as `error` events, as before codes existed.
 *
 * Storage a browser takes away is the main source: best-effort storage is evicted under
 * pressure, Safari deletes script-written storage after 7 days without a visit, private modes
 * and disabled storage refuse IndexedDB, a full disk refuses writes. None of them is an error
 * loop: the learner starts again from what is left (its version's head at worst) and serves.
 */
import type { StoreErrorCode } from '../store/errors.ts';

export type RecoveryCode =
  /**
   * There was no stored state: the learner started from its version's head as a new install.
   * A first start on this device, or the browser removed what was stored (eviction under
   * storage pressure, Safari after 7 days without a visit, site data cleared): a browser takes
   * all of an origin's storage at once, so the two look the same from inside; an app that
   * knows this device ran the learner before knows the device's learning is lost. Also when
   * the database is deleted while the learner runs (the message says so): the learner starts
   * again at once, without failing a call.
   */
  | 'NEW_INSTALL'
  /**
   * IndexedDB is missing or refused to open (private modes, storage disabled, a database from
   * newer code, a blocked upgrade): the learner runs in memory, with the same exactly-once
   * rule for outcome ids within the session; nothing survives a reload. `cause` is the
   * store's error code (UNAVAILABLE, SCHEMA_TOO_NEW, BLOCKED…).
   */
  | 'IN_MEMORY'
  /** The database was repaired on open (rebuilt after a refused upgrade, or a rebuild finished). */
  | 'STORE_REPAIRED'
  /** Head snapshots failed their checksum: the learner restored an older state and replayed. */
  | 'SNAPSHOT_CORRUPT'
  /** A stored version could not be loaded: the learner serves another (the app's model at worst). */
  | 'VERSION_UNUSABLE'
  /** The app's model could not be stored: it serves, and is stored again on the next start. */
  | 'MODEL_NOT_STORED'
  /** Metrics reporting is off (it needs IndexedDB, or its saved state could not be read). */
  | 'REPORTING_OFF'
  /** Rollouts are off: they need IndexedDB. */
  | 'ROLLOUT_OFF'
  /**
   * The sync server no longer knows this device's install (it expires installs idle longer
   * than its `inactiveInstallDays`, or its data was reset): the device registered again as a
   * new install, and windows not yet delivered go to the new one, each once. The device's
   * head is untouched: it lives on the device. Its rollout bucket follows the new install id,
   * so a staged rollout may move it to the other arm at the next manifest.
   */
  | 'INSTALL_UNKNOWN'
  /**
   * Metric windows the reporter had queued are gone from the outbox (its records were removed
   * behind the learner's back): they cannot be rebuilt, so they are counted as dropped, and
   * the server hears how many with the next window (the protocol's `dropped`).
   */
  | 'OUTBOX_LOST'
  /** Any other failure while starting (its `error` event says what). */
  | 'START_ERROR';

export interface Recovery {
  code: RecoveryCode;
  message: string;
  /** When it happened (epoch ms). */
  at: number;
  /** IN_MEMORY: why IndexedDB could not be used (the store's error code). */
  cause?: StoreErrorCode | 'UNKNOWN';
}

/** The newest recoveries kept in `stats()`: a learner that runs for months stays bounded. */
export const MAX_RECOVERIES = 50;

/**
 * The recoveries of one learner (src/runtime/recoveries.ts): each is kept, bounded, and told
 * to the app as a `recovery` event — and as an `error` event when a failure caused it.
 */
/**
 * The two events a recovery sends (the learner's `recovery` and `error` events; events.ts
 * builds its map from these, so the log needs nothing of the learner).
 */
export type RecoveryEvent =
  | { type: 'recovery'; code: RecoveryCode; message: string; cause?: string }
  | { type: 'error'; code: 'STORAGE'; message: string };

export class RecoveryLog {
  readonly list: Recovery[] = [];
  private readonly emit: (event: RecoveryEvent) => void;
  constructor(emit: (event: RecoveryEvent) => void) {
    this.emit = emit;
  }

  /** Records a recovery and tells the app. */
  add(
    code: RecoveryCode,
    message: string,
    options: { cause?: Recovery['cause']; failure?: boolean } = {},
  ): void {
    if (options.failure !== false) this.emit({ type: 'error', code: 'STORAGE', message });
    this.note(code, message, options.cause);
    this.emit({
      type: 'recovery',
      code,
      message,
      ...(options.cause ? { cause: options.cause } : {}),
    });
  }

  /** Records a recovery whose `error` event was sent already. */
  note(code: RecoveryCode, message: string, cause?: Recovery['cause']): void {
    this.list.push({ code, message, at: Date.now(), ...(cause ? { cause } : {}) });
    if (this.list.length > MAX_RECOVERIES) this.list.splice(0, this.list.length - MAX_RECOVERIES);
  }
}
