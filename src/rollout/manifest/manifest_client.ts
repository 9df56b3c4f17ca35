/**
 * Keeps a device's view of the signed manifest (`GET /v1/manifest`) current: it checks on
 * start, listens to `/v1/events` while the app is open (the server announces each change, so a
 * new version arrives within a round trip), and polls with jitter as a safety net — often
 * while the event stream is down, rarely while it is up. Requests carry the held ETag, so an
 * unchanged manifest costs a 304.
 *
 * A manifest is accepted only when (in this order) its signature verifies over the exact bytes
 * received, the bytes parse and have the protocol's shape, it has not expired, its revision is
 * not lower than the last one accepted and it was not issued before it (an older, genuinely
 * signed manifest replayed by an attacker or a stale cache would otherwise roll the device
 * back). Anything else is refused: the device keeps what it has, and `onRefused` hears a reason
 * that starts with a stable code ({@link ManifestRefusalCode}).
 *
 * A device that keeps getting 304 (or errors) past the held manifest's `expiresAt` is frozen:
 * someone between it and the server may be holding back a rollback. It keeps serving what it
 * has (nothing better is verified) and `onStale` hears it once per held manifest; a check is
 * scheduled for the moment of expiry so this is known without waiting for the next poll.
 *
 * Accepted manifests go to `onManifest` one at a time, awaited; checks asked for meanwhile (a
 * burst of events, a poll) coalesce into one check after it. The revision and ETag are saved
 * through {@link ManifestStateStore} only once `onManifest` has resolved, so a device that
 * stops halfway sees the same manifest again on its next start.
 */

import { fullJitterDelay } from '../../delivery/backoff.ts';
import { describeError } from '../../errors.ts';
import type { ManifestEvent } from '../../protocol/index.ts';
import { SIGNATURE_HEADER, SIGNATURE_KEY_HEADER } from '../../protocol/index.ts';
import type {
  CheckOutcome,
  ManifestClientOptions,
  ManifestClientStats,
  ManifestRefusalCode,
  ManifestState,
  ResolvedManifestClientOptions,
} from './client_options.ts';
import { checkOptions, resolveManifestClientOptions } from './client_options.ts';
import { checkFreshness, checkManifest, isStale } from './manifest_check.ts';

/** Reopening an event stream the server closed (it refuses at most so many): backoff. */
const REOPEN_BACKOFF = { baseMs: 1_000, maxMs: 120_000 };

export class ManifestClient {
  private readonly options: ResolvedManifestClientOptions;
  private readonly base: string;
  private held: ManifestState | undefined;
  private loaded: Promise<void> | undefined;
  private running: Promise<CheckOutcome> | undefined;
  private queued: Promise<CheckOutcome> | undefined;
  private source: EventSource | undefined;
  private reopenAttempts = 0;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private pollAt = Infinity;
  private reopenTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly stopping = new AbortController();
  private started = false;
  /** Nothing handed over by this instance yet (see `redeliverOnStart`). */
  private firstDelivery = true;
  private readonly counters: Omit<ManifestClientStats, 'nextCheckAt'> = {
    checks: 0,
    accepted: 0,
    notModified: 0,
    refused: {},
    failed: 0,
    pushes: 0,
    revision: null,
    eventsConnected: false,
    lastRefusal: null,
    stale: false,
  };
  /** The `expiresAt` of the held manifest `onStale` was last told about. */
  private staleReported: string | undefined;

  constructor(options: ManifestClientOptions) {
    this.options = resolveManifestClientOptions(options);
    this.base = checkOptions(this.options);
  }

  /** Checks once (resolving with the outcome), then keeps listening and polling until stop. */
  async start(): Promise<CheckOutcome> {
    if (this.started) throw new Error('ManifestClient: already started');
    this.started = true;
    const outcome = await this.check();
    // After the first check, so the event sent when the stream opens names what we now hold.
    if (this.options.events && !this.stopping.signal.aborted) this.openEvents();
    return outcome;
  }

