/**
 * `GET /v1/models/<sha256>`: model bytes by content address. The address is the content's
 * hash, so the response can never change: cacheable forever, ETag = the sha256, and byte
 * ranges for resuming a download.
 */
import type { Hono } from 'hono';
import type { AppContext } from '../context.ts';
import { ApiError } from '../http/errors.ts';
import { parseRange } from '../http/range.ts';
import { SHA256_PATTERN } from '../store/models.ts';
import { etagMatches } from './device.ts';

export function modelRoutes(app: Hono, ctx: AppContext): void {
  app.get('/v1/models/:sha256', async (c) => {
    const sha256 = c.req.param('sha256');
    if (!SHA256_PATTERN.test(sha256))
      throw new ApiError(400, 'BAD_REQUEST', 'a model is named by its lowercase hex sha256');
    const bytes = await ctx.models.get(sha256);
    if (!bytes) throw new ApiError(404, 'NOT_FOUND', `no model ${sha256}`);
    const etag = `"${sha256}"`;
    const headers: Record<string, string> = {
      etag,
      'cache-control': 'public, max-age=31536000, immutable',
      'accept-ranges': 'bytes',
      'content-type': 'application/octet-stream',
    };
    if (etagMatches(c.req.header('if-none-match'), etag))
      return new Response(null, { status: 304, headers });
    // If-Range with another validator means "the file changed": send it whole.
    const ifRange = c.req.header('if-range');
    const range =
      ifRange === undefined || ifRange === etag
        ? parseRange(c.req.header('range') ?? null, bytes.length)
        : { kind: 'full' as const };
    if (range.kind === 'unsatisfiable')
      throw new ApiError(416, 'RANGE_NOT_SATISFIABLE', `the model has ${bytes.length} bytes`, {
        headers: { 'content-range': `bytes */${bytes.length}` },
      });
    if (range.kind === 'partial')
      return new Response(bytes.subarray(range.start, range.end + 1), {
        status: 206,
        headers: {
          ...headers,
          'content-range': `bytes ${range.start}-${range.end}/${bytes.length}`,
        },
      });
    return new Response(bytes, { status: 200, headers });
  });
}
