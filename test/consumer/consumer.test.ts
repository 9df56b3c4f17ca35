// The package as an app gets it: `npm pack`, the tarball installed into a fresh app in a
// temporary directory outside this repository (its own package.json and lock; create-vite's
// `vanilla-ts` tsconfig made stricter: exactOptionalPropertyTypes, noUncheckedIndexedAccess,
// skipLibCheck false), type-checked by tsc, built by Vite (also under --base=/sub/) and by
// webpack 5, each build served from a plain static server on 127.0.0.1, and run under vite dev;
// in Chromium each time: createLearner → predict → observe 200 → reload → the state is restored
// from IndexedDB. Once more with onnxruntime-web's files from a second origin (an own CDN,
// `wasmPaths`).
//
// The app (test/consumer/app/) imports nothing but `localfit`; its model is the demo's ONNX
// file, copied as data. Vite, TypeScript and webpack come from the npm registry (or npm's
// cache), at the versions this repository uses.
//
// Run: `npm run test:consumer` (node's test runner through tsx).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright';
import { chromium } from 'playwright';
import { serveStatic } from '../../server/demo/static.ts';
import { CHROMIUM_ARGS, requireChromium } from '../support/chromium.mjs';

const REPO = join(import.meta.dirname, '../..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let scratch: string;
let app: string;
let tarball: string;
let browser: Browser;
const servers: Server[] = [];

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' },
  });
}

