import type { DBSchema, IDBPDatabase, IDBPTransaction } from 'idb';
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import type { HeadState, Label } from '../learn/types.ts';
import type { VersionStatus } from '../protocol/index.ts';
import { approxSize } from './size.ts';

/**
 * The IndexedDB schema: record types, and one upgrade step per schema version.
 *
 * Opening a database at version `old` runs exactly the steps `old+1 … SCHEMA_VERSION`, in order,
 * inside the single `versionchange` transaction the browser gives us, so an upgrade either
 * happens completely or not at all. Steps are append-only history: never edit a released step,
 * add a new one (and a test that upgrades from every earlier version).
 */

/** A version's status: the manifest's, which the device mirrors (src/protocol/manifest.ts). */
export type { VersionStatus };

export interface StatusChange {
  /** `null` when the version was added. */
  from: VersionStatus | null;
  to: VersionStatus;
  at: number;
  reason?: string;
}

export interface VersionRecord {
  id: string;
  semver: string;
  /** Lowercase hex sha256 of the model bytes (the key in `models`). */
  modelSha256: string;
  featureSpec: FeatureSpec;
  status: VersionStatus;
  /** Share of traffic (0..1) the server gives this version while it is staged. */
  weight: number;
  createdAt: number;
  /** Time of the last status (or weight) change; retention orders archived versions by it. */
  updatedAt: number;
  history: StatusChange[];
  /** Anything else the manifest says about the version (trained-on, metrics, initial head…). */
  metadata?: Record<string, unknown>;
}

export interface ModelRecord {
  sha256: string;
  data: ArrayBuffer;
  storedAt: number;
  /** Approximate stored size in bytes (schema ≥ 3). */
  size: number;
}

export interface SnapshotRecord {
  /** Auto-increment: a higher id is a later write. */
  id: number;
  versionId: string;
  /** Sequence number of the last outcome the head has learned from (0: none). */
  seq: number;
  createdAt: number;
  head: HeadState;
  /** The online scaler's state, opaque to the store (any structured-clone value). */
  scaler?: unknown;
  /** Hash over everything above; see checksum.ts. */
  checksum: string;
  size: number;
}

/** What the app said about an outcome beyond its label (for CTR and ranking metrics). */
export interface OutcomeReport {
  kind?: 'impression' | 'click' | 'conversion';
  /** The slate the outcome's prediction belonged to, and the candidate's index in it. */
  slate?: { id: string; candidate: number; gain?: number };
}

export interface OutcomeRecord {
  /** Auto-increment sequence number: the order outcomes are learned in. */
  seq: number;
  /** The app's id for the outcome; unique, so an outcome is stored (and learned) once. */
  clientId: string;
  /** The version whose prediction the outcome answers. */
  versionId: string;
  ts: number;
  /** The example, packed column by column (usually n = 1). */
  example: PackedBatch;
  label: Label;
  size: number;
  /** Replayed with the outcome, so rebuilt metric windows add up the same. */
  report?: OutcomeReport;
}

export interface OutboxRecord {
  /** Auto-increment: enqueue order. */
  id: number;
  /** Idempotency key sent with the batch; unique, so a batch is queued once. */
  key: string;
  body: unknown;
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
  size: number;
}

export type UsageKind = 'outcomes' | 'snapshots' | 'models' | 'outbox';
export type Usage = Record<UsageKind, { count: number; size: number }>;

/** Keys of the `meta` store and the types of their values. */
export interface MetaValues {
  installId: string;
  /** Named event counters (evictions, drops…); see `COUNTERS` in meta.ts. */
  counters: Record<string, number>;
  /** Rollout id → the device's bucket in [0, 1). */
  buckets: Record<string, number>;
  /** Approximate record counts and sizes, kept in step with every write (schema ≥ 3). */
  usage: Usage;
  /** The sync client's registration with its server (src/delivery/credentials.ts); opaque here. */
  syncCredentials: unknown;
  /** The metrics reporter's durable state (src/reporting/reporter.ts); opaque here. */
  syncReporter: unknown;
  /** The rollout's manifest client: the last accepted revision and ETag (src/rollout). */
  rolloutManifest: unknown;
  /** The federated participant's rounds contributed to (src/federated/participant.ts). */
  federated: unknown;
}

/** Meta keys other modules own: the store keeps their values without looking inside. */
export type OpaqueMetaKey = 'syncCredentials' | 'syncReporter' | 'rolloutManifest' | 'federated';

