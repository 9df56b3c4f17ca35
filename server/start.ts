/**
 * `startServer`: storage, keys, secrets and the HTTP listener in one call, for the CLI, tests,
 * the demo and `npm start`. It reads no environment variables (the CLI does), so what a test
 * passes is what it gets.
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { PublicKeyResponse } from '../src/protocol/index.ts';
import { createApp } from './app.ts';
import type { AppContext, Limits } from './context.ts';
import {
  type DataDir,
  DEFAULT_DATA_DIR,
  ensureDataDir,
  lockDataDir,
  removeServerInfo,
  writeServerInfo,
} from './data_dir.ts';
import type { Database } from './db/database.ts';
import { MANIFEST_CHANNEL } from './db/migrations.ts';
import { openDatabase } from './db/open.ts';
import { ManifestEvents } from './events.ts';
import {
  type FederatedOptions,
  resolveFederated,
  type SweepOutcome,
  sweepRounds,
} from './federated/rounds.ts';
import { clientAddressResolver } from './http/client_address.ts';
import { DEFAULT_GRACE_MS, Drain } from './http/drain.ts';
import { RateLimiter, type RateLimitOptions } from './http/rate_limit.ts';
import { loadSigningKeys } from './key_rotation.ts';
import type { KeySource } from './key_store.ts';
import { ManifestSource, normalizeModelBaseUrl } from './manifest.ts';
import type { RegisterOptions } from './register_verify.ts';
import { Autopilot } from './rollout/autopilot.ts';
import { ensureEpoch } from './rollout/epochs.ts';
import { type PolicyOptions, resolvePolicy } from './rollout/policy.ts';
import { jobRoutes } from './scheduler/routes.ts';
import type { Scheduler } from './scheduler/scheduler.ts';
import { type SchedulerOptions, startScheduler } from './scheduler/start.ts';
import { resolveSecrets, type Secrets } from './secrets.ts';
import { describePublicKey } from './signing.ts';
import { IngestQueue, type IngestQueueOptions } from './store/ingest_queue.ts';
import { InstallAuthenticator } from './store/installs.ts';
import { MODEL_CHUNK_BYTES, ModelCache } from './store/models.ts';
import {
  DEFAULT_WINDOW_RETENTION_DAYS,
  maintainWindowPartitions,
} from './store/window_partitions.ts';

export interface ServerOptions {
  /** Port to listen on; 0 picks a free one. Default 8787. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /**
   * Storage, in order of precedence: an open `database` (not closed by `close()`; tests use it
   * to run several servers on one database), PostgreSQL at `databaseUrl`, PGlite in memory
   * (`memory: true`), or PGlite in `<dataDir>/pglite` (the default, with dataDir
   * `.localfit-server`).
   */
  database?: Database;
  databaseUrl?: string;
  memory?: boolean;
  /** Data directory: PGlite files, the generated admin token, server.json. */
  dataDir?: string;
  /** The admin token (at least 16 characters); default: made on first start (see secrets.ts). */
  adminToken?: string;
  /** The app key devices register with; default: made on first start. */
  appKey?: string;
  /**
   * The manifest signing key, base64 PKCS#8 Ed25519 (what LOCALFIT_SIGNING_KEY holds). Default:
   * `<dataDir>/signing-key` (mode 0600), made on a fresh database (server/key_store.ts). A
   * server on `database` or `databaseUrl` without a data directory needs it; `memory: true`
   * keeps a key made for it in memory.
   */
  signingKey?: string;
  /** SSE heartbeat interval. Default 15 s. */
  heartbeatMs?: number;
  /**
   * How often open event streams look for changes by reading the revision: the fallback when
   * a change notification was missed (server/events.ts). Default 2 s.
   */
  pollMs?: number;
  /** Open event streams allowed at once. Default 10,000. */
  maxStreams?: number;
  /** Open event streams one client address may hold. Default a quarter of `maxStreams`. */
  maxStreamsPerClient?: number;
  /**
   * How long a client may take to send a whole request, headers and body (Node's
   * `requestTimeout`; its default is 300 s). Past it the server answers 408 and closes the
   * connection, so slow senders cannot hold sockets. Model uploads must arrive within it.
   * Default 30 s.
   */
  requestTimeoutMs?: number;
  /** How long a client may take to send the request headers. Default 20 s (≤ requestTimeoutMs). */
  headersTimeoutMs?: number;
  /**
   * How long an idle kept-alive connection stays open. Default 65 s: longer than the idle
   * timeout of common load balancers (60 s) and of HTTP clients' pools (undici: 4 s), so the
   * side that closes an idle connection is the one that will not reuse it. A server that
   * closes first races a client sending on that socket, which then sees ECONNRESET.
   */
  keepAliveTimeoutMs?: number;
  /**
   * On `close()`, how long requests in flight may take to finish before their connections
   * are cut (server/http/drain.ts). Default 10 s.
   */
  shutdownGraceMs?: number;
  /** JSON bodies. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Model uploads. Default 256 MiB. */
  maxModelBytes?: number;
  /**
   * Model chunks kept in memory (shared by all downloads; each download itself holds one
   * chunk, 1 MiB). Default 512 MiB; 0 keeps none (e.g. behind a CDN).
   */
  modelCacheBytes?: number;
  /**
   * Chunk size of new model uploads, in bytes (each model records its own). Default 1 MiB:
   * large enough that a chunk is one cheap row, small enough that a download holds little.
   */
  modelChunkBytes?: number;
  /**
   * Where the manifest tells devices to fetch models: `<modelBaseUrl>/<sha256>`, e.g. a CDN in
   * front of this server (`https://cdn.example.com/v1/models`) or a bucket filled by
   * `export-models` (`https://bucket.example.com/models`). Every server on one database must
   * be given the same one (it is in the signed manifest). Default: this server's
   * `/v1/models/<sha256>`, relative to the manifest.
   */
  modelBaseUrl?: string;
  /**
   * Rate limits, kept in the database so that they hold across every server process on it
   * (server/http/rate_limit.ts): `burst` requests per window of `burst / perSecond` s.
   * Per install on device routes. Default 60 per 6 s.
   */
  rateLimit?: RateLimitOptions;
  /**
   * Group commit of metric batches (server/store/ingest_queue.ts): groups in flight at once
   * (default 2) and batches per group (default 64; 1 turns grouping off).
   */
  ingestGroups?: Pick<IngestQueueOptions, 'maxGroups' | 'maxBatches'>;
  /** Per client address prefix (IPv4 /24, IPv6 /64) on /v1/register. Default 30 per minute. */
  registerRateLimit?: RateLimitOptions;
  /**
   * Failed device authentications per client address prefix; past it, requests with a
   * device token are refused (429) before the tokens table is read. Default 30 per minute.
   */
  authFailureRateLimit?: RateLimitOptions;
  /**
   * Proxies in front of the server whose `X-Forwarded-For` is believed: addresses or CIDR
   * ranges, e.g. `['127.0.0.1']` for a reverse proxy on the same host. Default none: the
   * header is ignored and the socket's peer is the client.
   */
  trustProxy?: string[];
  /**
   * Installs that have not authenticated for this many days expire: their token is refused
   * (401, so the device registers again). Default 180.
   */
  inactiveInstallDays?: number;
  /**
   * Raw metric windows are kept this many days (whole UTC days, dropped as partitions; every
   * sum status and the policy read is kept in totals and rollups, and window ids in a ledger,
   * so exactly-once ingest is unaffected). Default 30.
   */
  windowRetentionDays?: number;
  /** How often partitions are made ahead and old ones dropped (ms). Default 1 h; 0: at start only. */
  partitionMaintenanceMs?: number;
  /** Access-Control-Allow-Origin. Default '*' (tokens are bearer headers, not cookies). */
  corsOrigin?: string | string[];
  /** Where server faults are reported. Default: stderr. */
  logError?: (message: string, error: unknown) => void;
  /**
   * The rollout policy (server/rollout/policy.ts): thresholds, ramp steps, and `enabled: false`
   * to keep the autopilot from acting at all. Default: on, with the defaults there.
   */
  policy?: PolicyOptions;
  /**
   * Registration beyond the app key (server/register_verify.ts): `verify` checks a credential
   * from the app's backend, e.g. `jwtVerifier({ jwksUrl, issuer, audience })`, and names the
   * subject stored with the install; `perSubject` limits registrations per subject.
   */
  register?: RegisterOptions;
  /** Retraining schedules and their job queue (server/scheduler/); default: none run. */
  scheduler?: SchedulerOptions;
  /**
   * How long a signed manifest stays valid (`expiresAt − issuedAt`); the server re-signs when
   * half of it has passed. Devices polling less often than half of it see expired manifests.
   * Default 7 days.
   */
  manifestLifetimeMs?: number;
  /**
   * Federated rounds (server/federated/): the privacy budget (default ε = 8, δ = 1e-5), the
   * noise source (default WebCrypto), the clock deadlines are read against, and how often
   * rounds past their deadline are aggregated or expired (`sweepMs`, default 60 s; 0: never
   * on a timer, only through `federated.sweep()`).
   */
  federated?: FederatedOptions & { sweepMs?: number };
}

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8787` (no trailing slash). */
  url: string;
  port: number;
  host: string;
  storage: 'pglite' | 'postgres';
  /** The manifest signing key, to build apps with. */
  publicKey: PublicKeyResponse;
  /** Where this process's signing key came from, and its file (server/key_store.ts). */
  signingKeySource: KeySource;
  signingKeyFile?: string;
  appKey: string;
  /** The admin token when known to this process (configured, generated now, or read back). */
  adminToken?: string;
  adminTokenSource: Secrets['adminTokenSource'];
  /** Where a generated admin token is kept, if there is a data directory. */
  adminTokenFile?: string;
  dataDir?: string;
  database: Database;
  /** Announce a change made to the database behind the server's back (e.g. by a test). */
  notifyChange(): Promise<void>;
  /** The rollout policy's runner: evaluate now, or wait until scheduled evaluations are done. */
  autopilot: Pick<Autopilot, 'evaluate' | 'idle' | 'policy'>;
  /** The retraining scheduler, when `scheduler` was given. */
  scheduler?: Scheduler;
  /** Ends the rounds past their deadline now (the timer does it every `federated.sweepMs`). */
  federated: { sweep(): Promise<SweepOutcome[]> };
  /**
   * Graceful shutdown (server/http/drain.ts): stops listening (health probes are refused), ends
   * event streams with a retry hint, lets requests in flight finish (up to
   * `shutdownGraceMs`), then stops timers and closes the database if the server opened it.
   */
  close(): Promise<void>;
}

/**
 * Node's timeouts for receiving a request. Node checks them only every
 * `connectionsCheckingInterval` (default 30 s, which would let a 30 s limit stretch to 60 s),
 * so the check runs at a quarter of the headers timeout, at most once a second.
 */
function requestTimeouts(options: ServerOptions) {
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(options.headersTimeoutMs ?? 20_000, requestTimeout);
  if (!(requestTimeout > 0) || !(headersTimeout > 0))
    throw new RangeError('requestTimeoutMs and headersTimeoutMs must be positive');
  return {
    requestTimeout,
    headersTimeout,
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headersTimeout / 4))),
  };
}

function listen(
  options: Parameters<typeof serve>[0],
  keepAliveTimeoutMs: number,
): Promise<{ drain: Drain; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve(options, (info: AddressInfo) => resolve({ drain, port: info.port }));
    (server as Server).keepAliveTimeout = keepAliveTimeoutMs;
    // Before the first request can arrive, so that every request is counted.
    const drain = new Drain(server as Server);
    server.once('error', reject);
  });
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  // Before anything opens: a bad option is a typed error (PolicyConfigError), not a half start.
  const policy = resolvePolicy(options.policy);
  const federated = resolveFederated(options.federated);
  const sweepMs = options.federated?.sweepMs ?? 60_000;
  if (!(sweepMs >= 0)) throw new RangeError('federated.sweepMs must be >= 0');
  const resolveClient = clientAddressResolver({ trustProxy: options.trustProxy });
  const inactiveDays = options.inactiveInstallDays ?? 180;
  if (!(inactiveDays > 0)) throw new RangeError('inactiveInstallDays must be a positive number');
  const retentionDays = options.windowRetentionDays ?? DEFAULT_WINDOW_RETENTION_DAYS;
  if (!(Number.isInteger(retentionDays) && retentionDays >= 1))
    throw new RangeError('windowRetentionDays must be an integer of at least 1');
  const partitionMs = options.partitionMaintenanceMs ?? 3_600_000;
  if (!(partitionMs >= 0)) throw new RangeError('partitionMaintenanceMs must be >= 0');
  if (
    options.manifestLifetimeMs !== undefined &&
    !(Number.isSafeInteger(options.manifestLifetimeMs) && options.manifestLifetimeMs >= 1000)
  )
    throw new RangeError('manifestLifetimeMs must be an integer of at least 1000 (1 s)');
  if (options.modelBaseUrl !== undefined) normalizeModelBaseUrl(options.modelBaseUrl);
  if (options.modelCacheBytes !== undefined && !(options.modelCacheBytes >= 0))
    throw new RangeError('modelCacheBytes must be >= 0');
  if (
    options.modelChunkBytes !== undefined &&
    !(Number.isSafeInteger(options.modelChunkBytes) && options.modelChunkBytes >= 1024)
  )
    throw new RangeError('modelChunkBytes must be an integer of at least 1024');
  const serverTimeouts = requestTimeouts(options);
  const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 65_000;
  const graceMs = options.shutdownGraceMs ?? DEFAULT_GRACE_MS;
  if (!(keepAliveTimeoutMs > 0)) throw new RangeError('keepAliveTimeoutMs must be positive');
  if (!(graceMs >= 0)) throw new RangeError('shutdownGraceMs must be >= 0');
  const needsDir = !options.database && !options.databaseUrl && !options.memory;
  const dirOption = options.dataDir ?? (needsDir ? DEFAULT_DATA_DIR : undefined);
  const dataDir: DataDir | undefined = dirOption ? await ensureDataDir(dirOption) : undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step();
  };

  try {
    let db: Database;
    if (options.database) db = options.database;
    else {
      if (needsDir && dataDir) cleanups.push(lockDataDir(dataDir));
      db = await openDatabase(
        options.databaseUrl
          ? { databaseUrl: options.databaseUrl }
          : options.memory
            ? { memory: true }
            : { pgliteDir: dataDir!.pglite },
      );
      cleanups.push(() => db.close());
    }

    const keys = await loadSigningKeys(db, {
      ...(dataDir ? { dataDir } : {}),
      ...(options.signingKey !== undefined ? { signingKey: options.signingKey } : {}),
      ephemeral: options.memory === true && !options.database,
    });
    const key = keys.active.key;
    const secrets = await resolveSecrets(db, {
      adminToken: options.adminToken,
      appKey: options.appKey,
      dataDir,
    });
    // A database from before rollout epochs were kept gets its first one (rollout/epochs.ts).
    await db.transaction((tx) => ensureEpoch(tx));
    const limits: Limits = {
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
      maxModelBytes: options.maxModelBytes ?? 256 * 1024 * 1024,
    };
    const manifests = new ManifestSource(db, key, {
      ...(options.modelBaseUrl !== undefined ? { modelBaseUrl: options.modelBaseUrl } : {}),
      ...(options.manifestLifetimeMs !== undefined
        ? { lifetimeMs: options.manifestLifetimeMs }
        : {}),
    });
    const maxStreams = options.maxStreams ?? 10_000;
    const events = new ManifestEvents(manifests, {
      heartbeatMs: options.heartbeatMs ?? 15_000,
      pollMs: options.pollMs ?? 2_000,
      maxStreams,
      maxStreamsPerClient: options.maxStreamsPerClient ?? Math.max(1, Math.ceil(maxStreams / 4)),
      retryMs: 3_000,
    });
    cleanups.push(() => events.close());
    const logError =
      options.logError ??
      ((message: string, error: unknown) => console.error(`[localfit server] ${message}:`, error));
    // Changes made anywhere on this database, announced by its trigger (events.ts).
    const unlisten = await db.listen(MANIFEST_CHANNEL, {
      onNotify: () => void events.poke(),
      onResume: () => void events.poke(),
      onFault: (message, error) => logError(`manifest change listener: ${message}`, error),
    });
    cleanups.push(unlisten);
    const autopilot = new Autopilot(db, policy, { onChange: () => events.poke(), logError });
    cleanups.push(() => autopilot.close());
    const deviceLimiter = new RateLimiter(
      db,
      'device',
      options.rateLimit ?? { burst: 60, perSecond: 10 },
    );
    const ctx: AppContext = {
      db,
      manifests,
      events,
      installs: new InstallAuthenticator(db, {
        inactiveMs: inactiveDays * 24 * 3600 * 1000,
      }),
      models: new ModelCache(db, options.modelCacheBytes ?? 512 * 1024 * 1024),
      modelChunkBytes: options.modelChunkBytes ?? MODEL_CHUNK_BYTES,
      publicKey: describePublicKey(key, keys.next),
      appKey: secrets.appKey,
      adminTokenHash: secrets.adminTokenHash,
      limits,
      deviceLimiter,
      ingest: new IngestQueue(db, { ...options.ingestGroups, limiter: deviceLimiter }),
      registerLimiter: new RateLimiter(
        db,
        'register',
        options.registerRateLimit ?? { burst: 30, perSecond: 0.5 },
      ),
      register: {
        verify: options.register?.verify,
        perSubject: new RateLimiter(
          db,
          'register_subject',
          options.register?.perSubject ?? { burst: 10, perSecond: 10 / 86_400 },
        ),
      },
      authFailureLimiter: new RateLimiter(
        db,
        'auth_failure',
        options.authFailureRateLimit ?? { burst: 30, perSecond: 0.5 },
      ),
      clientAddress: (c) => {
        let peer: string | undefined;
        try {
          peer = getConnInfo(c).remote.address;
        } catch {
          peer = undefined;
        }
        return resolveClient(peer, c.req.header('x-forwarded-for'));
      },
      federated,
      autopilot,
      logError,
    };
    const app = createApp(ctx, { corsOrigin: options.corsOrigin });
    jobRoutes(app, ctx);
    const scheduler = options.scheduler
      ? await startScheduler(options.scheduler, { db, onPublished: () => events.poke(), logError })
      : undefined;
    if (scheduler) cleanups.push(() => scheduler.stop());
    const sweep = async () => {
      const outcomes = await sweepRounds(db, federated);
      if (outcomes.length > 0) await events.poke();
      return outcomes;
    };
    const maintainPartitions = () =>
      maintainWindowPartitions(db, { retentionDays }).catch((error) =>
        logError('window partition maintenance', error),
      );
    await maintainPartitions();
    if (partitionMs > 0) {
      const timer = setInterval(maintainPartitions, partitionMs);
      timer.unref();
      cleanups.push(() => clearInterval(timer));
    }
    if (sweepMs > 0) {
      let sweeping = false;
      const timer = setInterval(() => {
        if (sweeping) return;
        sweeping = true;
        sweep()
          .catch((error) => logError('federated round sweep', error))
          .finally(() => {
            sweeping = false;
          });
      }, sweepMs);
      timer.unref();
      cleanups.push(() => clearInterval(timer));
    }
    const listening = await listen(
      {
        fetch: app.fetch,
        port: options.port ?? 8787,
        hostname: host,
        serverOptions: serverTimeouts,
      },
      keepAliveTimeoutMs,
    );
    const port = listening.port;
    cleanups.push(async () => {
      // First, while the database is still open: in-flight batches must be able to commit.
      const drained = listening.drain.close({ graceMs });
      events.close();
      await drained;
    });
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (dataDir) {
      await writeServerInfo(dataDir, { url, pid: process.pid, storage: db.kind });
      cleanups.push(() => removeServerInfo(dataDir));
    }

    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      host,
      storage: db.kind,
      publicKey: ctx.publicKey,
      signingKeySource: keys.active.source,
      ...(keys.active.file ? { signingKeyFile: keys.active.file } : {}),
      appKey: secrets.appKey,
      adminToken: secrets.adminToken,
      adminTokenSource: secrets.adminTokenSource,
      adminTokenFile: dataDir?.adminToken,
      dataDir: dataDir?.root,
      database: db,
      notifyChange: () => events.poke(),
      autopilot,
      scheduler,
      federated: { sweep },
      close: () => {
        closing ??= cleanup();
        return closing;
      },
    };
  } catch (error) {
    await cleanup().catch(() => {});
    throw error;
  }
}
