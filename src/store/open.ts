import type { IDBPDatabase } from 'idb';
import { deleteDB, openDB } from 'idb';
import type { StoreContext, StoreLimits } from './context.ts';
import { DEFAULT_LIMITS } from './context.ts';
import { isStoreError, StoreError } from './errors.ts';
import type { IntegrityProblem } from './integrity.ts';
import { checkIntegrity } from './integrity.ts';
import { COUNTERS, MetaRepository, totalSize } from './meta.ts';
import { ModelRepository } from './models.ts';
import { Outbox } from './outbox.ts';
import { OutcomeLog } from './outcomes.ts';
import { withQuota } from './quota.ts';
import { finishInterruptedRebuild, rebuildDatabase } from './rebuild.ts';
import type { RetentionResult } from './retention.ts';
import { applyRetention } from './retention.ts';
import type { LocalfitDB, Usage } from './schema.ts';
import { runUpgrades, SCHEMA_VERSION } from './schema.ts';
import { SnapshotRepository } from './snapshots.ts';
import { VersionRepository } from './versions.ts';

export interface OpenOptions {
  limits?: Partial<StoreLimits>;
  /** Clock for record timestamps (tests pass a fake one). */
  now?: () => number;
  /**
   * Called when an older connection (another tab running older code) keeps the database open,
   * so our upgrade has to wait. That tab closes on `versionchange` if it runs this code.
   */
  onBlocked?: (info: { currentVersion: number; requestedVersion: number }) => void;
  /** How long to wait for blocking connections before failing with BLOCKED. Default 10 s. */
  blockedTimeoutMs?: number;
  /**
   * Called once if the connection goes away by itself: another tab wants to upgrade the
   * database ('versionchange': we close so it can), someone deletes it ('deleted': another
   * tab's `deleteStore`, the site's data cleared while the page runs), or the browser dropped
   * it ('terminated': its storage failed, or it removed the origin's data).
   * Every later call fails with CLOSED; reopen with `openStore` to continue.
   */
  onClose?: (reason: CloseReason) => void;
}

export type CloseReason = 'versionchange' | 'deleted' | 'terminated';

export interface StoreStats {
  schemaVersion: number;
  /** Approximate record counts and sizes per store. */
  usage: Usage;
  /** Approximate bytes of all of it. */
  totalSize: number;
  /** All counters; see `COUNTERS`. */
  counters: Record<string, number>;
  /** Outcomes evicted by the log's count/byte cap, oldest first. */
  outcomesEvicted: number;
  /** Outbox batches dropped by the outbox cap, oldest first. */
  outboxDropped: number;
}

/**
 * Opens (creating or upgrading as needed) the store named `name`.
 *
 * Fails with a StoreError whose code says what to do:
 * - SCHEMA_TOO_NEW: newer code wrote this database (`details.found` > `details.supported`). It
 *   was not touched; run in memory and keep serving.
 * - UPGRADE_FAILED: an upgrade step failed; the database stayed at its old version, unchanged.
 *   When the engine itself refused the upgrade (a DOMException: WebKit after an aborted upgrade,
 *   see rebuild.ts), the database is rebuilt with the same records and the upgrade tried once
 *   more; `store.recoveries` says so.
 * - BLOCKED: another connection kept an older version open for `blockedTimeoutMs`.
 * - UNAVAILABLE: no IndexedDB here, or the browser refused to open it.
 */
export async function openStore(name: string, options: OpenOptions = {}): Promise<Store> {
  if (!globalThis.indexedDB) throw new StoreError('UNAVAILABLE', 'IndexedDB is not available');
  const recoveries: string[] = [];
  const finished = await finishInterruptedRebuild(name);
  if (finished) recoveries.push(finished);
  let store: Store;
  try {
    store = await openOnce(name, options);
  } catch (error) {
    if (!isStoreError(error, 'UPGRADE_FAILED')) throw error;
    const { cause, fromVersion } = error.details;
    if (!(cause instanceof DOMException) || !fromVersion) throw error;
    const records = await rebuildDatabase(name);
    store = await openOnce(name, options);
    recoveries.push(
      `database "${name}" rebuilt (${records} records kept): the browser refused its upgrade from version ${fromVersion} (${String(cause)})`,
    );
  }
  store.recoveries.push(...recoveries);
  return store;
}

