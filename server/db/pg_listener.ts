/**
 * PostgreSQL `LISTEN` for one database: a dedicated connection, outside the pool, that stays
 * subscribed to the channels callers asked for and hands each `NOTIFY` to their callbacks.
 *
 * A pooled connection cannot listen: the pool hands it to the next query and its
 * subscriptions with it, and pg drops idle clients. So a Database that is listened on holds
 * one extra connection, shared by every channel and every caller (several servers on one
 * Database object in tests share it too).
 *
 * Connections die (a terminated backend, a PostgreSQL restart, a dropped network), and a
 * notification sent while nobody listened is gone for good. So the listener has an `error`
 * listener at all times (an unhandled 'error' would end the process, see postgres.ts),
 * reconnects with a growing delay (50 ms up to 2 s) until it is back, and then calls every
 * subscription's `onResume`, so that callers re-read whatever they derive from the
 * notifications instead of trusting that none was missed. While it is down, callers' own
 * fallback (the event poll) is what notices changes.
 */
import pg from 'pg';
import type { ListenHandlers } from './database.ts';

/** Channel names are identifiers we choose; anything else is a programming error. */
const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 2_000;

export class PostgresListener {
  private readonly url: string;
  private readonly subscriptions = new Map<string, Set<ListenHandlers>>();
  private client: pg.Client | undefined;
  /** The connection being made (or the wait before the next attempt), if any. */
  private connecting: Promise<void> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryMs = FIRST_RETRY_MS;
  /** True once a connection was lost, until the next one is up: tells "resume" from "start". */
  private lost = false;
  private closed = false;

  constructor(url: string) {
    this.url = url;
  }

  /**
   * Subscribes `handlers` to `channel`. Resolves once the first connection attempt is done:
   * listening when it succeeded, else retrying in the background (the caller's poll covers
   * the gap, and `onResume` says when listening starts).
   */
  async listen(channel: string, handlers: ListenHandlers): Promise<() => Promise<void>> {
    if (!CHANNEL.test(channel)) throw new RangeError(`not a channel name: ${channel}`);
    if (this.closed) throw new Error('the listener is closed');
    const existing = this.subscriptions.get(channel);
    const isNew = !existing;
    const set = existing ?? new Set<ListenHandlers>();
    if (isNew) this.subscriptions.set(channel, set);
    set.add(handlers);
    if (this.client && isNew) {
      try {
        await this.client.query(`listen ${channel}`);
      } catch {
        // The connection is going down; the reconnect subscribes every channel again.
      }
    } else if (!this.client && !this.retryTimer) await this.connect();
    return async () => {
      set.delete(handlers);
      if (set.size > 0 || this.subscriptions.get(channel) !== set) return;
      this.subscriptions.delete(channel);
      await this.client?.query(`unlisten ${channel}`).catch(() => {});
    };
  }

  /** Ends the connection and any reconnecting. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    this.client = undefined;
    this.subscriptions.clear();
    await client?.end().catch(() => {});
  }

  private connect(): Promise<void> {
    this.connecting ??= this.attempt().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async attempt(): Promise<void> {
    if (this.closed || this.client || this.subscriptions.size === 0) return;
    const client = new pg.Client({
      connectionString: this.url,
      // Named, so operators (and tests) can tell it in pg_stat_activity.
      application_name: 'localfit-listen',
      // A silently dead peer (no RST) is noticed by TCP keepalive rather than never.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // Before connect: a failure while connecting or any time later must not be unhandled.
    client.on('error', (error) => this.dropped(client, error));
    client.on('end', () => this.dropped(client, new Error('the listening connection ended')));
    client.on('notification', (message) => {
      const handlers = this.subscriptions.get(message.channel);
      for (const h of handlers ?? []) h.onNotify(message.payload ?? '');
    });
    try {
      await client.connect();
      // The live map: a channel added while we await here is subscribed too, and nothing is
      // awaited between the end of this loop and `this.client = client` below.
      for (const channel of this.subscriptions.keys()) await client.query(`listen ${channel}`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      if (this.closed) return;
      this.fault('could not listen for changes; retrying (polling covers the gap)', error);
      this.scheduleRetry();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.retryMs = FIRST_RETRY_MS;
    if (this.lost) {
      this.lost = false;
      for (const handlers of this.subscriptions.values()) for (const h of handlers) h.onResume?.();
    }
  }

  /** The live connection failed or ended: drop it and connect again. */
  private dropped(client: pg.Client, error: unknown): void {
    if (this.client !== client) return; // a failed attempt, handled where it failed
    this.client = undefined;
    client.removeAllListeners('end');
    client.end().catch(() => {});
    if (this.closed) return;
    this.fault('the listening connection was lost; reconnecting (polling covers the gap)', error);
    void this.connect();
  }

  /** Marks an outage; its first failure is reported, the retries after it are not. */
  private fault(message: string, error: unknown): void {
    if (this.lost) return;
    this.lost = true;
    for (const handlers of this.subscriptions.values())
      for (const h of handlers) h.onFault?.(message, error);
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
    this.retryTimer.unref?.();
  }
}
