// The browser side of the fault lab's control API (test/support/sync_fault_proxy.ts): one
// proxy per test, in front of the real sync server that globalSetup started.
import { inject } from 'vitest';
import type { FaultMode, ProxyEvent, WaitQuery } from '../../support/sync_fault_proxy.ts';

export type { FaultMode, ProxyEvent };

export interface StoredWindow {
  installId: string;
  windowId: string;
  body: Record<string, unknown>;
}

export interface FaultProxyHandle {
  /** Where the device connects. */
  url: string;
  appKey: string;
  /** Switches the mode; returns the last event number before the switch. */
  mode(mode: FaultMode): Promise<number>;
  /** Resolves once `count` matching events happened (the proxy long-polls: no sleeping here). */
  wait(query: WaitQuery): Promise<ProxyEvent[]>;
  events(path?: string): Promise<ProxyEvent[]>;
  /** Install ids registered through this proxy. */
  installs(): Promise<string[]>;
  /** What the server's database holds for those installs. */
  stored(): Promise<StoredWindow[]>;
}

/**
 * Whether the sync server and fault lab run (the `browser-sync` project's globalSetup,
 * test/support/sync_global_setup.ts). Under a project without it, the tests that need them skip.
 */
export const hasSyncServer = inject('syncFaults') !== undefined;

export async function newFaultProxy(): Promise<FaultProxyHandle> {
  const { controlUrl, appKey } = inject('syncFaults');
  const call = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const response = await fetch(`${controlUrl}${path}`, init);
    const body = await response.json();
    if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
    return body as T;
  };
  const post = (path: string, value: unknown) =>
    call<Record<string, unknown>>(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(value),
    });
  const { id, url } = (await post('/proxies', {})) as { id: string; url: string };
  const base = `/proxies/${id}`;
  return {
    url,
    appKey,
    async mode(mode) {
      return (await post(`${base}/mode`, mode)).since as number;
    },
    wait(query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined) params.set(key, String(value));
      }
      return call<ProxyEvent[]>(`${base}/wait?${params}`);
    },
    events(path) {
      return call<ProxyEvent[]>(`${base}/events${path ? `?path=${encodeURIComponent(path)}` : ''}`);
    },
    installs: () => call<string[]>(`${base}/installs`),
    stored: () => call<StoredWindow[]>(`${base}/stored`),
  };
}
