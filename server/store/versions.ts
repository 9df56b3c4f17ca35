/**
 * Model versions and their lifecycle (design.md, "Concepts"):
 *
 *   publish  → staging (with a weight)
 *   ramp     staging → staging (new weight)
 *   promote  staging → production; the previous production → archived
 *   rollback staging → rolled_back
 *            production → rolled_back; the most recently archived version → production
 *
 * Every action is one transaction that first locks the single `manifest_state` row: admin
 * actions are serialised across server processes, so checks such as "staged weights sum to at
 * most 1" cannot race, and each change bumps the manifest revision and writes its audit entry
 * in the same commit. A refused action (ApiError) rolls back and changes nothing.
 *
 * Staged versions hold disjoint bucket ranges (server/rollout/bucket_ranges.ts): publish picks
 * the lowest free start, a ramp keeps it and only extends or shrinks the range (a version at
 * weight 0 serves no device, so its ramp may place it afresh). The rollout policy acts through
 * these same functions, with `expect` guarding against state that changed since it looked.
 */
import type { AdminVersion, PublishRequest } from '../../src/protocol/admin.ts';
import type { Database, Queryable } from '../db/database.ts';
import { ApiError } from '../http/errors.ts';
import { type BucketRange, placeRange, rangeProblem } from '../rollout/bucket_ranges.ts';
import { purgeBeforeStaging, recordEpoch } from '../rollout/epochs.ts';
import { recordAudit } from './audit.ts';

/** Weights are floats: 0.7 + 0.2 + 0.1 must still count as 1. */
const WEIGHT_EPSILON = 1e-9;

interface VersionRow {
  seq: number;
  id: string;
  semver: string;
  model_sha256: string;
  size: number;
  feature_spec: Record<string, unknown>;
  head: Record<string, unknown> | null;
  status: AdminVersion['status'];
  weight: number;
  bucket_start: number | null;
  autopilot: boolean;
  metadata: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
}

const SELECT_VERSIONS = `
  select v.seq, v.id, v.semver, v.model_sha256, m.size, v.feature_spec, v.head, v.status,
         v.weight, v.bucket_start, v.autopilot, v.metadata, v.created_at, v.updated_at
  from versions v join models m on m.sha256 = v.model_sha256`;

function toAdminVersion(row: VersionRow): AdminVersion {
  return {
    id: row.id,
    semver: row.semver,
    status: row.status,
    weight: row.weight,
    bucketStart: row.status === 'staging' ? row.bucket_start : null,
    autopilot: row.autopilot,
    model: { sha256: row.model_sha256, bytes: row.size },
    featureSpec: row.feature_spec,
    head: row.head,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    // Only versions that say where they came from (a federated round) carry it.
    ...(row.metadata ? { metadata: row.metadata } : {}),
  };
}

export async function listVersions(db: Queryable): Promise<AdminVersion[]> {
  const { rows } = await db.query<VersionRow>(`${SELECT_VERSIONS} order by v.seq`);
  return rows.map(toAdminVersion);
}

/** Versions the manifest carries: production first, then staged ones in publish order. */
export async function liveVersions(db: Queryable): Promise<AdminVersion[]> {
  const { rows } = await db.query<VersionRow>(
    `${SELECT_VERSIONS} where v.status in ('production', 'staging')
     order by (v.status = 'production') desc, v.seq`,
  );
  return rows.map(toAdminVersion);
}

/** A version by id (`v3`) or semver (`1.2.0`). */
async function findVersion(tx: Queryable, ref: string): Promise<VersionRow> {
  const { rows } = await tx.query<VersionRow>(
    `${SELECT_VERSIONS} where v.id = $1 or v.semver = $1`,
    [ref],
  );
  if (rows.length === 0) throw new ApiError(404, 'NOT_FOUND', `no version ${ref}`);
  return rows[0];
}

/** Locks the manifest state for the rest of the transaction (see the module comment). */
export async function lockManifest(tx: Queryable): Promise<void> {
  await tx.query('select revision from manifest_state where id = 1 for update');
}

