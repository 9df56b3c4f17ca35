/**
 * `npm run models` (tsx models/build_demo.ts): rebuilds the demo's default version into
 * public/models/demo/ — model.onnx, head.json, spec.json, metrics.json, catalog.json,
 * check.json and version.json (with the model's sha256). The same seed gives the same bytes.
 *
 *   tsx models/build_demo.ts            rebuild and write
 *   tsx models/build_demo.ts --check    rebuild in memory and compare with the committed files
 *   tsx models/build_demo.ts --out DIR  write somewhere else
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { env } from 'onnxruntime-web/wasm';
import { buildDemo, DEMO_SEED } from './demo/build.ts';
import { stableJson, writeVersionDir } from './train/version_dir.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const DEMO_DIR = join(ROOT, 'public/models/demo');

async function main(argv: string[]): Promise<number> {
  env.wasm.numThreads = 1;
  const check = argv.includes('--check');
  const outIndex = argv.indexOf('--out');
  const out = outIndex >= 0 ? resolve(argv[outIndex + 1]) : DEMO_DIR;
  const started = performance.now();
  let last = '';
  const build = await buildDemo(DEMO_SEED, (p) => {
    if (p.step !== last && !p.step.startsWith('select/scales')) {
      last = p.step;
      process.stderr.write(`[${p.elapsed.toFixed(1)}s] ${p.step}\n`);
    }
  });
  const { version } = build;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (check) {
    const committed = join(DEMO_DIR, 'model.onnx');
    if (!existsSync(committed)) {
      console.error(`no committed model at ${committed}`);
      return 1;
    }
    const manifest = JSON.parse(readFileSync(join(DEMO_DIR, 'version.json'), 'utf8'));
    const same = manifest.model.sha256 === version.sha256;
    console.log(
      `${same ? 'same' : 'DIFFERENT'}: rebuilt ${version.sha256}, committed ${manifest.model.sha256} (${seconds}s)`,
    );
    return same ? 0 : 1;
  }
  await writeVersionDir(out, version, {
    'catalog.json': stableJson(build.catalog),
    'check.json': stableJson(build.check),
  });
  console.log(
    `demo version written to ${out}: model.onnx ${version.bytes.length} bytes, sha256 ${version.sha256} (${seconds}s)`,
  );
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
