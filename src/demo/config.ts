/**
 * The launcher's settings for the page (`/demo-config.json`, see server/demo/launch.ts): the
 * sync server, its keys and — this being a local demo — the admin token for the operator panel.
 * Under plain `vite` there is none, and the demo learns on the device alone.
 */
export interface DemoConfig {
  format: 'localfit.demo-config/1';
  /** The sync server: the page's own origin when empty (the launcher serves both). */
  syncUrl: string;
  appKey: string;
  /** The manifest signing key (`GET /v1/public-key`'s `raw`). */
  publicKey: string;
  adminToken: string;
  /** The version the operator panel can stage. */
  variant: { semver: string; sha256: string; model: string; head: string; trainedOn: string };
}

export const DEMO_CONFIG_PATH = '/demo-config.json';

export async function loadDemoConfig(): Promise<DemoConfig | undefined> {
  // Vite's dev server has no launcher behind it (and would log the 404 as an error).
  if (import.meta.env.DEV) return undefined;
  try {
    const response = await fetch(DEMO_CONFIG_PATH, { cache: 'no-store' });
    if (!response.ok) return undefined;
    const config = (await response.json()) as Partial<DemoConfig>;
    return config.format === 'localfit.demo-config/1' ? (config as DemoConfig) : undefined;
  } catch {
    return undefined;
  }
}

/** The sync server's base URL for this page. */
export function syncUrl(config: DemoConfig): string {
  return config.syncUrl || location.origin;
}
