/**
 * The retraining scheduler: at every tick (a timer on the injected clock) it checks each
 * schedule against the fleet's counters and the model's last job, queues at most one job per
 * model, and starts queued jobs that are due. Jobs run beside the ticks; their state lives in
 * the database (`store/jobs.ts`), so a restart picks up where the last process stopped.
 *
 * "Since the last training" means since the model's most recent job in any state: a refused
 * or failed training also resets the new-sample count and the minimum interval, so a
 * persistent drift or a broken trainer cannot start a job at every tick.
 *
 * One scheduler per database: jobs are claimed safely by any number of processes, but a
 * running job found at start-up is taken for one a dead process left behind.
 */
import type { Database } from '../db/database.ts';
import {
  claimJob,
  enqueueJob,
  type FleetCounters,
  failAttempt,
  fleetCounters,
  forgetSchedulesExcept,
  type Job,
  type JobResult,
  lastJob,
  recordScheduleCheck,
  recoverInterrupted,
  registerSchedule,
  requeueStopped,
} from '../store/jobs.ts';
import type { Clock } from './clock.ts';
import {
  describeSchedule,
  formatDuration,
  type ResolvedConfig,
  type ResolvedSchedule,
} from './config.ts';
import { type CronSchedule, nextCronTime, parseCron } from './cron.ts';
import { runJob } from './run_job.ts';
import type { Trainer } from './trainer.ts';

export interface SchedulerDeps {
  db: Database;
  config: ResolvedConfig;
  trainer: Trainer;
  clock: Clock;
  onPublished?: () => Promise<void> | void;
  logError: (message: string, error: unknown) => void;
}

/** What one check of one schedule decided. */
export interface ScheduleDecision {
  schedule: string;
  /** The job it queued, if any. */
  jobId: number | null;
  decision: string;
}

