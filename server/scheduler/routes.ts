/**
 * `GET /v1/admin/jobs?limit=N&model=M` (admin token): the schedules' state (next due, last
 * run, last decision) and the most recent retraining jobs, newest first. Read from the
 * database, so any server process answers the same, scheduler or not.
 */
import type { Hono } from 'hono';
import type { AppContext } from '../context.ts';
import { requireAdmin } from '../http/auth.ts';
import { type Job, listJobs, listSchedules, type ScheduleStatus } from '../store/jobs.ts';
import { ValidationError } from '../validate.ts';

export interface JobsResponse {
  schedules: ScheduleStatus[];
  jobs: Job[];
}

const MODEL = /^[A-Za-z0-9._-]{1,64}$/;

export function jobRoutes(app: Hono, ctx: AppContext): void {
  app.get('/v1/admin/jobs', async (c) => {
    requireAdmin(c.req.raw, ctx.adminTokenHash);
    const raw = c.req.query('limit') ?? '20';
    if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000)
      throw new ValidationError('limit', 'must be an integer from 1 to 1000');
    const model = c.req.query('model');
    if (model !== undefined && !MODEL.test(model))
      throw new ValidationError('model', 'must be 1-64 characters of [A-Za-z0-9._-]');
    const body: JobsResponse = {
      schedules: await listSchedules(ctx.db),
      jobs: await listJobs(ctx.db, { limit: Number(raw), model }),
    };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  });
}
