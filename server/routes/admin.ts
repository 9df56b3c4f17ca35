/**
 * The admin API (`/v1/admin/*`, admin token). The operations and their checks are in
 * server/admin.ts (shared with the CLI's direct mode); this adds HTTP, and announces every
 * change to open event streams at once.
 *
 *   PUT  /v1/admin/models/<sha256>          raw bytes (application/octet-stream) → 201 | 200
 *   POST /v1/admin/versions                 PublishRequest → 201 AdminVersion (staging)
 *   GET  /v1/admin/versions[/<ref>]         list, or one by id or semver
 *   POST /v1/admin/versions/<ref>/ramp      RampRequest
 *   POST /v1/admin/versions/<ref>/promote   TransitionRequest (body optional)
 *   POST /v1/admin/versions/<ref>/rollback  TransitionRequest (body optional)
 *   POST /v1/admin/versions/<ref>/autopilot AutopilotRequest: the policy may act on it or not
 *   POST /v1/admin/policy/evaluate          { dryRun? } → PolicyEvaluation (applied unless dryRun)
 *   GET  /v1/admin/audit?limit=N            newest first
 *   GET  /v1/admin/status                   versions with fleet metrics, recent audit
 */
import type { Context, Hono } from 'hono';
import type { AdminVersion } from '../../src/protocol/admin.ts';
import * as admin from '../admin.ts';
import type { AppContext } from '../context.ts';
import type { Database } from '../db/database.ts';
import { requireAdmin } from '../http/auth.ts';
import { optionalJson, readJson, requestBody, requireMediaType } from '../http/body.ts';
import { listAudit } from '../store/audit.ts';
import { listVersions } from '../store/versions.ts';
import { boolean, object, optional, ValidationError } from '../validate.ts';

const evaluateRequest = object<{ dryRun?: boolean }>(
  { dryRun: optional(boolean()) },
  { strict: true },
);

const NO_STORE = { 'cache-control': 'no-store' };

export function adminRoutes(app: Hono, ctx: AppContext): void {
  app.use('/v1/admin/*', async (c, next) => {
    requireAdmin(c.req.raw, ctx.adminTokenHash);
    await next();
  });

  app.put('/v1/admin/models/:sha256', async (c) => {
    requireMediaType(c.req.raw, 'application/octet-stream');
    const actor = c.req.header('localfit-actor')?.slice(0, 100) || 'admin';
    // Streamed into chunks and hashed on the way (never whole in memory).
    const result = await admin.uploadModel(
      ctx.db,
      requestBody(c.req.raw, ctx.limits.maxModelBytes),
      c.req.param('sha256'),
      actor,
      { limit: ctx.limits.maxModelBytes, chunkSize: ctx.modelChunkBytes },
    );
    return c.json(result, result.created ? 201 : 200);
  });

  app.get('/v1/admin/versions', async (c) =>
    c.json({ versions: await listVersions(ctx.db) }, 200, NO_STORE),
  );

  app.post('/v1/admin/versions', async (c) => {
    const version = await admin.publish(ctx.db, await readJson(c.req.raw, ctx.limits.maxBodyBytes));
    await ctx.events.poke();
    return c.json(version, 201);
  });

  app.get('/v1/admin/versions/:ref', async (c) =>
    c.json(await admin.getVersion(ctx.db, c.req.param('ref')), 200, NO_STORE),
  );

  const change =
    (
      action: (db: Database, ref: string, body: unknown) => Promise<AdminVersion>,
      bodyRequired: boolean,
    ) =>
    async (c: Context): Promise<Response> => {
      const body = bodyRequired
        ? await readJson(c.req.raw, ctx.limits.maxBodyBytes)
        : await optionalJson(c.req.raw, ctx.limits.maxBodyBytes);
      const version = await action(ctx.db, c.req.param('ref') ?? '', body);
      await ctx.events.poke();
      return c.json(version);
    };
  app.post('/v1/admin/versions/:ref/ramp', change(admin.ramp, true));
  app.post('/v1/admin/versions/:ref/promote', change(admin.promote, false));
  app.post('/v1/admin/versions/:ref/rollback', change(admin.rollback, false));
  app.post('/v1/admin/versions/:ref/autopilot', async (c) => {
    const body = await readJson(c.req.raw, ctx.limits.maxBodyBytes);
    return c.json(await admin.autopilot(ctx.db, c.req.param('ref'), body));
  });

  app.post('/v1/admin/policy/evaluate', async (c) => {
    const body = evaluateRequest(await optionalJson(c.req.raw, ctx.limits.maxBodyBytes), '');
    // Changes are announced by the autopilot itself (its onChange hook).
    return c.json(await ctx.autopilot.evaluate(body.dryRun ?? false), 200, NO_STORE);
  });

  app.get('/v1/admin/audit', async (c) => {
    const raw = c.req.query('limit') ?? '50';
    if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000)
      throw new ValidationError('limit', 'must be an integer from 1 to 1000');
    return c.json({ entries: await listAudit(ctx.db, Number(raw)) }, 200, NO_STORE);
  });

  app.get('/v1/admin/status', async (c) =>
    c.json(await admin.status(ctx.db, 20, ctx.autopilot.policy), 200, NO_STORE),
  );
}
