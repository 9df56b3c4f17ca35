/**
 * Builds the demo for `npm start`: the page with Vite (worker, onnxruntime-web's wasm, the demo
 * model from public/), then the service worker (src/offline/sw.ts) bundled on its own and given
 * Workbox's precache manifest of everything the first build wrote.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { injectManifest } from 'workbox-build';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
// Not dist/: that is the published package (`npm run build`).
export const DEFAULT_OUT_DIR = join(REPO_ROOT, 'dist-demo');

export interface BuildResult {
  outDir: string;
  /** Files the service worker precaches, and their total size. */
  precached: number;
  precachedBytes: number;
}

export async function buildDemo(outDir = DEFAULT_OUT_DIR): Promise<BuildResult> {
  await rm(outDir, { recursive: true, force: true });
  await build({
    root: REPO_ROOT,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
  await build({
    root: REPO_ROOT,
    configFile: false,
    logLevel: 'warn',
    publicDir: false,
    // Workbox's modules log in development builds only.
    define: { 'process.env.NODE_ENV': JSON.stringify('production') },
    build: {
      outDir,
      emptyOutDir: false,
      // Kept readable, and so that `self.__WB_MANIFEST` survives for injectManifest to find.
      minify: false,
      lib: {
        entry: join(REPO_ROOT, 'src/offline/sw.ts'),
        formats: ['iife'],
        name: 'localfitServiceWorker',
        fileName: () => 'sw.js',
      },
    },
  });
  // Every build is a new app version, even from the same sources: its id is precached, so the
  // service worker changes and open pages are offered the update.
  await writeFile(
    join(outDir, 'build.json'),
    JSON.stringify({ id: crypto.randomUUID(), builtAt: new Date().toISOString() }),
  );
  const swPath = join(outDir, 'sw.js');
  const { count, size, warnings } = await injectManifest({
    swSrc: swPath,
    swDest: swPath,
    globDirectory: outDir,
    globPatterns: ['**/*.{html,js,mjs,css,svg,wasm,onnx,json}'],
    globIgnores: ['sw.js', 'models/demo/check.json', 'models/demo/metrics.json'],
    // onnxruntime-web's wasm is ~14 MB.
    maximumFileSizeToCacheInBytes: 64 * 1024 * 1024,
    // Vite's hashed file names are their own revision.
    dontCacheBustURLsMatching: /^assets\//,
  });
  if (warnings.length) throw new Error(`workbox: ${warnings.join('; ')}`);
  return { outDir, precached: count, precachedBytes: size };
}
