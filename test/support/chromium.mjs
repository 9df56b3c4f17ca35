#!/usr/bin/env node
// Finds the Chromium the browser tests drive. Playwright's own browser download cannot be
// relied on (offline machines, CI images), so the tests use a system Chromium instead.
// Run with --ensure (npm's `pretest`) to install Debian's package when none is found.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { pathToFileURL } from 'node:url';

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome-stable',
  '/usr/bin/google-chrome',
  '/snap/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

const INSTRUCTION =
  'No Chromium found: install it (Debian/Ubuntu: `apt-get install -y chromium`) or set CHROMIUM_PATH to a Chromium or Chrome executable.';

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of a usable Chromium, or undefined. CHROMIUM_PATH wins when set. */
export function findChromium() {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  return CANDIDATES.find(isExecutable);
}

/** Like findChromium, but throws the one-line instruction when there is none. */
export function requireChromium() {
  const path = findChromium();
  if (!path) throw new Error(INSTRUCTION);
  return path;
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

function canInstallWithApt() {
  return (
    process.platform === 'linux' &&
    typeof process.getuid === 'function' &&
    process.getuid() === 0 &&
    isExecutable('/usr/bin/apt-get')
  );
}

function ensureChromium() {
  if (findChromium()) return;
  if (process.env.CHROMIUM_PATH) {
    console.error(
      `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} is not an executable. ${INSTRUCTION}`,
    );
    process.exit(1);
  }
  if (!canInstallWithApt()) {
    console.error(INSTRUCTION);
    process.exit(1);
  }
  console.log('Chromium not found: installing Debian package `chromium` with apt-get…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
  if (!findChromium()) {
    console.error(INSTRUCTION);
    process.exit(1);
  }
}

if (
  import.meta.url === pathToFileURL(process.argv[1] ?? '').href &&
  process.argv.includes('--ensure')
) {
  ensureChromium();
  console.log(`Chromium: ${findChromium()}`);
}
