/**
 * The manifest client's surface: its options (with the defaults: a poll every 5 min while the
 * event stream is up, every 60 s while it is down, ±20 % jitter, 10 s per request, manifests of
 * at most 1 MiB) and their checks, what it remembers across reloads and where, what a check
 * comes to, its stats, and the stable codes of its refusals. The client is manifest_client.ts.
 */
import { LearnerError } from '../../errors.ts';
import type { Manifest } from '../../protocol/index.ts';
import { floorProblem, type ManifestFloor } from './manifest_check.ts';
import type { ManifestVerifier } from './signature.ts';

/** The stable first word of every refusal reason. `http_<status>` for an unexpected status. */
export type ManifestRefusalCode =
  | 'bad_signature'
  | 'missing_signature'
  | 'malformed'
  | 'replayed_revision'
  | 'replayed_issued_at'
  | 'expired_manifest'
  | 'below_floor'
  | 'unknown_key'
  | `http_${number}`
  | 'network';

/** What the client remembers across reloads. */
export interface ManifestState {
  /** The revision of the last accepted manifest. */
  revision: number;
  /** Its ETag (sent as If-None-Match), or null when the server sent none. */
  etag: string | null;
  /** Its signed issue and expiry times (absent in state saved by older versions). */
  issuedAt?: string;
  expiresAt?: string;
}

/**
 * Where that memory lives (IndexedDB in the learner). `save` resolving means it survives a
 * reload.
 */
export interface ManifestStateStore {
  load(): Promise<ManifestState | undefined>;
  save(state: ManifestState): Promise<void>;
}

/** A state store in memory only: for tests and apps without persistence. */
export function memoryManifestState(initial?: ManifestState): ManifestStateStore {
  let state = initial;
  return {
    load: async () => state && { ...state },
    save: async (next) => {
      state = { ...next };
    },
  };
}

export interface ManifestClientOptions {
  /** The sync server's base URL (the manifest is at `<url>/v1/manifest`). */
  url: string;
  /** The verifier of the app's built-in public key (signature.ts). */
  verifier: ManifestVerifier;
  /** Each newly accepted manifest, in revision order; awaited before the next check. */
  onManifest: (manifest: Manifest) => Promise<void> | void;
  /** A manifest was refused: `<code>` or `<code>: <detail>`. */
  onRefused?: (reason: string) => void;
  /**
   * The held manifest expired and no newer one could be had: `stale_manifest: <detail>`. Called
   * once per held manifest; the device keeps running what it has.
   */
  onStale?: (reason: string) => void;
  /** Default: in memory (a reload starts from scratch). */
  state?: ManifestStateStore;
  /** Poll interval while the event stream is up. Default 5 min. */
  pollIntervalMs?: number;
  /** Poll interval while it is down (or not used). Default 60 s. */
  fallbackPollIntervalMs?: number;
  /** Each wait is the interval ± this fraction, uniformly, so a fleet spreads out. Default 0.2. */
  jitter?: number;
  /** One manifest request, body included. Default 10 s. */
  requestTimeoutMs?: number;
  /** Bodies larger than this are refused as malformed. Default 1 MiB. */
  maxManifestBytes?: number;
  /**
   * Hand the current manifest to `onManifest` on this instance's first successful check even
   * when it is the revision already held (fetched in full, without If-None-Match): for a caller
   * that keeps no copy of the manifest across reloads. Lower revisions are still refused.
   * Default false: after a reload, an unchanged manifest is a 304 and nothing is handed over.
   */
  redeliverOnStart?: boolean;
  /** Listen to `/v1/events`. Default: when the runtime has EventSource. */
  events?: boolean;
  fetch?: typeof fetch;
  random?: () => number;
  /**
   * The oldest manifest this build takes (a revision, or an ISO time `issuedAt` must not
   * precede): a fresh install is never sent below its own build. Default: none.
   */
  notBefore?: ManifestFloor;
  /** The clock expiry is judged by (ms since the epoch). Default Date.now. */
  now?: () => number;
}

