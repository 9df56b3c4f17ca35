/**
 * Storing metric batches exactly once, however often a device retries.
 *
 * One transaction per batch:
 *  0. Judge which windows may speak for their version (server/rollout/epochs.ts): the others
 *     are stored with their reason, counted as rejected, and added to no sum.
 *  1. Claim the (install, idempotency key) row. If it exists, this is a retry: the same body
 *     (by canonical hash) gets the stored answer again, a different one IDEMPOTENCY_CONFLICT.
 *     Two concurrent requests with one key serialise on this insert: the second waits for the
 *     first to commit, then sees its row and replays its answer (READ COMMITTED lets the next
 *     statement see the committed row).
 *  2. Insert the windows, skipping window ids this install already stored (by the id ledger
 *     `metric_window_ids`, which outlives the raw windows' retention); a skipped one must
 *     have the same content (else WINDOW_CONFLICT and nothing is written).
 *  3. Add the new windows to the per-(version, install) running sums, and the same sums to
 *     the per-version rollups that status, the policy and the scheduler read (`version_totals`,
 *     `paired_version_totals`: a few rows per version, a device counted when its first row is
 *     inserted; CTEs of the same statement, so no extra round trip), and their device-side
 *     version events (store/version_events.ts; a separate statement, only for batches that
 *     carry events).
 *  4. Record the answer with the claim.
 *
 * Statements take whole batches as one JSON parameter (jsonb_to_recordset), so a batch costs
 * a fixed handful of round trips whatever its size. In the normal case (a new key, every
 * window new) steps 1–4 are one statement: it claims the key with the answer "all stored",
 * inserts the windows, and adds the sums only if every window was indeed inserted. Anything
 * else (a retry, a window stored before) falls back to the separate steps, in the same
 * transaction, from where that statement left off. So a new batch costs 4 round trips and
 * one commit: BEGIN with the manifest lock (one simple query), the per-install rate-limit hit
 * with the judge's read (one statement: the hit needs no commit of its own), the statement,
 * COMMIT. Hot statements are prepared once per connection (db/database.ts `prepared`). Each
 * round trip costs a socket write and a wake-up in both processes, and with durable commits
 * each commit waits for a WAL flush: before, a batch took 6 round trips and 2 commits, and
 * 8.1 ms of CPU (server + PostgreSQL) per 10-window request; now 4.8 ms
 * (bench/server_ingest_durable.ts, `server.scale`).
 */

import { canonicalJson } from '../../src/protocol/canonical_json.ts';
import type {
  MetricsBatch,
  MetricsResponse,
  MetricWindow,
  PairedComparison,
} from '../../src/protocol/index.ts';
import { type Database, prepared, type Queryable } from '../db/database.ts';
import { ApiError } from '../http/errors.ts';
import { enforce, type RateDecision, type RateLimiter } from '../http/rate_limit.ts';
import { judgeWindows, LOCK_MANIFEST_SHARED_SQL, recordRejections } from '../rollout/epochs.ts';
import { sha256Hex } from '../tokens.ts';
import {
  ALL_METRIC_COLUMNS,
  COUNT_COLUMNS,
  emptyMetricSums,
  type MetricSums,
  SUM_COLUMNS,
} from './metric_columns.ts';
import { addEvents, hasEvents } from './version_events.ts';

export interface IngestResult {
  status: 200 | 201;
  body: MetricsResponse;
  /** True when this was a retry answered from the stored response. */
  replayed: boolean;
}

export interface IngestOptions {
  /**
   * The per-install limit, counted inside the batch's transaction (in the judge's read): a
   * refusal commits the hit alone and throws 429 RATE_LIMITED.
   */
  limiter?: RateLimiter;
}

