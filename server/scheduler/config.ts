/**
 * Retraining schedules and the scheduler's settings, as `startServer({ scheduler })` takes
 * them and as the `serve --scheduler FILE` JSON holds them, with the checks both go through.
 *
 * Three kinds of trigger, each gated by the same two conditions:
 * - `cron`: at the minutes a five-field cron expression names (UTC; `cron.ts`);
 * - `interval`: once `every` has passed since this schedule's last job (or since it was first
 *   seen);
 * - `drift`: when the devices' drift alarms since the model's last job reach `minAlerts` and
 *   `alertsPerWindow` (alarms per reported metric window, fleet-wide).
 * Gates: `minNewSamples` outcomes reported by devices (metric window counts) and
 * `minInterval` elapsed, both since the model's last job.
 *
 * Durations are milliseconds, or strings like "90s", "15m", "6h", "1d".
 */
import {
  array,
  type Check,
  invalid,
  number,
  object,
  oneOf,
  optional,
  refine,
  string,
  ValidationError,
} from '../validate.ts';
import { CronError, parseCron } from './cron.ts';

export interface ScheduleGates {
  /** Outcomes devices must have reported since the model's last job. Default 0. */
  minNewSamples?: number;
  /** Time since the model's last job (ms or "6h"). Default 0. */
  minInterval?: number | string;
}

interface ScheduleBase extends ScheduleGates {
  /** Unique; names the schedule in status and jobs (1–64 of [A-Za-z0-9._-]). */
  name: string;
  /** The model key jobs lock on: never two jobs for one model at once. Default 'default'. */
  model?: string;
}

export interface CronScheduleConfig extends ScheduleBase {
  kind: 'cron';
  cron: string;
}

export interface IntervalScheduleConfig extends ScheduleBase {
  kind: 'interval';
  every: number | string;
}

export interface DriftScheduleConfig extends ScheduleBase {
  kind: 'drift';
  /** Fleet-wide drift alarms per metric window since the last job (e.g. 0.2). */
  alertsPerWindow: number;
  /** And at least this many alarms. Default 1. */
  minAlerts?: number;
}

export type ScheduleConfig = CronScheduleConfig | IntervalScheduleConfig | DriftScheduleConfig;

/** The JSON-able part of the scheduler's settings (what `serve --scheduler FILE` reads). */
export interface SchedulerConfig {
  schedules: ScheduleConfig[];
  /** MovieLens-format folder (ratings.csv, movies.csv) the default trainer trains on. */
  trainingData?: string;
  /** Share of the latest ratings the default trainer holds out for evaluation. Default 0.1. */
  holdout?: number;
  /** How often schedules are checked (ms or "1m"). Default 1 minute (cron's resolution). */
  tick?: number | string;
  /** Tries per job, the first included. Default 3. */
  maxAttempts?: number;
  /** Wait before a failed job is tried again (ms or "5m"). Default 5 minutes. */
  retryDelay?: number | string;
  /** Weight a better candidate is staged with. Default 0.1. */
  stagedWeight?: number;
  /** Which held-out figure decides. Default 'logloss' (lower wins); 'auc': higher wins. */
  metric?: 'logloss' | 'auc';
  /** By how much the candidate must beat production on that figure. Default 0. */
  minImprovement?: number;
}

/** A schedule with defaults filled in and durations in ms. */
export type ResolvedSchedule =
  | (ResolvedBase & { kind: 'cron'; cron: string })
  | (ResolvedBase & { kind: 'interval'; everyMs: number })
  | (ResolvedBase & { kind: 'drift'; alertsPerWindow: number; minAlerts: number });

interface ResolvedBase {
  name: string;
  model: string;
  minNewSamples: number;
  minIntervalMs: number;
}

