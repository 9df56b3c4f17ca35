/**
 * Numbered schema migrations, the same SQL for PGlite and PostgreSQL. Applied ones are
 * recorded in `schema_migrations`; pending ones run in one transaction together with their
 * records (PostgreSQL has transactional DDL), so a crash never leaves a half-applied schema. An advisory lock makes concurrent server
 * starts against one PostgreSQL database apply each migration once.
 *
 * Never edit a migration that has shipped; add the next number.
 */
import type { Database } from './database.ts';

export interface Migration {
  id: number;
  name: string;
  /** One statement each (PGlite's extended protocol takes one statement per query). */
  statements: string[];
}

/**
 * The channel migration 8's trigger notifies on every manifest change (spelled out there,
 * since a shipped migration never changes; a new channel needs a migration that replaces the
 * function).
 */
export const MANIFEST_CHANNEL = 'localfit_manifest';

/** Arbitrary but fixed: the key of the advisory lock that serialises migrations. */
const MIGRATION_LOCK = 7_310_001;

export const MIGRATIONS: Migration[] = [
  {
    id: 1,
    name: 'initial schema',
    statements: [
      // Server-wide values made once and shared by every process: the signing key, the app
      // key, the admin token's hash. Insert-if-absent, so concurrent first starts agree.
      `create table server_settings (
        name text primary key,
        value text not null,
        created_at timestamptz not null default now()
      )`,
      `create table installs (
        id text primary key,
        token_hash text not null,
        client jsonb,
        created_at timestamptz not null default now()
      )`,
      // Content-addressed model bytes: the key is the sha256 the server computed.
      `create table models (
        sha256 text primary key check (sha256 ~ '^[0-9a-f]{64}$'),
        bytes bytea not null,
        size integer not null check (size = length(bytes)),
        created_at timestamptz not null default now()
      )`,
      `create table versions (
        seq integer primary key,
        id text not null unique,
        semver text not null unique,
        model_sha256 text not null references models (sha256),
        feature_spec jsonb not null,
        head jsonb,
        status text not null
          check (status in ('draft', 'staging', 'production', 'archived', 'rolled_back')),
        weight float8 not null default 0 check (weight >= 0 and weight <= 1),
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      )`,
      // The database itself guarantees at most one production version.
      `create unique index versions_single_production on versions (status)
        where status = 'production'`,
      // One row: the manifest's revision and when it last changed. Every admin action locks
      // it (select … for update), which serialises admin actions across processes.
      `create table manifest_state (
        id integer primary key check (id = 1),
        revision bigint not null,
        changed_at timestamptz not null
      )`,
      `insert into manifest_state (id, revision, changed_at) values (1, 1, now())`,
      `create table audit_log (
        id bigserial primary key,
        at timestamptz not null default now(),
        actor text not null,
        action text not null,
        version_id text,
        why text,
        details jsonb not null default '{}'
      )`,
      // One row per (install, idempotency key): the answer to replay, and the hash of the
      // body it answered, to tell a retry from a different batch under the same key.
      `create table metric_batches (
        install_id text not null references installs (id),
        idempotency_key text not null,
        body_hash text not null,
        response jsonb,
        received_at timestamptz not null default now(),
        primary key (install_id, idempotency_key)
      )`,
      // Every window as received (the source of truth), once per (install, window id).
      `create table metric_windows (
        install_id text not null references installs (id),
        window_id text not null,
        idempotency_key text not null,
        version_id text not null,
        content_hash text not null,
        body jsonb not null,
        received_at timestamptz not null default now(),
        primary key (install_id, window_id)
      )`,
      `create index metric_windows_by_version on metric_windows (version_id)`,
      // Running sums per (version, install), added to in the same transaction that stores the
      // windows: a version's aggregate reads one row per device, never the windows, and rows
      // are per install, so concurrent devices never contend for one row.
      `create table version_install_totals (
        version_id text not null,
        install_id text not null references installs (id),
        windows bigint not null default 0,
        samples bigint not null default 0,
        logloss_sum float8 not null default 0,
        logloss_samples bigint not null default 0,
        correct bigint not null default 0,
        correct_samples bigint not null default 0,
        squared_error_sum float8 not null default 0,
        absolute_error_sum float8 not null default 0,
        error_samples bigint not null default 0,
        positives bigint not null default 0,
        auc_positive float8[],
        auc_negative float8[],
        impressions bigint not null default 0,
        clicks bigint not null default 0,
        conversions bigint not null default 0,
        ranking_k integer,
        slates bigint not null default 0,
        precision_sum float8 not null default 0,
        recall_sum float8 not null default 0,
        ndcg_sum float8 not null default 0,
        prediction_count bigint not null default 0,
        prediction_sum float8 not null default 0,
        prediction_sum_sq float8 not null default 0,
        drift_alerts bigint not null default 0,
        dropped bigint not null default 0,
        first_start bigint,
        last_end bigint,
        updated_at timestamptz not null default now(),
        primary key (version_id, install_id)
      )`,
      // Shadow comparisons per (version, baseline, install), for the promote/rollback policy.
      `create table paired_totals (
        version_id text not null,
        baseline_version_id text not null,
        install_id text not null references installs (id),
        n bigint not null default 0,
        diff_sum float8 not null default 0,
        diff_sum_sq float8 not null default 0,
        primary key (version_id, baseline_version_id, install_id)
      )`,
    ],
  },
  {
    id: 2,
    name: 'histogram merge function',
    statements: [
      // Adds two AUC histograms element-wise (either may be null). As a plpgsql function its
      // plan is cached per connection: measured 4x cheaper per merge than the equivalent
      // inline unnest/array subquery, which was the largest cost of ingesting a batch.
      `create function localfit_add_histograms(a float8[], b float8[]) returns float8[]
       language plpgsql immutable as $$
       declare
         result float8[];
       begin
         if a is null then return b; end if;
         if b is null then return a; end if;
         result := a;
         for i in 1 .. greatest(coalesce(array_length(a, 1), 0), coalesce(array_length(b, 1), 0)) loop
           result[i] := coalesce(a[i], 0) + coalesce(b[i], 0);
         end loop;
         return result;
       end
       $$`,
    ],
  },
  {
    id: 3,
    name: 'staged bucket ranges, autopilot switch, device version events',
    statements: [
      // Where a staged version's bucket range starts: fixed at publish time, so a ramp only
      // extends the range (and only adds devices). Null for versions that are not staged.
      `alter table versions add column bucket_start float8
        check (bucket_start >= 0 and bucket_start <= 1)`,
      // Versions staged before this migration: laid end to end in publish order, which is
      // what devices assumed while the manifest carried no start.
      `update versions v set bucket_start = s.start
       from (select id, coalesce(sum(weight) over (order by seq
               rows between unbounded preceding and 1 preceding), 0) as start
             from versions where status = 'staging') s
       where v.id = s.id`,
      // Per-version switch of the rollout policy (server/rollout/); the admin may turn it off.
      `alter table versions add column autopilot boolean not null default true`,
      // What devices reported happening to a version (staged, refused, rolled back locally,
      // promoted), per install and reason code: status and the policy's guardrail count
      // devices from here, one row per (version, install, kind, code).
      `create table version_event_totals (
        version_id text not null,
        install_id text not null references installs (id),
        kind text not null check (kind in ('staged', 'refused', 'rolled_back', 'promoted')),
        code text not null,
        events bigint not null default 0,
        first_at bigint not null,
        last_at bigint not null,
        last_reason text,
        primary key (version_id, install_id, kind, code)
      )`,
    ],
  },
  {
    id: 4,
    name: 'retraining jobs and schedules',
    statements: [
      // The retraining queue (server/scheduler/, server/store/jobs.ts). Times come from the
      // scheduler's clock; fleet_* are the devices' running totals when the job was made, so
      // "new samples since the last training" is a difference of counters.
      `create table jobs (
        id bigserial primary key,
        model text not null,
        schedule text not null,
        trigger text not null check (trigger in ('cron', 'interval', 'drift')),
        reason text not null,
        state text not null check (state in ('queued', 'running', 'succeeded', 'failed')),
        progress float8 not null default 0 check (progress >= 0 and progress <= 1),
        step text,
        attempts integer not null default 0 check (attempts >= 0),
        max_attempts integer not null check (max_attempts >= 1),
        error text,
        result jsonb,
        fleet_samples bigint not null,
        fleet_windows bigint not null,
        fleet_alerts bigint not null,
        created_at timestamptz not null,
        run_after timestamptz not null,
        started_at timestamptz,
        finished_at timestamptz,
        updated_at timestamptz not null
      )`,
      // Never two jobs for one model at once, whichever schedule or process made them.
      `create unique index jobs_one_active_per_model on jobs (model)
        where state in ('queued', 'running')`,
      `create index jobs_by_model on jobs (model, id)`,
      // Each configured schedule's state, for status and to survive restarts (a cron's next
      // slot, when an interval schedule last ran).
      `create table schedule_state (
        name text primary key,
        model text not null,
        kind text not null check (kind in ('cron', 'interval', 'drift')),
        description text not null,
        spec text not null,
        since timestamptz not null,
        next_due timestamptz,
        last_check timestamptz,
        last_job_id bigint,
        last_run_at timestamptz,
        decision text
      )`,
    ],
  },
  {
    id: 5,
    name: 'rollout epochs and evidence checks',
    statements: [
      // The rollout state between two manifest changes (server/rollout/epochs.ts): which
      // installs were in which arm when a window was measured, and the production version of
      // that time. One row per revision; the open one has no end.
      `create table rollout_epochs (
        id bigserial primary key,
        from_at timestamptz not null,
        to_at timestamptz,
        rollout text not null,
        production_version_id text,
        staged jsonb not null
      )`,
      `create index rollout_epochs_by_time on rollout_epochs (from_at)`,
      // Why a stored window does not count for its version (null: it counts).
      `alter table metric_windows add column rejected text`,
      // Rejected evidence per (version, install, reason), shown in status.
      `create table evidence_rejections (
        version_id text not null,
        install_id text not null references installs (id),
        reason text not null,
        windows bigint not null default 0,
        outcomes float8 not null default 0,
        primary key (version_id, reason, install_id)
      )`,
    ],
  },
  {
    id: 6,
    name: 'rate limits in the database; install activity',
    statements: [
      // One fixed-window counter per (scope, key) (server/http/rate_limit.ts): shared by
      // every server process on this database. until_epoch: when the window ends (seconds).
      `create table rate_limits (
        scope text not null,
        key text not null,
        window_index bigint not null,
        hits integer not null,
        until_epoch float8 not null,
        primary key (scope, key)
      )`,
      `create index rate_limits_by_end on rate_limits (until_epoch)`,
      // When an install last authenticated (refreshed at most hourly per process); installs
      // idle longer than the server's inactiveInstallDays no longer authenticate.
      `alter table installs add column last_seen_at timestamptz not null default now()`,
    ],
  },
  {
    id: 7,
    name: 'verified registration subjects',
    statements: [
      // Who a registration credential named (server/register_verify.ts), when the server
      // checks one; null for installs registered with the app key alone.
      `alter table installs add column subject text`,
      `create index installs_by_subject on installs (subject) where subject is not null`,
    ],
  },
  {
    id: 8,
    name: 'manifest changes notify listeners',
    statements: [
      // Every change of the manifest state announces itself (server/events.ts): the database
      // sends it when the changing transaction commits, whoever made it (any server process,
      // the CLI, an operator's SQL), so every listening server pushes it at once instead of
      // at its next poll. The payload is the new revision.
      `create function localfit_manifest_changed() returns trigger language plpgsql as $$
      begin
        perform pg_notify('localfit_manifest', new.revision::text);
        return null;
      end
      $$`,
      `create trigger manifest_state_notify after update on manifest_state
        for each row execute function localfit_manifest_changed()`,
    ],
  },
  {
    id: 9,
    name: 'federated rounds and contributions',
    statements: [
      // A round of federated averaging (server/federated/): opened by an admin for a live base
      // version with a head, announced in the manifest while open, aggregated into a new
      // staged version (result_version_id) or ended without one (closed_reason). The delta's
      // shape is the base head's, fixed at open. epsilon is the privacy loss of every
      // aggregated round up to and including this one, at delta (the server's budget δ).
      `create table federated_rounds (
        seq integer primary key,
        id text not null unique,
        base_version_id text not null references versions (id),
        clip float8 not null check (clip > 0),
        min_clients integer not null check (min_clients >= 1),
        min_outcomes integer not null check (min_outcomes >= 0),
        sampling_rate float8 not null check (sampling_rate > 0 and sampling_rate <= 1),
        noise_multiplier float8 not null check (noise_multiplier >= 0),
        deadline timestamptz not null,
        weights_length integer not null check (weights_length >= 1),
        intercepts_length integer not null check (intercepts_length >= 1),
        status text not null check (status in ('open', 'closed', 'aggregated', 'expired')),
        contributions integer not null default 0,
        opened_at timestamptz not null,
        closed_at timestamptz,
        closed_reason text,
        epsilon float8,
        delta float8,
        round_epsilon float8,
        noise_std float8,
        result_version_id text references versions (id),
        actor text not null
      )`,
      // At most one open round per base version.
      `create unique index federated_rounds_one_open_per_base on federated_rounds (base_version_id)
        where status = 'open'`,
      // One contribution per (round, install), exactly once: body_hash tells a retry (same
      // body, answered again with ordinal) from a second, different contribution (refused).
      `create table federated_contributions (
        round_id text not null references federated_rounds (id),
        install_id text not null references installs (id),
        body_hash text not null,
        outcomes bigint not null check (outcomes >= 0),
        local_noise float8 not null default 0 check (local_noise >= 0),
        delta jsonb not null,
        ordinal integer not null,
        received_at timestamptz not null default now(),
        primary key (round_id, install_id)
      )`,
      // What a version says about where it came from (a federated round's ε, δ, round id),
      // for admins; not in the manifest.
      `alter table versions add column metadata jsonb`,
    ],
  },
  {
    id: 10,
    name: 'windows partitioned by day, a window id ledger, paired outcomes per hour',
    statements: [
      // The window ids each install stored, with their content hash: exactly-once ingest reads
      // and claims ids here, so it never depends on raw windows, which retention drops
      // (server/store/window_partitions.ts). A few dozen bytes per window, kept for good.
      `create table metric_window_ids (
        install_id text not null references installs (id),
        window_id text not null,
        content_hash text not null,
        primary key (install_id, window_id)
      )`,
      `insert into metric_window_ids (install_id, window_id, content_hash)
       select install_id, window_id, content_hash from metric_windows`,
      `alter table metric_windows rename to metric_windows_unpartitioned`,
      `alter index metric_windows_by_version rename to metric_windows_unpartitioned_by_version`,
      // Raw windows, partitioned by the UTC day they were received: one table per day
      // (metric_windows_pYYYYMMDD, made ahead by window_partitions.ts) and a default partition
      // for anything outside them. Retention drops whole days.
      `create table metric_windows (
        install_id text not null references installs (id),
        window_id text not null,
        idempotency_key text not null,
        version_id text not null,
        content_hash text not null,
        body jsonb not null,
        received_at timestamptz not null default now(),
        rejected text
      ) partition by range (received_at)`,
      `create table metric_windows_default partition of metric_windows default`,
      // One partition per day the existing windows were received on, before they move in.
      `do $$
      declare
        d date;
      begin
        for d in select distinct (received_at at time zone 'UTC')::date
                 from metric_windows_unpartitioned loop
          execute format(
            'create table %I partition of metric_windows for values from (%L) to (%L)',
            'metric_windows_p' || to_char(d, 'YYYYMMDD'),
            d::timestamp at time zone 'UTC', (d + 1)::timestamp at time zone 'UTC');
        end loop;
      end
      $$`,
      `insert into metric_windows (install_id, window_id, idempotency_key, version_id,
         content_hash, body, received_at, rejected)
       select install_id, window_id, idempotency_key, version_id, content_hash, body,
         received_at, rejected
       from metric_windows_unpartitioned`,
      `drop table metric_windows_unpartitioned`,
      `create index metric_windows_by_version on metric_windows (version_id, received_at)`,
      // Paired outcomes per (version, baseline, UTC hour received, install), added at ingest
      // with the windows: the policy's "outcomes since the weight changed" reads these (and
      // the raw windows of one partial hour), not every window (server/rollout/evidence.ts).
      `create table paired_hourly (
        version_id text not null,
        baseline_version_id text not null,
        hour timestamptz not null,
        install_id text not null references installs (id),
        n bigint not null default 0,
        primary key (version_id, baseline_version_id, hour, install_id)
      )`,
      `insert into paired_hourly (version_id, baseline_version_id, hour, install_id, n)
       select version_id, body->'paired'->>'baselineVersionId',
         date_bin('1 hour', received_at, timestamptz '2000-01-01 00:00:00+00'), install_id,
         sum((body->'paired'->>'n')::bigint)
       from metric_windows
       where rejected is null and (body->'paired'->>'n')::bigint > 0
       group by 1, 2, 3, 4`,
    ],
  },
  {
    id: 11,
    name: 'per-version rollups for status, the policy and the scheduler',
    statements: [
      // What status and the scheduler read instead of one row per device: each version's sums
      // (the same columns as version_install_totals) and how many devices reported for it,
      // added at ingest in the same statement as the install's running totals. Split into a
      // few rows per version (shard: a hash of the install id, server/store/metrics.ts) so
      // concurrent batches do not queue for one row lock.
      `create table version_totals (
        version_id text not null,
        shard smallint not null,
        devices bigint not null default 0,
        windows bigint not null default 0,
        samples bigint not null default 0,
        logloss_sum float8 not null default 0,
        logloss_samples bigint not null default 0,
        correct bigint not null default 0,
        correct_samples bigint not null default 0,
        squared_error_sum float8 not null default 0,
        absolute_error_sum float8 not null default 0,
        error_samples bigint not null default 0,
        positives bigint not null default 0,
        auc_positive float8[],
        auc_negative float8[],
        impressions bigint not null default 0,
        clicks bigint not null default 0,
        conversions bigint not null default 0,
        ranking_k integer,
        slates bigint not null default 0,
        precision_sum float8 not null default 0,
        recall_sum float8 not null default 0,
        ndcg_sum float8 not null default 0,
        prediction_count bigint not null default 0,
        prediction_sum float8 not null default 0,
        prediction_sum_sq float8 not null default 0,
        drift_alerts bigint not null default 0,
        dropped bigint not null default 0,
        primary key (version_id, shard)
      )`,
      // Existing totals go to shard 0 (which row a device's sums are in does not matter).
      `insert into version_totals (version_id, shard, devices,
         windows, samples, logloss_sum, logloss_samples, correct, correct_samples,
         squared_error_sum, absolute_error_sum, error_samples, positives, impressions,
         clicks, conversions, slates, precision_sum, recall_sum, ndcg_sum, prediction_count,
         prediction_sum, prediction_sum_sq, drift_alerts, dropped,
         ranking_k)
       select version_id, 0, count(*),
         least(sum(windows), 9000000000000000000)::bigint,
         least(sum(samples), 9000000000000000000)::bigint, sum(logloss_sum),
         least(sum(logloss_samples), 9000000000000000000)::bigint,
         least(sum(correct), 9000000000000000000)::bigint,
         least(sum(correct_samples), 9000000000000000000)::bigint, sum(squared_error_sum),
         sum(absolute_error_sum), least(sum(error_samples), 9000000000000000000)::bigint,
         least(sum(positives), 9000000000000000000)::bigint,
         least(sum(impressions), 9000000000000000000)::bigint,
         least(sum(clicks), 9000000000000000000)::bigint,
         least(sum(conversions), 9000000000000000000)::bigint,
         least(sum(slates), 9000000000000000000)::bigint, sum(precision_sum),
         sum(recall_sum), sum(ndcg_sum),
         least(sum(prediction_count), 9000000000000000000)::bigint, sum(prediction_sum),
         sum(prediction_sum_sq), least(sum(drift_alerts), 9000000000000000000)::bigint,
         least(sum(dropped), 9000000000000000000)::bigint,
         max(ranking_k)
       from version_install_totals group by version_id`,
      `update version_totals v set auc_positive = h.bins from (
         select version_id, array_agg(total order by i) as bins from (
           select version_id, u.i, sum(u.x) as total
           from version_install_totals, unnest(auc_positive) with ordinality as u(x, i)
           group by 1, 2) b group by 1) h
       where v.version_id = h.version_id`,
      `update version_totals v set auc_negative = h.bins from (
         select version_id, array_agg(total order by i) as bins from (
           select version_id, u.i, sum(u.x) as total
           from version_install_totals, unnest(auc_negative) with ordinality as u(x, i)
           group by 1, 2) b group by 1) h
       where v.version_id = h.version_id`,
      // The same for paired comparisons per (version, baseline).
      `create table paired_version_totals (
        version_id text not null,
        baseline_version_id text not null,
        shard smallint not null,
        devices bigint not null default 0,
        n bigint not null default 0,
        diff_sum float8 not null default 0,
        diff_sum_sq float8 not null default 0,
        primary key (version_id, baseline_version_id, shard)
      )`,
      `insert into paired_version_totals
         (version_id, baseline_version_id, shard, devices, n, diff_sum, diff_sum_sq)
       select version_id, baseline_version_id, 0, count(*),
         least(sum(n), 9000000000000000000)::bigint, sum(diff_sum), sum(diff_sum_sq)
       from paired_totals group by version_id, baseline_version_id`,
      // Each install's paired outcomes since its version's updated_at (the weight's last
      // change), which the policy reads instead of hourly rows and raw windows: weight_since
      // says which updated_at n_at_weight counts from (server/store/metrics.ts, pairedCtes).
      `alter table paired_totals add column weight_since timestamptz`,
      `alter table paired_totals add column n_at_weight bigint not null default 0`,
      `update paired_totals p set weight_since = v.updated_at from versions v
       where v.id = p.version_id`,
      // Backfilled as the policy computed it until now: whole hours from paired_hourly, the
      // hour the change fell in from the raw windows.
      `with v as (
         select id, updated_at,
           date_bin('1 hour', updated_at, timestamptz '2000-01-01 00:00:00+00') as hour
         from versions
       ), parts as (
         select h.version_id, h.baseline_version_id, h.install_id, h.n
         from paired_hourly h join v on v.id = h.version_id
         where h.hour >= (case when v.hour = v.updated_at then v.hour
                          else v.hour + interval '1 hour' end)
         union all
         select w.version_id, w.body->'paired'->>'baselineVersionId', w.install_id,
           (w.body->'paired'->>'n')::bigint
         from metric_windows w join v on v.id = w.version_id
         where v.hour < v.updated_at
           and w.received_at >= v.updated_at and w.received_at < v.hour + interval '1 hour'
           and w.rejected is null and (w.body->'paired'->>'n')::bigint > 0
       ), sums as (
         select version_id, baseline_version_id, install_id,
           least(sum(n), 9000000000000000000)::bigint as n
         from parts group by 1, 2, 3
       )
       update paired_totals p set n_at_weight = s.n from sums s
       where p.version_id = s.version_id and p.baseline_version_id = s.baseline_version_id
         and p.install_id = s.install_id`,
    ],
  },
  {
    id: 12,
    name: 'model bytes in chunks',
    statements: [
      // Model bytes in fixed-size chunks (server/store/models.ts), so downloads stream a range
      // from the chunks it spans and uploads are written as they arrive: never a whole model
      // in memory. A model's chunks are keyed by its blob (random per upload, so a refused or
      // abandoned upload never mixes with a real one); the models row, made last, names the
      // blob and its chunk size. Chunks no model names are an unfinished upload, swept later.
      `create table model_chunks (
        blob text not null,
        idx integer not null check (idx >= 0),
        bytes bytea not null,
        created_at timestamptz not null default now(),
        primary key (blob, idx)
      )`,
      'alter table models add column chunk_size integer check (chunk_size > 0)',
      'alter table models add column blob text',
      // Existing models, 1 MiB chunks, the blob named by the sha256.
      `insert into model_chunks (blob, idx, bytes)
        select m.sha256, g.i, substring(m.bytes from g.i * 1048576 + 1 for 1048576)
        from models m, generate_series(0, (m.size - 1) / 1048576) as g(i)
        where m.size > 0`,
      `update models set chunk_size = 1048576, blob = sha256`,
      'alter table models alter column chunk_size set not null',
      'alter table models alter column blob set not null',
      'create unique index models_blob on models (blob)',
      // Also drops the check that tied size to these bytes.
      'alter table models drop column bytes',
    ],
  },
  {
    id: 13,
    name: 'window bodies compressed with lz4',
    statements: [
      // A window's body is about 2.2 KB as jsonb (its histograms' numbers), past the 2 KB at
      // which PostgreSQL compresses a row's values, and pglz compression was a fifth of the
      // database's CPU under durable ingest (perf during bench/server_ingest_durable.ts). With
      // lz4, inserting 10 windows took 1.45 ms of PostgreSQL's CPU instead of 1.8, storing 845
      // bytes a body instead of pglz's 635. Only where the server is built with lz4 (Debian's,
      // RPM and Docker builds are; PGlite is not, and keeps pglz). Every existing partition is set, as
      // ALTER on the parent does not recurse; partitions made later inherit the parent's.
      // Stored rows keep their compression: both are read back alike.
      `do $$
       declare part regclass;
       begin
         if exists (select from pg_settings
                    where name = 'default_toast_compression' and 'lz4' = any(enumvals)) then
           for part in select relid from pg_partition_tree('metric_windows') loop
             execute format('alter table %s alter column body set compression lz4', part);
           end loop;
         end if;
       end $$`,
    ],
  },
];

/** Applies every migration not yet applied; returns the ids it applied. */
export async function migrate(db: Database, migrations = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query(`create table if not exists schema_migrations (
      id integer primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`);
    const { rows } = await tx.query<{ id: number }>('select id from schema_migrations');
    const done = new Set(rows.map((row) => row.id));
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.id - b.id)) {
      if (done.has(migration.id)) continue;
      for (const statement of migration.statements) await tx.query(statement);
      await tx.query('insert into schema_migrations (id, name) values ($1, $2)', [
        migration.id,
        migration.name,
      ]);
      applied.push(migration.id);
    }
    return applied;
  });
}