export async function ingestBatch(
  db: Database,
  installId: string,
  batch: MetricsBatch,
  options: IngestOptions = {},
): Promise<IngestResult> {
  // sentAt says when this attempt was sent, so a retry may change it: not part of identity.
  const { sentAt: _sentAt, ...identity } = batch;
  // Each window's canonical text once: its hash, the batch's hash and the stored body.
  const texts = batch.windows.map((w) => canonicalJson(w));
  const bodyHash = sha256Hex(batchCanonicalJson(identity, texts));
  // Sorted, so that concurrent batches of one install take row locks in the same order
  // (no deadlocks between them).
  const windows = batch.windows
    .map((w, i) => ({ w, text: texts[i], hash: sha256Hex(texts[i]) }))
    .sort((a, b) => (a.w.windowId < b.w.windowId ? -1 : a.w.windowId > b.w.windowId ? 1 : 0));
  const allStored: MetricsResponse = {
    idempotencyKey: batch.idempotencyKey,
    windows: batch.windows.length,
    stored: batch.windows.length,
    duplicates: 0,
  };
  const all = windows.map(({ w }) => w);
  const { limiter } = options;
  const outcome = await db.transaction<IngestResult | { refused: RateDecision }>(
    async (tx) => {
      // Which windows may speak for their version (server/rollout/epochs.ts); the others are
      // stored, flagged, counted as rejected and left out of every sum.
      const { verdicts, decision } = await judgeWindows(tx, installId, all, {
        locked: true,
        ...(limiter ? { hit: { limiter, key: installId } } : {}),
      });
      // Over the limit: commit the hit alone (so it counts), answer 429 outside.
      if (decision && !decision.ok) return { refused: decision };
      const counts = (w: MetricWindow) => !verdicts.get(w.windowId);
      const counted = all.filter(counts);
      const paired = pairedRows(counted);
      const { rows } = await tx.query<{ claimed: boolean; fresh: string[] | null }>(
        paired.length > 0 ? INGEST_WITH_PAIRED_SQL : INGEST_SQL,
        [
          installId,
          batch.idempotencyKey,
          bodyHash,
          JSON.stringify(allStored),
          windowRows(windows, verdicts),
          windows.length,
          totalsRows(counted),
          rollupShard(installId),
          ...(paired.length > 0 ? [JSON.stringify(paired)] : []),
        ],
      );
      if (!rows[0].claimed) return replay(tx, installId, batch.idempotencyKey, bodyHash);
      const fresh = new Set(rows[0].fresh ?? []);
      const rejectedOf = (stored: MetricWindow[]) =>
        stored.flatMap((w) => {
          const reason = verdicts.get(w.windowId);
          return reason ? [{ w, reason }] : [];
        });
      if (fresh.size === windows.length) {
        if (hasEvents(counted)) await addEvents(tx, installId, counted);
        await recordRejections(tx, installId, rejectedOf(all));
        return { status: 201, body: allStored, replayed: false };
      }

      // Some windows were stored before: the statement claimed the key and inserted the new
      // windows, but added no sums. Check the repeated ones, add the new ones, fix the answer.
      const repeated = windows.filter(({ w }) => !fresh.has(w.windowId));
      await checkRepeatedWindows(tx, installId, repeated);
      const stored = all.filter((w) => fresh.has(w.windowId));
      const storedCounted = stored.filter(counts);
      if (storedCounted.length > 0) {
        await addTotals(tx, installId, storedCounted);
        await addPaired(tx, installId, storedCounted);
        await addEvents(tx, installId, storedCounted);
      }
      await recordRejections(tx, installId, rejectedOf(stored));
      const body: MetricsResponse = {
        idempotencyKey: batch.idempotencyKey,
        windows: batch.windows.length,
        stored: stored.length,
        duplicates: repeated.length,
      };
      await tx.query(
        `update metric_batches set response = $3::jsonb
       where install_id = $1 and idempotency_key = $2`,
        [installId, batch.idempotencyKey, JSON.stringify(body)],
      );
      return { status: 201, body, replayed: false };
    },
    { first: LOCK_MANIFEST_SHARED_SQL },
  );
  if ('refused' in outcome) {
    enforce(outcome.refused);
    throw new Error('unreachable: a refusal throws');
  }
  return outcome;
}

