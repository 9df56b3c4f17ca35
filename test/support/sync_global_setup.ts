/**
 * Vitest globalSetup for the sync browser tests (Node side): starts the real reference sync
 * server on 127.0.0.1 (embedded PGlite, in memory) and the fault lab in front of it (see
 * sync_fault_proxy.ts), and provides their addresses to the browser tests
 * (`inject('syncFaults')`). Each proxy also answers `GET /proxies/<id>/stored`: the windows
 * the server's database holds for the installs registered through that proxy, read straight
 * from `metric_windows` (the server's source of truth), so a test compares what the device
 * produced with what was stored, not with what the server said it stored.
 *
 * It also starts the rollout lab (rollout_lab.ts: a fresh server per test behind a tampering
 * proxy) for the tests of receiving versions (`inject('rolloutLab')`).
 */
import type { TestProject } from 'vitest/node';
import { startServer } from '../../server/start.ts';
import { startRolloutLab } from './rollout_lab.ts';
import { startFaultLab } from './sync_fault_proxy.ts';

export interface SyncFaultsContext {
  /** The fault lab's control API: `POST /proxies` makes a proxy in front of the server. */
  controlUrl: string;
  /** The server's app key, to register with. */
  appKey: string;
}

export interface RolloutLabContext {
  /** The rollout lab's control API: `POST /servers` starts a server behind a tampering proxy. */
  controlUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    syncFaults: SyncFaultsContext;
    rolloutLab: RolloutLabContext;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const appKey = `test-app-${crypto.randomUUID()}`;
  const server = await startServer({
    port: 0,
    memory: true,
    appKey,
    adminToken: `admin-${crypto.randomUUID()}`,
  });
  const lab = await startFaultLab({
    target: server.url,
    routes: {
      '/stored': async (_query, installs) => {
        const { rows } = await server.database.query<{
          install_id: string;
          window_id: string;
          body: unknown;
        }>(
          `select install_id, window_id, body from metric_windows
           where install_id in (select jsonb_array_elements_text($1::jsonb))
           order by install_id, window_id`,
          [JSON.stringify(installs)],
        );
        return rows.map((row) => ({
          installId: row.install_id,
          windowId: row.window_id,
          body: row.body,
        }));
      },
    },
  });
  const rolloutLab = await startRolloutLab();
  project.provide('syncFaults', { controlUrl: lab.controlUrl, appKey });
  project.provide('rolloutLab', { controlUrl: rolloutLab.controlUrl });
  return async () => {
    await rolloutLab.close();
    await lab.close();
    await server.close();
  };
}
