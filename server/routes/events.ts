/** `GET /v1/events`: the server-sent event stream (server/events.ts). */
import type { Hono } from 'hono';
import type { AppContext } from '../context.ts';
import { addressPrefix } from '../http/client_address.ts';
import { ApiError } from '../http/errors.ts';

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // Tells nginx-style proxies not to buffer the stream.
  'x-accel-buffering': 'no',
};

export function eventRoutes(app: Hono, ctx: AppContext): void {
  app.get('/v1/events', async (c) => {
    // Hono answers HEAD with the GET handler and drops the body unread; opening a stream for
    // it would leak a subscription per request.
    if (c.req.method === 'HEAD')
      return new Response(null, { status: 200, headers: STREAM_HEADERS });
    // Per address for IPv4 (a NAT's neighbours keep their streams), per /64 for IPv6.
    const address = ctx.clientAddress(c);
    const client = address.includes(':') ? addressPrefix(address) : address;
    const opened = await ctx.events.openStream(client);
    if ('refused' in opened)
      throw new ApiError(
        429,
        'RATE_LIMITED',
        opened.refused === 'client'
          ? 'this address holds its share of open event streams; close one or poll instead'
          : 'too many open event streams; poll instead',
        { headers: { 'retry-after': '30' } },
      );
    return new Response(opened.stream, { status: 200, headers: STREAM_HEADERS });
  });
}
