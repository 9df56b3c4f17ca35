/**
 * A vitest browser provider for a stock Firefox (the one a distribution ships, not Playwright's
 * patched build, which cannot drive it), over WebDriver BiDi with puppeteer-core: no
 * geckodriver needed. One browser for the project, one page per vitest session.
 *
 * The prefs: `persist()` would otherwise wait forever on a permission prompt that nobody
 * answers; the testing prefs make Firefox grant it as a person clicking "Allow" would.
 */
import { defineBrowserProvider } from '@vitest/browser';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { BrowserProvider, BrowserProviderOption, TestProject } from 'vitest/node';

export interface FirefoxProviderOptions {
  /** The Firefox executable (test/support/engines.mjs finds it). */
  executablePath: string;
  /** Extra prefs, over the ones that answer the storage prompt. */
  prefs?: Record<string, unknown>;
}

const PREFS = {
  'dom.storageManager.prompt.testing': true,
  'dom.storageManager.prompt.testing.allow': true,
};

class FirefoxProvider implements BrowserProvider {
  name = 'firefox-bidi';
  // One page at a time: the browser suite's files share the page's main thread on purpose.
  supportsParallelism = false;
  private browser: Promise<Browser> | undefined;
  private readonly pages = new Map<string, Page>();
  private closing = false;
  private readonly project: TestProject;
  private readonly options: FirefoxProviderOptions;

  constructor(project: TestProject, options: FirefoxProviderOptions) {
    this.project = project;
    this.options = options;
  }

  private open(): Promise<Browser> {
    this.browser ??= puppeteer.launch({
      browser: 'firefox',
      executablePath: this.options.executablePath,
      headless: this.project.config.browser.headless,
      extraPrefsFirefox: { ...PREFS, ...this.options.prefs },
    });
    return this.browser;
  }

  getCommandsContext(sessionId: string): Record<string, unknown> {
    return { page: this.pages.get(sessionId) };
  }

  async openPage(sessionId: string, url: string): Promise<void> {
    if (this.closing) throw new Error('[firefox provider] closed: no new pages');
    const browser = await this.open();
    let page = this.pages.get(sessionId);
    if (!page) {
      page = await browser.newPage();
      this.pages.set(sessionId, page);
    }
    await page.goto(url);
  }

  async close(): Promise<void> {
    this.closing = true;
    const browser = this.browser;
    this.browser = undefined;
    this.pages.clear();
    if (browser) await (await browser).close();
  }
}

export function firefox(options: FirefoxProviderOptions): BrowserProviderOption {
  return defineBrowserProvider<FirefoxProviderOptions>({
    name: 'firefox-bidi',
    supportedBrowser: ['firefox'],
    options,
    providerFactory: (project) => new FirefoxProvider(project, options),
  });
}