async function openOnce(name: string, options: OpenOptions): Promise<Store> {
  let upgradeFailure: unknown;
  let fromVersion = 0;
  let created = false;
  let store: Store | undefined;
  let blockedTimer: ReturnType<typeof setTimeout> | undefined;
  let rejectBlocked: (error: StoreError) => void = () => {};
  const blocked = new Promise<never>((_, reject) => {
    rejectBlocked = reject;
  });

  const opening = openRequest(name, {
    upgrade(db, oldVersion, newVersion, tx) {
      fromVersion = oldVersion;
      created = oldVersion === 0;
      runUpgrades(db, tx, oldVersion, newVersion ?? SCHEMA_VERSION).catch((error: unknown) => {
        upgradeFailure = error;
      });
    },
    blocked(currentVersion, blockedVersion) {
      const requestedVersion = blockedVersion ?? SCHEMA_VERSION;
      options.onBlocked?.({ currentVersion, requestedVersion });
      blockedTimer ??= setTimeout(() => {
        rejectBlocked(
          new StoreError(
            'BLOCKED',
            `an open connection at version ${currentVersion} blocks the upgrade`,
            {
              currentVersion,
              requestedVersion,
            },
          ),
        );
      }, options.blockedTimeoutMs ?? 10_000);
    },
    // Another connection wants a newer version, or to delete the database: let it, by
    // closing ours (a deletion asks for no version).
    blocking(_currentVersion, blockedVersion) {
      store?.lose(blockedVersion === null ? 'deleted' : 'versionchange');
    },
    terminated() {
      store?.lose('terminated');
    },
  });

  let db: IDBPDatabase<LocalfitDB>;
  try {
    db = await Promise.race([opening, blocked]);
  } catch (error) {
    if (isStoreError(error, 'BLOCKED')) {
      // The request stays queued; should it ever open, close it at once.
      opening.then(
        (late) => late.close(),
        () => {},
      );
      throw error;
    }
    throw await openFailure(name, error, upgradeFailure, fromVersion);
  } finally {
    clearTimeout(blockedTimer);
  }
  store = new Store(name, db, options);
  store.created = created;
  return store;
}

/**
 * `openDB`, whose synchronous throw (Firefox's SecurityError where the person blocked site
 * data) becomes a rejection, so that every refusal to open is handled in one place.
 */
function openRequest(
  name: string,
  callbacks: Parameters<typeof openDB<LocalfitDB>>[2],
): Promise<IDBPDatabase<LocalfitDB>> {
  try {
    return openDB<LocalfitDB>(name, SCHEMA_VERSION, callbacks);
  } catch (error) {
    return Promise.reject(error);
  }
}

async function openFailure(
  name: string,
  error: unknown,
  upgradeFailure: unknown,
  fromVersion: number,
) {
  if ((error as Error)?.name === 'VersionError') {
    // The requested version is lower than the stored one: the browser refused without
    // touching anything. Say which version we found, if the browser tells us.
    const found = await storedSchemaVersion(name);
    return new StoreError(
      'SCHEMA_TOO_NEW',
      `database "${name}" has schema version ${found ?? '(newer)'}, this code knows up to ${SCHEMA_VERSION}`,
      { found, supported: SCHEMA_VERSION },
    );
  }
  if (upgradeFailure !== undefined) {
    return new StoreError(
      'UPGRADE_FAILED',
      `upgrading "${name}" failed: ${String(upgradeFailure)}`,
      { cause: upgradeFailure, fromVersion },
    );
  }
  return new StoreError('UNAVAILABLE', `cannot open "${name}": ${String(error)}`, { cause: error });
}

