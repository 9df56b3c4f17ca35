/**
 * The retraining job queue and the schedules' state, in the database so that both survive a
 * restart and every server process (and the CLI) sees the same queue.
 *
 * - At most one queued-or-running job per model: a partial unique index (migration
 *   "retraining jobs"), so two schedules firing at once, or two processes, cannot both
 *   enqueue; `enqueueJob` answers null instead.
 * - A job is claimed with `for update skip locked`, so one worker runs it.
 * - Times are the scheduler's clock (injected, so tests drive it), stored as timestamptz.
 * - Each job records the fleet's counters when it was made (outcomes, windows, drift alarms
 *   reported so far): "new samples since the last training" is the difference, whatever the
 *   clocks of the devices.
 */
import type { Queryable } from '../db/database.ts';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed';
export type JobTrigger = 'cron' | 'interval' | 'drift';

/** What the devices have reported so far, fleet-wide (running sums kept by ingest). */
export interface FleetCounters {
  samples: number;
  windows: number;
  alerts: number;
}

/** A finished job's outcome: a staged version, or why there is none. */
export interface JobResult {
  published: boolean;
  versionId?: string;
  semver?: string;
  weight?: number;
  /** Why published or not, with the figures. */
  reason: string;
  trainer: string;
  evaluation: {
    heldOut: string;
    examples: number;
    metric: 'logloss' | 'auc';
    candidate: { logloss: number; auc: number };
    production: { logloss: number; auc: number } | null;
    productionVersion: string | null;
    productionNote?: string;
  };
}

