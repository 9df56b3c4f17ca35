/**
 * The retraining part of `status` and the `jobs` command: each schedule (next due, last run,
 * last decision) and the recent jobs (state, progress, attempts, outcome).
 */
import type { JobsResponse } from '../scheduler/routes.ts';
import type { Job } from '../store/jobs.ts';
import { table } from './status_table.ts';

const DASH = '—';

/** `2026-11-22 06:04` (UTC, to the minute: what cron schedules speak in). */
const when = (iso: string | null) => (iso ? `${iso.slice(0, 16).replace('T', ' ')}Z` : DASH);

function outcome(job: Job): string {
  if (job.result) return job.result.reason;
  if (job.error) return `${job.state === 'failed' ? 'failed' : 'last error'}: ${job.error}`;
  return job.reason;
}

export function formatJobs(jobs: Job[]): string {
  if (jobs.length === 0) return 'no retraining jobs yet';
  return table(
    ['job', 'model', 'schedule', 'trigger', 'state', 'created', 'progress', 'tries', 'outcome'],
    jobs.map((job) => [
      String(job.id),
      job.model,
      job.schedule,
      job.trigger,
      job.state,
      when(job.createdAt),
      `${Math.round(job.progress * 100)}%${job.step && job.state === 'running' ? ` ${job.step}` : ''}`,
      `${job.attempts}/${job.maxAttempts}`,
      outcome(job).slice(0, 240),
    ]),
  );
}

export function formatRetraining(reply: JobsResponse): string {
  const schedules =
    reply.schedules.length === 0
      ? 'no retraining schedules (serve --scheduler FILE)'
      : table(
          ['schedule', 'model', 'rule', 'next due', 'last run', 'last decision'],
          reply.schedules.map((s) => [
            s.name,
            s.model,
            s.description,
            s.kind === 'drift' ? 'on drift' : when(s.nextDue),
            s.lastRunAt ? `${when(s.lastRunAt)} (job ${s.lastJobId})` : DASH,
            (s.decision ?? DASH).slice(0, 160),
          ]),
        );
  return `Retraining schedules\n${schedules}\n\nRecent retraining jobs\n${formatJobs(reply.jobs)}`;
}
