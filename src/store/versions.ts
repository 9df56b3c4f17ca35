import type { IDBPTransaction } from 'idb';
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import { validateFeatureSpec } from '../backbone/feature_spec.ts';
import type { StoreContext } from './context.ts';
import { StoreError } from './errors.ts';
import { canTransition, INITIAL_STATUSES, isLive } from './lifecycle.ts';
import type { LocalfitDB, VersionRecord, VersionStatus } from './schema.ts';
import { inTransaction } from './tx.ts';

export interface NewVersion {
  id: string;
  semver: string;
  modelSha256: string;
  featureSpec: FeatureSpec;
  /** Default `draft`. `staging`/`production` need the model bytes stored first. */
  status?: VersionStatus;
  /** Staged weight (0..1); only meaningful while staging. */
  weight?: number;
  metadata?: Record<string, unknown>;
  createdAt?: number;
}

export interface TransitionOptions {
  reason?: string;
  /** Staged weight, when moving to `staging`. */
  weight?: number;
}

type VersionTx = IDBPTransaction<LocalfitDB, ('versions' | 'models')[], 'readwrite'>;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Model versions and their lifecycle. Every change runs in one transaction that checks the
 * change first, so an invalid one throws INVALID_TRANSITION and changes nothing. At most one
 * version is ever in production: promoting one archives the previous in the same transaction.
 */
export class VersionRepository {
  private readonly ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /**
   * Adds a version. Adding the same id again with the same model and semver is a no-op that
   * returns the stored record (manifests repeat themselves); different content is CONFLICT.
   */
  async add(input: NewVersion): Promise<VersionRecord> {
    const status = input.status ?? 'draft';
    checkNewVersion(input, status);
    const now = this.ctx.now();
    return inTransaction(this.ctx.db, ['versions', 'models'], 'readwrite', async (tx) => {
      const versions = tx.objectStore('versions');
      const existing = await versions.get(input.id);
      if (existing) {
        if (existing.modelSha256 === input.modelSha256 && existing.semver === input.semver) {
          return existing;
        }
        throw new StoreError('CONFLICT', `version ${input.id} exists with other content`, {
          versionId: input.id,
        });
      }
      if (isLive(status)) await requireModel(tx, input.modelSha256, input.id, status);
      if (status === 'production' && (await versions.index('by-status').count('production')) > 0) {
        throw new StoreError(
          'INVALID_TRANSITION',
          `cannot add ${input.id} as production: a production version exists (promote instead)`,
          { versionId: input.id, to: status },
        );
      }
      const record: VersionRecord = {
        id: input.id,
        semver: input.semver,
        modelSha256: input.modelSha256,
        featureSpec: input.featureSpec,
        status,
        weight: weightFor(status, input.weight),
        createdAt: input.createdAt ?? now,
        updatedAt: now,
        history: [{ from: null, to: status, at: now }],
        ...(input.metadata ? { metadata: input.metadata } : {}),
      };
      await versions.add(record);
      return record;
    });
  }

  async get(id: string): Promise<VersionRecord | undefined> {
    return this.ctx.db.get('versions', id);
  }

  /** All versions, or those with one status, oldest-created first. */
  async list(status?: VersionStatus): Promise<VersionRecord[]> {
    const records = status
      ? await this.ctx.db.getAllFromIndex('versions', 'by-status', status)
      : await this.ctx.db.getAll('versions');
    return records.sort((a, b) => a.createdAt - b.createdAt || compare(a.id, b.id));
  }

  async production(): Promise<VersionRecord | undefined> {
    return (await this.list('production'))[0];
  }

  /**
   * Moves a version along the lifecycle. Moving to `production` archives the current production
   * version in the same transaction. Moving to `staging` or `production` requires the model bytes.
   */
  async transition(
    id: string,
    to: VersionStatus,
    options: TransitionOptions = {},
  ): Promise<VersionRecord> {
    if (options.weight !== undefined) checkWeight(options.weight);
    const at = this.ctx.now();
    return inTransaction(this.ctx.db, ['versions', 'models'], 'readwrite', async (tx) => {
      const record = await requireVersion(tx, id);
      return moveTo(tx, record, to, at, options);
    });
  }

  /** Sets the staged weight of a version in staging (a ramp). */
  async setWeight(id: string, weight: number): Promise<VersionRecord> {
    checkWeight(weight);
    const at = this.ctx.now();
    return inTransaction(this.ctx.db, ['versions'], 'readwrite', async (tx) => {
      const versions = tx.objectStore('versions');
      const record = await versions.get(id);
      if (!record) throw new StoreError('NOT_FOUND', `no version ${id}`, { versionId: id });
      if (record.status !== 'staging') {
        throw new StoreError('INVALID_TRANSITION', `${id} is ${record.status}, not staging`, {
          versionId: id,
        });
      }
      const updated = { ...record, weight, updatedAt: at };
      await versions.put(updated);
      return updated;
    });
  }

