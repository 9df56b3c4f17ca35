import type { BrowserSession } from './lib/browser.ts';
import { runBenchPage } from './lib/browser.ts';
import type { Floor, Section } from './lib/report.ts';
import { fmt } from './lib/report.ts';
import type { ThroughputResult } from './lib/throughput.ts';
import { measureThroughput } from './lib/throughput.ts';

const DIMS = [8, 64, 256];

function samplesFor(d: number, quick: boolean): number {
  const full = d <= 8 ? 400_000 : d <= 64 ? 200_000 : 60_000;
  return quick ? full / 20 : full;
}

function table(results: readonly ThroughputResult[]): string {
  return [
    '| d | localfit head | bare loop | head time / bare time |',
    '| --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.d} | ${fmt.figure(r.head, fmt.rate)} | ${fmt.figure(r.bare, fmt.rate)} | ${fmt.figure(r.slowdown, fmt.ratio)} |`,
    ),
  ].join('\n');
}

/** head.throughput: per-event partialFit in Node and in a Chromium worker vs the bare loop. */
export async function headThroughput(quick: boolean, browser: BrowserSession): Promise<Section> {
  const runs = 5;
  const node = DIMS.map((d) => {
    process.stdout.write(`  head throughput, Node, d=${d}…\n`);
    return measureThroughput(d, samplesFor(d, quick), runs);
  });
  process.stdout.write('  head throughput, Chromium worker…\n');
  const query = `dims=${DIMS.join(',')}&samples=${DIMS.map((d) => samplesFor(d, quick)).join(',')}&runs=${runs}`;
  const chromium = await runBenchPage<ThroughputResult[]>(
    browser,
    `bench/browser/throughput.html?${query}`,
    300_000,
  );
  const at64 = node.find((r) => r.d === 64)!;
  const floors: Floor[] = [
    {
      name: 'head d=64 (Node) within 1.5× of the bare loop',
      pass: at64.slowdown.median <= 1.5,
      measured: fmt.ratio(at64.slowdown.median),
    },
    {
      name: 'head d=64 (Node) ≥ 1,000,000 samples/s',
      pass: at64.head.median >= 1e6,
      measured: fmt.rate(at64.head.median),
    },
  ];
  const markdown = [
    'Per-event `partialFit` of the logistic head (SGD, "optimal" schedule, L2 = 1e-4), one',
    'example at a time, against a bare typed-array loop doing the same arithmetic with nothing',
    'around it (no validation, no label mapping, no guard): the practical limit.',
    '',
    '### Node',
    '',
    table(node),
    '',
    '### Chromium, inside a Web Worker',
    '',
    table(chromium),
  ].join('\n');
  return {
    key: 'head.throughput',
    title: 'Head throughput',
    results: { node, chromium_worker: chromium },
    floors,
    markdown,
  };
}
