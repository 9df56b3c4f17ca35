#!/usr/bin/env node
// `npm run test:crash`: runs the crash trials in Chromium and ends with their one-line summary
// (`trials=N lost=0 duplicated=0`), which the test prints before vitest's own report.
import { spawn } from 'node:child_process';

const child = spawn('npx', ['vitest', 'run', '--project', 'browser', 'test/browser/crash'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let summary = 'trials=0 lost=? duplicated=? (the crash test did not report)';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  const match = /trials=\d+ lost=\d+ duplicated=\d+/.exec(chunk.toString());
  if (match) summary = match[0];
});
child.on('close', (code) => {
  console.log(summary);
  process.exit(code ?? 1);
});
