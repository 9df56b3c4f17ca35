#!/usr/bin/env node
// `npm run build`: the package as it is published, in dist/ — ES modules, .d.ts, declaration
// maps and source maps for localfit, localfit/learn, localfit/offline and the worker, compiled
// by tsc (tsconfig.build.json) in the source tree's layout.
//
// One thing tsc cannot do: the client starts its worker with
// `new Worker(new URL('../../workers/learner.worker.ts', import.meta.url), …)`, a string that
// must name the source file under Vite (dev server, tests, the demo) and the compiled file in
// dist/. That string is rewritten here, `.ts` to `.js` (same length, so the source map stays
// exact), and the build fails if it is not found once. Bundlers (Vite, webpack 5) recognise the
// pattern in dist/ and emit the worker as a file of the app's build.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const DIST = join(ROOT, 'dist');

rmSync(DIST, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
  {
    cwd: ROOT,
    stdio: 'inherit',
  },
);

const client = join(DIST, 'src/client/learner.js');
const source = readFileSync(client, 'utf8');
const WORKER_TS = "'../../workers/learner.worker.ts'";
if (source.split(WORKER_TS).length !== 2) {
  throw new Error(`build: expected ${WORKER_TS} once in ${client}`);
}
writeFileSync(client, source.replace(WORKER_TS, WORKER_TS.replace(/\.ts'$/, ".js'")));

const files = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
  );
// tsc rewrites relative `.ts` imports in the JavaScript, not in the declarations; a consumer's
// tsc resolves `./x.js` to `./x.d.ts` under every moduleResolution, `./x.ts` only with
// allowImportingTsExtensions. Same length again: the declaration maps stay exact.
for (const file of files(DIST).filter((name) => name.endsWith('.d.ts'))) {
  const text = readFileSync(file, 'utf8');
  const rewritten = text.replace(
    /((?:from\s*|import\(\s*)(['"])\.{1,2}\/[^'"]*)\.ts\2/g,
    (_, head, quote) => `${head}.js${quote}`,
  );
  if (rewritten !== text) writeFileSync(file, rewritten);
}

// What ships may name no TypeScript file and no bundler-specific import (`?url`, `?worker`).
const shipped = files(DIST).filter((file) => /\.(js|d\.ts)$/.test(file));
for (const file of shipped) {
  const text = readFileSync(file, 'utf8');
  const bad = text.match(
    /^(?:import|export)\b[^;]*?\bfrom\s*['"][^'"]*(?:\.ts|\?\w+)['"]|\b(?:import|new URL)\(\s*['"][^'"]*(?:\.ts|\?\w+)['"]/m,
  );
  if (bad) throw new Error(`build: ${file} still refers to ${bad[0]}`);
}
console.log(`build: ${shipped.length} modules and declarations in dist/`);
