/**
 * The HTTP application: the `/v1` routes on a Hono app (web-standard Request → Response, so
 * the same app could run on an edge runtime given other storage), CORS for apps served from
 * other origins, and one error policy: refusals (ApiError, ValidationError) become their 4xx
 * JSON body; anything else is a server fault, logged, and answered 500 INTERNAL (503
 * UNAVAILABLE when storage is unreachable) without internals.
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { SIGNATURE_HEADER } from '../src/sync/protocol.ts';
import type { AppContext } from './context.ts';
import { ApiError, notFound } from './http/errors.ts';
import { adminRoutes } from './routes/admin.ts';
import { deviceRoutes } from './routes/device.ts';
import { eventRoutes } from './routes/events.ts';
import { modelRoutes } from './routes/models.ts';
import { ValidationError } from './validate.ts';

/** Paths and the methods they answer, for 405 (Hono itself would say 404). */
const ROUTES: [string, string[]][] = [
  ['/v1/health', ['GET', 'HEAD']],
  ['/v1/register', ['POST']],
  ['/v1/manifest', ['GET', 'HEAD']],
  ['/v1/public-key', ['GET', 'HEAD']],
  ['/v1/events', ['GET']],
  ['/v1/models/:sha256', ['GET', 'HEAD']],
  ['/v1/metrics', ['POST']],
  ['/v1/admin/models/:sha256', ['PUT']],
  ['/v1/admin/versions', ['GET', 'HEAD', 'POST']],
  ['/v1/admin/versions/:ref', ['GET', 'HEAD']],
  ['/v1/admin/versions/:ref/ramp', ['POST']],
  ['/v1/admin/versions/:ref/promote', ['POST']],
  ['/v1/admin/versions/:ref/rollback', ['POST']],
  ['/v1/admin/versions/:ref/autopilot', ['POST']],
  ['/v1/admin/policy/evaluate', ['POST']],
  ['/v1/admin/audit', ['GET', 'HEAD']],
  ['/v1/admin/status', ['GET', 'HEAD']],
];

/**
 * SQLSTATEs and driver errors that mean "storage unavailable right now": connection
 * failures (08), shutdown (57P0x), out of resources (53), and conflicts that persisted through
 * the retries (40001, 40P01).
 */
function isStorageDown(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^(08|57P0|53|40001|40P01)/.test(code)) return true;
  const message = error instanceof Error ? error.message : '';
  return /ECONNREFUSED|ECONNRESET|Connection terminated|PGlite is closed|closed/i.test(message);
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

  for (const [path, methods] of ROUTES)
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
    if (isStorageDown(error)) {
      ctx.logError('storage unavailable', error);
      return new ApiError(503, 'UNAVAILABLE', 'storage is unavailable; retry later', {
        headers: { 'retry-after': '5' },
      }).toResponse();
    }
    ctx.logError('internal error', error);
    return new ApiError(500, 'INTERNAL', 'internal server error').toResponse();
  });

  return app;
}
