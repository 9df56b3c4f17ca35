/**
 * Rollout epochs, and which windows may speak for a version.
 *
 * An epoch is the manifest's rollout state between two changes: the rollout id, the production
 * version, and every staged version's bucket range. One is recorded with every revision, in the
 * same transaction under the manifest lock (store/versions.ts), so the history of who was in
 * which arm is exact and survives restarts.
 *
 * The app key is public, so anyone can register an install and post windows. A window's
 * evidence (its outcomes, paired comparison and version events) counts for version V only if it
 * could have come from a device that served V when the window was measured:
 *
 * - some epoch overlapping the window's span (widened by `CLOCK_SKEW_MS` for device clocks
 *   and for devices that have not fetched the newest manifest yet) has V as production, or has
 *   V staged with the install's bucket — sha256(install id, rollout id), the very function
 *   devices use (src/rollout/arm.ts) — in V's range;
 * - for a staged V, the install was registered before V was published (installs made after
 *   staging cannot pick their way into an arm: their bucket is fixed, but their number is not);
 * - a paired comparison is against that epoch's production version.
 *
 * Windows that fail are stored (acknowledged data is never lost) but flagged `rejected` with
 * the reason, left out of every sum, and counted per (version, install, reason) in
 * `evidence_rejections`, which status shows. Only windows of versions staged now are judged:
 * the policy reads nothing else, and a version is staged once, at publish. Windows naming a
 * version that does not exist are counted as before (status shows them); publishing a version
 * purges whatever was sent for its id before it existed (`purgeBeforeStaging`).
 */

import type { RejectedEvidence } from '../../src/protocol/admin.ts';
import type { MetricWindow } from '../../src/protocol/index.ts';
import { rolloutBucket } from '../../src/rollout/arm.ts';
import { prepared, type Queryable } from '../db/database.ts';
import { hitSql, type RateDecision, type RateLimiter } from '../http/rate_limit.ts';
import { sha256Hex } from '../tokens.ts';

/** Changes exactly when the set of staged version ids changes (not with their weights). */
export function rolloutId(stagedIds: string[]): string {
  return `r-${sha256Hex([...stagedIds].sort().join('\n')).slice(0, 16)}`;
}

/**
 * How far a window's span is widened when matched against epochs: device clocks drift, and a
 * device keeps serving the manifest it has until it fetches the next one (SSE, or its poll).
 */
export const CLOCK_SKEW_MS = 10 * 60_000;

/** At most this many epochs are read per batch (a window spanning years gains nothing). */
const MAX_EPOCHS = 256;

export type RejectReason =
  /** No epoch overlapping the window had the version live (staged or production). */
  | 'not_live'
  /** The install's bucket lay outside the version's range in every overlapping epoch. */
  | 'outside_arm'
  /** The install was registered after the version was staged. */
  | 'registered_after_staging'
  /** The paired comparison's baseline was not the production version of that time. */
  | 'wrong_baseline'
  /** Sent for the version's id before the version existed. */
  | 'before_staging';

interface StagedRange {
  id: string;
  start: number;
  weight: number;
}

interface Epoch {
  rollout: string;
  production: string | null;
  staged: StagedRange[];
  from: number;
  to: number | null;
}

/**
 * Closes the open epoch and opens one for the state as it is now. Call under the manifest lock,
 * after the change, in the change's transaction.
 */
export async function recordEpoch(tx: Queryable): Promise<void> {
  const { rows } = await tx.query<{ id: string; status: string; weight: number; start: number }>(
    `select id, status, weight, coalesce(bucket_start, 0) as start from versions
     where status in ('staging', 'production') order by seq`,
  );
  const staged = rows.filter((r) => r.status === 'staging');
  await tx.query('update rollout_epochs set to_at = clock_timestamp() where to_at is null');
  await tx.query(
    `insert into rollout_epochs (from_at, rollout, production_version_id, staged)
     values (clock_timestamp(), $1, $2, $3::jsonb)`,
    [
      rolloutId(staged.map((r) => r.id)),
      rows.find((r) => r.status === 'production')?.id ?? null,
      JSON.stringify(staged.map((r) => ({ id: r.id, start: r.start, weight: r.weight }))),
    ],
  );
}

