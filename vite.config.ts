import { rmSync } from 'node:fs';
import { playwright } from '@vitest/browser-playwright';
import { configDefaults, defineConfig } from 'vitest/config';
import { CHROMIUM_ARGS, findChromium } from './test/support/chromium.mjs';
import { type EngineName, findFirefox, findWebKit } from './test/support/engines.mjs';
import { firefox } from './test/support/firefox_provider.ts';
import { webkit } from './test/support/webkit_provider.ts';

// Which engine the browser projects run in: Chromium for `npm test`, Firefox or WebKitGTK for
// `npm run test:firefox` / `npm run test:webkit` (which set LOCALFIT_ENGINE).
const engine = (process.env.LOCALFIT_ENGINE ?? 'chromium') as EngineName;
if (!['chromium', 'firefox', 'webkit'].includes(engine)) {
  throw new Error(`LOCALFIT_ENGINE=${engine}: use chromium, firefox or webkit`);
}

// How much slower than Chromium an engine runs the suite on the same machine (measured: Firefox
// about twice, WebKitGTK's MiniBrowser under Xvfb about four times). Timeouts scale with it;
// what the tests assert does not.
const TIME_SCALE: Record<EngineName, number> = { chromium: 1, firefox: 2, webkit: 4 };
const timeScale = TIME_SCALE[engine];

declare module 'vitest' {
  export interface ProvidedContext {
    /** The engine the browser tests run in. */
    engine: EngineName;
    /** Multiplies a test's own timeout (see TIME_SCALE in vite.config.ts). */
    timeScale: number;
  }
}

// `npm test` and the two scripts run engines.mjs --ensure first, so these find one; a config
// loaded for the unit tests alone must not fail for want of a browser, hence `?? ''`.
function provider(firefoxPrefs?: Record<string, unknown>) {
  switch (engine) {
    case 'firefox':
      return firefox({ executablePath: findFirefox() ?? '', prefs: firefoxPrefs });
    case 'webkit':
      return webkit({ parts: findWebKit() });
    default:
      return playwright({
        launchOptions: { executablePath: findChromium(), args: CHROMIUM_ARGS },
      });
  }
}

// A fresh object per project: vitest names each project's browser instances in place.
const browser = (firefoxPrefs?: Record<string, unknown>) => ({
  enabled: true,
  // MiniBrowser has no headless mode: the WebKit provider runs it in its own Xvfb display.
  headless: engine !== 'webkit',
  screenshotFailures: false,
  provider: provider(firefoxPrefs),
  instances: [{ browser: engine === 'chromium' ? ('chromium' as const) : engine }],
});

/**
 * Firefox's whole temporary storage, in KiB, for the quota project: an origin gets a fifth of it
 * (40 MiB; smaller limits leave IndexedDB unusable there).
 */
const QUOTA_KIB = 200 * 1024;

/** An empty Chromium profile for the quota project (each run starts without stored data). */
function freshProfile(): string {
  const dir = 'node_modules/.cache/localfit-quota-profile';
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

const browserTimeouts = {
  testTimeout: 60_000 * timeScale,
  // Hooks start lab servers (a sync server on PGlite per file): seconds on a shared CPU.
  hookTimeout: 30_000 * timeScale,
  provide: { engine, timeScale },
};

export default defineConfig({
  // onnxruntime-web locates its wasm next to its own module; pre-bundling would move it.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  // No custom export conditions: onnxruntime-web resolves as in an app's build (its default
  // build, which finds its wasm with `new URL(…, import.meta.url)`; see configure_ort.ts).
  worker: { format: 'es' },
  server: { fs: { allow: ['.', '../shared/data'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Timeouts catch hangs, not slowness: CI shares two cores with browsers and servers,
          // where a 1 s test has taken over 5 s.
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          // The sync tests need the server and the fault proxy: the next project starts them.
          exclude: [...configDefaults.exclude, 'test/browser/sync/**'],
          ...browserTimeouts,
          // Test files share the page's main thread: one at a time, so one file's work (say,
          // compiling onnxruntime's wasm) is never measured as another's long task.
          fileParallelism: false,
          browser: browser(),
        },
      },
      {
        extends: true,
        test: {
          name: 'browser-sync',
          include: ['test/browser/sync/**/*.test.ts'],
          // The real sync server (embedded PGlite) and the fault lab in front of it, in Node.
          globalSetup: ['test/support/sync_global_setup.ts'],
          ...browserTimeouts,
          fileParallelism: false,
          // After the other projects: a fleet of 20 learners in a second Chromium would starve
          // the browser project's page, whose main thread a test watches for long tasks.
          sequence: { groupOrder: 1 },
          browser: browser(),
        },
      },
      // A real QuotaExceededError: a browser of its own whose origin quota is small (Chromium:
      // a persistent profile, where the CDP quota override applies; Firefox: a small fixed
      // limit). WebKitGTK has no such setting: its full-disk test is the injected one.
      ...(engine !== 'webkit'
        ? [
            {
              extends: true as const,
              test: {
                name: 'browser-quota',
                include: ['test/browser-quota/**/*.test.ts'],
                ...browserTimeouts,
                fileParallelism: false,
                sequence: { groupOrder: 3 },
                browser: {
                  ...browser({ 'dom.quotaManager.temporaryStorage.fixedLimit': QUOTA_KIB }),
                  ...(engine === 'chromium'
                    ? {
                        provider: playwright({
                          launchOptions: { executablePath: findChromium(), args: CHROMIUM_ARGS },
                          persistentContext: freshProfile(),
                        }),
                      }
                    : {}),
                },
              },
            },
          ]
        : []),
      // A real refusal of IndexedDB, which only Firefox can be started with: a private window
      // (the whole browser private) with IndexedDB off in private browsing. It takes its own
      // Firefox, so it is a project of its own, and only the Firefox run has it.
      ...(engine === 'firefox'
        ? [
            {
              extends: true as const,
              test: {
                name: 'browser-private',
                include: ['test/browser-private/**/*.test.ts'],
                ...browserTimeouts,
                fileParallelism: false,
                sequence: { groupOrder: 2 },
                browser: browser({
                  'browser.privatebrowsing.autostart': true,
                  'dom.indexedDB.privateBrowsing.enabled': false,
                }),
              },
            },
          ]
        : []),
    ],
  },
});
