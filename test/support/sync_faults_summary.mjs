#!/usr/bin/env node
// `npm run test:sync-faults`: runs the sync fault test in Chromium against the real server (the
// `browser-sync` project's globalSetup starts it) and ends with the test's one-line summary
// (`windows=N stored=N duplicates=0 lost=0`), which the test prints before vitest's own report.
// Extra arguments go to vitest (e.g. `-c <config>`).
import { spawn } from 'node:child_process';

const args = [
  'vitest',
  'run',
  '--project',
  'browser-sync',
  'test/browser/sync/faults.test.ts',
  ...process.argv.slice(2),
];
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'] });
let summary = 'windows=? stored=? duplicates=? lost=? (the fault test did not report)';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  const match = /windows=\d+ stored=\d+ duplicates=\d+ lost=\d+/.exec(chunk.toString());
  if (match) summary = match[0];
});
child.on('close', (code) => {
  console.log(summary);
  process.exit(code ?? 1);
});
