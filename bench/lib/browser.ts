import type { Browser, Page } from 'playwright';
import { chromium } from 'playwright';
import type { ViteDevServer } from 'vite';
import { createServer } from 'vite';
import { CHROMIUM_ARGS, requireChromium } from '../../test/support/chromium.mjs';

/**
 * A page of this repository served by Vite and opened in the system's headless Chromium, for
 * benchmarks that must run where the library runs: in a browser, inside a worker.
 */
export interface BrowserSession {
  /** The browser itself: for benchmarks that need fresh contexts (an empty cache and storage). */
  browser: Browser;
  page: Page;
  url(path: string): string;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<BrowserSession> {
  const root = new URL('../..', import.meta.url).pathname;
  const server: ViteDevServer = await createServer({
    root,
    logLevel: 'error',
    // Pre-bundled at start: discovering them mid-run would make Vite reload the page.
    optimizeDeps: { include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu'] },
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite did not start');
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: requireChromium(), args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    return {
      browser,
      page,
      url: (path) => `http://127.0.0.1:${address.port}/${path.replace(/^\//, '')}`,
      async close() {
        await browser?.close();
        await server.close();
      },
    };
  } catch (error) {
    await browser?.close();
    await server.close();
    throw error;
  }
}

/** Runs a benchmark page whose script sets `window.benchResult` (or `window.benchError`). */
export async function runBenchPage<T>(
  session: Pick<BrowserSession, 'page' | 'url'>,
  path: string,
  timeoutMs: number,
): Promise<T> {
  await session.page.goto(session.url(path));
  await session.page.waitForFunction(
    () => 'benchResult' in window || 'benchError' in window,
    undefined,
    { timeout: timeoutMs, polling: 250 },
  );
  const { result, error } = await session.page.evaluate(() => {
    const w = window as unknown as { benchResult?: unknown; benchError?: string };
    return { result: w.benchResult, error: w.benchError };
  });
  if (error) throw new Error(`${path}: ${error}`);
  return result as T;
}