/**
 * A new revision: the database clock's microseconds since 1970, or one more than the last
 * revision if the clock has not passed it (server/manifest.ts, "Revisions", says why: a
 * restored backup must not sign below what devices already hold). clock_timestamp rather
 * than now(): a transaction that waited for the lock started before the one it waited for
 * committed, and neither the revision nor issuedAt may go backwards. The new rollout state
 * opens an epoch (server/rollout/epochs.ts).
 */
export async function bumpRevision(tx: Queryable): Promise<void> {
  await tx.query(
    `update manifest_state m
     set revision = greatest(m.revision + 1, (extract(epoch from c.at) * 1000000)::bigint),
         changed_at = greatest(m.changed_at, c.at)
     from (select clock_timestamp() as at) c
     where m.id = 1`,
  );
  await recordEpoch(tx);
}

async function stagedWeightExcept(tx: Queryable, exceptId: string | null): Promise<number> {
  const { rows } = await tx.query<{ total: number | null }>(
    `select sum(weight) as total from versions where status = 'staging' and id <> coalesce($1, '')`,
    [exceptId],
  );
  return rows[0]?.total ?? 0;
}

async function checkWeights(tx: Queryable, exceptId: string | null, weight: number) {
  const others = await stagedWeightExcept(tx, exceptId);
  if (others + weight > 1 + WEIGHT_EPSILON)
    throw new ApiError(
      409,
      'WEIGHTS_EXCEED_ONE',
      `staged weights would sum to ${round(others + weight)} (> 1): the other staged versions hold ${round(others)}`,
    );
}

/** Bucket ranges of the staged versions other than `exceptId`. */
async function stagedRanges(tx: Queryable, exceptId: string | null): Promise<BucketRange[]> {
  const { rows } = await tx.query<{ id: string; bucket_start: number | null; weight: number }>(
    `select id, bucket_start, weight from versions
     where status = 'staging' and id <> coalesce($1, '') order by seq`,
    [exceptId],
  );
  return rows.map((row) => ({ id: row.id, start: row.bucket_start ?? 0, weight: row.weight }));
}

function describeRanges(ranges: BucketRange[]): string {
  const live = ranges.filter((r) => r.weight > 0);
  if (live.length === 0) return 'none';
  return live.map((r) => `${r.id} [${r.start}, ${round(r.start + r.weight)})`).join(', ');
}

