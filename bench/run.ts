// `npm run bench [-- --quick] [--only key,key] [--out DIR]`: runs the benchmarks, prints the
// floors, and writes results.json, REPORT.md and plots/*.svg to bench/ (or DIR). `--only`
// runs some sections and writes nothing unless --out is given.
//
// Each section is one entry below: a results.json key and a function that measures it. To
// add one, write bench/<name>.ts returning a Section and list it here.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { federatedQuality } from '../models/federated/bench.ts';
import { movielensQuality } from '../models/movielens/bench.ts';
import { headThroughput } from './head_throughput.ts';
import { idle } from './idle.ts';
import { latencyPredict } from './latency_predict.ts';
import type { BrowserSession } from './lib/browser.ts';
import { openBrowser } from './lib/browser.ts';
import type { Section } from './lib/report.ts';
import { writeReport } from './lib/report.ts';
import { mainThread } from './main_thread.ts';
import { memory } from './memory.ts';
import { withMovielensPlot } from './movielens_plot.ts';
import { observeDurable } from './observe_durable.ts';
import { qualityElec } from './quality_elec.ts';
import { qualityStreams } from './quality_streams.ts';
import { serverIngest } from './server_ingest.ts';
import { serverScale } from './server_scale.ts';
import { serverWindows } from './server_windows.ts';
import { bundleSize } from './size.ts';
import { startup } from './startup.ts';
import { swapUnderLoad } from './swap.ts';

interface Context {
  quick: boolean;
  /** The shared headless Chromium, opened on first use. */
  browser(): Promise<BrowserSession>;
}

const SECTIONS: { key: string; run(context: Context): Promise<Section> }[] = [
  { key: 'head.throughput', run: async (c) => headThroughput(c.quick, await c.browser()) },
  { key: 'quality.elec', run: (c) => qualityElec(c.quick) },
  { key: 'quality.streams', run: (c) => qualityStreams(c.quick) },
  { key: 'latency.predict', run: async (c) => latencyPredict(c.quick, await c.browser()) },
  { key: 'latency.observe_durable', run: async (c) => observeDurable(c.quick, await c.browser()) },
  {
    key: 'quality.movielens',
    run: async (c) => withMovielensPlot(await movielensQuality(c.quick)),
  },
  { key: 'quality.federated', run: (c) => federatedQuality(c.quick) },
  { key: 'swap', run: async (c) => swapUnderLoad(c.quick, await c.browser()) },
  { key: 'main_thread', run: async (c) => mainThread(c.quick, await c.browser()) },
  { key: 'startup', run: async (c) => startup(c.quick, await c.browser()) },
  { key: 'idle', run: (c) => idle(c.quick) },
  { key: 'memory', run: async (c) => memory(c.quick, await c.browser()) },
  { key: 'server.ingest', run: (c) => serverIngest(c.quick) },
  { key: 'server.scale', run: (c) => serverScale(c.quick) },
  { key: 'server.windows', run: (c) => serverWindows(c.quick) },
  { key: 'size', run: () => bundleSize() },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',') : undefined;
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args[outAt + 1] : undefined;
if (outAt >= 0 && !out) {
  console.error('--out needs a directory');
  process.exit(2);
}
const unknown = only?.filter((key) => !SECTIONS.some((s) => s.key === key)) ?? [];
if (unknown.length > 0) {
  console.error(
    `unknown section(s): ${unknown.join(', ')}; sections: ${SECTIONS.map((s) => s.key).join(', ')}`,
  );
  process.exit(2);
}

let session: Promise<BrowserSession> | undefined;
const context: Context = { quick, browser: () => (session ??= openBrowser()) };
const sections: Section[] = [];
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
const chosen = SECTIONS.filter((s) => !only || only.includes(s.key));
try {
  console.log(
    `localfit benchmarks (${quick ? 'quick' : 'full'}): ${chosen.map((s) => s.key).join(', ')}`,
  );
  for (const [i, section] of chosen.entries()) {
    console.log(`\n[${i + 1}/${chosen.length}] ${section.key} (at ${elapsed()})`);
    sections.push(await section.run(context));
  }
} finally {
  await (await session)?.close();
}

// A partial run (--only) prints its sections but leaves the committed report alone.
if (only) {
  for (const section of sections) console.log(`\n## ${section.title}\n\n${section.markdown}`);
}
const dir = out
  ? pathToFileURL(`${resolve(out)}/`)
  : only
    ? undefined
    : new URL('./', import.meta.url);
if (dir) {
  mkdirSync(dir, { recursive: true });
  writeReport(sections, quick, dir);
}
const floors = sections.flatMap((section) => section.floors);
console.log('\nfloor | measured | result');
for (const floor of floors) {
  console.log(
    `${floor.name} | ${floor.measured} | ${quick ? 'not judged (quick)' : floor.pass ? 'PASS' : 'FAIL'}`,
  );
}
for (const line of sections.flatMap((section) => section.skipped ?? []))
  console.log(`SKIPPED ${line}`);
console.log(
  dir
    ? `\nwrote results.json, REPORT.md and plots/ to ${fileURLToPath(dir)} (${elapsed()})`
    : `\n--only: bench/results.json and bench/REPORT.md left as they were (${elapsed()})`,
);
if (!quick && floors.some((floor) => !floor.pass)) process.exitCode = 1;