/**
 * canonicalJson(identity) for a batch whose windows' canonical texts are `windows` (in order):
 * the same bytes, without canonicalising every window a second time (canonicalJson was the
 * largest single cost of ingest in the server's CPU profile).
 */
export function batchCanonicalJson(identity: object, windows: string[]): string {
  const record = identity as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((key) => record[key] !== undefined)
    .sort();
  const value = (key: string) =>
    key === 'windows' ? `[${windows.join(',')}]` : canonicalJson(record[key]);
  return `{${keys.map((key) => `${JSON.stringify(key)}:${value(key)}`).join(',')}}`;
}

/** The windows as one JSON array for the statement; each body is its canonical text. */
function windowRows(
  windows: { w: MetricWindow; text: string; hash: string }[],
  verdicts: Map<string, string | null>,
): string {
  const rows = windows.map(
    ({ w, text, hash }) =>
      `{"window_id":${JSON.stringify(w.windowId)},"version_id":${JSON.stringify(w.versionId)},` +
      `"content_hash":"${hash}","body":${text},"rejected":${JSON.stringify(verdicts.get(w.windowId) ?? null)}}`,
  );
  return `[${rows.join(',')}]`;
}

async function replay(
  tx: Queryable,
  installId: string,
  key: string,
  bodyHash: string,
): Promise<IngestResult> {
  const { rows } = await tx.query<{ body_hash: string; response: MetricsResponse | null }>(
    'select body_hash, response from metric_batches where install_id = $1 and idempotency_key = $2',
    [installId, key],
  );
  const row = rows[0];
  if (!row || row.body_hash !== bodyHash || !row.response)
    throw new ApiError(
      409,
      'IDEMPOTENCY_CONFLICT',
      `idempotency key ${key} was used for a different batch`,
    );
  // Rebuilt in the original key order (jsonb does not keep it): the same bytes as the first answer.
  const { idempotencyKey, windows, stored, duplicates } = row.response;
  return { status: 201, body: { idempotencyKey, windows, stored, duplicates }, replayed: true };
}

async function checkRepeatedWindows(
  tx: Queryable,
  installId: string,
  repeated: { w: MetricWindow; hash: string }[],
): Promise<void> {
  const { rows } = await tx.query<{ window_id: string; content_hash: string }>(
    `select window_id, content_hash from metric_window_ids
     where install_id = $1 and window_id in (select jsonb_array_elements_text($2::jsonb))`,
    [installId, JSON.stringify(repeated.map(({ w }) => w.windowId))],
  );
  const stored = new Map(rows.map((row) => [row.window_id, row.content_hash]));
  for (const { w, hash } of repeated)
    if (stored.get(w.windowId) !== hash)
      throw new ApiError(
        409,
        'WINDOW_CONFLICT',
        `window ${w.windowId} was stored before with different contents`,
      );
}

/** One version's sums over the windows of one batch, as the totals table's columns. */
interface TotalsRow extends MetricSums {
  version_id: string;
  auc_positive: number[] | null;
  auc_negative: number[] | null;
  ranking_k: number | null;
  first_start: number;
  last_end: number;
}

function emptyTotals(versionId: string, w: MetricWindow): TotalsRow {
  return {
    version_id: versionId,
    ...emptyMetricSums(),
    auc_positive: null,
    auc_negative: null,
    ranking_k: null,
    first_start: w.start,
    last_end: w.end,
  };
}

function addArrays(into: number[] | null, add: number[]): number[] {
  return into ? into.map((x, i) => x + add[i]) : [...add];
}

