import { playwright } from '@vitest/browser-playwright';
import { configDefaults, defineConfig } from 'vitest/config';
import { CHROMIUM_ARGS, findChromium } from './test/support/chromium.mjs';

// A fresh object per project: vitest names each project's browser instances in place.
const browser = () => ({
  enabled: true,
  headless: true,
  screenshotFailures: false,
  provider: playwright({
    launchOptions: {
      // `npm test` runs test/support/chromium.mjs --ensure first, so this finds one.
      executablePath: findChromium(),
      args: CHROMIUM_ARGS,
    },
  }),
  instances: [{ browser: 'chromium' as const }],
});

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
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          // The sync tests need the server and the fault proxy: the next project starts them.
          exclude: [...configDefaults.exclude, 'test/browser/sync/**'],
          testTimeout: 60_000,
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
          testTimeout: 60_000,
          fileParallelism: false,
          // After the other projects: a fleet of 20 learners in a second Chromium would starve
          // the browser project's page, whose main thread a test watches for long tasks.
          sequence: { groupOrder: 1 },
          browser: browser(),
        },
      },
    ],
  },
});
