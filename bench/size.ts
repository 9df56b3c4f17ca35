import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Metafile, Plugin } from 'esbuild';
import { build } from 'esbuild';
import type { Section } from './lib/report.ts';
import { progress } from './lib/report.ts';

/**
 * size: what an app ships for localfit, gzip -9, built the way an app's bundler would
 * (esbuild, bundled, minified, ES modules for browsers), in memory. The wasm binary of
 * onnxruntime-web is a separate file fetched (and cached) at run time, not code in a bundle:
 * the worker's `?url` import of it becomes a string here, as in Vite.
 */

const ROOT = new URL('..', import.meta.url).pathname;

/** `import url from 'x.wasm?url'` resolves to the file's URL, a string: no bytes bundled. */
const assetUrls: Plugin = {
  name: 'asset-urls',
  setup(b) {
    b.onResolve({ filter: /\?url$/ }, (args) => ({ path: args.path, namespace: 'asset-url' }));
    b.onLoad({ filter: /.*/, namespace: 'asset-url' }, (args) => ({
      contents: `export default ${JSON.stringify(
        `/assets/${args.path
          .replace(/\?url$/, '')
          .split('/')
          .pop()}`,
      )};`,
      loader: 'js',
    }));
  },
};

export interface BundleSize {
  bytes: number;
  gzip_bytes: number;
  /** What a learner without `sync` loads: every chunk but the lazy sync and rollout ones. */
  entry_gzip_bytes: number;
  /** Minified bytes by package, or by folder (`src/sync`) for this repository's code; largest first. */
  by_package: Record<string, number>;
}

function packageOf(path: string): string {
  const at = path.lastIndexOf('node_modules/');
  if (at < 0) return path.split('/').slice(0, 2).join('/');
  const rest = path.slice(at + 'node_modules/'.length).split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

function byPackage(metafile: Metafile): Record<string, number> {
  const sums = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = packageOf(path);
      sums.set(name, (sums.get(name) ?? 0) + bytesInOutput);
    }
  }
  return Object.fromEntries([...sums].sort((a, b) => b[1] - a[1]));
}

/** The modules the worker imports lazily, only for apps that configure `sync`. */
function isSyncOnly(entryPoint: string): boolean {
  return (
    entryPoint.endsWith('src/sync/reporter.ts') || entryPoint.endsWith('src/rollout/rollout.ts')
  );
}

