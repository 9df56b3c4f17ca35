/**
 * Everything a request handler needs, built once by startServer (server/start.ts) and handed
 * to the route modules: no module-level state, so several servers can run in one process
 * (tests run many).
 */
import type { Context } from 'hono';
import type { PublicKeyResponse } from '../src/protocol/index.ts';
import type { Database } from './db/database.ts';
import type { ManifestEvents } from './events.ts';
import type { FederatedConfig } from './federated/rounds.ts';
import type { RateLimiter } from './http/rate_limit.ts';
import type { ManifestSource } from './manifest.ts';
import type { RegisterVerifier } from './register_verify.ts';
import type { Autopilot } from './rollout/autopilot.ts';
import type { IngestQueue } from './store/ingest_queue.ts';
import type { InstallAuthenticator } from './store/installs.ts';
import type { ModelCache } from './store/models.ts';

export interface Limits {
  /** Largest JSON body accepted (413 beyond). */
  maxBodyBytes: number;
  /** Largest model upload accepted (413 beyond). */
  maxModelBytes: number;
}

export interface AppContext {
  db: Database;
  manifests: ManifestSource;
  events: ManifestEvents;
  installs: InstallAuthenticator;
  models: ModelCache;
  /** Chunk size of new model uploads (server/store/models.ts). */
  modelChunkBytes: number;
  publicKey: PublicKeyResponse;
  /** What devices must send to register. */
  appKey: string;
  /** sha256 of the admin token. */
  adminTokenHash: string;
  limits: Limits;
  /** Per install, on device routes. */
  deviceLimiter: RateLimiter;
  /** Metric batches, group-committed (counting deviceLimiter's hits in their transactions). */
  ingest: IngestQueue;
  /** Per client address prefix, on registration. */
  registerLimiter: RateLimiter;
  /** The registration check beyond the app key, if configured, and its per-subject limit. */
  register: { verify?: RegisterVerifier; perSubject: RateLimiter };
  /** Per client address prefix, failed device authentications. */
  authFailureLimiter: RateLimiter;
  /** The client's address (X-Forwarded-For believed only from trusted proxies). */
  clientAddress: (c: Context) => string;
  /** Federated rounds: the privacy budget, the noise source, the deadline clock. */
  federated: FederatedConfig;
  /** The rollout policy's runner: scheduled after ingest, evaluated on demand. */
  autopilot: Autopilot;
  /** Server faults (5xx) are reported here; bad input never is. */
  logError: (message: string, error: unknown) => void;
}
