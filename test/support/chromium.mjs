#!/usr/bin/env node
// The Chromium the browser tests drive (`npm test`): a system Chromium, found by engines.mjs
// (which finds the other engines too), and the flags it runs with. Run with --ensure (npm's
// `pretest`) to install Debian's package when none is found.
import { pathToFileURL } from 'node:url';
import { ensureEngine, findChromium, requireEngine } from './engines.mjs';

export { findChromium };

/** Like findChromium, but throws the one-line instruction when there is none. */
export function requireChromium() {
  return requireEngine('chromium');
}

/** Flags for headless Chromium on a closed network, as root, without a GPU. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

if (
  import.meta.url === pathToFileURL(process.argv[1] ?? '').href &&
  process.argv.includes('--ensure')
) {
  ensureEngine('chromium');
  console.log(`Chromium: ${findChromium()}`);
}
