/**
 * HTTP for federated rounds: the device's contribution route and the admin's round actions.
 * The operations and their checks are in rounds.ts (shared with the CLI's direct mode); this
 * adds authentication, body checks and announcing manifest changes to open event streams.
 *
 *   POST /v1/federated/contributions            device token; ContributionRequest → 201 | 200
 *   POST /v1/admin/federated/rounds             OpenRoundRequest → 201 AdminRound
 *   GET  /v1/admin/federated/rounds             FederatedStatus (rounds, privacy budget spent)
 *   GET  /v1/admin/federated/rounds/<id>        AdminRound
 *   POST /v1/admin/federated/rounds/<id>/close  CloseRoundRequest (body optional) → AdminRound
 */
import type { Hono } from 'hono';
import { CONTRIBUTIONS_PATH } from '../../src/protocol/index.ts';
import type { AppContext } from '../context.ts';
import { requireDevice } from '../http/auth.ts';
import { optionalJson, readJson } from '../http/body.ts';
import { addressPrefix } from '../http/client_address.ts';
import { enforce } from '../http/rate_limit.ts';
import { closeRound, contribute, federatedStatus, getRound, openRound } from './rounds.ts';
import { closeRoundRequest, contributionRequest, openRoundRequest, roundId } from './schemas.ts';

const NO_STORE = { 'cache-control': 'no-store' };

export function federatedRoutes(app: Hono, ctx: AppContext): void {
  const config = ctx.federated;

  app.post(CONTRIBUTIONS_PATH, async (c) => {
    const installId = await requireDevice(c.req.raw, (token) => ctx.installs.authenticate(token), {
      limiter: ctx.authFailureLimiter,
      key: addressPrefix(ctx.clientAddress(c)),
    });
    enforce(await ctx.deviceLimiter.take(installId));
    const request = contributionRequest(await readJson(c.req.raw, ctx.limits.maxBodyBytes), '');
    const result = await contribute(ctx.db, config, installId, request);
    return c.json(result.body, result.status, {
      ...NO_STORE,
      ...(result.status === 200 ? { 'idempotent-replayed': 'true' } : {}),
    });
  });

  // Behind the admin token: adminRoutes' middleware covers /v1/admin/*.
  app.post('/v1/admin/federated/rounds', async (c) => {
    const request = openRoundRequest(await readJson(c.req.raw, ctx.limits.maxBodyBytes), '');
    const round = await openRound(ctx.db, config, request, request.actor ?? 'admin');
    await ctx.events.poke();
    return c.json(round, 201);
  });

  app.get('/v1/admin/federated/rounds', async (c) =>
    c.json(await federatedStatus(ctx.db, config), 200, NO_STORE),
  );

  app.get('/v1/admin/federated/rounds/:id', async (c) =>
    c.json(await getRound(ctx.db, roundId(c.req.param('id'), 'id')), 200, NO_STORE),
  );

  app.post('/v1/admin/federated/rounds/:id/close', async (c) => {
    const request = closeRoundRequest(await optionalJson(c.req.raw, ctx.limits.maxBodyBytes), '');
    const round = await closeRound(
      ctx.db,
      config,
      roundId(c.req.param('id'), 'id'),
      request,
      request.actor ?? 'admin',
    );
    await ctx.events.poke();
    return c.json(round);
  });
}