/** The schema version of a stored database, or undefined if absent or the browser won't say. */
export async function storedSchemaVersion(name: string): Promise<number | undefined> {
  try {
    const all = await globalThis.indexedDB.databases();
    return all.find((info) => info.name === name)?.version;
  } catch {
    return undefined;
  }
}

/** Deletes a store's database (close every connection to it first, or this waits). */
export function deleteStore(name: string): Promise<void> {
  return deleteDB(name);
}

/**
 * An open store: the repositories over one IndexedDB connection. One writer per origin is the
 * runtime's job (a Web Lock); every operation here is a self-contained transaction, so a second
 * connection can never half-apply anything, and appends stay exactly-once across connections.
 */
export class Store {
  readonly schemaVersion = SCHEMA_VERSION;
  readonly context: StoreContext;
  readonly versions: VersionRepository;
  readonly models: ModelRepository;
  readonly outcomes: OutcomeLog;
  readonly snapshots: SnapshotRepository;
  readonly outbox: Outbox;
  readonly meta: MetaRepository;
  /** What opening had to repair (a rebuilt database, an interrupted rebuild finished). */
  readonly recoveries: string[] = [];
  /**
   * This open created the database: there was none of this name (a first start, or the
   * browser removed it — eviction, Safari's 7 days, site data cleared). Set by `openStore`.
   */
  created = false;
  private connection: IDBPDatabase<LocalfitDB> | undefined;
  private closedBecause: string | undefined;

  readonly name: string;
  private readonly options: OpenOptions;
  constructor(name: string, db: IDBPDatabase<LocalfitDB>, options: OpenOptions = {}) {
    this.name = name;
    this.options = options;
    this.connection = db;
    const store = this;
    const limits: StoreLimits = { ...DEFAULT_LIMITS, ...options.limits };
    const context: StoreContext = {
      get db() {
        return store.db;
      },
      limits,
      now: options.now ?? (() => Date.now()),
      guardWrite: (bytes, write) => withQuota(context, bytes, write),
    };
    this.context = context;
    this.versions = new VersionRepository(context);
    this.models = new ModelRepository(context);
    this.outcomes = new OutcomeLog(context);
    this.snapshots = new SnapshotRepository(context);
    this.outbox = new Outbox(context);
    this.meta = new MetaRepository(context);
  }

  /** The connection; StoreError('CLOSED') once it is closed. */
  get db(): IDBPDatabase<LocalfitDB> {
    if (!this.connection) {
      throw new StoreError('CLOSED', `store "${this.name}" is closed (${this.closedBecause})`, {
        reason: this.closedBecause,
      });
    }
    return this.connection;
  }

  get closed(): boolean {
    return this.connection === undefined;
  }

  async stats(): Promise<StoreStats> {
    const [usage, counters] = await Promise.all([this.meta.usage(), this.meta.counters()]);
    return {
      schemaVersion: this.schemaVersion,
      usage,
      totalSize: totalSize(usage),
      counters,
      outcomesEvicted: counters[COUNTERS.outcomesEvicted] ?? 0,
      outboxDropped: counters[COUNTERS.outboxDropped] ?? 0,
    };
  }

  /** Problems that would stop a clean start (missing bytes, corrupt snapshots…); never throws. */
  async checkIntegrity(options: { verifyModels?: boolean } = {}): Promise<IntegrityProblem[]> {
    return checkIntegrity(this.context, options);
  }

  /** Keeps production, staging and the last K retired versions; see retention.ts. */
  async applyRetention(options: { keepArchived?: number } = {}): Promise<RetentionResult> {
    return applyRetention(this.context, options);
  }

  /** Closes the connection (pending transactions still finish). */
  close(): void {
    this.connection?.close();
    this.connection = undefined;
    this.closedBecause ??= 'closed';
  }

  /** The connection went away by itself (see `OpenOptions.onClose`). @internal */
  lose(reason: CloseReason): void {
    if (!this.connection) return;
    this.closedBecause = reason;
    this.close();
    this.options.onClose?.(reason);
  }
}
