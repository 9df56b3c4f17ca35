/**
 * Fault-injecting HTTP proxies for the sync fault tests (Node). A proxy sits between a device and
 * the real sync server and, as the test switches its mode, passes requests through, answers with
 * an error status (500, 429 + Retry-After…), forwards a request and then withholds the answer
 * (the server stored it; the device never hears so), or stops listening (connection refused).
 *
 * A control API (CORS open, so browser tests can drive it) makes one proxy per test — its own
 * port, its own mode, its own log, so tests that run side by side cannot disturb each other —
 * sets modes, waits for things to have happened (long-poll, so tests never sleep), and lists what
 * the device sent and what the server stored for the installs registered through that proxy.
 *
 * CORS preflights (OPTIONS) always pass through: a faulted preflight would look to the device
 * like a network error, not like the fault under test. Fault answers carry CORS headers for
 * the same reason.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readBody } from './read_body.ts';

export type FaultMode =
  | { kind: 'pass' }
  /** Answer `status` (with `Retry-After: retryAfter` seconds, if given); `forward` first? */
  | { kind: 'status'; status: number; retryAfter?: number; forward?: boolean }
  /** Forward, then never answer: the device must give up on its own (its timeout). */
  | { kind: 'hang' }
  /** Stop listening and drop every connection: connection refused. */
  | { kind: 'down' };

export interface ProxyEvent {
  /** 1, 2, 3…: order of events on this proxy. */
  n: number;
  /** When this happened; and when the request it is about arrived. */
  at: number;
  receivedAt: number;
  method: string;
  path: string;
  mode: FaultMode['kind'];
  /**
   * forwarded: answered by the server; faulted: answered by the proxy; hung: forwarded, answer
   * withheld; aborted: the device gave up on a hung request; failed: the server was unreachable.
   */
  outcome: 'forwarded' | 'faulted' | 'hung' | 'aborted' | 'failed';
  /** The status the device received. */
  status?: number;
  /** The JSON request body (for POSTs). */
  body?: unknown;
  /** When the request reached the server: its status, and whether it was an idempotent replay. */
  upstream?: { status: number; replayed: boolean };
}

export interface WaitQuery {
  path?: string;
  outcome?: ProxyEvent['outcome'];
  status?: number;
  /** Events after this n. */
  since?: number;
  count: number;
  timeoutMs?: number;
}

export interface FaultLab {
  /** The control API. */
  controlUrl: string;
  close(): Promise<void>;
}

export interface FaultLabOptions {
  /** The real server's base URL. */
  target: string;
  /**
   * Extra GET routes per proxy (`/proxies/<id><route>`), e.g. `/stored` → rows from the
   * server's database; given the query and the install ids registered through that proxy.
   */
  routes?: Record<string, (query: URLSearchParams, installs: string[]) => Promise<unknown>>;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'content-type',
  'access-control-expose-headers': 'Retry-After',
};

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function respondFault(res: ServerResponse, mode: { status: number; retryAfter?: number }): void {
  const headers: Record<string, string> = { ...CORS, 'content-type': 'application/json' };
  if (mode.retryAfter !== undefined) headers['retry-after'] = String(mode.retryAfter);
  const code =
    mode.status === 429 ? 'RATE_LIMITED' : mode.status === 503 ? 'UNAVAILABLE' : 'INTERNAL';
  res.writeHead(mode.status, headers);
  res.end(JSON.stringify({ error: { code, message: `injected ${mode.status}` } }));
}

/** One proxy: a listener in front of the server, with a mode and a log. */
class FaultProxy {
  mode: FaultMode = { kind: 'pass' };
  readonly events: ProxyEvent[] = [];
  /** Install ids the server gave out through this proxy. */
  readonly installs: string[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();
  private readonly server: Server;
  port = 0;

  private readonly target: URL;
  constructor(target: URL) {
    this.target = target;
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 1000;
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port = await listen(this.server, 0);
  }

  async setMode(next: FaultMode): Promise<number> {
    const since = this.events.length;
    const wasDown = this.mode.kind === 'down';
    this.mode = next;
    if (next.kind === 'down' && !wasDown) await this.stopListening();
    if (next.kind !== 'down' && wasDown) await listen(this.server, this.port);
    if (next.kind !== 'hang') for (const res of this.hung) res.destroy();
    return since;
  }

  waitFor(query: WaitQuery): Promise<ProxyEvent[] | undefined> {
    return new Promise((resolve) => {
      const wake = () => {
        const found = this.events.filter((event) => matches(event, query));
        if (found.length < query.count) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve(undefined);
      }, query.timeoutMs ?? 30_000);
      this.waiters.add(wake);
      wake();
    });
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    if (this.mode.kind !== 'down') await this.stopListening();
  }