export interface ResolvedConfig {
  schedules: ResolvedSchedule[];
  trainingData?: string;
  holdout: number;
  tickMs: number;
  maxAttempts: number;
  retryDelayMs: number;
  stagedWeight: number;
  metric: 'logloss' | 'auc';
  minImprovement: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_DURATION = 366 * UNITS.d;

function duration(min: number): Check<number> {
  return (value, path) => {
    let ms: number;
    if (typeof value === 'number') ms = number({ min: 0 })(value, path);
    else if (typeof value === 'string') {
      const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(value.trim());
      if (!match) invalid(path, 'must be milliseconds or a duration like "90s", "15m", "6h", "1d"');
      ms = Number(match[1]) * UNITS[match[2]];
    } else invalid(path, 'must be milliseconds or a duration like "6h"');
    if (ms < min) invalid(path, `must be at least ${min} ms`);
    if (ms > MAX_DURATION) invalid(path, 'must be at most a year');
    return Math.round(ms);
  };
}

const KEY = { max: 64, min: 1, pattern: /^[A-Za-z0-9._-]+$/, patternName: '[A-Za-z0-9._-]' };

const cronText = refine(string({ max: 200 }), (value, path) => {
  try {
    parseCron(value);
  } catch (error) {
    if (error instanceof CronError) invalid(path, error.message);
    throw error;
  }
});

const base = {
  name: string(KEY),
  model: optional(string(KEY)),
  minNewSamples: optional(number({ min: 0, integer: true })),
  minInterval: optional(duration(0)),
};

const scheduleChecks = {
  cron: object<CronScheduleConfig>(
    { ...base, kind: oneOf(['cron'] as const), cron: cronText },
    { strict: true },
  ),
  interval: object<IntervalScheduleConfig>(
    { ...base, kind: oneOf(['interval'] as const), every: duration(1000) },
    { strict: true },
  ),
  drift: object<DriftScheduleConfig>(
    {
      ...base,
      kind: oneOf(['drift'] as const),
      alertsPerWindow: number({ min: 0 }),
      minAlerts: optional(number({ min: 1, integer: true })),
    },
    { strict: true },
  ),
};

const schedule: Check<ScheduleConfig> = (value, path) => {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(scheduleChecks, kind))
    invalid(`${path}.kind`, 'must be one of cron, interval, drift');
  return scheduleChecks[kind as ScheduleConfig['kind']](value, path);
};

const configCheck = object<SchedulerConfig>(
  {
    schedules: array(schedule, { max: 100 }),
    trainingData: optional(string({ min: 1, max: 4096 })),
    holdout: optional(number({ min: 0.01, max: 0.5 })),
    tick: optional(duration(1000)),
    maxAttempts: optional(number({ min: 1, max: 100, integer: true })),
    retryDelay: optional(duration(0)),
    stagedWeight: optional(number({ min: 0, max: 1 })),
    metric: optional(oneOf(['logloss', 'auc'] as const)),
    minImprovement: optional(number({ min: 0 })),
  },
  { strict: true },
);

/** Checks and completes a configuration; throws ValidationError naming the bad path. */
export function resolveSchedulerConfig(input: unknown): ResolvedConfig {
  const config = configCheck(input, '');
  const names = new Set<string>();
  const schedules = config.schedules.map((s, i): ResolvedSchedule => {
    if (names.has(s.name)) throw new ValidationError(`schedules[${i}].name`, 'is used twice');
    names.add(s.name);
    const common: ResolvedBase = {
      name: s.name,
      model: s.model ?? 'default',
      minNewSamples: s.minNewSamples ?? 0,
      minIntervalMs: (s.minInterval as number | undefined) ?? 0,
    };
    if (s.kind === 'cron') return { ...common, kind: 'cron', cron: s.cron };
    if (s.kind === 'interval') return { ...common, kind: 'interval', everyMs: s.every as number };
    return {
      ...common,
      kind: 'drift',
      alertsPerWindow: s.alertsPerWindow,
      minAlerts: s.minAlerts ?? 1,
    };
  });
  return {
    schedules,
    trainingData: config.trainingData,
    holdout: config.holdout ?? 0.1,
    tickMs: (config.tick as number | undefined) ?? 60_000,
    maxAttempts: config.maxAttempts ?? 3,
    retryDelayMs: (config.retryDelay as number | undefined) ?? 300_000,
    stagedWeight: config.stagedWeight ?? 0.1,
    metric: config.metric ?? 'logloss',
    minImprovement: config.minImprovement ?? 0,
  };
}

/** What a schedule is, in a few words, for status. */
export function describeSchedule(s: ResolvedSchedule): string {
  const gates = [
    s.minNewSamples > 0 ? `≥ ${s.minNewSamples} new samples` : '',
    s.minIntervalMs > 0 ? `≥ ${formatDuration(s.minIntervalMs)} since last` : '',
  ].filter(Boolean);
  const what =
    s.kind === 'cron'
      ? `cron "${s.cron}" (UTC)`
      : s.kind === 'interval'
        ? `every ${formatDuration(s.everyMs)}`
        : `drift ≥ ${s.alertsPerWindow} alerts/window, ≥ ${s.minAlerts} alerts`;
  return gates.length ? `${what}; ${gates.join(', ')}` : what;
}

export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const)
    if (ms >= UNITS[unit] && ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`;
  return `${ms}ms`;
}
