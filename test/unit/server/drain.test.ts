/**
 * Graceful shutdown (server/http/drain.ts) over raw sockets on 127.0.0.1, so the test sees
 * what a load balancer and a device see: which connections are refused, which answers still
 * arrive, which sockets end, and what an event stream gets last.
 *
 * Every step waits on the server's own signals, never on time: a request is known to be in
 * flight when the server has answered its `Expect: 100-continue` (Node emits the request then).
 *
 * PGlite only: what is tested is the HTTP listener's shutdown; the database is the same
 * `Database` interface either way, and the PostgreSQL fault tests (db_faults.test.ts) cover
 * the storage side of a replica going away.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Database } from '../../../server/db/database.ts';
import { openDatabase } from '../../../server/db/open.ts';
import { type RunningServer, startServer } from '../../../server/start.ts';
import {
  ADMIN_TOKEN,
  APP_KEY,
  fakeModel,
  makeWindow,
  publishBytes,
  register,
  SIGNING_KEY,
} from './support/http.ts';

/** Everything a socket receives, and a way to wait until it contains something. */
function reader(socket: Socket) {
  let received = '';
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  return {
    get text() {
      return received;
    },
    async until(pattern: RegExp): Promise<void> {
      while (!pattern.test(received)) {
        if (ended) throw new Error(`socket closed before ${pattern}; got:\n${received}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    async end(): Promise<void> {
      while (!ended) await new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

async function openSocket(server: RunningServer): Promise<Socket> {
  const socket = connect(server.port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

// One database for the file (PGlite's start and migrations took 15 s at load 8); each test
// starts a server on it and shuts that server down.
let db: Database;
let server: RunningServer | undefined;

beforeAll(async () => {
  db = await openDatabase({ memory: true });
}, 120_000);

afterAll(async () => {
  await db?.close();
});

async function start() {
  server = await startServer({
    database: db,
    port: 0,
    adminToken: ADMIN_TOKEN,
    appKey: APP_KEY,
    signingKey: SIGNING_KEY,
    heartbeatMs: 60_000,
    pollMs: 60_000,
  });
  return { db, server };
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('graceful shutdown', () => {
  test('a batch in flight when shutdown begins is answered and stored once; new connections are refused', async () => {
    const { db, server } = await start();
    const device = await register(server);
    const versionId = await publishBytes(server, fakeModel(), 0.5);
    const body = JSON.stringify({
      idempotencyKey: 'drain-batch-0001',
      windows: [makeWindow('drain-window-1', versionId)],
    });
    const socket = await openSocket(server);
    const replies = reader(socket);
    socket.write(
      [
        'POST /v1/metrics HTTP/1.1',
        'Host: 127.0.0.1',
        `Authorization: Bearer ${device.token}`,
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'Expect: 100-continue',
        '',
        '',
      ].join('\r\n'),
    );
    await replies.until(/100 Continue/);

    const closing = server.close();
    // The listener is gone at once: a load balancer's next connection goes elsewhere.
    await expect(fetch(`${server.url}/v1/health`)).rejects.toThrow();
    socket.write(body);
    await replies.until(/HTTP\/1\.1 201/);
    await replies.end();
    await closing;

    expect(replies.text).toMatch(/^connection: close$/im);
    const stored = await db.query<{ n: number }>(
      `select count(*)::int as n from metric_windows where window_id = 'drain-window-1'`,
    );
    expect(stored.rows[0]?.n).toBe(1);
  });

  test('an event stream ends cleanly after a spread-out retry hint', async () => {
    const { server } = await start();
    const socket = await openSocket(server);
    const replies = reader(socket);
    socket.write('GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await replies.until(/event: manifest\ndata: .*\n\n/);

    const closing = server.close();
    await replies.end();
    await closing;

    // Chunked encoding's last chunk: the stream was ended, not cut.
    expect(replies.text).toMatch(/\r\n0\r\n\r\n$/);
    const hints = [...replies.text.matchAll(/retry: (\d+)\n\n/g)].map((m) => Number(m[1]));
    expect(hints).toHaveLength(2);
    expect(hints[0]).toBe(3000); // sent when the stream opened
    // At shutdown: drawn from [1.5 s, 4.5 s), so a replica's audience reconnects spread out.
    expect(hints[1]).toBeGreaterThanOrEqual(1500);
    expect(hints[1]).toBeLessThan(4500);
  });

  test('an idle kept-alive connection outlives a client pool: keepAliveTimeout is 65 s', async () => {
    const { server } = await start();
    const socket = await openSocket(server);
    const replies = reader(socket);
    socket.write('GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await replies.until(/"ok":true/);
    // Node tells the client how long it keeps the idle socket open.
    expect(replies.text).toMatch(/^keep-alive: timeout=65$/im);
    socket.destroy();
  });
});
