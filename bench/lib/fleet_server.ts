import { createHash } from 'node:crypto';
import { type RunningServer, startServer } from '../../server/start.ts';
import { passingBackbone } from '../../test/browser/sync/rollout_models.ts';

/**
 * A real sync server on 127.0.0.1 (in-memory database, autopilot off: only the benchmark,
 * acting as the operator, moves versions) with `passingBackbone(2)` published and promoted as
 * v1, the bytes a bench page's learner starts from. `query` carries what the page needs to
 * follow it and to act as the operator (bench/browser/operator.ts).
 */
export interface FleetServer {
  server: RunningServer;
  query: URLSearchParams;
  close(): Promise<void>;
}

async function admin(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  raw?: Uint8Array,
) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': raw ? 'application/octet-stream' : 'application/json',
    },
    body: raw ? Buffer.from(raw) : JSON.stringify(body ?? {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as { id: string; sha256: string };
}

export async function startFleetServer(): Promise<FleetServer> {
  const appKey = `bench-app-${crypto.randomUUID()}`;
  const adminToken = `bench-admin-${crypto.randomUUID()}`;
  const server = await startServer({
    port: 0,
    memory: true,
    appKey,
    adminToken,
    policy: { enabled: false },
    logError: (message, error) => console.error(`server: ${message}`, error),
  });
  try {
    const v1 = passingBackbone(2);
    const { sha256 } = await admin(
      server.url,
      adminToken,
      'PUT',
      `/v1/admin/models/${createHash('sha256').update(v1).digest('hex')}`,
      undefined,
      v1,
    );
    const { id } = await admin(server.url, adminToken, 'POST', '/v1/admin/versions', {
      model: { sha256 },
      weight: 0,
      semver: '1.0.0',
    });
    await admin(server.url, adminToken, 'POST', `/v1/admin/versions/${id}/promote`);
  } catch (error) {
    await server.close();
    throw error;
  }
  const query = new URLSearchParams({
    server: server.url,
    appKey,
    publicKey: server.publicKey.raw,
    admin: adminToken,
  });
  return { server, query, close: () => server.close() };
}