  private stopListening(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private record(event: Omit<ProxyEvent, 'n' | 'at'>): void {
    this.events.push({ ...event, n: this.events.length + 1, at: Date.now() });
    for (const wake of this.waiters) wake();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = Date.now();
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://proxy');
    const method = req.method ?? 'GET';
    let parsed: unknown;
    try {
      parsed = body.length > 0 ? JSON.parse(body.toString('utf8')) : undefined;
    } catch {
      parsed = undefined;
    }
    const mode = method === 'OPTIONS' ? ({ kind: 'pass' } as const) : this.mode;
    const base = { receivedAt, method, path: url.pathname, mode: mode.kind, body: parsed };

    if (mode.kind === 'status' && !mode.forward) {
      respondFault(res, mode);
      this.record({ ...base, outcome: 'faulted', status: mode.status });
      return;
    }
    const answer = await this.forward(req, body);
    if (!answer) {
      res.writeHead(502, { ...CORS, 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'INTERNAL', message: 'upstream unreachable' } }));
      this.record({ ...base, outcome: 'failed', status: 502 });
      return;
    }
    const upstream = {
      status: answer.status,
      replayed: answer.headers['idempotent-replayed'] === 'true',
    };
    if (url.pathname === '/v1/register' && answer.status === 201) {
      this.installs.push(
        (JSON.parse(answer.body.toString('utf8')) as { installId: string }).installId,
      );
    }
    if (mode.kind === 'status') {
      // The server has stored the batch; the device hears a failure.
      respondFault(res, mode);
      this.record({ ...base, outcome: 'faulted', status: mode.status, upstream });
    } else if (mode.kind === 'hang') {
      // The server has answered (and stored the batch); the device never learns it.
      this.hung.add(res);
      this.record({ ...base, outcome: 'hung', upstream });
      res.on('close', () => {
        this.hung.delete(res);
        if (!res.writableEnded) this.record({ ...base, outcome: 'aborted', upstream });
      });
    } else {
      const headers = { ...answer.headers };
      delete headers['transfer-encoding'];
      delete headers['content-length'];
      res.writeHead(answer.status, headers);
      res.end(answer.body);
      this.record({ ...base, outcome: 'forwarded', status: answer.status, upstream });
    }
  }

  /** Sends the request on to the server; resolves with its answer (undefined: unreachable). */
  private forward(req: IncomingMessage, body: Buffer) {
    return new Promise<
      { status: number; headers: IncomingMessage['headers']; body: Buffer } | undefined
    >((resolve) => {
      const upstream = request(
        {
          hostname: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: this.target.host },
        },
        (res) => {
          readBody(res).then(
            (data) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: data }),
            () => resolve(undefined),
          );
        },
      );
      upstream.on('error', () => resolve(undefined));
      upstream.end(body);
    });
  }
}

function matches(event: ProxyEvent, query: WaitQuery): boolean {
  return (
    event.n > (query.since ?? 0) &&
    (query.path === undefined || event.path === query.path) &&
    (query.outcome === undefined || event.outcome === query.outcome) &&
    (query.status === undefined || event.status === query.status)
  );
}

/**
 * The control API:
 * - `POST /proxies` → `{ id, url }`: a new proxy, passing everything through.
 * - `POST /proxies/<id>/mode` with a {@link FaultMode} → `{ since }`: the last event before it.
 * - `GET /proxies/<id>/wait?path&outcome&status&since&count&timeoutMs` → the matching events,
 *   once there are `count` of them (408 with the whole log on timeout).
 * - `GET /proxies/<id>/events?path` → the log; `GET /proxies/<id>/installs`.
 * - `GET /proxies/<id><route>` for each extra route.
 */
export async function startFaultLab(options: FaultLabOptions): Promise<FaultLab> {
  const target = new URL(options.target);
  const proxies = new Map<string, FaultProxy>();

  const control = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const reply = (status: number, value: unknown) => {
      res.writeHead(status, { ...CORS, 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    try {
      if (req.method === 'OPTIONS') return reply(204, null);
      if (req.method === 'POST' && url.pathname === '/proxies') {
        const proxy = new FaultProxy(target);
        await proxy.start();
        const id = String(proxies.size + 1);
        proxies.set(id, proxy);
        return reply(201, { id, url: proxy.url });
      }
      const match = /^\/proxies\/(\d+)(\/.*)$/.exec(url.pathname);
      const proxy = match ? proxies.get(match[1]) : undefined;
      if (!match || !proxy) return reply(404, { error: `no route ${req.method} ${url.pathname}` });
      const route = match[2];
      const query = url.searchParams;
      if (req.method === 'POST' && route === '/mode') {
        const mode = JSON.parse((await readBody(req)).toString('utf8')) as FaultMode;
        return reply(200, { since: await proxy.setMode(mode) });
      }
      if (req.method !== 'GET') return reply(405, { error: 'use GET' });
      if (route === '/wait') {
        const wait: WaitQuery = {
          path: query.get('path') ?? undefined,
          outcome: (query.get('outcome') as ProxyEvent['outcome'] | null) ?? undefined,
          status: query.has('status') ? Number(query.get('status')) : undefined,
          since: Number(query.get('since') ?? 0),
          count: Number(query.get('count') ?? 1),
          timeoutMs: Number(query.get('timeoutMs') ?? 30_000),
        };
        const found = await proxy.waitFor(wait);
        return found
          ? reply(200, found)
          : reply(408, { error: 'timed out', wait, events: proxy.events });
      }
      if (route === '/events') {
        const path = query.get('path');
        return reply(
          200,
          proxy.events.filter((event) => path === null || event.path === path),
        );
      }
      if (route === '/installs') return reply(200, proxy.installs);
      const extra = options.routes?.[route];
      if (extra) return reply(200, await extra(query, [...proxy.installs]));
      return reply(404, { error: `no route ${req.method} ${url.pathname}` });
    } catch (error) {
      return reply(500, { error: String(error) });
    }
  });
  const controlPort = await listen(control, 0);

  return {
    controlUrl: `http://127.0.0.1:${controlPort}`,
    async close() {
      await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
      await new Promise<void>((resolve) => {
        control.close(() => resolve());
        control.closeAllConnections();
      });
    },
  };
}
