import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';
import { CHROMIUM_ARGS, findChromium } from './test/support/chromium.mjs';

export default defineConfig({
  // onnxruntime-web locates its wasm next to its own module; pre-bundling would move it.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
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
          testTimeout: 60_000,
          // Test files share the page's main thread: one at a time, so one file's work (say,
          // compiling onnxruntime's wasm) is never measured as another's long task.
          fileParallelism: false,
          browser: {
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
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