export function sumWindows(windows: MetricWindow[]): TotalsRow[] {
  const byVersion = new Map<string, TotalsRow>();
  for (const w of windows) {
    let t = byVersion.get(w.versionId);
    if (!t) {
      t = emptyTotals(w.versionId, w);
      byVersion.set(w.versionId, t);
    }
    t.windows += 1;
    t.samples += w.count;
    if (w.loglossSum !== undefined) {
      t.logloss_sum += w.loglossSum;
      t.logloss_samples += w.count;
    }
    if (w.correct !== undefined) {
      t.correct += w.correct;
      t.correct_samples += w.count;
    }
    if (w.squaredErrorSum !== undefined || w.absoluteErrorSum !== undefined) {
      t.squared_error_sum += w.squaredErrorSum ?? 0;
      t.absolute_error_sum += w.absoluteErrorSum ?? 0;
      t.error_samples += w.count;
    }
    t.positives += w.positives ?? 0;
    if (w.auc) {
      t.auc_positive = addArrays(t.auc_positive, w.auc.positive);
      t.auc_negative = addArrays(t.auc_negative, w.auc.negative);
    }
    if (w.ctr) {
      t.impressions += w.ctr.impressions;
      t.clicks += w.ctr.clicks;
      t.conversions += w.ctr.conversions;
    }
    if (w.ranking) {
      t.ranking_k = w.ranking.k;
      t.slates += w.ranking.slates;
      t.precision_sum += w.ranking.precisionSum;
      t.recall_sum += w.ranking.recallSum;
      t.ndcg_sum += w.ranking.ndcgSum;
    }
    if (w.drift) {
      t.drift_alerts += w.drift.alerts;
      if (w.drift.prediction) {
        t.prediction_count += w.drift.prediction.count;
        t.prediction_sum += w.drift.prediction.sum;
        t.prediction_sum_sq += w.drift.prediction.sumSq;
      }
    }
    t.dropped += w.dropped ?? 0;
    t.first_start = Math.min(t.first_start, w.start);
    t.last_end = Math.max(t.last_end, w.end);
  }
  // Sorted by version: the same lock order in every transaction.
  return [...byVersion.values()].sort((a, b) =>
    a.version_id < b.version_id ? -1 : a.version_id > b.version_id ? 1 : 0,
  );
}

const ADDED_COLUMNS = ALL_METRIC_COLUMNS;

/**
 * Counts saturate at 9e18 instead of overflowing bigint: a device that kept sending huge
 * counts would otherwise, one day, turn its own ingest into a storage error. (Each window's
 * numbers are bounded by validation, so float8 sums cannot overflow in any realistic time.)
 */
const addCount = (column: string) =>
  `${column} = least(t.${column}::numeric + excluded.${column}, 9000000000000000000)::bigint`;

/**
 * Element-wise sum of two histograms, as migration 2's localfit_add_histograms (a missing one
 * adds nothing, the shorter is padded with zeros), in plain SQL: measured 0.027 ms per call
 * against the plpgsql loop's 0.10 ms, and ingest adds four histograms per version per batch.
 */
const addHistogram = (column: string) => `${column} = case
      when t.${column} is null then excluded.${column}
      when excluded.${column} is null then t.${column}
      else array(select coalesce(a, 0) + coalesce(b, 0)
                 from unnest(t.${column}, excluded.${column}) with ordinality as h(a, b, i)
                 order by i) end`;

/**
 * How many rows each version's rollup is split into. Every batch adds to its version's rollup
 * row in the same transaction and holds that row's lock until it commits, so with one row per
 * version concurrent batches would queue behind each other; installs are spread over this
 * many rows (by a hash of the id) and readers add up a handful of rows per version.
 */
export const ROLLUP_SHARDS = 16;

/** The rollup row an install adds to (any fixed function of the id would do). */
export function rollupShard(installId: string): number {
  return Number.parseInt(sha256Hex(installId).slice(0, 8), 16) % ROLLUP_SHARDS;
}