  /**
   * Instant rollback in one transaction: production → rolled_back, and an archived version
   * (`to`, or the most recently archived one) → production.
   */
  async rollback(
    options: { to?: string; reason?: string } = {},
  ): Promise<{ rolledBack: VersionRecord; production: VersionRecord }> {
    const at = this.ctx.now();
    return inTransaction(this.ctx.db, ['versions', 'models'], 'readwrite', async (tx) => {
      const index = tx.objectStore('versions').index('by-status');
      const current = (await index.getAll('production'))[0];
      if (!current)
        throw new StoreError('INVALID_TRANSITION', 'no production version to roll back');
      let target: VersionRecord | undefined;
      if (options.to !== undefined) {
        target = await requireVersion(tx, options.to);
      } else {
        target = (await index.getAll('archived')).sort(newestFirst)[0];
        if (!target)
          throw new StoreError('INVALID_TRANSITION', 'no archived version to roll back to');
      }
      if (target.status !== 'archived') {
        throw new StoreError(
          'INVALID_TRANSITION',
          `${target.id} is ${target.status}, not archived`,
          {
            versionId: target.id,
          },
        );
      }
      const rolledBack = await moveTo(tx, current, 'rolled_back', at, options);
      const production = await moveTo(tx, target, 'production', at, options);
      return { rolledBack, production };
    });
  }
}

async function moveTo(
  tx: VersionTx,
  record: VersionRecord,
  to: VersionStatus,
  at: number,
  options: TransitionOptions,
): Promise<VersionRecord> {
  if (!canTransition(record.status, to)) {
    throw new StoreError(
      'INVALID_TRANSITION',
      `${record.id}: ${record.status} → ${to} is not allowed`,
      {
        versionId: record.id,
        from: record.status,
        to,
      },
    );
  }
  if (isLive(to)) await requireModel(tx, record.modelSha256, record.id, to);
  const versions = tx.objectStore('versions');
  if (to === 'production') {
    for (const previous of await versions.index('by-status').getAll('production')) {
      await versions.put(changed(previous, 'archived', at, `superseded by ${record.id}`));
    }
  }
  const updated = changed(record, to, at, options.reason, options.weight);
  await versions.put(updated);
  return updated;
}

function changed(
  record: VersionRecord,
  to: VersionStatus,
  at: number,
  reason?: string,
  weight?: number,
): VersionRecord {
  return {
    ...record,
    status: to,
    weight: weightFor(to, weight ?? record.weight),
    updatedAt: at,
    history: [...record.history, { from: record.status, to, at, ...(reason ? { reason } : {}) }],
  };
}

/** The weight a status implies: all traffic in production, none once retired. */
function weightFor(status: VersionStatus, weight = 0): number {
  if (status === 'production') return 1;
  if (status === 'staging') return weight;
  return 0;
}

async function requireVersion(tx: VersionTx, id: string): Promise<VersionRecord> {
  const record = await tx.objectStore('versions').get(id);
  if (!record) throw new StoreError('NOT_FOUND', `no version ${id}`, { versionId: id });
  return record;
}

async function requireModel(tx: VersionTx, sha256: string, id: string, to: VersionStatus) {
  if ((await tx.objectStore('models').getKey(sha256)) === undefined) {
    throw new StoreError('NOT_FOUND', `cannot make ${id} ${to}: its model bytes are not stored`, {
      versionId: id,
      sha256,
    });
  }
}

function checkNewVersion(input: NewVersion, status: VersionStatus): void {
  const bad = (why: string): never => {
    throw new StoreError('BAD_RECORD', `version ${String(input?.id)}: ${why}`);
  };
  if (typeof input?.id !== 'string' || input.id === '') bad('id must be a non-empty string');
  if (typeof input.semver !== 'string') bad('semver must be a string');
  if (typeof input.modelSha256 !== 'string' || !SHA256_HEX.test(input.modelSha256)) {
    bad('modelSha256 must be 64 lowercase hex digits');
  }
  if (!INITIAL_STATUSES.includes(status)) bad(`cannot be added as ${status}`);
  if (input.weight !== undefined) checkWeight(input.weight);
  try {
    validateFeatureSpec(input.featureSpec);
  } catch (error) {
    bad((error as Error).message);
  }
}

function checkWeight(weight: number): void {
  if (!(weight >= 0 && weight <= 1)) {
    throw new StoreError('BAD_RECORD', `a staged weight is in [0, 1], got ${weight}`);
  }
}

export function newestFirst(a: VersionRecord, b: VersionRecord): number {
  return b.updatedAt - a.updatedAt || compare(b.id, a.id);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