/** Opens the first epoch of a database made before epochs were kept (at start-up). */
export async function ensureEpoch(tx: Queryable): Promise<void> {
  await tx.query('select revision from manifest_state where id = 1 for update');
  const open = await tx.query('select 1 from rollout_epochs where to_at is null');
  if (open.rowCount === 0) await recordEpoch(tx);
}

/**
 * Publishing `versionId`: anything sent for that id before it existed was sent by someone who
 * guessed the next id. Leaves the windows stored, flagged, and counts them as rejected.
 */
export async function purgeBeforeStaging(tx: Queryable, versionId: string): Promise<void> {
  const flagged = await tx.query<{ install_id: string; windows: number; outcomes: number }>(
    `with flagged as (
       update metric_windows set rejected = 'before_staging'
       where version_id = $1 and rejected is null
       returning install_id, (body->>'count')::float8 as outcomes
     )
     select install_id, count(*)::int as windows, sum(outcomes)::float8 as outcomes
     from flagged group by install_id order by install_id`,
    [versionId],
  );
  if (flagged.rowCount === 0) return;
  await addRejections(
    tx,
    flagged.rows.map((r) => ({
      version_id: versionId,
      install_id: r.install_id,
      reason: 'before_staging',
      windows: r.windows,
      outcomes: r.outcomes,
    })),
  );
  for (const table of [
    'version_install_totals',
    'version_totals',
    'paired_totals',
    'paired_version_totals',
    'paired_hourly',
    'version_event_totals',
  ])
    await tx.query(`delete from ${table} where version_id = $1`, [versionId]);
}

interface RejectionRow {
  version_id: string;
  install_id: string;
  reason: RejectReason;
  windows: number;
  outcomes: number;
}

async function addRejections(tx: Queryable, rows: RejectionRow[]): Promise<void> {
  await tx.query(
    `insert into evidence_rejections as t (version_id, install_id, reason, windows, outcomes)
     select x.version_id, x.install_id, x.reason, x.windows, x.outcomes
     from jsonb_to_recordset($1::jsonb)
       as x(version_id text, install_id text, reason text, windows bigint, outcomes float8)
     on conflict (version_id, install_id, reason) do update set
       windows = least(t.windows::numeric + excluded.windows, 9000000000000000000)::bigint,
       outcomes = t.outcomes + excluded.outcomes`,
    [JSON.stringify(rows)],
  );
}

/** Counts rejected windows of one install (one statement; sorted for lock order). */
export async function recordRejections(
  tx: Queryable,
  installId: string,
  rejected: { w: MetricWindow; reason: RejectReason }[],
): Promise<void> {
  if (rejected.length === 0) return;
  const rows = new Map<string, RejectionRow>();
  for (const { w, reason } of rejected) {
    const key = JSON.stringify([w.versionId, reason]);
    const row = rows.get(key) ?? {
      version_id: w.versionId,
      install_id: installId,
      reason,
      windows: 0,
      outcomes: 0,
    };
    row.windows += 1;
    row.outcomes += w.count;
    rows.set(key, row);
  }
  await addRejections(
    tx,
    [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, row]) => row),
  );
}

/** What judging needs, read once for a group of batches (one per install). */
interface JudgeState {
  /** The rate limit's answer per install, when the read counted hits. */
  decisions: Map<string, RateDecision>;
  /** When each install registered (ms). */
  registered: Map<string, number>;
  versions: Map<string, { created: number; staging: boolean }>;
  epochs: Epoch[];
}

/**
 * What a batch's transaction takes first, so that the judge's read (a later statement, so a
 * later snapshot) sees the manifest state no admin action is changing. Constant and without
 * parameters: it can go with BEGIN (TransactionOptions.first).
 */
export const LOCK_MANIFEST_SHARED_SQL = 'select 1 from manifest_state where id = 1 for share';

