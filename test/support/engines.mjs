#!/usr/bin/env node
// Finds (and with --ensure, installs) the three browser engines the browser suite runs in:
// Chromium (`npm test`), Firefox (`npm run test:firefox`) and WebKitGTK (`npm run test:webkit`).
// Playwright's own browser builds cannot be relied on (offline machines, CI images; its Firefox
// and WebKit are patched builds), so the tests drive the engines a distribution ships.
//
//   node test/support/engines.mjs --ensure firefox   # installs Debian's package when missing
//
// Installing needs root and apt-get; elsewhere the message says what to install or which
// environment variable points at an engine.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable of `paths`, or the one `variable` names (which then must be one). */
function pick(variable, paths) {
  const fromEnv = process.env[variable];
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  return paths.find(isExecutable);
}

/** Library folders a distribution may put WebKitGTK's helper programs in. */
function libraryDirs() {
  const dirs = ['/usr/lib', '/usr/libexec', '/usr/lib64'];
  try {
    // Debian's multiarch folders: /usr/lib/x86_64-linux-gnu, /usr/lib/aarch64-linux-gnu, …
    for (const entry of readdirSync('/usr/lib')) {
      if (entry.endsWith('-linux-gnu')) dirs.push(join('/usr/lib', entry));
    }
  } catch {
    // No /usr/lib: not a Linux system; nothing is found and the instruction is shown.
  }
  return dirs;
}

/** The path of a usable Chromium (CHROMIUM_PATH first), or undefined. */
export function findChromium() {
  return pick('CHROMIUM_PATH', [
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome-stable',
    '/usr/bin/google-chrome',
    '/snap/bin/chromium',
    '/Applications/Chromium.app/Contents/MacOS/Chromium',
    '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  ]);
}

/** Firefox's executable (FIREFOX_PATH first), or undefined. */
export function findFirefox() {
  return pick('FIREFOX_PATH', ['/usr/bin/firefox-esr', '/usr/bin/firefox']);
}

/**
 * What WebKitGTK's WebDriver needs: the driver, the MiniBrowser it automates (in the
 * `webkit2gtk-4.1/` library folder of libwebkit2gtk-4.1-0) and Xvfb (MiniBrowser has no headless
 * mode). Undefined when any is missing.
 */
export function findWebKit() {
  const driver = pick('WEBKIT_DRIVER_PATH', ['/usr/bin/WebKitWebDriver']);
  const miniBrowser = pick(
    'WEBKIT_MINIBROWSER_PATH',
    libraryDirs().map((dir) => join(dir, 'webkit2gtk-4.1', 'MiniBrowser')),
  );
  const xvfb = pick('XVFB_PATH', ['/usr/bin/Xvfb']);
  return driver && miniBrowser && xvfb ? { driver, miniBrowser, xvfb } : undefined;
}

/** Per engine: how to find it, Debian's packages for it, and what to tell a person. */
export const ENGINES = {
  chromium: {
    find: findChromium,
    packages: ['chromium'],
    instruction:
      'No Chromium found: install it (Debian/Ubuntu: `apt-get install -y chromium`) or set CHROMIUM_PATH to a Chromium or Chrome executable.',
  },
  firefox: {
    find: findFirefox,
    packages: ['firefox-esr'],
    instruction:
      'No Firefox found: install it (Debian: `apt-get install -y firefox-esr`) or set FIREFOX_PATH to a Firefox executable.',
  },
  webkit: {
    find: findWebKit,
    packages: ['webkit2gtk-driver', 'libwebkit2gtk-4.1-0', 'xvfb', 'xauth'],
    instruction:
      'No WebKitGTK found: install it (Debian: `apt-get install -y webkit2gtk-driver libwebkit2gtk-4.1-0 xvfb xauth`) or set WEBKIT_DRIVER_PATH, WEBKIT_MINIBROWSER_PATH and XVFB_PATH.',
  },
};

/** Like ENGINES[name].find(), but throws the one-line instruction when it is missing. */
export function requireEngine(name) {
  const found = ENGINES[name].find();
  if (!found) throw new Error(ENGINES[name].instruction);
  return found;
}

function canInstallWithApt() {
  return (
    process.platform === 'linux' &&
    typeof process.getuid === 'function' &&
    process.getuid() === 0 &&
    isExecutable('/usr/bin/apt-get')
  );
}

/** apt-get, one at a time with any other apt-get started the same way (flock), when flock exists. */
function aptGet(args) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // dpkg's own lock makes a second apt-get fail at once; waiting for it is what a person would do.
  const apt = ['apt-get', '-o', 'DPkg::Lock::Timeout=600', ...args];
  const [command, ...rest] = isExecutable('/usr/bin/flock')
    ? ['flock', join(tmpdir(), 'apt.lock'), ...apt]
    : apt;
  execFileSync(command, rest, { stdio: 'inherit', env });
}

/** Installs the engine's packages when it is missing (root with apt-get only); exits 1 if it cannot. */
export function ensureEngine(name) {
  const engine = ENGINES[name];
  if (engine.find()) return;
  if (!canInstallWithApt()) {
    console.error(engine.instruction);
    process.exit(1);
  }
  console.log(`${name} not found: installing ${engine.packages.join(' ')} with apt-get…`);
  aptGet(['update', '-qq']);
  aptGet(['install', '-y', '-qq', ...engine.packages]);
  if (!engine.find()) {
    console.error(engine.instruction);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--ensure');
  const name = process.argv[i + 1];
  if (i < 0 || !(name in ENGINES)) {
    console.error(`usage: engines.mjs --ensure ${Object.keys(ENGINES).join('|')}`);
    process.exit(2);
  }
  ensureEngine(name);
  const found = ENGINES[name].find();
  console.log(`${name}: ${typeof found === 'string' ? found : Object.values(found).join(' ')}`);
}