  /**
   * Checks now, or — when a check is under way — once right after it; every caller in between
   * shares that one check.
   */
  check(): Promise<CheckOutcome> {
    if (this.stopping.signal.aborted) return Promise.resolve({ kind: 'stopped' });
    if (!this.running) {
      this.running = this.checkOnce()
        .catch((error: unknown): CheckOutcome => {
          // The state store failed (storage refused a read or write): try again next time.
          this.loaded = undefined;
          this.counters.failed++;
          return { kind: 'failed', error };
        })
        .finally(() => {
          this.running = undefined;
          this.noticeStale();
          this.schedulePoll();
        });
      return this.running;
    }
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      return this.check();
    });
    return this.queued;
  }

  stats(): ManifestClientStats {
    return {
      ...this.counters,
      refused: { ...this.counters.refused },
      nextCheckAt: this.pollTimer === undefined ? null : this.pollAt,
    };
  }

  /** The last accepted revision and ETag (after `start` loaded them). */
  get state(): ManifestState | undefined {
    return this.held && { ...this.held };
  }

  /** Closes the event stream and timers and aborts a request under way. */
  stop(): void {
    this.stopping.abort();
    this.source?.close();
    this.source = undefined;
    this.counters.eventsConnected = false;
    clearTimeout(this.pollTimer);
    clearTimeout(this.reopenTimer);
  }

  private async checkOnce(): Promise<CheckOutcome> {
    this.loaded ??= this.options.state.load().then((state) => {
      this.held = state;
      this.counters.revision = state?.revision ?? null;
    });
    await this.loaded;
    if (this.stopping.signal.aborted) return { kind: 'stopped' };
    this.counters.checks++;
    const fetched = await this.fetchManifest();
    if (fetched.kind !== 'body') return fetched;
    const { bytes, etag, signature, keyId } = fetched;

    // The signature covers the bytes as received: verify before parsing anything.
    if (signature === null) return this.refuse('missing_signature');
    const known = this.options.verifier.keyIds;
    if (keyId && known && !known.includes(keyId))
      return this.refuse(
        `unknown_key: signed by key ${keyId}, this app has ${known.join(', ')} (the server's key was rotated: build the app with its new key, server/README.md "Rotating the signing key")`,
      );
    if (!(await this.options.verifier.verify(bytes, signature, keyId)))
      return this.refuse('bad_signature');
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (error) {
      return this.refuse(`malformed: not UTF-8 JSON (${describeError(error)})`);
    }
    const manifest = checkManifest(json);
    if (typeof manifest === 'string') return this.refuse(`malformed: ${manifest}`);
    const held = this.held;
    const stale = checkFreshness(manifest, held, this.options.now(), this.options.notBefore);
    if (stale) return this.refuse(stale);
    const next: ManifestState = {
      revision: manifest.revision,
      etag,
      issuedAt: manifest.issuedAt,
      expiresAt: manifest.expiresAt,
    };
    const redeliver = this.options.redeliverOnStart && this.firstDelivery;
    if (held && manifest.revision === held.revision && !redeliver) {
      // Same revision, same content (the server's bytes are a function of its state), signed
      // again later: keep the new expiry.
      if (etag !== held.etag || manifest.expiresAt !== held.expiresAt) await this.remember(next);
      this.counters.notModified++;
      return { kind: 'not_modified' };
    }

    try {
      await this.options.onManifest(manifest);
    } catch (error) {
      this.counters.failed++;
      return { kind: 'failed', error };
    }
    this.firstDelivery = false;
    await this.remember(next);
    this.counters.accepted++;
    return { kind: 'accepted', revision: manifest.revision };
  }

  private async remember(state: ManifestState): Promise<void> {
    this.held = state;
    this.counters.revision = state.revision;
    await this.options.state.save(state);
  }

  /** Tells `onStale` once when the held manifest is past its expiry. */
  private noticeStale(): void {
    const held = this.held;
    this.counters.stale = isStale(held, this.options.now());
    if (!this.counters.stale || this.staleReported === held?.expiresAt) return;
    this.staleReported = held?.expiresAt;
    try {
      this.options.onStale(
        `stale_manifest: revision ${held?.revision} expired at ${held?.expiresAt}; no newer manifest could be had`,
      );
    } catch {
      // As for onRefused.
    }
  }

  private refuse(reason: string): CheckOutcome {
    const code = reason.split(':', 1)[0] as ManifestRefusalCode;
    this.counters.refused[code] = (this.counters.refused[code] ?? 0) + 1;
    this.counters.lastRefusal = reason;
    try {
      this.options.onRefused(reason);
    } catch {
      // A reporting callback's failure must not change what the client does.
    }
    return { kind: 'refused', reason };
  }

  private async fetchManifest(): Promise<
    | {
        kind: 'body';
        bytes: Uint8Array;
        etag: string | null;
        signature: string | null;
        keyId: string | null;
      }
    | CheckOutcome
  > {
    const controller = new AbortController();
    const stop = () => controller.abort();
    this.stopping.signal.addEventListener('abort', stop);
    const timer = setTimeout(stop, this.options.requestTimeoutMs);
    try {
      const headers: Record<string, string> = {};
      const redeliver = this.options.redeliverOnStart && this.firstDelivery;
      if (this.held?.etag && !redeliver) headers['if-none-match'] = this.held.etag;
      // no-store: the HTTP cache must neither answer for the server nor turn our conditional
      // request into its own; the ETag logic here is the only one.
      const response = await this.options.fetch(`${this.base}/v1/manifest`, {
        headers,
        cache: 'no-store',
        signal: controller.signal,
      });
      if (response.status === 304) {
        await response.body?.cancel();
        this.counters.notModified++;
        return { kind: 'not_modified' };
      }
      if (response.status !== 200) {
        await response.body?.cancel();
        return this.refuse(`http_${response.status}`);
      }
      const declared = Number(response.headers.get('content-length'));
      if (declared > this.options.maxManifestBytes) {
        await response.body?.cancel();
        return this.refuse(`malformed: ${declared} bytes (> ${this.options.maxManifestBytes})`);
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.length > this.options.maxManifestBytes)
        return this.refuse(`malformed: ${bytes.length} bytes (> ${this.options.maxManifestBytes})`);
      return {
        kind: 'body',
        bytes,
        etag: response.headers.get('etag'),
        signature: response.headers.get(SIGNATURE_HEADER),
        keyId: response.headers.get(SIGNATURE_KEY_HEADER),
      };
    } catch (error) {
      if (this.stopping.signal.aborted) return { kind: 'stopped' };
      return this.refuse(
        controller.signal.aborted
          ? `network: no answer within ${this.options.requestTimeoutMs} ms`
          : `network: ${describeError(error)}`,
      );
    } finally {
      clearTimeout(timer);
      this.stopping.signal.removeEventListener('abort', stop);
    }
  }

  private pollInterval(): number {
    const base = this.counters.eventsConnected
      ? this.options.pollIntervalMs
      : this.options.fallbackPollIntervalMs;
    const spread = this.options.jitter * (2 * this.options.random() - 1);
    return Math.max(0, base * (1 + spread));
  }

  private schedulePoll(delay = this.pollInterval()): void {
    if (this.stopping.signal.aborted || !this.started) return;
    // Check again right after the held manifest expires, so a frozen device knows at once.
    const expiresAt = Date.parse(this.held?.expiresAt ?? '');
    const untilExpiry = expiresAt - this.options.now();
    if (untilExpiry >= 0) delay = Math.min(delay, untilExpiry + 1);
    clearTimeout(this.pollTimer);
    this.pollAt = Date.now() + delay;
    this.pollTimer = setTimeout(() => void this.check(), delay);
  }

  private openEvents(): void {
    const source = new EventSource(`${this.base}/v1/events`);
    this.source = source;
    source.addEventListener('open', () => {
      this.reopenAttempts = 0;
      this.counters.eventsConnected = true;
      // Pushes from now on: the poll the start scheduled at the fallback rate (the stream was
      // not open yet) waits the connected interval instead, so an idle device stays asleep.
      if (!this.running && this.pollTimer !== undefined) {
        const connected = this.pollInterval();
        if (this.pollAt - Date.now() < connected) this.schedulePoll(connected);
      }
    });
    source.addEventListener('manifest', (event) => {
      this.counters.pushes++;
      let data: Partial<ManifestEvent> | undefined;
      try {
        data = JSON.parse((event as MessageEvent<string>).data) as Partial<ManifestEvent>;
      } catch {
        data = undefined;
      }
      // An event we cannot read still says "something changed": checking is always safe.
      if (typeof data?.etag !== 'string' || data.etag !== this.held?.etag) void this.check();
    });
    source.addEventListener('error', () => {
      const wasConnected = this.counters.eventsConnected;
      this.counters.eventsConnected = false;
      // Without pushes, poll at the faster rate from now on, not after the slow wait.
      if (wasConnected && !this.running) {
        const fallback = this.pollInterval();
        if (this.pollAt - Date.now() > fallback) this.schedulePoll(fallback);
      }
      // CONNECTING: EventSource reconnects by itself. CLOSED (an HTTP error, a wrong content
      // type): it never will, so reopen after a backoff.
      if (source.readyState === EventSource.CLOSED && this.source === source) {
        this.source = undefined;
        const delay = Math.max(
          REOPEN_BACKOFF.baseMs,
          fullJitterDelay(++this.reopenAttempts, REOPEN_BACKOFF, this.options.random),
        );
        this.reopenTimer = setTimeout(() => {
          if (!this.stopping.signal.aborted) this.openEvents();
        }, delay);
      }
    });
  }
}