const LOCK_SQL = prepared(LOCK_MANIFEST_SHARED_SQL);

/**
 * $1 install ids, $2 version ids, $3/$4 the windows' span; with `hit`, also counts a rate-limit
 * hit for every install ($5 scope, $6 keys, $7 window seconds: server/http/rate_limit.ts) in
 * the same statement.
 */
const judgeStateSql = (hit: boolean) =>
  `${hit ? `with hit as (${hitSql('$5', '$6', '$7')})\n` : ''}select ${hit ? "(select jsonb_agg(jsonb_build_object('key', key, 'hits', hits, 'left', left_seconds)) from hit) as hits,\n" : ''}(select jsonb_agg(jsonb_build_object('id', id, 'created', created_at))
        from installs where id = any($1::text[])) as registered,
       (select jsonb_agg(jsonb_build_object('id', id, 'created', created_at, 'status', status))
        from versions where id = any($2::text[])) as versions,
       coalesce((select jsonb_agg(e) from (
         select rollout, production_version_id as production, staged, from_at, to_at
         from rollout_epochs
         where from_at <= to_timestamp($4::float8 / 1000)
           and (to_at is null or to_at >= to_timestamp($3::float8 / 1000))
         order by id desc limit ${MAX_EPOCHS}) e), '[]'::jsonb) as epochs`;

const JUDGE_STATE_SQL = prepared(judgeStateSql(false));
const JUDGE_STATE_WITH_HIT_SQL = prepared(judgeStateSql(true));

export interface JudgeOptions {
  /** The transaction took LOCK_MANIFEST_SHARED_SQL already (with BEGIN). */
  locked?: boolean;
  /** Count a hit on this limiter for each batch's install in the judge's read. */
  limiter?: RateLimiter;
}

/** One batch to judge: its install and windows (installs distinct within one call). */
export interface JudgedBatch {
  installId: string;
  windows: MetricWindow[];
}

export interface Judgement {
  /** Why each window may not speak for its version (null: it may), by window id. */
  verdicts: Map<string, RejectReason | null>;
  /** The rate limit's answer, when a limiter counted a hit; refused batches get no verdicts. */
  decision?: RateDecision;
}

/**
 * Reads what judging the batches needs, holding the manifest state `for share` until they
 * commit: admin actions (which lock it for update) wait, so a version published meanwhile is
 * either seen here or purges these batches' windows after they commit.
 */
async function readJudgeState(
  tx: Queryable,
  batches: JudgedBatch[],
  options: JudgeOptions,
): Promise<JudgeState> {
  if (!options.locked) await tx.query(LOCK_SQL);
  const windows = batches.flatMap((b) => b.windows);
  const installs = batches.map((b) => b.installId);
  const ids = [...new Set(windows.map((w) => w.versionId))];
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const w of windows) {
    from = Math.min(from, w.start - CLOCK_SKEW_MS);
    to = Math.max(to, w.end + CLOCK_SKEW_MS);
  }
  const { limiter } = options;
  const { rows } = await tx.query<{
    hits?: { key: string; hits: number; left: number }[];
    registered: { id: string; created: string }[] | null;
    versions: { id: string; created: string; status: string }[] | null;
    epochs: {
      rollout: string;
      production: string | null;
      staged: StagedRange[];
      from_at: string;
      to_at: string | null;
    }[];
  }>(limiter ? JUDGE_STATE_WITH_HIT_SQL : JUDGE_STATE_SQL, [
    installs,
    ids,
    from,
    to,
    ...(limiter ? limiter.hitParams(installs) : []),
  ]);
  const row = rows[0];
  return {
    decisions: new Map(
      limiter ? (row.hits ?? []).map((h) => [h.key, limiter.decide(h.key, h.hits, h.left)]) : [],
    ),
    registered: new Map((row.registered ?? []).map((r) => [r.id, Date.parse(r.created)])),
    versions: new Map(
      (row.versions ?? []).map((v) => [
        v.id,
        { created: Date.parse(v.created), staging: v.status === 'staging' },
      ]),
    ),
    epochs: row.epochs.map((e) => ({
      rollout: e.rollout,
      production: e.production,
      staged: e.staged,
      from: Date.parse(e.from_at),
      to: e.to_at === null ? null : Date.parse(e.to_at),
    })),
  };
}

