/**
 * The device-facing routes of the protocol (src/protocol): health, registration,
 * manifest, public key, metrics.
 */
import type { Context, Hono } from 'hono';
import type {
  HealthResponse,
  MetricsResponse,
  RegisterResponse,
} from '../../src/protocol/index.ts';
import {
  PROTOCOL_VERSION,
  SIGNATURE_HEADER,
  SIGNATURE_KEY_HEADER,
} from '../../src/protocol/index.ts';
import type { AppContext } from '../context.ts';
import { bearerToken, requireDevice } from '../http/auth.ts';
import { readJson } from '../http/body.ts';
import { addressPrefix } from '../http/client_address.ts';
import { ApiError } from '../http/errors.ts';
import { enforce } from '../http/rate_limit.ts';
import { metricsBatch, registerRequest } from '../schemas.ts';
import { registerInstall } from '../store/installs.ts';
import { secretMatches, sha256Hex } from '../tokens.ts';
import { ValidationError } from '../validate.ts';

/** Does an If-None-Match header name this (strong) ETag? */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * With `register.verify` configured, the subject the request's credential names (after the
 * per-subject limit); without it, undefined (the app key alone registers).
 */
async function verifiedSubject(c: Context, ctx: AppContext): Promise<string | undefined> {
  const { verify, perSubject } = ctx.register;
  if (!verify) return undefined;
  const credential = c.req.header('authorization') ? bearerToken(c.req.raw) : undefined;
  const verdict = await verify({ credential, address: ctx.clientAddress(c) });
  if ('refused' in verdict)
    throw credential === undefined
      ? new ApiError(401, 'UNAUTHORIZED', `registration needs a credential: ${verdict.refused}`, {
          headers: { 'www-authenticate': 'Bearer' },
        })
      : new ApiError(403, 'FORBIDDEN', verdict.refused);
  enforce(await perSubject.take(verdict.subject));
  return verdict.subject;
}

export function deviceRoutes(app: Hono, ctx: AppContext): void {
  app.get('/v1/health', async (c) => {
    // Touch the database: healthy means able to serve, not merely running.
    await ctx.db.query('select 1');
    const body: HealthResponse = { ok: true, protocol: PROTOCOL_VERSION, storage: ctx.db.kind };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  });

  app.post('/v1/register', async (c) => {
    enforce(await ctx.registerLimiter.take(addressPrefix(ctx.clientAddress(c))));
    const request = registerRequest(await readJson(c.req.raw, ctx.limits.maxBodyBytes), '');
    if (!secretMatches(request.appKey, sha256Hex(ctx.appKey)))
      throw new ApiError(401, 'INVALID_APP_KEY', 'unknown app key');
    const subject = await verifiedSubject(c, ctx);
    const body: RegisterResponse = await registerInstall(ctx.db, request.client, subject);
    return c.json(body, 201, { 'cache-control': 'no-store' });
  });

  app.get('/v1/public-key', (c) => c.json(ctx.publicKey, 200, { 'cache-control': 'no-cache' }));

  app.get('/v1/manifest', async (c: Context) => {
    const signed = await ctx.manifests.get();
    // no-cache: caches may keep it but must revalidate (cheap, with the ETag) before use.
    const headers = { etag: signed.etag, 'cache-control': 'no-cache' };
    if (etagMatches(c.req.header('if-none-match'), signed.etag))
      return new Response(null, { status: 304, headers });
    return new Response(signed.bytes, {
      status: 200,
      headers: {
        ...headers,
        'content-type': 'application/json; charset=utf-8',
        [SIGNATURE_HEADER.toLowerCase()]: signed.signature,
        [SIGNATURE_KEY_HEADER.toLowerCase()]: signed.keyId,
      },
    });
  });

  app.post('/v1/metrics', async (c) => {
    const installId = await requireDevice(c.req.raw, (token) => ctx.installs.authenticate(token), {
      limiter: ctx.authFailureLimiter,
      key: addressPrefix(ctx.clientAddress(c)),
    });
    // The hit is counted in the batch's own transaction (ctx.ingest): no round trip and no
    // commit of its own. A request refused already is refused here from memory; one that
    // never reaches the transaction (invalid body) or whose transaction rolled back (a 409)
    // is counted on its own, so that every request still counts.
    const limiter = ctx.deviceLimiter;
    enforce(limiter.blocked(installId));
    const counted = async <T>(run: () => Promise<T>): Promise<T> => {
      try {
        return await run();
      } catch (error) {
        const refusal =
          error instanceof ValidationError ||
          (error instanceof ApiError && error.status !== 429 && error.status < 500);
        if (refusal) enforce(await limiter.take(installId));
        throw error;
      }
    };
    const batch = await counted(async () =>
      metricsBatch(await readJson(c.req.raw, ctx.limits.maxBodyBytes), ''),
    );
    const result = await counted(() => ctx.ingest.ingest(installId, batch));
    // What the rollout policy reads arrived: evaluate soon (never before answering).
    if (!result.replayed && batch.windows.some((w) => w.paired || w.events))
      ctx.autopilot.schedule();
    const body: MetricsResponse = result.body;
    return c.json(body, result.status, {
      'cache-control': 'no-store',
      ...(result.replayed ? { 'idempotent-replayed': 'true' } : {}),
    });
  });
}
