/**
 * One server replica in a process of its own (started by replicas.ts): the real
 * `startServer` on a shared PostgreSQL, configured from LOCALFIT_REPLICA (JSON, see
 * ReplicaConfig). Tells its parent where it listens over IPC; SIGTERM closes it gracefully,
 * and it exits when the parent goes away, so no replica outlives a test or a benchmark.
 */
import { startServer } from '../../../../server/start.ts';
import type { ReplicaConfig, ReplicaMessage } from './replicas.ts';

const config = JSON.parse(process.env.LOCALFIT_REPLICA ?? '{}') as ReplicaConfig;
const server = await startServer({
  databaseUrl: config.databaseUrl,
  signingKey: config.signingKey,
  adminToken: config.adminToken,
  appKey: config.appKey,
  port: 0,
  pollMs: config.pollMs,
  heartbeatMs: config.heartbeatMs,
  // Many simulated devices share 127.0.0.1: registration is set-up here, not what is tested.
  registerRateLimit: { burst: 1e9, perSecond: 1e9 },
  // Nothing but the test or benchmark changes the manifest.
  policy: { enabled: false },
});
const send = (message: ReplicaMessage) => process.send?.(message);
send({ type: 'ready', url: server.url, pid: process.pid });

let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  void server.close().finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(1));