/**
 * Judges each batch's windows (and, with a limiter, counts each install's hit) in one read.
 * `complete` is false when the read met the cap on epochs (MAX_EPOCHS): a group's span is
 * wider than each batch's, so a caller judging several batches at once should then judge
 * them one by one, as a batch alone would be.
 */
export async function judgeBatches(
  tx: Queryable,
  batches: JudgedBatch[],
  options: JudgeOptions = {},
): Promise<{ judgements: Judgement[]; complete: boolean }> {
  if (batches.some((b) => b.windows.length === 0))
    throw new RangeError('judgeBatches: a batch has windows');
  const state = await readJudgeState(tx, batches, options);
  const judgements: Judgement[] = [];
  for (const { installId, windows } of batches) {
    const decision = state.decisions.get(installId);
    const verdicts = new Map<string, RejectReason | null>();
    judgements.push({ verdicts, ...(decision ? { decision } : {}) });
    if (decision && !decision.ok) continue;
    const buckets = new Map<string, Promise<number>>();
    const bucketIn = (rollout: string) => {
      let bucket = buckets.get(rollout);
      if (!bucket) {
        bucket = rolloutBucket(installId, rollout);
        buckets.set(rollout, bucket);
      }
      return bucket;
    };
    const registered = state.registered.get(installId) ?? Number.POSITIVE_INFINITY;
    for (const w of windows) verdicts.set(w.windowId, await judge(w, state, registered, bucketIn));
  }
  return { judgements, complete: state.epochs.length < MAX_EPOCHS };
}

async function judge(
  w: MetricWindow,
  state: JudgeState,
  registered: number,
  bucketIn: (rollout: string) => Promise<number>,
): Promise<RejectReason | null> {
  const version = state.versions.get(w.versionId);
  // Not a version (yet): status shows it; publishing the id purges it (purgeBeforeStaging).
  // Not staged now (production, archived, rolled back): the policy reads nothing of it, and
  // it can never be staged again.
  if (!version?.staging) return null;
  const from = w.start - CLOCK_SKEW_MS;
  const to = w.end + CLOCK_SKEW_MS;
  const overlapping = state.epochs.filter((e) => e.from <= to && (e.to === null || e.to >= from));
  // The most telling reason wins when several epochs fail differently.
  let reason: RejectReason = 'not_live';
  const worse = (r: RejectReason) => {
    const order: RejectReason[] = ['not_live', 'outside_arm', 'wrong_baseline'];
    if (order.indexOf(r) > order.indexOf(reason)) reason = r;
  };
  for (const epoch of overlapping) {
    const range = epoch.staged.find((r) => r.id === w.versionId);
    if (!range) continue;
    if (registered >= version.created) return 'registered_after_staging';
    const bucket = await bucketIn(epoch.rollout);
    if (!(bucket >= range.start && bucket < range.start + range.weight)) {
      worse('outside_arm');
      continue;
    }
    if (w.paired && w.paired.n > 0 && w.paired.baselineVersionId !== epoch.production) {
      worse('wrong_baseline');
      continue;
    }
    return null;
  }
  return reason;
}

/** Rejected evidence per version and reason, for status. */
export async function readRejections(db: Queryable): Promise<Map<string, RejectedEvidence[]>> {
  const { rows } = await db.query<{ version_id: string } & RejectedEvidence>(
    `select version_id, reason, count(*)::int as installs, sum(windows)::float8 as windows,
       sum(outcomes)::float8 as outcomes
     from evidence_rejections group by version_id, reason order by version_id, reason`,
  );
  const out = new Map<string, RejectedEvidence[]>();
  for (const { version_id, ...entry } of rows)
    out.set(version_id, [...(out.get(version_id) ?? []), entry]);
  return out;
}