/** The lowest free start for `weight`, or BUCKETS_OVERLAP when no gap is wide enough. */
async function freeStart(tx: Queryable, exceptId: string | null, weight: number): Promise<number> {
  const taken = await stagedRanges(tx, exceptId);
  const start = placeRange(taken, weight);
  if (start === null)
    throw new ApiError(
      409,
      'BUCKETS_OVERLAP',
      `no free bucket range of width ${weight}: staged ranges are ${describeRanges(taken)}; ramp one down, promote or roll one back first`,
    );
  return start;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

const SEMVER =
  /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(?:-[0-9A-Za-z.-]{1,40})?(?:\+[0-9A-Za-z.-]{1,40})?$/;

export function isSemver(value: string): boolean {
  return SEMVER.test(value);
}

function nextSemver(existing: string[]): string {
  let best: [number, number, number] | null = null;
  for (const semver of existing) {
    const match = SEMVER.exec(semver);
    if (!match) continue;
    const parts: [number, number, number] = [Number(match[1]), Number(match[2]), Number(match[3])];
    if (!best || parts[0] > best[0] || (parts[0] === best[0] && parts[1] > best[1])) best = parts;
  }
  return best ? `${best[0]}.${best[1] + 1}.0` : '1.0.0';
}

export interface PublishInput extends Omit<PublishRequest, 'featureSpec' | 'actor'> {
  featureSpec: Record<string, unknown>;
  actor: string;
  /** Where the version came from (server/federated/ sets it); shown to admins only. */
  metadata?: Record<string, unknown>;
}

export async function publishVersion(db: Database, input: PublishInput): Promise<AdminVersion> {
  return db.transaction(async (tx) => {
    await lockManifest(tx);
    return publishVersionIn(tx, input);
  });
}

/** Publishes inside a transaction that already holds the manifest lock ({@link lockManifest}). */
export async function publishVersionIn(tx: Queryable, input: PublishInput): Promise<AdminVersion> {
  const model = await tx.query('select 1 from models where sha256 = $1', [input.model.sha256]);
  if (model.rowCount === 0)
    throw new ApiError(
      422,
      'UNKNOWN_MODEL',
      `no model ${input.model.sha256}: upload it first (PUT /v1/admin/models/<sha256>)`,
    );
  const existing = await tx.query<{ semver: string; seq: number }>(
    'select semver, seq from versions',
  );
  const semver = input.semver ?? nextSemver(existing.rows.map((row) => row.semver));
  if (existing.rows.some((row) => row.semver === semver))
    throw new ApiError(409, 'VERSION_EXISTS', `a version ${semver} exists already`);
  await checkWeights(tx, null, input.weight);
  const bucketStart = await freeStart(tx, null, input.weight);
  const seq = existing.rows.reduce((max, row) => Math.max(max, row.seq), 0) + 1;
  const id = `v${seq}`;
  await tx.query(
    `insert into versions
       (seq, id, semver, model_sha256, feature_spec, head, status, weight, bucket_start,
        metadata)
     values ($1, $2, $3, $4, $5::jsonb, $6::jsonb, 'staging', $7, $8, $9::jsonb)`,
    [
      seq,
      id,
      semver,
      input.model.sha256,
      JSON.stringify(input.featureSpec),
      input.head ? JSON.stringify(input.head) : null,
      input.weight,
      bucketStart,
      input.metadata ? JSON.stringify(input.metadata) : null,
    ],
  );
  await purgeBeforeStaging(tx, id);
  await recordAudit(tx, {
    actor: input.actor,
    action: 'publish',
    versionId: id,
    why: input.why,
    details: { semver, sha256: input.model.sha256, weight: input.weight, bucketStart },
  });
  await bumpRevision(tx);
  return toAdminVersion(await findVersion(tx, id));
}

/**
 * Every admin action on a version starts the same way: take the manifest lock (actions run one
 * at a time), find the version, and refuse with INVALID_TRANSITION unless its status allows it.
 */
async function lockVersionIn(
  tx: Queryable,
  ref: string,
  allowed: readonly string[],
  action: string,
): Promise<VersionRow> {
  await lockManifest(tx);
  const version = await findVersion(tx, ref);
  if (!allowed.includes(version.status)) {
    const which = allowed.map((status) => (status === 'staging' ? 'staged' : status)).join(' or ');
    throw new ApiError(
      409,
      'INVALID_TRANSITION',
      `${version.id} is ${version.status}; only a ${which} version ${action}`,
    );
  }
  return version;
}

export interface Intent {
  actor: string;
  why?: string;
  /** Added to the audit entry's details (the policy records its evidence here). */
  details?: Record<string, unknown>;
  /**
   * Act only if the version is still as the caller last saw it (the rollout policy decides on
   * a reading, then acts; an admin may have acted in between). Else INVALID_TRANSITION.
   */
  expect?: { status?: 'staging' | 'production'; weight?: number };
}

function checkExpected(version: VersionRow, intent: Intent): void {
  const expected = intent.expect;
  if (!expected) return;
  if (
    (expected.status !== undefined && version.status !== expected.status) ||
    (expected.weight !== undefined && version.weight !== expected.weight)
  )
    throw new ApiError(
      409,
      'INVALID_TRANSITION',
      `${version.id} changed meanwhile (now ${version.status} at weight ${version.weight})`,
    );
}

export async function rampVersion(
  db: Database,
  ref: string,
  weight: number,
  intent: Intent,
): Promise<AdminVersion> {
  return db.transaction(async (tx) => {
    const version = await lockVersionIn(tx, ref, ['staging'], 'has a weight to ramp');
    checkExpected(version, intent);
    await checkWeights(tx, version.id, weight);
    let start = version.bucket_start ?? 0;
    // At weight 0 no device serves it, so it may move; otherwise its start stays put.
    if (version.weight === 0 && weight > 0) start = await freeStart(tx, version.id, weight);
    else {
      const problem = rangeProblem(await stagedRanges(tx, version.id), start, weight);
      if (problem)
        throw new ApiError(
          409,
          'BUCKETS_OVERLAP',
          `cannot ramp ${version.id} to ${weight}: ${problem}`,
        );
    }
    await tx.query(
      `update versions set weight = $2, bucket_start = $3, updated_at = clock_timestamp()
       where id = $1`,
      [version.id, weight, start],
    );
    await recordAudit(tx, {
      actor: intent.actor,
      action: 'ramp',
      versionId: version.id,
      why: intent.why,
      details: { ...intent.details, from: version.weight, to: weight, bucketStart: start },
    });
    if (weight !== version.weight || start !== version.bucket_start) await bumpRevision(tx);
    return toAdminVersion(await findVersion(tx, version.id));
  });
}

export async function promoteVersion(
  db: Database,
  ref: string,
  intent: Intent,
): Promise<AdminVersion> {
  return db.transaction(async (tx) => {
    const version = await lockVersionIn(tx, ref, ['staging'], 'can be promoted');
    checkExpected(version, intent);
    const previous = await tx.query<{ id: string }>(
      `update versions set status = 'archived', weight = 0, updated_at = clock_timestamp()
       where status = 'production' returning id`,
    );
    await tx.query(
      `update versions set status = 'production', weight = 0, bucket_start = null,
         updated_at = clock_timestamp()
       where id = $1`,
      [version.id],
    );
    await recordAudit(tx, {
      actor: intent.actor,
      action: 'promote',
      versionId: version.id,
      why: intent.why,
      details: {
        ...intent.details,
        previousProduction: previous.rows[0]?.id ?? null,
        stagedWeight: version.weight,
      },
    });
    await bumpRevision(tx);
    return toAdminVersion(await findVersion(tx, version.id));
  });
}

export async function rollbackVersion(
  db: Database,
  ref: string,
  intent: Intent,
): Promise<AdminVersion> {
  return db.transaction(async (tx) => {
    const version = await lockVersionIn(tx, ref, ['staging', 'production'], 'can be rolled back');
    checkExpected(version, intent);
    await tx.query(
      `update versions set status = 'rolled_back', weight = 0, bucket_start = null,
         updated_at = clock_timestamp()
       where id = $1`,
      [version.id],
    );
    // Rolling back production restores the version it replaced, which devices still keep.
    let restored: string | null = null;
    if (version.status === 'production') {
      const { rows } = await tx.query<{ id: string }>(
        `update versions set status = 'production', updated_at = clock_timestamp()
         where id = (select id from versions where status = 'archived'
                     order by updated_at desc, seq desc limit 1)
         returning id`,
      );
      restored = rows[0]?.id ?? null;
    }
    await recordAudit(tx, {
      actor: intent.actor,
      action: 'rollback',
      versionId: version.id,
      why: intent.why,
      details: {
        ...intent.details,
        from: version.status,
        restoredProduction: restored,
        stagedWeight: version.weight,
      },
    });
    await bumpRevision(tx);
    return toAdminVersion(await findVersion(tx, version.id));
  });
}

/**
 * Turns the rollout policy on or off for one version (audited). The manifest does not change,
 * so the revision does not move.
 */
export async function setAutopilot(
  db: Database,
  ref: string,
  enabled: boolean,
  intent: Intent,
): Promise<AdminVersion> {
  return db.transaction(async (tx) => {
    await lockManifest(tx);
    const version = await findVersion(tx, ref);
    await tx.query('update versions set autopilot = $2 where id = $1', [version.id, enabled]);
    await recordAudit(tx, {
      actor: intent.actor,
      action: 'autopilot',
      versionId: version.id,
      why: intent.why,
      details: { from: version.autopilot, to: enabled },
    });
    return toAdminVersion(await findVersion(tx, version.id));
  });
}
