/**
 * `GET /v1/models/<sha256>`: model bytes by content address. The address is the content's
 * hash, so the response can never change: cacheable forever, ETag = the sha256, and byte
 * ranges for resuming a download. The bytes are streamed from the chunks the range spans
 * (server/store/models.ts), one chunk read at a time as the client takes them, so a download's
 * memory is one chunk whatever the model's size.
 */
import type { Hono } from 'hono';
import type { AppContext } from '../context.ts';
import { ApiError } from '../http/errors.ts';
import { parseRange } from '../http/range.ts';
import { chunkSpan, rangeStream, SHA256_PATTERN } from '../store/models.ts';
import { etagMatches } from './device.ts';

export function modelRoutes(app: Hono, ctx: AppContext): void {
  app.get('/v1/models/:sha256', async (c) => {
    const sha256 = c.req.param('sha256');
    if (!SHA256_PATTERN.test(sha256))
      throw new ApiError(400, 'BAD_REQUEST', 'a model is named by its lowercase hex sha256');
    const info = await ctx.models.info(sha256);
    if (!info) throw new ApiError(404, 'NOT_FOUND', `no model ${sha256}`);
    const size = info.size;
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
        ? parseRange(c.req.header('range') ?? null, size)
        : { kind: 'full' as const };
    if (range.kind === 'unsatisfiable')
      throw new ApiError(416, 'RANGE_NOT_SATISFIABLE', `the model has ${size} bytes`, {
        headers: { 'content-range': `bytes */${size}` },
      });
    if (size === 0) return new Response(null, { status: 200, headers });
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, size - 1];
    // The first chunk is read before answering, so a storage fault is still a 503, not a
    // truncated 200.
    const first = await ctx.models.chunk(info, chunkSpan(info, start, end)[0]);
    let handed = false;
    const body = rangeStream(info, start, end, (index) => {
      if (!handed) {
        handed = true;
        return Promise.resolve(first);
      }
      return ctx.models.chunk(info, index);
    });
    headers['content-length'] = String(end - start + 1);
    if (range.kind === 'partial')
      return new Response(body, {
        status: 206,
        headers: { ...headers, 'content-range': `bytes ${start}-${end}/${size}` },
      });
    return new Response(body, { status: 200, headers });
  });
}