const npx = (args: string[]) => run(NPM, ['exec', '--no', '--', ...args], app);

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'localfit-consumer-'));
  // The build, then the tarball (`prepack` would build again, printing into pack's JSON).
  run(NPM, ['run', '--silent', 'build'], REPO);
  const packed = JSON.parse(
    run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], REPO),
  ) as { filename: string }[];
  tarball = join(scratch, packed[0]!.filename);

  app = join(scratch, 'app');
  await cp(join(import.meta.dirname, 'app'), app, { recursive: true });
  await mkdir(join(app, 'public'));
  await cp(join(REPO, 'public/models/demo/model.onnx'), join(app, 'public/model.onnx'));
  const ours = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  await writeFile(
    join(app, 'package.json'),
    `${JSON.stringify(
      {
        name: 'localfit-consumer-app',
        private: true,
        type: 'module',
        dependencies: { localfit: `file:${tarball}` },
        devDependencies: {
          typescript: ours.devDependencies['typescript'],
          vite: ours.devDependencies['vite'],
          webpack: '^5.100.0',
        },
      },
      null,
      2,
    )}\n`,
  );
  run(NPM, ['install', '--no-audit', '--no-fund', '--loglevel=error'], app);
  browser = await chromium.launch({ executablePath: requireChromium(), args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  for (const server of servers) server.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test('the tarball holds the built package, its sources, README and LICENSE, nothing else', () => {
  const files = run('tar', ['-tzf', tarball], scratch)
    .split('\n')
    .filter(Boolean)
    .map((name) => name.replace(/^package\//, ''));
  for (const needed of [
    'package.json',
    'README.md',
    'LICENSE',
    'dist/src/client/index.js',
    'dist/src/client/index.d.ts',
    'dist/src/client/index.d.ts.map',
    'dist/src/client/index.js.map',
    'dist/src/learn/index.js',
    'dist/src/learn/index.d.ts',
    'dist/src/offline/index.js',
    'dist/src/offline/index.d.ts',
    'dist/workers/learner.worker.js',
    'dist/workers/learner.worker.js.map',
  ]) {
    assert.ok(files.includes(needed), `${needed} is in the tarball`);
  }
  const unwanted = files.filter(
    (name) =>
      /^(test|server|bench|models|scripts|public|\.ci)\//.test(name) ||
      /^src\/(demo|cli)\//.test(name) ||
      /(^|\/)(tsconfig[^/]*|vite\.config\.\w+|biome\.json|package-lock\.json)$/.test(name) ||
      /\.test\.ts$/.test(name),
  );
  assert.deepEqual(unwanted, [], 'no tests, server, benchmarks, models or configs');
});

test('the app installs none of the server stack', () => {
  const installed = run(NPM, ['ls', '--omit=dev', '--all', '--parseable'], app)
    .split('\n')
    .filter(Boolean);
  const names = installed.map((path) => path.slice(path.lastIndexOf('node_modules/') + 13));
  assert.ok(names.includes('localfit'), 'localfit is installed');
  for (const server of ['pg', '@electric-sql/pglite', 'hono', '@hono/node-server', 'tsx']) {
    assert.ok(!names.includes(server), `${server} is not a dependency of the app`);
  }
});

test('a strict app type-checks against the published declarations', () => {
  // The page (localfit, localfit/learn), then the service worker (localfit/offline).
  npx(['tsc', '--noEmit']);
  npx(['tsc', '--noEmit', '-p', 'tsconfig.sw.json']);
});

interface Served {
  origin: string;
  /** Paths requested, in order. */
  requests: string[];
}

/**
 * Serves `dir` on 127.0.0.1 (a plain static server: server/demo/static.ts) under `base`; with
 * `cors`, to pages of any origin, as a CDN does.
 */
async function serve(dir: string, { base = '/', cors = false } = {}): Promise<Served> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://127.0.0.1');
    requests.push(pathname);
    if (cors) response.setHeader('access-control-allow-origin', '*');
    if (!pathname.startsWith(base)) return void response.writeHead(404).end();
    void serveStatic(dir, request, response, `/${pathname.slice(base.length)}`).then((served) => {
      if (!served) response.writeHead(404).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

interface AppResult {
  fresh: boolean;
  storage: string;
  lastSeq: number;
  first: number;
  last: number;
}

/** Opens the app at `url` in a fresh Chromium profile: it learns, reloads, finds what it learned. */
async function learnsAndRestores(url: string): Promise<void> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  const result = async (): Promise<AppResult> => {
    const handle = await page.waitForFunction(
      () => {
        const out = document.querySelector<HTMLElement>('#result');
        return out?.dataset['result'] ?? out?.dataset['error'] ?? false;
      },
      undefined,
      { timeout: 90_000 },
    );
    const text = (await handle.jsonValue()) as string;
    assert.ok(text.startsWith('{'), `the app failed: ${text}`);
    return JSON.parse(text) as AppResult;
  };
  try {
    await page.goto(url);
    const learned = await result();
    assert.equal(learned.fresh, true);
    assert.equal(learned.storage, 'indexeddb');
    assert.equal(learned.lastSeq, 200, '200 outcomes learned');
    assert.notEqual(learned.last, learned.first, 'learning moved the score');

    await page.reload();
    const restored = await result();
    assert.equal(restored.fresh, false, 'the reloaded page finds the stored state');
    assert.equal(restored.lastSeq, 200);
    assert.ok(Math.abs(restored.first - learned.last) < 1e-6, 'the same head after the reload');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
}

const wasmRequests = (served: Served) => served.requests.filter((path) => path.endsWith('.wasm'));

test('built by Vite, served statically, it learns and restores in Chromium', async () => {
  npx(['vite', 'build']);
  const site = await serve(join(app, 'dist'));
  await learnsAndRestores(`${site.origin}/`);
  assert.ok(wasmRequests(site).length > 0, 'the wasm came from the build');
});

test('built by Vite with --base=/sub/, served under /sub/', async () => {
  npx(['vite', 'build', '--base=/sub/', '--outDir', 'dist-sub']);
  const site = await serve(join(app, 'dist-sub'), { base: '/sub/' });
  await learnsAndRestores(`${site.origin}/sub/`);
});

test('with wasmPaths, onnxruntime-web comes from the app’s own CDN', async () => {
  const site = await serve(join(app, 'dist'));
  const cdn = await serve(join(app, 'node_modules/onnxruntime-web/dist'), { cors: true });
  await learnsAndRestores(`${site.origin}/?wasm=${encodeURIComponent(`${cdn.origin}/`)}`);
  assert.ok(wasmRequests(cdn).length > 0, 'the wasm came from the CDN');
  assert.deepEqual(wasmRequests(site), [], 'and not from the build');
});

test('under vite dev, it learns and restores in Chromium', async () => {
  // Vite's own script, not through npm exec: the process killed at the end is the server.
  const vite = spawn(
    process.execPath,
    [
      join(app, 'node_modules/vite/bin/vite.js'),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--clearScreen',
      'false',
    ],
    { cwd: app, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      vite.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        // biome-ignore lint/suspicious/noControlCharactersInRegex: Vite colours its banner
        const local = output.replace(/\u001b\[[0-9;]*m/g, '').match(/Local:\s+(http\S+)/);
        if (local?.[1]) resolve(local[1]);
      });
      vite.once('exit', (code) => reject(new Error(`vite exited (${code}): ${output}`)));
    });
    await learnsAndRestores(url);
  } finally {
    const exited = new Promise((resolve) => vite.once('exit', resolve));
    vite.kill();
    await exited;
  }
});

test('built by webpack 5, served statically, it learns and restores in Chromium', async () => {
  // webpack takes JavaScript: tsc emits the app's one module first.
  npx([
    'tsc',
    '--noEmit',
    'false',
    '--allowImportingTsExtensions',
    'false',
    '--outDir',
    'build/tsc',
  ]);
  run(process.execPath, ['build-webpack.mjs'], app);
  const site = await serve(join(app, 'dist-webpack'));
  await learnsAndRestores(`${site.origin}/`);
  assert.ok(wasmRequests(site).length > 0, 'the wasm came from the build');
});
