/**
 * The HTTP application: the `/v1` routes on a Hono app (web-standard Request → Response, so
 * the same app could run on an edge runtime given other storage), CORS for apps served from
 * other origins, and one error policy: refusals (ApiError, ValidationError) become their 4xx
 * JSON body; a StorageUnavailableError (the database is unreachable) is 503 UNAVAILABLE with
 * Retry-After; anything else is a server fault, logged, and answered 500 INTERNAL without
 * internals.
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { SIGNATURE_HEADER, SIGNATURE_KEY_HEADER } from '../src/protocol/index.ts';
import type { AppContext } from './context.ts';
import { StorageUnavailableError } from './db/database.ts';
import { federatedRoutes } from './federated/routes.ts';
import { ApiError, notFound } from './http/errors.ts';
import { adminRoutes } from './routes/admin.ts';
import { deviceRoutes } from './routes/device.ts';
import { eventRoutes } from './routes/events.ts';
import { modelRoutes } from './routes/models.ts';
import { ValidationError } from './validate.ts';

/** The order methods are listed in an Allow header. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Every registered path and the methods it answers, read back from Hono's own route list, so
 * that a wrong method is 405 with Allow (Hono itself would say 404). Hono answers HEAD with the
 * GET handler; middleware (method ALL) is not a route.
 */
function allowedMethods(app: Hono): Map<string, string[]> {
  const byPath = new Map<string, Set<string>>();
  for (const { path, method } of app.routes) {
    if (method === 'ALL') continue;
    const methods = byPath.get(path) ?? new Set<string>();
    methods.add(method);
    if (method === 'GET') methods.add('HEAD');
    byPath.set(path, methods);
  }
  const rank = (m: string) => METHOD_ORDER.indexOf(m) >>> 0; // unknown methods last
  return new Map(
    [...byPath].map(([path, methods]) => [path, [...methods].sort((x, y) => rank(x) - rank(y))]),
  );
}

export interface AppOptions {
  /** Access-Control-Allow-Origin for browser apps: '*' (default) or a list of origins. */
  corsOrigin?: string | string[];
}

export function createApp(ctx: AppContext, options: AppOptions = {}): Hono {
  const app = new Hono();

  app.use(
    '/v1/*',
    cors({
      origin: options.corsOrigin ?? '*',
      allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'If-None-Match', 'Range', 'If-Range'],
      exposeHeaders: [
        'ETag',
        SIGNATURE_HEADER,
        SIGNATURE_KEY_HEADER,
        'Retry-After',
        'Content-Range',
        'Accept-Ranges',
        'Idempotent-Replayed',
      ],
      maxAge: 600,
    }),
  );

  deviceRoutes(app, ctx);
  modelRoutes(app, ctx);
  eventRoutes(app, ctx);
  adminRoutes(app, ctx);
  federatedRoutes(app, ctx);

  for (const [path, methods] of allowedMethods(app))
    app.all(path, () => {
      throw new ApiError(405, 'METHOD_NOT_ALLOWED', `use ${methods.join(' or ')}`, {
        headers: { allow: methods.join(', ') },
      });
    });

  app.notFound(() => notFound().toResponse());

  app.onError((error) => {
    if (error instanceof ApiError) return error.toResponse();
    if (error instanceof ValidationError)
      return new ApiError(400, 'INVALID_BODY', error.message, {
        path: error.path || undefined,
      }).toResponse();
    // The storage layer classifies its failures (server/db/database.ts); this is the one
    // place a lost connection becomes an answer.
    if (error instanceof StorageUnavailableError) {
      ctx.logError('storage unavailable', error.cause);
      return new ApiError(503, 'UNAVAILABLE', 'storage is unavailable; retry later', {
        headers: { 'retry-after': String(error.retryAfterSeconds) },
      }).toResponse();
    }
    ctx.logError('internal error', error);
    return new ApiError(500, 'INTERNAL', 'internal server error').toResponse();
  });

  return app;
}