export interface Job {
  id: number;
  model: string;
  schedule: string;
  trigger: JobTrigger;
  /** Why the trigger fired, with the figures. */
  reason: string;
  state: JobState;
  progress: number;
  step: string | null;
  attempts: number;
  maxAttempts: number;
  /** The last failure (kept when a retry then succeeds, for the record). */
  error: string | null;
  result: JobResult | null;
  counters: FleetCounters;
  createdAt: string;
  /** A queued job is not started before this (retry back-off). */
  runAfter: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

/** What status shows per schedule (written by the scheduler at every check). */
export interface ScheduleStatus {
  name: string;
  model: string;
  kind: JobTrigger;
  /** The schedule in words, e.g. `every 6h; ≥ 500 new samples`. */
  description: string;
  /** When it is next due (cron, interval); null for drift (checked at every tick). */
  nextDue: string | null;
  lastCheck: string | null;
  /** The last job it started, and when. */
  lastJobId: number | null;
  lastRunAt: string | null;
  /** What the last check decided, e.g. `waiting: 120 of 500 new samples`. */
  decision: string | null;
  /** When the schedule was first seen (the interval kind counts from it before any job). */
  since: string;
}

interface JobRow {
  id: number;
  model: string;
  schedule: string;
  trigger: JobTrigger;
  reason: string;
  state: JobState;
  progress: number;
  step: string | null;
  attempts: number;
  max_attempts: number;
  error: string | null;
  result: JobResult | null;
  fleet_samples: number;
  fleet_windows: number;
  fleet_alerts: number;
  created_at: Date;
  run_after: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

/** Epoch ms as a SQL timestamptz, exact to the millisecond. */
const AT = (n: number) => `(timestamptz 'epoch' + $${n}::float8 * interval '1 millisecond')`;

const iso = (date: Date | null) => (date ? date.toISOString() : null);

function toJob(row: JobRow): Job {
  return {
    id: Number(row.id),
    model: row.model,
    schedule: row.schedule,
    trigger: row.trigger,
    reason: row.reason,
    state: row.state,
    progress: row.progress,
    step: row.step,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    error: row.error,
    result: row.result,
    counters: {
      samples: Number(row.fleet_samples),
      windows: Number(row.fleet_windows),
      alerts: Number(row.fleet_alerts),
    },
    createdAt: row.created_at.toISOString(),
    runAfter: row.run_after.toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    updatedAt: row.updated_at.toISOString(),
  };
}

/**
 * Fleet-wide counters from the per-version rollup (`version_totals`, a few rows per version,
 * never one per device). The counters only grow: windows sent for a version id before it was
 * published are taken out of the totals when it is (rollout/epochs.ts, purgeBeforeStaging) and
 * kept as rejections, so they are added back here; otherwise a purge would make "new samples"
 * negative.
 */
export async function fleetCounters(db: Queryable): Promise<FleetCounters> {
  const { rows } = await db.query<{ samples: number; windows: number; alerts: number }>(
    `select t.samples + r.samples as samples, t.windows + r.windows as windows, t.alerts
     from (select coalesce(sum(samples), 0)::float8 as samples,
             coalesce(sum(windows), 0)::float8 as windows,
             coalesce(sum(drift_alerts), 0)::float8 as alerts
           from version_totals) t,
          (select coalesce(sum(outcomes), 0)::float8 as samples,
             coalesce(sum(windows), 0)::float8 as windows
           from evidence_rejections where reason = 'before_staging') r`,
  );
  return rows[0];
}

export interface NewJob {
  model: string;
  schedule: string;
  trigger: JobTrigger;
  reason: string;
  maxAttempts: number;
  counters: FleetCounters;
  now: number;
}

/** Queues a job; null when the model already has a queued or running one. */
export async function enqueueJob(db: Queryable, job: NewJob): Promise<Job | null> {
  const { rows } = await db.query<JobRow>(
    `insert into jobs (model, schedule, trigger, reason, state, max_attempts,
       fleet_samples, fleet_windows, fleet_alerts, created_at, run_after, updated_at)
     values ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, ${AT(9)}, ${AT(9)}, ${AT(9)})
     on conflict (model) where state in ('queued', 'running') do nothing
     returning *`,
    [
      job.model,
      job.schedule,
      job.trigger,
      job.reason,
      job.maxAttempts,
      job.counters.samples,
      job.counters.windows,
      job.counters.alerts,
      job.now,
    ],
  );
  return rows[0] ? toJob(rows[0]) : null;
}

/** Takes the oldest queued job that is due, marks it running and counts the attempt. */
export async function claimJob(db: Queryable, now: number): Promise<Job | null> {
  const { rows } = await db.query<JobRow>(
    `update jobs set state = 'running', attempts = attempts + 1, progress = 0, step = null,
       started_at = ${AT(1)}, updated_at = ${AT(1)}
     where id = (select id from jobs where state = 'queued' and run_after <= ${AT(1)}
                 order by id limit 1 for update skip locked)
     returning *`,
    [now],
  );
  return rows[0] ? toJob(rows[0]) : null;
}

export async function setProgress(
  db: Queryable,
  id: number,
  progress: number,
  step: string | null,
  now: number,
): Promise<void> {
  await db.query(
    `update jobs set progress = $2, step = $3, updated_at = ${AT(4)}
     where id = $1 and state = 'running'`,
    [id, Math.min(1, Math.max(0, progress)), step, now],
  );
}

export async function succeedJob(
  db: Queryable,
  id: number,
  result: JobResult,
  now: number,
): Promise<void> {
  await db.query(
    `update jobs set state = 'succeeded', progress = 1, result = $2::jsonb,
       finished_at = ${AT(3)}, updated_at = ${AT(3)}
     where id = $1 and state = 'running'`,
    [id, JSON.stringify(result), now],
  );
}

/**
 * A failed attempt: queued again after `retryDelayMs` while attempts remain, else failed for
 * good. Returns the job as it now is.
 */
export async function failAttempt(
  db: Queryable,
  id: number,
  error: string,
  now: number,
  retryDelayMs: number,
): Promise<Job> {
  const { rows } = await db.query<JobRow>(
    `update jobs set
       state = case when attempts >= max_attempts then 'failed' else 'queued' end,
       error = $2,
       run_after = ${AT(3)} + $4::float8 * interval '1 millisecond',
       finished_at = case when attempts >= max_attempts then ${AT(3)} else null end,
       updated_at = ${AT(3)}
     where id = $1 and state = 'running'
     returning *`,
    [id, error.slice(0, 2000), now, retryDelayMs],
  );
  return toJob(rows[0]);
}

/** A job the server stopped on purpose: back to the queue, the attempt not counted. */
export async function requeueStopped(db: Queryable, id: number, now: number): Promise<void> {
  await db.query(
    `update jobs set state = 'queued', attempts = greatest(attempts - 1, 0),
       error = 'interrupted: the server stopped while it ran', updated_at = ${AT(2)}
     where id = $1 and state = 'running'`,
    [id, now],
  );
}

/**
 * Jobs left running by a server that died: their attempt counts, so each goes back to the
 * queue while attempts remain and fails otherwise. Returns the ids by new state.
 */
export async function recoverInterrupted(
  db: Queryable,
  now: number,
): Promise<{ requeued: number[]; failed: number[] }> {
  const { rows } = await db.query<{ id: number; state: JobState }>(
    `update jobs set
       state = case when attempts >= max_attempts then 'failed' else 'queued' end,
       error = 'interrupted: the server stopped while this job ran',
       finished_at = case when attempts >= max_attempts then ${AT(1)} else null end,
       updated_at = ${AT(1)}
     where state = 'running'
     returning id, state`,
    [now],
  );
  return {
    requeued: rows.filter((r) => r.state === 'queued').map((r) => Number(r.id)),
    failed: rows.filter((r) => r.state === 'failed').map((r) => Number(r.id)),
  };
}

/** The model's most recent job, in any state (the "last training" schedules measure from). */
export async function lastJob(db: Queryable, model: string): Promise<Job | null> {
  const { rows } = await db.query<JobRow>(
    'select * from jobs where model = $1 order by id desc limit 1',
    [model],
  );
  return rows[0] ? toJob(rows[0]) : null;
}

export async function getJob(db: Queryable, id: number): Promise<Job | null> {
  const { rows } = await db.query<JobRow>('select * from jobs where id = $1', [id]);
  return rows[0] ? toJob(rows[0]) : null;
}

/** Newest first. */
export async function listJobs(
  db: Queryable,
  options: { limit: number; model?: string },
): Promise<Job[]> {
  const { rows } = await db.query<JobRow>(
    `select * from jobs where ($2::text is null or model = $2) order by id desc limit $1`,
    [options.limit, options.model ?? null],
  );
  return rows.map(toJob);
}

interface ScheduleRow {
  name: string;
  model: string;
  kind: JobTrigger;
  description: string;
  spec: string;
  next_due: Date | null;
  last_check: Date | null;
  last_job_id: number | null;
  last_run_at: Date | null;
  decision: string | null;
  since: Date;
}

function toSchedule(row: ScheduleRow): ScheduleStatus {
  return {
    name: row.name,
    model: row.model,
    kind: row.kind,
    description: row.description,
    nextDue: iso(row.next_due),
    lastCheck: iso(row.last_check),
    lastJobId: row.last_job_id === null ? null : Number(row.last_job_id),
    lastRunAt: iso(row.last_run_at),
    decision: row.decision,
    since: row.since.toISOString(),
  };
}

export interface StoredSchedule {
  status: ScheduleStatus;
  /** The schedule's definition when it was stored (a changed one starts afresh). */
  spec: string;
}

/** Registers a schedule (or takes back a stored one whose definition is unchanged). */
export async function registerSchedule(
  db: Queryable,
  input: { name: string; model: string; kind: JobTrigger; description: string; spec: string },
  now: number,
): Promise<StoredSchedule> {
  const { rows } = await db.query<ScheduleRow>(
    `insert into schedule_state (name, model, kind, description, spec, since)
     values ($1, $2, $3, $4, $5, ${AT(6)})
     on conflict (name) do update set
       model = excluded.model, kind = excluded.kind, description = excluded.description,
       spec = excluded.spec,
       since = case when schedule_state.spec = excluded.spec then schedule_state.since
                    else excluded.since end,
       next_due = case when schedule_state.spec = excluded.spec then schedule_state.next_due
                       else null end
     returning *`,
    [input.name, input.model, input.kind, input.description, input.spec, now],
  );
  return { status: toSchedule(rows[0]), spec: rows[0].spec };
}

export async function recordScheduleCheck(
  db: Queryable,
  name: string,
  update: { nextDue: number | null; decision: string | null; jobId?: number; now: number },
): Promise<void> {
  await db.query(
    `update schedule_state set
       next_due = case when $2::float8 is null then null
                       else timestamptz 'epoch' + $2::float8 * interval '1 millisecond' end,
       decision = coalesce($3, decision), last_check = ${AT(4)},
       last_job_id = coalesce($5, last_job_id),
       last_run_at = case when $5::bigint is null then last_run_at else ${AT(4)} end
     where name = $1`,
    [
      name,
      update.nextDue,
      update.decision?.slice(0, 500) ?? null,
      update.now,
      update.jobId ?? null,
    ],
  );
}

export async function listSchedules(db: Queryable): Promise<ScheduleStatus[]> {
  const { rows } = await db.query<ScheduleRow>('select * from schedule_state order by name');
  return rows.map(toSchedule);
}

/** Drops the state of schedules no longer configured, so status shows only live ones. */
export async function forgetSchedulesExcept(db: Queryable, names: string[]): Promise<void> {
  await db.query(
    'delete from schedule_state where not (name in (select jsonb_array_elements_text($1::jsonb)))',
    [JSON.stringify(names)],
  );
}