interface LiveSchedule {
  config: ResolvedSchedule;
  cron?: CronSchedule;
  since: number;
  nextDue: number | null;
  lastRunAt: number | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class Scheduler {
  private readonly schedules: LiveSchedule[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private readonly running = new Map<number, Promise<void>>();
  private readonly abort = new AbortController();
  private timer: { cancel(): void } | undefined;
  private stopped = false;
  /** Every job outcome, in order, for whoever wants to watch (tests, logs). */
  readonly outcomes: { jobId: number; state: Job['state']; result?: JobResult; error?: string }[] =
    [];

  private readonly deps: SchedulerDeps;
  constructor(deps: SchedulerDeps) {
    this.deps = deps;
  }

  /** Each schedule in words, for the server's start-up banner. */
  describe(): string[] {
    return this.deps.config.schedules.map((s) => `${s.name} (${s.model}): ${describeSchedule(s)}`);
  }

  /** Recovers jobs a dead process left running, registers the schedules, starts ticking. */
  async start(): Promise<void> {
    const { db, clock, config } = this.deps;
    const now = clock.now();
    await recoverInterrupted(db, now);
    await forgetSchedulesExcept(
      db,
      config.schedules.map((s) => s.name),
    );
    for (const schedule of config.schedules) {
      const stored = await registerSchedule(
        db,
        {
          name: schedule.name,
          model: schedule.model,
          kind: schedule.kind,
          description: describeSchedule(schedule),
          spec: JSON.stringify(schedule),
        },
        now,
      );
      const live: LiveSchedule = {
        config: schedule,
        since: Date.parse(stored.status.since),
        nextDue: stored.status.nextDue ? Date.parse(stored.status.nextDue) : null,
        lastRunAt: stored.status.lastRunAt ? Date.parse(stored.status.lastRunAt) : null,
      };
      if (schedule.kind === 'cron') {
        live.cron = parseCron(schedule.cron);
        live.nextDue ??= nextCronTime(live.cron, now);
      } else if (schedule.kind === 'interval') {
        live.nextDue = (live.lastRunAt ?? live.since) + schedule.everyMs;
      }
      await recordScheduleCheck(db, schedule.name, {
        nextDue: live.nextDue,
        decision: null,
        now,
      });
      this.schedules.push(live);
    }
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    // Set the next timer before this tick's work, so time advanced in one step by a manual
    // clock fires one tick per period, each queued behind the previous one.
    this.timer = this.deps.clock.setTimer(() => {
      this.arm();
      void this.tick();
    }, this.deps.config.tickMs);
  }

  /** Checks every schedule and starts due jobs; ticks run one after another. */
  tick(): Promise<ScheduleDecision[]> {
    const run = this.chain.then(() => this.runTick());
    this.chain = run.catch((error) => this.deps.logError('scheduler tick failed', error));
    return run;
  }

  /** Resolves when every tick asked for so far has finished (running jobs may go on). */
  async idle(): Promise<void> {
    let chain: Promise<unknown>;
    do {
      chain = this.chain;
      await chain;
    } while (chain !== this.chain);
  }

  /** Resolves when no tick and no job is running. */
  async settled(): Promise<void> {
    for (;;) {
      await this.idle();
      if (this.running.size === 0) return;
      await Promise.allSettled([...this.running.values()]);
    }
  }

  /** Stops ticking; running jobs are told to stop and go back to the queue. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.abort.abort(new Error('the server is stopping'));
    await this.idle();
    await Promise.allSettled([...this.running.values()]);
  }

  private async runTick(): Promise<ScheduleDecision[]> {
    if (this.stopped) return [];
    const { db, clock } = this.deps;
    const now = clock.now();
    const counters = await fleetCounters(db);
    const decisions: ScheduleDecision[] = [];
    for (const schedule of this.schedules) {
      const decided = await this.check(schedule, counters, now);
      await recordScheduleCheck(db, schedule.config.name, {
        nextDue: schedule.nextDue,
        decision: decided.decision,
        jobId: decided.jobId ?? undefined,
        now,
      });
      if (decided.decision !== null)
        decisions.push({
          schedule: schedule.config.name,
          jobId: decided.jobId,
          decision: decided.decision,
        });
    }
    await this.startDueJobs();
    return decisions;
  }

  /** One schedule at one tick: whether it fires, and whether its gates let a job through. */
  private async check(
    schedule: LiveSchedule,
    counters: FleetCounters,
    now: number,
  ): Promise<{ jobId: number | null; decision: string | null }> {
    const s = schedule.config;
    let trigger: string | null = null;
    if (s.kind === 'cron') {
      if (schedule.nextDue === null) return { jobId: null, decision: 'never due' };
      if (now < schedule.nextDue) return { jobId: null, decision: null };
      // A slot is used once, fired or not; the next one is the first after now.
      trigger = `cron slot ${iso(schedule.nextDue)}`;
      schedule.nextDue = nextCronTime(schedule.cron as CronSchedule, now);
    } else if (s.kind === 'interval') {
      const due = (schedule.lastRunAt ?? schedule.since) + s.everyMs;
      schedule.nextDue = due;
      if (now < due) return { jobId: null, decision: null };
      trigger = `${formatDuration(s.everyMs)} interval due since ${iso(due)}`;
    }

    const last = await lastJob(this.deps.db, s.model);
    if (s.kind === 'drift') {
      const alerts = counters.alerts - (last?.counters.alerts ?? 0);
      const windows = counters.windows - (last?.counters.windows ?? 0);
      const rate = windows > 0 ? alerts / windows : 0;
      const figures = `${alerts} drift alerts in ${windows} windows (${rate.toFixed(3)}/window) since the last job`;
      if (alerts < s.minAlerts || rate < s.alertsPerWindow || windows === 0)
        return { jobId: null, decision: `quiet: ${figures}` };
      trigger = `${figures} ≥ ${s.alertsPerWindow}/window`;
    }

    if (last && (last.state === 'queued' || last.state === 'running'))
      return { jobId: null, decision: `skipped (${trigger}): job ${last.id} is ${last.state}` };
    const newSamples = counters.samples - (last?.counters.samples ?? 0);
    if (newSamples < s.minNewSamples)
      return {
        jobId: null,
        decision: `waiting (${trigger}): ${newSamples} of ${s.minNewSamples} new samples`,
      };
    if (last && now - Date.parse(last.createdAt) < s.minIntervalMs)
      return {
        jobId: null,
        decision: `waiting (${trigger}): last job ${last.id} was ${formatDuration(now - Date.parse(last.createdAt))} ago, minimum ${formatDuration(s.minIntervalMs)}`,
      };

    const reason = `${trigger}; ${newSamples} new samples`;
    const job = await enqueueJob(this.deps.db, {
      model: s.model,
      schedule: s.name,
      trigger: s.kind,
      reason,
      maxAttempts: this.deps.config.maxAttempts,
      counters,
      now,
    });
    if (!job)
      return {
        jobId: null,
        decision: `skipped (${trigger}): another job for ${s.model} is active`,
      };
    schedule.lastRunAt = now;
    if (s.kind === 'interval') schedule.nextDue = now + s.everyMs;
    return { jobId: job.id, decision: `queued job ${job.id}: ${reason}` };
  }

  private async startDueJobs(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const job = await claimJob(this.deps.db, this.deps.clock.now());
      if (!job) return;
      const run = this.execute(job).finally(() => this.running.delete(job.id));
      this.running.set(job.id, run);
    }
  }

  private async execute(job: Job): Promise<void> {
    const { db, clock, config } = this.deps;
    const signal = this.abort.signal;
    try {
      const result = await runJob(
        {
          db,
          trainer: this.deps.trainer,
          clock,
          settings: config,
          onPublished: this.deps.onPublished,
          logError: this.deps.logError,
        },
        job,
        signal,
      );
      this.outcomes.push({ jobId: job.id, state: 'succeeded', result });
    } catch (error) {
      try {
        if (signal.aborted) {
          await requeueStopped(db, job.id, clock.now());
          return;
        }
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        const after = await failAttempt(db, job.id, message, clock.now(), config.retryDelayMs);
        this.outcomes.push({ jobId: job.id, state: after.state, error: message });
      } catch (storeError) {
        this.deps.logError(`job ${job.id}: recording its failure failed`, storeError);
      }
    }
  }
}