/** The columns of a jsonb_to_recordset of TotalsRow. */
const TOTALS_RECORD = `version_id text,
    ${ADDED_COLUMNS.map((c) => `${c} float8`).join(',\n    ')},
    auc_positive text, auc_negative text, ranking_k integer,
    first_start bigint, last_end bigint`;

/** Adds `excluded` to `t`'s metric columns and histograms (an on conflict … set list). */
const ADD_METRICS = `${COUNT_COLUMNS.map(addCount).join(',\n    ')},
    ${SUM_COLUMNS.map((c) => `${c} = t.${c} + excluded.${c}`).join(',\n    ')},
    ${addHistogram('auc_positive')},
    ${addHistogram('auc_negative')}`;

/**
 * Two CTEs, `totals` and `totals_rollup`: add `rows` (a jsonb array of TotalsRow) for install
 * `install` to its running totals, and the same sums to the version's rollup row `shard`
 * (`version_totals`, which status and the scheduler read), counting the install as a new
 * device of the version when its totals row was inserted rather than updated (`xmax = 0`:
 * the row has no updating transaction; a concurrent batch of the same install that inserted
 * first makes this one an update, so a device is counted once).
 */
const totalsCtes = (install: string, rows: string, shard: string, where = '') => `totals as (
  insert into version_install_totals as t
    (version_id, install_id, ${ADDED_COLUMNS.join(', ')}, auc_positive, auc_negative,
     ranking_k, first_start, last_end)
  select x.version_id, ${install}, ${ADDED_COLUMNS.map((c) => `x.${c}`).join(', ')},
         x.auc_positive::float8[], x.auc_negative::float8[], x.ranking_k, x.first_start, x.last_end
  from jsonb_to_recordset(${rows}::jsonb) as x(
    ${TOTALS_RECORD})
  ${where}
  on conflict (version_id, install_id) do update set
    ${ADD_METRICS},
    ranking_k = coalesce(excluded.ranking_k, t.ranking_k),
    first_start = least(t.first_start, excluded.first_start),
    last_end = greatest(t.last_end, excluded.last_end),
    updated_at = now()
  returning t.version_id, (t.xmax = 0) as fresh
), totals_rollup as (
  insert into version_totals as t
    (version_id, shard, devices, ${ADDED_COLUMNS.join(', ')}, auc_positive, auc_negative, ranking_k)
  select x.version_id, ${shard}, case when r.fresh then 1 else 0 end,
         ${ADDED_COLUMNS.map((c) => `x.${c}`).join(', ')},
         x.auc_positive::float8[], x.auc_negative::float8[], x.ranking_k
  from totals r join jsonb_to_recordset(${rows}::jsonb) as x(
    ${TOTALS_RECORD}) on x.version_id = r.version_id
  order by x.version_id
  on conflict (version_id, shard) do update set
    devices = t.devices + excluded.devices,
    ${ADD_METRICS},
    ranking_k = greatest(t.ranking_k, excluded.ranking_k)
)`;

/** The columns of a jsonb_to_recordset of paired rows (pairedRows). */
const PAIRED_RECORD = `version_id text, "baselineVersionId" text, n bigint, "diffSum" float8, "diffSumSq" float8`;

/**
 * Two CTEs, `paired` and `paired_rollup`: add `rows` (a jsonb array of paired sums per version
 * and baseline) to `install`'s paired totals and to the rollup row `shard` of each (version,
 * baseline) (`paired_version_totals`, read by status), new devices counted as in totalsCtes.
 *
 * The install's row also keeps the outcomes received since its version's `updated_at` (when
 * its weight last changed), which the policy reads (rollout/evidence.ts): `weight_since` is
 * the `updated_at` the count belongs to, and a batch that finds a different one starts the
 * count again. A batch is received at `now()` (its transaction's start, as `received_at` is)
 * and counts if that is not before `updated_at`. Exact, because admin actions set
 * `updated_at` to clock_timestamp() under the manifest lock, and ingest holds that lock (for
 * share) before this statement: a batch that read an older `updated_at` started before the
 * change, so none of its outcomes count at the new weight anyway.
 */