export type CheckOutcome =
  | { kind: 'accepted'; revision: number }
  /** 304, or a manifest with the revision already held. */
  | { kind: 'not_modified' }
  | { kind: 'refused'; reason: string }
  /** `onManifest` threw: nothing saved; the next check fetches the manifest again. */
  | { kind: 'failed'; error: unknown }
  | { kind: 'stopped' };

export interface ManifestClientStats {
  /** Requests made for the manifest. */
  checks: number;
  accepted: number;
  notModified: number;
  /** Refusals by code. */
  refused: Partial<Record<ManifestRefusalCode, number>>;
  /** `onManifest` (or the state store) failures. */
  failed: number;
  /** `manifest` events received on the event stream. */
  pushes: number;
  /** The last accepted revision (null: none yet). */
  revision: number | null;
  eventsConnected: boolean;
  lastRefusal: string | null;
  /** The held manifest has expired (see `onStale`). */
  stale: boolean;
  /**
   * When the next poll is due (epoch ms; null before the first is scheduled): the connected
   * interval while the event stream is open, the fallback interval while it is not.
   */
  nextCheckAt: number | null;
}

const DEFAULTS = {
  pollIntervalMs: 300_000,
  fallbackPollIntervalMs: 60_000,
  jitter: 0.2,
  requestTimeoutMs: 10_000,
  maxManifestBytes: 1024 * 1024,
};

/** The options with every default filled in (`notBefore` stays optional: none by default). */
export type ResolvedManifestClientOptions = Required<Omit<ManifestClientOptions, 'notBefore'>> &
  Pick<ManifestClientOptions, 'notBefore'>;

/** Fills in the defaults; `checkOptions` checks the result. */
export function resolveManifestClientOptions(
  options: ManifestClientOptions,
): ResolvedManifestClientOptions {
  return {
    url: options.url,
    verifier: options.verifier,
    onManifest: options.onManifest,
    onRefused: options.onRefused ?? (() => {}),
    onStale: options.onStale ?? (() => {}),
    state: options.state ?? memoryManifestState(),
    pollIntervalMs: options.pollIntervalMs ?? DEFAULTS.pollIntervalMs,
    fallbackPollIntervalMs: options.fallbackPollIntervalMs ?? DEFAULTS.fallbackPollIntervalMs,
    jitter: options.jitter ?? DEFAULTS.jitter,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    maxManifestBytes: options.maxManifestBytes ?? DEFAULTS.maxManifestBytes,
    redeliverOnStart: options.redeliverOnStart ?? false,
    events: options.events ?? typeof EventSource === 'function',
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    random: options.random ?? Math.random,
    now: options.now ?? Date.now,
    ...(options.notBefore !== undefined ? { notBefore: options.notBefore } : {}),
  };
}

/** The base URL without a trailing slash; a bad setting is a BAD_CONFIG, found at start-up. */
export function checkOptions(options: ResolvedManifestClientOptions): string {
  const fail = (why: string): never => {
    throw new LearnerError('BAD_CONFIG', `manifest client: ${why}`);
  };
  let url: URL | undefined;
  try {
    url = new URL(options.url);
  } catch {
    fail(`url must be an absolute URL, got ${String(options.url)}`);
  }
  if (url!.protocol !== 'http:' && url!.protocol !== 'https:') fail('url must be http(s)');
  if (typeof options.verifier?.verify !== 'function') fail('verifier is required');
  if (typeof options.onManifest !== 'function') fail('onManifest is required');
  for (const name of [
    'pollIntervalMs',
    'fallbackPollIntervalMs',
    'requestTimeoutMs',
    'maxManifestBytes',
  ] as const) {
    const value = options[name];
    if (!(Number.isFinite(value) && value > 0)) fail(`${name} must be a positive number`);
  }
  if (!(options.jitter >= 0 && options.jitter < 1)) fail('jitter must be in [0, 1)');
  if (options.notBefore !== undefined) {
    const problem = floorProblem(options.notBefore);
    if (problem) fail(problem);
  }
  return url!.href.replace(/\/+$/, '');
}
