import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Metafile } from 'esbuild';
import { build } from 'esbuild';
import type { Section } from './lib/report.ts';
import { progress } from './lib/report.ts';

/**
 * size: what an app's build ships for localfit, gzip -9. The published package (`npm run
 * build`, dist/) is bundled the way an app's bundler would (esbuild, bundled, minified, ES
 * modules for browsers), in memory: the main-thread client and the worker, with onnxruntime-web
 * left out (external) so the floors judge localfit's own code. onnxruntime-web's JavaScript (its
 * default build, the Emscripten loader inside, as every bundler resolves it) and its wasm binary
 * (a separate file fetched and cached at run time) are measured on their own.
 */

const ROOT = new URL('..', import.meta.url).pathname;

export interface BundleSize {
  bytes: number;
  gzip_bytes: number;
  /** What a learner without `sync` loads: every chunk but the lazy sync and rollout ones. */
  entry_gzip_bytes: number;
  /** Minified bytes by package, or by folder (`dist/src`) for this repository's code; largest first. */
  by_package: Record<string, number>;
}

function packageOf(path: string): string {
  const at = path.lastIndexOf('node_modules/');
  if (at < 0) {
    const local = path.replace(/^dist\//, '');
    // The manifest client is the rollout's, but it is counted with sync, as it was measured.
    if (local.startsWith('src/rollout/manifest/')) return 'src/rollout/manifest';
    return local.split('/').slice(0, 2).join('/');
  }
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
    entryPoint.endsWith('src/reporting/reporter.js') ||
    entryPoint.endsWith('src/rollout/rollout.js')
  );
}

/** Bundles a file of this repository (of dist/), or (`{ code }`) a module written inline. */
export async function bundle(
  entry: string | { code: string },
  external: string[] = [],
): Promise<BundleSize> {
  const result = await build({
    ...(typeof entry === 'string'
      ? { entryPoints: [new URL(entry, `file://${ROOT}`).pathname] }
      : { stdin: { contents: entry.code, resolveDir: ROOT, loader: 'js' as const } }),
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

/** size: gzip bytes of the main-thread client and of the worker, onnxruntime-web apart. */
export async function bundleSize(): Promise<Section> {
  progress('size: npm run build, then bundling dist/ with esbuild…');
  execFileSync(process.execPath, [`${ROOT}scripts/build.mjs`], { cwd: ROOT, stdio: 'ignore' });
  const ORT = ['onnxruntime-web', 'onnxruntime-web/*'];
  const client = await bundle('dist/src/client/index.js', ORT);
  const worker = await bundle('dist/workers/learner.worker.js', ORT);
  const workerWithOrt = await bundle('dist/workers/learner.worker.js');
  // What the worker takes from onnxruntime-web, alone: its API and the wasm's loader.
  const ort = await bundle({
    code: "export { env, InferenceSession, Tensor } from 'onnxruntime-web/wasm';",
  });
  const wasmPath = `${ROOT}node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm`;
  const wasm = existsSync(wasmPath) ? readFileSync(wasmPath) : undefined;
  const wasmBytes = wasm
    ? { bytes: wasm.length, gzip_bytes: gzipSync(wasm, { level: 9 }).length }
    : null;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const wasmNote = wasmBytes
    ? `onnxruntime-web’s .wasm (${mb(wasmBytes.bytes)}, ${mb(wasmBytes.gzip_bytes)} gzip) is a separate file, fetched once and cached by the service worker`
    : 'onnxruntime-web’s .wasm is a separate file, fetched once and cached';
  const sync = Object.entries(worker.by_package)
    .filter(
      ([name]) =>
        ['src/reporting', 'src/delivery', 'src/rollout/manifest'].includes(name) ||
        name.startsWith('@noble/'),
    )
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
      `Size: ${kb(client.gzip_bytes)} gzip on the main thread; ${kb(worker.entry_gzip_bytes)} gzip of localfit in the worker ` +
      `(${kb(worker.gzip_bytes)} with sync and rollouts), plus onnxruntime-web's JavaScript (${kb(ort.gzip_bytes)})` +
      `${wasmBytes ? ` and wasm (${mb(wasmBytes.gzip_bytes)})` : ''}, gzip.`,
    results: {
      client,
      worker,
      worker_with_onnxruntime_web: workerWithOrt,
      onnxruntime_web_js_alone: ort,
      onnxruntime_web_wasm: wasmBytes,
      bundler: 'esbuild, minified, ES2022, of the built package (dist/)',
    },
    floors: [
      {
        name: 'size: client ≤ 10 KB gzip',
        pass: client.gzip_bytes <= 10 * 1024,
        measured: kb(client.gzip_bytes),
      },
      {
        name: 'size: worker ≤ 60 KB gzip (what every learner loads, without onnxruntime-web)',
        pass: worker.entry_gzip_bytes <= 60 * 1024,
        measured: `${kb(worker.entry_gzip_bytes)} (${kb(worker.gzip_bytes)} with the sync and rollout chunks)`,
      },
    ],
    markdown: [
      'What an app’s build ships for localfit: the published package (`npm run build`, dist/)',
      'bundled and minified by esbuild (ES2022 modules), gzip -9, with onnxruntime-web external so',
      `that the floors judge localfit’s own code. ${wasmNote}; onnxruntime-web’s JavaScript is`,
      'its default build (the Emscripten loader of the wasm inside), as Vite and webpack resolve it.',
      '',
      '| bundle | minified | gzip | largest parts (minified) |',
      '| --- | --- | --- | --- |',
      `| main-thread client (\`localfit\`) | ${kb(client.bytes)} | ${kb(client.gzip_bytes)} | ${top(client)} |`,
      `| worker (\`dist/workers/learner.worker.js\`) without onnxruntime-web: every chunk | ${kb(worker.bytes)} | ${kb(worker.gzip_bytes)} | ${top(worker)} |`,
      `| the worker as a learner without \`sync\` loads it | | ${kb(worker.entry_gzip_bytes)} | |`,
      `| onnxruntime-web’s JS alone (\`env\`, \`InferenceSession\`, \`Tensor\` from \`onnxruntime-web/wasm\`) | ${kb(ort.bytes)} | ${kb(ort.gzip_bytes)} | |`,
      `| the worker with onnxruntime-web’s JS: every chunk | ${kb(workerWithOrt.bytes)} | ${kb(workerWithOrt.gzip_bytes)} | |`,
      '',
      `Sync (manifest, signatures with @noble/ed25519 and @noble/hashes, outbox, reporter) is`,
      `${kb(sync)} minified of the worker. Sync and rollouts are imported lazily, in chunks of`,
      `their own: a learner without \`sync\` loads ${kb(worker.entry_gzip_bytes)} gzip of localfit; one that`,
      `reports and follows rollouts loads ${kb(worker.gzip_bytes)}. The floor is judged on the former.`,
    ].join('\n'),
  };
}