export interface LocalfitDB extends DBSchema {
  versions: {
    key: string;
    value: VersionRecord;
    indexes: { 'by-status': VersionStatus; 'by-model': string };
  };
  models: { key: string; value: ModelRecord };
  snapshots: { key: number; value: SnapshotRecord; indexes: { 'by-version': string } };
  outcomes: {
    key: number;
    value: OutcomeRecord;
    indexes: { 'by-client-id': string; 'by-version': string };
  };
  outbox: {
    key: number;
    value: OutboxRecord;
    indexes: { 'by-key': string; 'by-next-attempt': number };
  };
  meta: { key: keyof MetaValues; value: MetaValues[keyof MetaValues] };
}

/**
 * Steps see the database untyped: the typed schema above describes only the newest version, and
 * an old step must keep working with the stores as they were when it was written.
 */
// biome-ignore lint/suspicious/noExplicitAny: upgrade steps deal with past schemas, untyped.
type AnyDB = IDBPDatabase<any>;
// biome-ignore lint/suspicious/noExplicitAny: as above.
type UpgradeTx = IDBPTransaction<any, any, 'versionchange'>;
export type UpgradeStep = (db: AnyDB, tx: UpgradeTx) => void | Promise<void>;

export function emptyUsage(): Usage {
  return {
    outcomes: { count: 0, size: 0 },
    snapshots: { count: 0, size: 0 },
    models: { count: 0, size: 0 },
    outbox: { count: 0, size: 0 },
  };
}

/** `UPGRADES[i]` takes a database from version i to version i + 1. */
export const UPGRADES: readonly UpgradeStep[] = [
  // v1: versions, model bytes, head snapshots, the outcome log, device metadata.
  async (db, tx) => {
    const versions = db.createObjectStore('versions', { keyPath: 'id' });
    versions.createIndex('by-status', 'status');
    versions.createIndex('by-model', 'modelSha256');
    db.createObjectStore('models', { keyPath: 'sha256' });
    const snapshots = db.createObjectStore('snapshots', { keyPath: 'id', autoIncrement: true });
    snapshots.createIndex('by-version', 'versionId');
    const outcomes = db.createObjectStore('outcomes', { keyPath: 'seq', autoIncrement: true });
    // Unique: a second add of the same client id fails, whatever the code above it does.
    outcomes.createIndex('by-client-id', 'clientId', { unique: true });
    db.createObjectStore('meta');
    // Made with the database, in the same transaction, so there is exactly one per install.
    const meta = tx.objectStore('meta');
    await Promise.all([
      meta.put(globalThis.crypto.randomUUID(), 'installId'),
      meta.put({}, 'counters'),
      meta.put({}, 'buckets'),
    ]);
  },
  // v2: the metrics outbox, and outcomes by version (evaluation windows per version).
  (db, tx) => {
    const outbox = db.createObjectStore('outbox', { keyPath: 'id', autoIncrement: true });
    outbox.createIndex('by-key', 'key', { unique: true });
    outbox.createIndex('by-next-attempt', 'nextAttemptAt');
    tx.objectStore('outcomes').createIndex('by-version', 'versionId');
  },
  // v3: approximate size accounting (for the byte cap and stats): a `size` on every record and
  // running totals in meta.usage. Existing records are measured here, once.
  async (_db, tx) => {
    const usage = emptyUsage();
    for (const kind of ['outcomes', 'snapshots', 'models', 'outbox'] as const) {
      let cursor = await tx.objectStore(kind).openCursor();
      while (cursor) {
        const { size: _old, ...content } = cursor.value;
        const size = approxSize(content);
        usage[kind].count += 1;
        usage[kind].size += size;
        await cursor.update({ ...content, size });
        cursor = await cursor.continue();
      }
    }
    await tx.objectStore('meta').put(usage, 'usage');
  },
];

export const SCHEMA_VERSION = UPGRADES.length;

/**
 * Runs the steps from `oldVersion` to `newVersion` in order. If any step fails the transaction
 * is aborted, so the database stays at `oldVersion` with its data as it was. (`upgrades` is
 * replaceable only so tests can prove that with a failing step.)
 */
export function runUpgrades(
  db: AnyDB,
  tx: UpgradeTx,
  oldVersion: number,
  newVersion: number,
  upgrades: readonly UpgradeStep[] = UPGRADES,
): Promise<void> {
  const steps = upgrades.slice(oldVersion, newVersion);
  // The open request reports an aborted upgrade; keep idb's `done` from going unhandled.
  tx.done.catch(() => {});
  return (async () => {
    for (const step of steps) await step(db, tx);
  })().catch((error: unknown) => {
    try {
      tx.abort();
    } catch {
      // Already finished or aborted: the open request reports the failure.
    }
    throw error;
  });
}
