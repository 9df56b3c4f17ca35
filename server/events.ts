/**
 * Pushes manifest changes to open apps (`GET /v1/events`, server-sent events).
 *
 * Every change to the manifest state makes the database itself send `NOTIFY localfit_manifest`
 * when its transaction commits (a trigger, migration 8), whoever made it: this process, another
 * server process on the same PostgreSQL, the CLI. Each server listens (server/start.ts,
 * `Database.listen`) and pokes: it re-reads the stored state and tells its streams. So a change
 * made on any replica reaches the streams on every replica within one notification and one
 * manifest read.
 *
 * Notifications are best effort: a listening connection that drops misses what was sent
 * meanwhile. So the server also pokes when the listener is back, and a poll of the one-row
 * revision every `pollMs` (only while someone is listening) stays as the fallback; it also
 * notices what no notification announces (the manifest's re-signing on its issue grid). A
 * change made through this process is poked at once too, without waiting for its own
 * notification. Each stream also gets a heartbeat every `heartbeatMs`, so clients and proxies
 * can tell quiet from dead.
 */
import type { HeartbeatEvent, ManifestEvent, SyncEventMap } from '../src/protocol/index.ts';
import type { ManifestSource } from './manifest.ts';

export interface EventOptions {
  heartbeatMs: number;
  pollMs: number;
  /** Open streams allowed at once; more are refused with 429. */
  maxStreams: number;
  /**
   * Open streams one client address may hold, so that one client cannot take every slot
   * and lock the rest of the fleet out of push (they would fall back to polling).
   */
  maxStreamsPerClient: number;
  /** Reconnection delay suggested to EventSource (the `retry:` field). */
  retryMs: number;
}

type Listener = (event: ManifestEvent) => void;

/** Why a stream was not opened: the server's cap, or this client's share of it. */
export type StreamRefusal = 'server' | 'client';

function frame<K extends keyof SyncEventMap>(event: K, data: SyncEventMap[K]): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class ManifestEvents {
  private readonly listeners = new Set<Listener>();
  /** Open streams and what ends each one. */
  private readonly streams = new Map<ReadableStreamDefaultController<Uint8Array>, () => void>();
  /** Slots held per client address: open streams plus streams being opened. */
  private readonly perClient = new Map<string, number>();
  /** Slots held in all: open streams plus streams being opened. */
  private held = 0;
  private last: ManifestEvent | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private checking: Promise<void> | undefined;
  private recheck = false;
  private closed = false;

  private readonly source: ManifestSource;
  readonly options: EventOptions;
  constructor(source: ManifestSource, options: EventOptions) {
    this.source = source;
    this.options = options;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Something changed (or may have): compare with the stored state and tell listeners. */
  poke(): Promise<void> {
    if (this.checking) {
      this.recheck = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.recheck = false;
        try {
          const { manifest, etag } = await this.source.get();
          if (this.last?.etag !== etag) {
            this.last = { revision: manifest.revision, rollout: manifest.rollout, etag };
            for (const listener of this.listeners) listener(this.last);
          }
        } catch {
          // Storage unreachable: the next poll or poke tries again.
        }
      } while (this.recheck && !this.closed);
    })().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (!this.timer && !this.closed) {
      this.timer = setInterval(() => void this.poke(), this.options.pollMs);
      this.timer.unref?.();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /**
   * The SSE response body for a client at `client` (its address), or why not. The slot is
   * taken before the first await, so concurrent requests cannot overshoot either cap.
   */
  async openStream(
    client: string,
  ): Promise<{ stream: ReadableStream<Uint8Array> } | { refused: StreamRefusal }> {
    if (this.closed || this.held >= this.options.maxStreams) return { refused: 'server' };
    const mine = this.perClient.get(client) ?? 0;
    if (mine >= this.options.maxStreamsPerClient) return { refused: 'client' };
    this.held++;
    this.perClient.set(client, mine + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.held--;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
    };
    let fetched: ManifestEvent;
    try {
      const { manifest, etag } = await this.source.get();
      fetched = { revision: manifest.revision, rollout: manifest.rollout, etag };
    } catch (error) {
      release();
      throw error;
    }
    return { stream: this.stream(fetched, release) };
  }

  private stream(fetched: ManifestEvent, release: () => void): ReadableStream<Uint8Array> {
    const encoder = new TextEncoder();
    let cleanup = () => {};
    return new ReadableStream<Uint8Array>({
      // Runs synchronously in the constructor: subscribing and sending the first event happen
      // with no change announced in between, and a change announced while we awaited above
      // (this.last newer than what we fetched) is what the client gets first.
      start: (controller) => {
        const send = (text: string) => {
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            cleanup(); // the client went away
          }
        };
        const unsubscribe = this.subscribe((event) => send(frame('manifest', event)));
        const heartbeat = setInterval(() => {
          const beat: HeartbeatEvent = { at: new Date().toISOString() };
          send(frame('heartbeat', beat));
        }, this.options.heartbeatMs);
        cleanup = () => {
          clearInterval(heartbeat);
          unsubscribe();
          this.streams.delete(controller);
          release();
        };
        this.streams.set(controller, cleanup);
        const first = this.last && this.last.revision > fetched.revision ? this.last : fetched;
        this.last ??= fetched;
        send(`retry: ${this.options.retryMs}\n\n`);
        send(frame('manifest', first));
      },
      cancel: () => cleanup(),
    });
  }

  /**
   * Ends every stream (server shutdown) and stops polling. Each stream first gets a fresh
   * `retry:` drawn from [retryMs / 2, 3 retryMs / 2): its EventSource reconnects (through the
   * load balancer, to a replica still up) after that delay, so a replica's whole audience
   * does not arrive at the others in the same instant.
   */
  close(random: () => number = Math.random): void {
    this.closed = true;
    const encoder = new TextEncoder();
    for (const [controller, cleanup] of [...this.streams]) {
      cleanup();
      try {
        const retry = Math.round(this.options.retryMs * (0.5 + random()));
        controller.enqueue(encoder.encode(`retry: ${retry}\n\n`));
        controller.close();
      } catch {
        // already closed
      }
    }
    this.streams.clear();
    this.listeners.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
