/**
 * HTTP hygiene of the server, on a real server over 127.0.0.1 (PGlite in memory): text that
 * is not text is refused in every admin field, slow senders are cut off by the server's own
 * timeouts, the Bearer scheme is case-insensitive, and one client address gets only its
 * share of the event streams.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type RunningServer, startServer } from '../../../server/start.ts';
import type { ErrorBody } from '../../../src/protocol/index.ts';
import {
  ADMIN_TOKEN,
  APP_KEY,
  admin,
  call,
  FEATURE_SPEC,
  fakeModel,
  publishBytes,
  sha256,
} from './support/http.ts';

// The machine running the tests may be shared and slow: generous limits, exact assertions.
const TIMEOUT = 60_000;

const errorOf = (reply: { body: unknown }) => (reply.body as ErrorBody).error;

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({
    memory: true,
    port: 0,
    adminToken: ADMIN_TOKEN,
    appKey: APP_KEY,
    heartbeatMs: 60_000,
    pollMs: 60_000,
  });
}, TIMEOUT);

afterAll(async () => {
  await server?.close();
}, TIMEOUT);

describe('admin text fields', () => {
  const hostile: [string, string][] = [
    ['NUL', 'a\u0000b'],
    ['a lone high surrogate', 'x\ud800'],
    ['a lone low surrogate', '\udfffx'],
    ['ESC', 'a\u001b[31mred'],
    ['a vertical tab', 'a\u000bb'],
  ];

  async function uploaded(): Promise<string> {
    const bytes = fakeModel();
    const up = await call(server, 'PUT', `/v1/admin/models/${sha256(bytes)}`, {
      raw: bytes as Uint8Array<ArrayBuffer>,
      token: ADMIN_TOKEN,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(up.status).toBe(201);
    return sha256(bytes);
  }

  test.each(hostile)(
    'publish refuses %s in the head, its keys, the feature spec, actor and why: 400 with a path',
    async (_, text) => {
      const model = { sha256: await uploaded() };
      const bodies: [Record<string, unknown>, string][] = [
        [{ head: { weights: [1, 2], name: text } }, 'head.name'],
        [{ head: { nested: { list: [0, text] } } }, 'head.nested.list[1]'],
        [{ head: { [`k${text}`]: 1 } }, `head.k${text} (key)`],
        [{ featureSpec: { ...FEATURE_SPEC, note: text } }, 'featureSpec.note'],
        [{ actor: `ops ${text}` }, 'actor'],
        [{ semver: `1.0.0-${text}` }, 'semver'],
        // `why` is free text: tab and line breaks are fine there (below), these are not.
        [{ why: `because ${text}` }, 'why'],
      ];
      const before = await admin<unknown[]>(server, 'GET', '/versions');
      for (const [extra, path] of bodies) {
        const reply = await admin(server, 'POST', '/versions', { model, weight: 0.1, ...extra });
        expect(reply.status, JSON.stringify(extra)).toBe(400);
        expect(errorOf(reply)?.code).toBe('INVALID_BODY');
        expect(errorOf(reply)?.path).toBe(path);
      }
      for (const [route, body] of [
        ['/versions/v1/ramp', { weight: 0.2, why: `x${text}` }],
        ['/versions/v1/promote', { actor: text }],
        ['/versions/v1/rollback', { actor: `a${text}` }],
      ] as const) {
        const reply = await admin(server, 'POST', route, body);
        expect(reply.status, `${route} ${JSON.stringify(body)}`).toBe(400);
        expect(errorOf(reply)?.code).toBe('INVALID_BODY');
      }
      // Nothing was published.
      expect((await admin<unknown[]>(server, 'GET', '/versions')).body).toEqual(before.body);
    },
    TIMEOUT,
  );

  test(
    'free text keeps tabs and line breaks; heads keep them in strings',
    async () => {
      const id = await publishBytes(server, fakeModel(), 0.1, {
        why: 'first line\nsecond\tline\r\n',
        head: { label: 'a\tb\nc' },
      });
      const version = await admin<{ head: { label: string } }>(server, 'GET', `/versions/${id}`);
      expect(version.status).toBe(200);
      expect(version.body.head.label).toBe('a\tb\nc');
    },
    TIMEOUT,
  );
});

describe('the Bearer scheme', () => {
  test.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])(
    '%s is accepted; the token itself stays case-sensitive',
    async (scheme) => {
      const ok = await call(server, 'GET', '/v1/admin/status', {
        headers: { authorization: `${scheme} ${ADMIN_TOKEN}` },
      });
      expect(ok.status).toBe(200);
      const wrongCase = await call(server, 'GET', '/v1/admin/status', {
        headers: { authorization: `${scheme} ${ADMIN_TOKEN.toUpperCase()}` },
      });
      expect(wrongCase.status).toBe(403);
    },
    TIMEOUT,
  );

  test(
    'other schemes are still 401',
    async () => {
      for (const header of [`Basic ${ADMIN_TOKEN}`, `Bearer`, `Bearer${ADMIN_TOKEN}`]) {
        const reply = await call(server, 'GET', '/v1/admin/status', {
          headers: { authorization: header },
        });
        expect(reply.status, header).toBe(401);
      }
    },
    TIMEOUT,
  );
});

/**
 * Writes `bytes` and never finishes the request; resolves with what the server sent and
 * when it closed the connection (or reset it).
 */