const pairedCtes = (install: string, rows: string, shard: string, where = '') => `paired as (
  insert into paired_totals as t
    (version_id, baseline_version_id, install_id, n, diff_sum, diff_sum_sq, weight_since, n_at_weight)
  select x.version_id, x."baselineVersionId", ${install}, x.n, x."diffSum", x."diffSumSq",
    v.updated_at, case when now() >= v.updated_at then x.n else 0 end
  from jsonb_to_recordset(${rows}::jsonb) as x(${PAIRED_RECORD})
    left join versions v on v.id = x.version_id
  ${where}
  on conflict (version_id, baseline_version_id, install_id) do update set
    ${addCount('n')},
    diff_sum = t.diff_sum + excluded.diff_sum,
    diff_sum_sq = t.diff_sum_sq + excluded.diff_sum_sq,
    n_at_weight = case when t.weight_since is not distinct from excluded.weight_since
      then least(t.n_at_weight::numeric + excluded.n_at_weight, 9000000000000000000)::bigint
      else excluded.n_at_weight end,
    weight_since = excluded.weight_since
  returning t.version_id, t.baseline_version_id, (t.xmax = 0) as fresh
), paired_rollup as (
  insert into paired_version_totals as t
    (version_id, baseline_version_id, shard, devices, n, diff_sum, diff_sum_sq)
  select x.version_id, x."baselineVersionId", ${shard}, case when r.fresh then 1 else 0 end,
    x.n, x."diffSum", x."diffSumSq"
  from paired r join jsonb_to_recordset(${rows}::jsonb) as x(${PAIRED_RECORD})
    on x.version_id = r.version_id and x."baselineVersionId" = r.baseline_version_id
  order by x.version_id, x."baselineVersionId"
  on conflict (version_id, baseline_version_id, shard) do update set
    devices = t.devices + excluded.devices,
    ${addCount('n')},
    diff_sum = t.diff_sum + excluded.diff_sum,
    diff_sum_sq = t.diff_sum_sq + excluded.diff_sum_sq
)`;

/**
 * Adds the same paired rows to `paired_hourly`, under the hour the windows are stored in
 * (`now()` is the transaction's start, as is the windows' `received_at`). The policy reads
 * `paired_totals.n_at_weight` instead since migration 11 (it backfilled that from here); the
 * hourly rows stay the record of outcomes per hour once raw windows are past retention.
 */
const pairedHourlySql = (install: string, rows: string, where = '') => `
  insert into paired_hourly as t (version_id, baseline_version_id, hour, install_id, n)
  select x.version_id, x."baselineVersionId", ${HOUR_OF('now()')}, ${install}, x.n
  from jsonb_to_recordset(${rows}::jsonb)
    as x(version_id text, "baselineVersionId" text, n bigint)
  ${where}
  on conflict (version_id, baseline_version_id, hour, install_id) do update set
    ${addCount('n')}`;

/** The UTC hour a timestamptz falls in (whatever the session's time zone). */
export const HOUR_OF = (at: string) =>
  `date_bin('1 hour', ${at}, timestamptz '2000-01-01 00:00:00+00')`;

/**
 * Steps 1–4 in one statement, for the normal case. Parameters: $1 install, $2 key, $3 body
 * hash, $4 the answer if every window is new, $5 the windows (windowRows), $6 their number,
 * $7 their sums (totalsRows), $8 the install's rollup shard (rollupShard), $9 paired sums
 * (pairedRows; INGEST_WITH_PAIRED_SQL only).
 *
 * The windows are inserted only if the key was claimed here, and the sums added only if every
 * window was inserted (`complete`); otherwise the statement leaves the claim and the new
 * windows for ingestBatch to finish. Data-modifying CTEs read each other's output only through
 * RETURNING, which is all this needs. They run claim → windows (read by the select), then
 * totals → their rollup → paired → its rollups: the same lock order as the separate steps.
 */