/** Bundles a file of this repository, or (`{ code }`) a module written inline. */
export async function bundle(
  entry: string | { code: string },
  external: string[] = [],
): Promise<BundleSize> {
  const result = await build({
    ...(typeof entry === 'string'
      ? { entryPoints: [new URL(entry, `file://${ROOT}`).pathname] }
      : { stdin: { contents: entry.code, resolveDir: ROOT, loader: 'ts' as const } }),
    absWorkingDir: ROOT,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    // As an app's bundler does: what the worker imports lazily (sync and rollouts, loaded only
    // when the app configures them) goes into chunks of its own.
    splitting: true,
    outdir: 'out',
    external,
    plugins: [assetUrls],
    // As vite.config.ts resolves it: onnxruntime-web's "extern wasm" build, whose Emscripten
    // loader is a file beside the .wasm rather than code in the bundle.
    conditions: ['onnxruntime-web-use-extern-wasm'],
    logLevel: 'silent',
  });
  // Every JavaScript output ships; the entry chunk is what every learner loads.
  const js = result.outputFiles.filter((file) => file.path.endsWith('.js'));
  const gzipOf = (file: (typeof js)[number]) => gzipSync(file.contents, { level: 9 }).length;
  const bytes = js.reduce((sum, file) => sum + file.contents.length, 0);
  const gzip = js.reduce((sum, file) => sum + gzipOf(file), 0);
  // What a learner without `sync` loads: the entry and everything it imports, statically or
  // dynamically, except the lazy sync and rollout modules (and what only they import).
  const outputs = result.metafile.outputs;
  const entryName = Object.keys(outputs).find(
    (name) => outputs[name].entryPoint && !isSyncOnly(outputs[name].entryPoint ?? ''),
  );
  const loaded = new Set<string>();
  const visit = (name: string) => {
    if (loaded.has(name) || !outputs[name]) return;
    loaded.add(name);
    for (const imported of outputs[name].imports) {
      const target = outputs[imported.path];
      if (imported.kind === 'dynamic-import' && isSyncOnly(target?.entryPoint ?? '')) continue;
      visit(imported.path);
    }
  };
  if (entryName && typeof entry === 'string') visit(entryName);
  const core = js.filter((file) =>
    [...loaded].some((name) => file.path.endsWith(name.replace(/^out\//, '/'))),
  );
  return {
    bytes,
    gzip_bytes: gzip,
    entry_gzip_bytes: loaded.size > 0 ? core.reduce((sum, file) => sum + gzipOf(file), 0) : gzip,
    by_package: byPackage(result.metafile),
  };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/** size: gzip bytes of the main-thread client and of the worker (without ORT's wasm). */
export async function bundleSize(): Promise<Section> {
  progress('size: bundling src/client/index.ts and workers/learner.worker.ts with esbuild…');
  const client = await bundle('src/client/index.ts');
  const worker = await bundle('workers/learner.worker.ts');
  const workerOwn = await bundle('workers/learner.worker.ts', [
    'onnxruntime-web',
    'onnxruntime-web/*',
  ]);
  // What the worker takes from onnxruntime-web, alone: its JavaScript share of the worker.
  const ort = await bundle({
    code: "export { env, InferenceSession, Tensor } from 'onnxruntime-web/wasm';",
  });
  const wasmPath = `${ROOT}node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm`;
  const wasm = existsSync(wasmPath) ? readFileSync(wasmPath) : undefined;
  const wasmBytes = wasm
    ? { bytes: wasm.length, gzip_bytes: gzipSync(wasm, { level: 9 }).length }
    : null;
  const loaderPath = `${ROOT}node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.mjs`;
  const loader = existsSync(loaderPath) ? readFileSync(loaderPath) : undefined;
  const loaderBytes = loader
    ? { bytes: loader.length, gzip_bytes: gzipSync(loader, { level: 9 }).length }
    : null;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const wasmNote = wasmBytes
    ? `onnxruntime-web’s .wasm (${mb(wasmBytes.bytes)}, ${mb(wasmBytes.gzip_bytes)} gzip; a separate file, fetched once and cached by the service worker) is not counted`
    : 'onnxruntime-web’s .wasm (a separate file, fetched once and cached) is not counted';
  const sync = Object.entries(workerOwn.by_package)
    .filter(([name]) => name === 'src/sync' || name.startsWith('@noble/'))
    .reduce((sum, [, bytes]) => sum + bytes, 0);
  const top = (b: BundleSize) =>
    Object.entries(b.by_package)
      .slice(0, 5)
      .map(([name, bytes]) => `${name} ${kb(bytes)}`)
      .join(', ');
  return {
    key: 'size',
    title: 'Bundle size',
    headline:
      `Size: ${kb(client.gzip_bytes)} gzip on the main thread; ${kb(worker.gzip_bytes)} gzip in the worker ` +
      `(${kb(workerOwn.gzip_bytes)} of it localfit, the rest onnxruntime-web's JavaScript), plus onnxruntime-web's wasm${wasmBytes ? ` (${mb(wasmBytes.gzip_bytes)} gzip)` : ''}.`,
    results: {
      client,
      worker,
      worker_without_onnxruntime_web: workerOwn,
      onnxruntime_web_js_alone: ort,
      onnxruntime_web_wasm: wasmBytes,
      onnxruntime_web_wasm_loader: loaderBytes,
      bundler: 'esbuild, minified, ES2022',
    },
    floors: [
      {
        name: 'size: client ≤ 10 KB gzip',
        pass: client.gzip_bytes <= 10 * 1024,
        measured: kb(client.gzip_bytes),
      },
      {
        name: 'size: worker ≤ 60 KB gzip (what every learner loads)',
        pass: worker.entry_gzip_bytes <= 60 * 1024,
        measured: `${kb(worker.entry_gzip_bytes)} (${kb(worker.gzip_bytes)} with the sync and rollout chunks)`,
      },
    ],
    markdown: [
      'What an app ships for localfit, bundled and minified by esbuild (ES2022 modules), gzip -9.',
      `The main-thread client starts the worker from its own file; ${wasmNote}.`,
      'onnxruntime-web is resolved as its "extern wasm" build (`onnxruntime-web-use-extern-wasm`,',
      'as vite.config.ts does): the Emscripten loader of the wasm',
      `(\`ort-wasm-simd-threaded.mjs\`${loaderBytes ? `, ${kb(loaderBytes.gzip_bytes)} gzip` : ''}) is fetched beside the .wasm, not bundled into the worker.`,
      '',
      '| bundle | minified | gzip | largest parts (minified) |',
      '| --- | --- | --- | --- |',
      `| main-thread client (\`src/client/index.ts\`) | ${kb(client.bytes)} | ${kb(client.gzip_bytes)} | ${top(client)} |`,
      `| worker (\`workers/learner.worker.ts\`), with onnxruntime-web’s JS: every chunk | ${kb(worker.bytes)} | ${kb(worker.gzip_bytes)} | ${top(worker)} |`,
      `| the worker as a learner without \`sync\` loads it | | ${kb(worker.entry_gzip_bytes)} | |`,
      `| worker code without onnxruntime-web | ${kb(workerOwn.bytes)} | ${kb(workerOwn.gzip_bytes)} | ${top(workerOwn)} |`,
      `| onnxruntime-web’s JS alone (\`env\`, \`InferenceSession\`, \`Tensor\` from \`onnxruntime-web/wasm\`) | ${kb(ort.bytes)} | ${kb(ort.gzip_bytes)} | |`,
      '',
      `Of the worker’s ${kb(worker.gzip_bytes)} gzip, onnxruntime-web’s JavaScript (its API and the`,
      `Emscripten loader of the wasm) is about ${kb(worker.gzip_bytes - workerOwn.gzip_bytes)}; localfit’s own worker code is`,
      `${kb(workerOwn.gzip_bytes)}, of which sync (manifest, signatures with @noble/ed25519 and`,
      `@noble/hashes, outbox, reporter) is the largest part at ${kb(sync)} minified. Sync and`,
      'rollouts are imported lazily, in chunks of their own: a learner without `sync` loads',
      `${kb(worker.entry_gzip_bytes)} gzip; one that reports and follows rollouts loads all of it`,
      `(${kb(worker.gzip_bytes)} gzip). The floor is judged on the former; the latter is over it.`,
    ].join('\n'),
  };
}
