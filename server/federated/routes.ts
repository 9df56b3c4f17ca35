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
import type { CloseRoundRequest, OpenRoundRequest } from '../../src/protocol/admin.ts';
import {
  CONTRIBUTIONS_PATH,
  type ContributionRequest,
  MAX_DELTA_LENGTH,
} from '../../src/protocol/index.ts';
import type { AppContext } from '../context.ts';
import { requireDevice } from '../http/auth.ts';
import { readJson } from '../http/body.ts';
import { addressPrefix } from '../http/client_address.ts';
import { enforce } from '../http/rate_limit.ts';
import { versionId } from '../schemas.ts';
import { boolean, type Check, invalid, number, object, optional, string } from '../validate.ts';
import { closeRound, contribute, federatedStatus, getRound, openRound } from './rounds.ts';

const roundId: Check<string> = string({
  min: 1,
  max: 64,
  pattern: /^[A-Za-z0-9._:-]+$/,
  patternName: '1–64 characters of A-Z a-z 0-9 . _ : -',
});

/** A delta's numbers: checked in one loop (up to a million of them, so no per-item closures). */
const floats: Check<number[]> = (value, path) => {
  if (!Array.isArray(value)) invalid(path, 'must be an array of numbers');
  if (value.length > MAX_DELTA_LENGTH)
    invalid(path, `must have at most ${MAX_DELTA_LENGTH} numbers`);
  const out = new Array<number>(value.length);
  for (let i = 0; i < value.length; i++) {
    const x = value[i];
    if (typeof x !== 'number' || !Number.isFinite(x) || Math.abs(x) > 1e9)
      invalid(`${path}[${i}]`, 'must be a finite number of magnitude at most 1e9');
    out[i] = x;
  }
  return out;
};

/** Device bodies ignore unknown fields (a newer device may talk to an older server). */
export const contributionRequest: Check<ContributionRequest> = object<ContributionRequest>({
  roundId,
  baseVersionId: versionId,
  outcomes: number({ min: 0, max: 1e12, integer: true }),
  delta: object<ContributionRequest['delta']>({ weights: floats, intercepts: floats }),
  localNoise: optional(number({ min: 0, max: 1e3 })),
});

const intentShape = {
  actor: optional(string({ min: 1, max: 100 })),
  why: optional(string({ max: 1000, controls: 'whitespace' })),
};

export const openRoundRequest: Check<OpenRoundRequest> = object<OpenRoundRequest>(
  {
    ...intentShape,
    baseVersionId: versionId,
    clip: number({ min: 1e-9, max: 1e9 }),
    minClients: number({ min: 1, max: 1e9, integer: true }),
    minOutcomes: optional(number({ min: 0, max: 1e12, integer: true })),
    samplingRate: optional(number({ min: 1e-9, max: 1 })),
    noiseMultiplier: optional(number({ min: 0, max: 1e6 })),
    deadline: optional(string({ max: 40 })),
    durationSeconds: optional(number({ min: 1, max: 10 * 365 * 86_400 })),
  },
  { strict: true },
);

export const closeRoundRequest: Check<CloseRoundRequest> = object<CloseRoundRequest>(
  { ...intentShape, cancel: optional(boolean()) },
  { strict: true },
);

const NO_STORE = { 'cache-control': 'no-store' };

/** A JSON body that may be left out altogether. */
async function optionalJson(request: Request, limit: number): Promise<unknown> {
  const length = request.headers.get('content-length');
  const chunked = request.headers.get('transfer-encoding');
  if (!request.headers.get('content-type') && !chunked && (length === null || length === '0'))
    return {};
  return readJson(request, limit);
}

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