const ingestSql = (withPaired: boolean) => `
  with claim as (
    insert into metric_batches (install_id, idempotency_key, body_hash, response)
    values ($1, $2, $3, $4::jsonb)
    on conflict (install_id, idempotency_key) do nothing
    returning 1
  ), ids as (
    insert into metric_window_ids (install_id, window_id, content_hash)
    select $1, x.window_id, x.content_hash
    from jsonb_to_recordset($5::jsonb) as x(window_id text, content_hash text)
    where exists (select from claim)
    on conflict (install_id, window_id) do nothing
    returning window_id
  ), inserted as (
    insert into metric_windows
      (install_id, window_id, idempotency_key, version_id, content_hash, body, rejected)
    select distinct on (x.window_id)
      $1, x.window_id, $2, x.version_id, x.content_hash, x.body, x.rejected
    from jsonb_to_recordset($5::jsonb)
      as x(window_id text, version_id text, content_hash text, body jsonb, rejected text)
    where x.window_id in (select window_id from ids)
    returning window_id
  ), complete as (
    select count(*) = $6::integer as ok from inserted
  ), ${totalsCtes('$1', '$7', '$8::smallint', 'where (select ok from complete)')}${
    withPaired
      ? `, ${pairedCtes('$1', '$9', '$8::smallint', 'where (select ok from complete)')}
  , paired_hours as (${pairedHourlySql('$1', '$9', 'where (select ok from complete)')}
  )`
      : ''
  }
  select exists (select from claim) as claimed,
         (select array_agg(window_id) from inserted) as fresh`;

const INGEST_SQL = prepared(ingestSql(false));
const INGEST_WITH_PAIRED_SQL = prepared(ingestSql(true));

/**
 * Histograms travel as array literals (`{1,2,…}`) and are cast in SQL: measured 2–3x cheaper
 * than letting jsonb_to_recordset turn JSON arrays into float8[].
 */
const arrayLiteral = (values: number[] | null) => (values ? `{${values.join(',')}}` : null);

function totalsRows(windows: MetricWindow[]): string {
  return JSON.stringify(
    sumWindows(windows).map((row) => ({
      ...row,
      auc_positive: arrayLiteral(row.auc_positive),
      auc_negative: arrayLiteral(row.auc_negative),
    })),
  );
}

async function addTotals(tx: Queryable, installId: string, windows: MetricWindow[]) {
  await tx.query(`with ${totalsCtes('$1', '$2', '$3::smallint')} select 1`, [
    installId,
    totalsRows(windows),
    rollupShard(installId),
  ]);
}

/** Paired sums per (version, baseline), in lock order. */
function pairedRows(windows: MetricWindow[]): ({ version_id: string } & PairedComparison)[] {
  const sums = new Map<string, { version_id: string } & PairedComparison>();
  for (const w of windows) {
    if (!w.paired || w.paired.n === 0) continue;
    const key = JSON.stringify([w.versionId, w.paired.baselineVersionId]);
    const entry = sums.get(key) ?? {
      version_id: w.versionId,
      baselineVersionId: w.paired.baselineVersionId,
      n: 0,
      diffSum: 0,
      diffSumSq: 0,
    };
    entry.n += w.paired.n;
    entry.diffSum += w.paired.diffSum;
    entry.diffSumSq += w.paired.diffSumSq;
    sums.set(key, entry);
  }
  return [...sums.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
}

async function addPaired(tx: Queryable, installId: string, windows: MetricWindow[]) {
  const rows = pairedRows(windows);
  if (rows.length === 0) return;
  await tx.query(`with ${pairedCtes('$1', '$2', '$3::smallint')} select 1`, [
    installId,
    JSON.stringify(rows),
    rollupShard(installId),
  ]);
  await tx.query(pairedHourlySql('$1', '$2'), [installId, JSON.stringify(rows)]);
}
