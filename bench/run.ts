// `npm run bench [-- --quick]`: runs every benchmark, prints the floors, and writes
// bench/results.json and bench/REPORT.md.
import { movielensQuality } from '../models/movielens/bench.ts';
import { headThroughput } from './head_throughput.ts';
import { openBrowser } from './lib/browser.ts';
import type { Section } from './lib/report.ts';
import { writeReport } from './lib/report.ts';
import { observeDurable } from './observe_durable.ts';
import { serverIngest } from './server_ingest.ts';

const quick = process.argv.includes('--quick');
const sections: Section[] = [];
const browser = await openBrowser();
try {
  console.log(`localfit benchmarks (${quick ? 'quick' : 'full'})`);
  sections.push(await headThroughput(quick, browser));
  sections.push(await observeDurable(quick, browser));
  sections.push(await movielensQuality(quick));
  sections.push(await serverIngest(quick));
} finally {
  await browser.close();
}

writeReport(sections, quick, new URL('./', import.meta.url));
const floors = sections.flatMap((section) => section.floors);
console.log('\nfloor | measured | result');
for (const floor of floors) {
  console.log(
    `${floor.name} | ${floor.measured} | ${quick ? 'not judged (quick)' : floor.pass ? 'PASS' : 'FAIL'}`,
  );
}
console.log('\nwrote bench/results.json and bench/REPORT.md');
if (!quick && floors.some((floor) => !floor.pass)) process.exitCode = 1;