function stall(port: number, bytes: string): Promise<{ reply: string; ms: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      reply += chunk;
    });
    socket.on('error', () => {}); // a reset is an acceptable way to be cut off
    socket.on('close', () => resolve({ reply, ms: performance.now() - started }));
    socket.write(bytes);
  });
}

describe('slow senders', () => {
  let slow: RunningServer;
  beforeAll(async () => {
    slow = await startServer({
      memory: true,
      port: 0,
      adminToken: ADMIN_TOKEN,
      appKey: APP_KEY,
      requestTimeoutMs: 600,
      headersTimeoutMs: 400,
    });
  }, TIMEOUT);
  afterAll(async () => {
    await slow?.close();
  }, TIMEOUT);

  test(
    'a body that never arrives is cut off at the request timeout (408 or reset), not at 300 s',
    async () => {
      const { reply, ms } = await stall(
        slow.port,
        'POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          'Content-Length: 1000\r\n\r\n{"appKey":',
      );
      expect(reply === '' || reply.startsWith('HTTP/1.1 408')).toBe(true);
      // Configured 600 ms; Node checks a few times a second. Far below Node's 300 s default.
      expect(ms).toBeGreaterThanOrEqual(500);
      expect(ms).toBeLessThan(20_000);
    },
    TIMEOUT,
  );

  test(
    'headers that never end are cut off at the headers timeout',
    async () => {
      const { reply, ms } = await stall(
        slow.port,
        'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ',
      );
      expect(reply === '' || reply.startsWith('HTTP/1.1 408')).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(300);
      expect(ms).toBeLessThan(20_000);
    },
    TIMEOUT,
  );

  test(
    'the server still answers afterwards',
    async () => {
      expect((await call(slow, 'GET', '/v1/health')).status).toBe(200);
    },
    TIMEOUT,
  );

  test('the defaults are at most 30 s', async () => {
    const defaults = await startServer({ memory: true, port: 0, adminToken: ADMIN_TOKEN });
    try {
      const { ms, reply } = await Promise.race([
        stall(defaults.port, 'GET /v1/health HTTP/1.1\r\nHost: x\r\n'),
        new Promise<{ ms: number; reply: string }>((resolve) =>
          setTimeout(() => resolve({ ms: -1, reply: 'still open' }), 35_000),
        ),
      ]);
      expect(reply === '' || reply.startsWith('HTTP/1.1 408'), reply).toBe(true);
      expect(ms).toBeLessThanOrEqual(31_000);
    } finally {
      await defaults.close();
    }
  }, 60_000);
});

/** Opens an event stream from a given local address; resolves with the status. */
function openFrom(
  port: number,
  localAddress: string,
): Promise<{ status: number; body: string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/events', localAddress });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      const done = () => resolve({ status: res.statusCode ?? 0, body, close: () => req.destroy() });
      if (res.statusCode === 200) {
        // The first event proves the stream is open.
        res.on('data', (chunk: string) => {
          body += chunk;
          if (body.includes('event: manifest')) done();
        });
      } else {
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', done);
      }
      res.on('error', () => {});
    });
    req.end();
  });
}

describe('event streams: a share per client address', () => {
  let capped: RunningServer;
  beforeAll(async () => {
    capped = await startServer({
      memory: true,
      port: 0,
      adminToken: ADMIN_TOKEN,
      appKey: APP_KEY,
      heartbeatMs: 60_000,
      pollMs: 60_000,
      maxStreams: 8,
    });
  }, TIMEOUT);
  afterAll(async () => {
    await capped?.close();
  }, TIMEOUT);

  test(
    'one address gets a quarter of the cap by default; other addresses still get theirs',
    async () => {
      const open: { close: () => void }[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const stream = await openFrom(capped.port, '127.0.0.1');
          expect(stream.status).toBe(200);
          open.push(stream);
        }
        const refused = await openFrom(capped.port, '127.0.0.1');
        expect(refused.status).toBe(429);
        expect(JSON.parse(refused.body).error.message).toContain('share');
        // Another client address (the loopback net is a /8) is not affected.
        const other = await openFrom(capped.port, '127.0.0.2');
        expect(other.status).toBe(200);
        open.push(other);
        // A stream that ends gives its slot back.
        open.shift()!.close();
        let again = await openFrom(capped.port, '127.0.0.1');
        for (let attempt = 0; again.status !== 200 && attempt < 100; attempt++) {
          // the server notices the closed socket asynchronously
          await new Promise((resolve) => setTimeout(resolve, 20));
          again = await openFrom(capped.port, '127.0.0.1');
        }
        expect(again.status).toBe(200);
        open.push(again);
      } finally {
        for (const stream of open) stream.close();
      }
    },
    TIMEOUT,
  );

  test(
    'maxStreamsPerClient configures the share',
    async () => {
      const one = await startServer({
        memory: true,
        port: 0,
        adminToken: ADMIN_TOKEN,
        appKey: APP_KEY,
        heartbeatMs: 60_000,
        maxStreams: 100,
        maxStreamsPerClient: 1,
      });
      try {
        const first = await openFrom(one.port, '127.0.0.3');
        expect(first.status).toBe(200);
        const second = await openFrom(one.port, '127.0.0.3');
        expect(second.status).toBe(429);
        first.close();
      } finally {
        await one.close();
      }
    },
    TIMEOUT,
  );
});
