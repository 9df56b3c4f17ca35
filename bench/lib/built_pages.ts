import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PreviewServer } from 'vite';
import { build, preview } from 'vite';

/**
 * Bench pages built the way an app ships them — `vite build` with this repository's config
 * (bundled, minified, the worker and onnxruntime's wasm as hashed files) — and served on
 * 127.0.0.1 with long-lived cache headers, as a CDN serves hashed assets. Start-up and idle
 * costs measured on the dev server would mostly be Vite transforming modules on demand.
 */
export interface BuiltPages {
  url(path: string): string;
  close(): Promise<void>;
}

export async function buildPages(pages: readonly string[]): Promise<BuiltPages> {
  const root = new URL('../..', import.meta.url).pathname;
  const outDir = mkdtempSync(join(tmpdir(), 'localfit-bench-'));
  let server: PreviewServer | undefined;
  try {
    await build({
      root,
      logLevel: 'error',
      build: {
        outDir,
        emptyOutDir: true,
        rollupOptions: { input: Object.fromEntries(pages.map((page) => [page, join(root, page)])) },
      },
    });
    server = await preview({
      root,
      logLevel: 'error',
      build: { outDir },
      preview: {
        host: '127.0.0.1',
        port: 0,
        strictPort: false,
        headers: { 'cache-control': 'public, max-age=31536000, immutable' },
      },
    });
    const base = server.resolvedUrls?.local[0];
    if (!base) throw new Error('vite preview did not start');
    const running = server;
    return {
      url: (path) => new URL(path.replace(/^\//, ''), base).href,
      async close() {
        await running.close();
        rmSync(outDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server?.close();
    rmSync(outDir, { recursive: true, force: true });
    throw error;
  }
}
