/**
 * A vitest browser provider for WebKitGTK, the WebKit a Linux distribution ships (Playwright's
 * WebKit is its own build, which cannot be downloaded everywhere). WebKitGTK's WebDriver
 * (`WebKitWebDriver`) automates MiniBrowser, its small test browser; MiniBrowser has no headless
 * mode, so the provider starts its own Xvfb display, then the driver on a free port, and drives
 * it with vitest's webdriverio provider in classic WebDriver (WebKitGTK has no BiDi).
 *
 * - `JSC_useSharedArrayBuffer=1`: JavaScriptCore keeps SharedArrayBuffer off unless told, so a
 *   cross-origin isolated page would still have no threads.
 * - `--features=+StorageAPI,+StorageAPIEstimate`: `navigator.storage` is off in MiniBrowser by
 *   default (it is on in Safari).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { defineBrowserProvider } from '@vitest/browser';
import { WebdriverBrowserProvider } from '@vitest/browser-webdriverio';
import type { BrowserProvider, BrowserProviderOption, TestProject } from 'vitest/node';
import type { WebKitParts } from './engines.mjs';

export interface WebKitProviderOptions {
  /** WebKitWebDriver, MiniBrowser and Xvfb (test/support/engines.mjs finds them). */
  parts: WebKitParts | undefined;
}

/** Starts Xvfb on a display it picks itself (-displayfd: no guessing at a free number). */
function startXvfb(xvfb: string): Promise<{ display: string; process: ChildProcess }> {
  const child = spawn(
    xvfb,
    ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'],
    {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let written = '';
    let errors = '';
    child.stderr?.on('data', (chunk) => {
      errors += chunk;
    });
    child.stdio[3]?.on('data', (chunk) => {
      written += chunk;
      // Xvfb writes the display's number and a newline once it accepts clients.
      if (written.includes('\n')) resolve({ display: `:${written.trim()}`, process: child });
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`Xvfb exited (${code}) before it was ready: ${errors}`)),
    );
  });
}

/** A port nobody listens on now (the driver takes it next; nothing else here races for it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts WebKitWebDriver; resolves once it says it listens. */
function startDriver(driver: string, port: number, display: string): Promise<ChildProcess> {
  const child = spawn(driver, [`--port=${port}`, '--host=127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DISPLAY: display, JSC_useSharedArrayBuffer: '1' },
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`WebKitWebDriver exited (${code}) at start`)));
    child.once('spawn', async () => {
      // The driver prints nothing when ready: wait for its port to accept a connection.
      for (let attempt = 0; attempt < 200; attempt++) {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/status`);
          if (response.ok) return resolve(child);
        } catch {
          // Not listening yet.
        }
        await new Promise((next) => setTimeout(next, 50));
      }
      reject(new Error(`WebKitWebDriver did not listen on ${port} within 10 s`));
    });
  });
}

class WebKitProvider extends WebdriverBrowserProvider {
  private readonly parts: WebKitParts | undefined;
  private readonly children: ChildProcess[] = [];
  private opening: Promise<WebdriverIO.Browser> | undefined;

  constructor(project: TestProject, options: WebKitProviderOptions) {
    super(project, {});
    this.parts = options.parts;
  }

  override openBrowser(): Promise<WebdriverIO.Browser> {
    this.opening ??= this.launch();
    return this.opening;
  }

  private async launch(): Promise<WebdriverIO.Browser> {
    const parts = this.parts;
    if (!parts)
      throw new Error('WebKitGTK not found: run `node test/support/engines.mjs --ensure webkit`');
    const xvfb = await startXvfb(parts.xvfb);
    this.children.push(xvfb.process);
    const port = await freePort();
    this.children.push(await startDriver(parts.driver, port, xvfb.display));
    const { remote } = await import('webdriverio');
    this.browser = await remote({
      logLevel: 'silent',
      hostname: '127.0.0.1',
      port,
      path: '/',
      capabilities: {
        browserName: 'MiniBrowser',
        'wdio:enforceWebDriverClassic': true,
        'webkitgtk:browserOptions': {
          binary: parts.miniBrowser,
          args: ['--automation', '--features=+StorageAPI,+StorageAPIEstimate'],
        },
      } as WebdriverIO.Capabilities,
    });
    return this.browser;
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      for (const child of this.children.reverse()) child.kill();
      this.children.length = 0;
    }
  }
}

export function webkit(options: WebKitProviderOptions): BrowserProviderOption {
  return defineBrowserProvider<WebKitProviderOptions>({
    name: 'webkitgtk',
    supportedBrowser: ['webkit'],
    options,
    // The cast: the Playwright and webdriverio packages both augment vitest's CDPSession type,
    // differently; with both installed the two declarations disagree, not the object.
    providerFactory: (project) =>
      new WebKitProvider(project, options) as unknown as BrowserProvider,
  });
}
