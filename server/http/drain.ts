/**
 * Graceful shutdown of one replica's HTTP listener: what `RunningServer.close()` does first,
 * so that a rolling restart behind a load balancer loses nothing and strands nobody.
 *
 * 1. **Stop taking work.** The listener closes, so the load balancer's next connection (a
 *    health probe included) is refused and goes to another replica; Node closes the idle
 *    kept-alive sockets at once. A response still in the making, or a request that arrives on
 *    a busy kept-alive socket, gets `Connection: close`, so its socket ends with it.
 * 2. **Let the event streams go** (the caller ends them, `ManifestEvents.close`, with their
 *    `retry:` hint already sent): each EventSource reconnects, through the balancer, to a
 *    replica that is still up, and reads the manifest it missed there.
 * 3. **Finish what is in flight.** Requests being handled — a metrics batch mid-transaction,
 *    a model download — run to the end: an acknowledged batch is committed, and a batch whose
 *    answer never left is retried by its device under the same idempotency key. This waits
 *    for every response to be closed, up to `graceMs`.
 * 4. **Cut the rest** (past `graceMs`: a stalled download, a client that never reads).
 *
 * Measured in test/unit/server/drain.test.ts: a batch in flight when shutdown begins is
 * answered 201 with `Connection: close` and stored once, while new connections are refused;
 * an event stream ends cleanly (the last chunk, not a reset) after a fresh `retry:` hint.
 *
 * ```ts
 * import { createServer } from 'node:http';
 * import { Drain } from './drain.ts';
 *
 * const server = createServer((_request, response) => response.end('ok'));
 * const drain = new Drain(server);
 * server.listen(0, '127.0.0.1');
 * await drain.close({ graceMs: 1_000 }); // resolves once nothing is in flight
 * drain.draining; // true
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The part of Node's HTTP server a drain needs (http.Server and @hono/node-server's). */
interface DrainableServer {
  on(
    event: 'request',
    listener: (request: IncomingMessage, response: ServerResponse) => void,
  ): unknown;
  close(callback?: (error?: Error) => void): unknown;
  closeIdleConnections?(): void;
  closeAllConnections?(): void;
}

export interface DrainOptions {
  /** How long requests in flight may take to finish before their connections are cut. */
  graceMs?: number;
}

export const DEFAULT_GRACE_MS = 10_000;

/** The socket ends with this response (if its headers are not out yet). */
function closeAfter(response: ServerResponse): void {
  if (!response.headersSent) response.setHeader('connection', 'close');
}

export class Drain {
  #draining = false;
  readonly #open = new Set<ServerResponse>();
  #idle: (() => void)[] = [];
  #closing: Promise<void> | undefined;

  private readonly server: DrainableServer;

  constructor(server: DrainableServer) {
    this.server = server;
    server.on('request', (_request, response) => {
      this.#open.add(response);
      if (this.#draining) closeAfter(response);
      response.once('close', () => {
        this.#open.delete(response);
        if (this.#open.size === 0) for (const wake of this.#idle.splice(0)) wake();
      });
    });
  }

  /** True once shutdown has begun: responses close their sockets. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Responses not yet closed (event streams included until they are ended). */
  get inFlight(): number {
    return this.#open.size;
  }

  /**
   * Steps 1, 3 and 4 above; call it, end the event streams, then await it. Idempotent: a
   * second call (SIGTERM twice, say) gets the first call's promise.
   */
  close(options: DrainOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options.graceMs ?? DEFAULT_GRACE_MS);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    if (!(graceMs >= 0)) throw new RangeError('graceMs must be >= 0');
    this.#draining = true;
    for (const response of this.#open) closeAfter(response);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finished = new Promise<void>((resolve) => {
      if (this.#open.size === 0) resolve();
      else this.#idle.push(resolve);
    });
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([finished, graceOver]);
    clearTimeout(timer);
    // Sockets that went idle after close() began (a response sent before `Connection: close`
    // could be set), then anything past the grace period.
    this.server.closeIdleConnections?.();
    this.server.closeAllConnections?.();
    await closed;
  }
}
