import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { Figure } from './stats.ts';

/** A floor an issue sets; the benchmark prints PASS or FAIL against each. */
export interface Floor {
  name: string;
  pass: boolean;
  measured: string;
}

/** One benchmark's contribution: its keys in results.json, its floors and its report section. */
export interface Section {
  key: string;
  title: string;
  results: unknown;
  floors: Floor[];
  /** Markdown; refer to a plot as `![what](plots/<file>)`. */
  markdown: string;
  /** SVG charts written to bench/plots/ beside the report. */
  plots?: Plot[];
  /** One sentence for the report's "At a glance" list: the figure a reader decides on. */
  headline?: string;
  /** What could not run, with the reason: printed, and listed at the top of the report. */
  skipped?: string[];
}

export interface Plot {
  /** File name under bench/plots/, e.g. `throughput.svg`. */
  file: string;
  svg: string;
}

export const fmt = {
  rate: (value: number) =>
    value >= 1e6
      ? `${(value / 1e6).toFixed(2)} M/s`
      : value >= 1e4
        ? `${(value / 1e3).toFixed(1)} k/s`
        : `${Math.round(value).toLocaleString('en-US')}/s`,
  ratio: (value: number) =>
    `${value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(value >= 10 ? 1 : 2)}×`,
  figure: (figure: Figure, unit: (value: number) => string) =>
    `${unit(figure.median)} (${unit(figure.min)} – ${unit(figure.max)})`,
};

function glanceLines(sections: readonly Section[]): string[] {
  const lines = sections.flatMap((section) => (section.headline ? [`- ${section.headline}`] : []));
  return lines.length === 0 ? [] : ['## At a glance', '', ...lines, ''];
}

function skippedLines(sections: readonly Section[]): string[] {
  const skipped = sections.flatMap((section) => section.skipped ?? []);
  if (skipped.length === 0) return [];
  return ['## Skipped', '', ...skipped.map((line) => `- ${line}`), ''];
}

/** Load when the bench started: other work on the machine makes every timing pessimistic. */
const startLoad = loadavg()[0];

function machine(): string {
  const cpu = cpus();
  return `Node ${process.version}, ${process.platform}/${process.arch}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, load average ${startLoad.toFixed(1)} at start`;
}

export function writeReport(sections: readonly Section[], quick: boolean, dir: URL): void {
  const results: Record<string, unknown> = {
    generated: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: machine(),
  };
  for (const section of sections) results[section.key] = section.results;
  writeFileSync(new URL('results.json', dir), `${JSON.stringify(results, null, 2)}\n`);
  const plots = sections.flatMap((section) => section.plots ?? []);
  if (plots.length > 0) mkdirSync(new URL('plots/', dir), { recursive: true });
  for (const plot of plots) writeFileSync(new URL(`plots/${plot.file}`, dir), plot.svg);

  const floors = sections.flatMap((section) => section.floors);
  const lines = [
    '# localfit benchmarks',
    '',
    `Measured by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${machine()}, ${results.generated}.`,
    'Each timing is the median of 5 runs (or rounds), with the min – max range; each ratio',
    'compares two things measured in the same run. Other work on the machine slows every',
    'timing alike, so ratios are steadier than absolute figures.',
    quick ? '\n**Quick mode**: smaller samples, a smoke test; floors are not judged.\n' : '',
    ...glanceLines(sections),
    ...skippedLines(sections),
    '## Floors',
    '',
    '| floor | measured | result |',
    '| --- | --- | --- |',
    ...floors.map(
      (floor) =>
        `| ${floor.name} | ${floor.measured} | ${quick ? '—' : floor.pass ? 'PASS' : 'FAIL'} |`,
    ),
    '',
    ...sections.flatMap((section) => [`## ${section.title}`, '', section.markdown, '']),
  ];
  writeFileSync(new URL('REPORT.md', dir), lines.join('\n'));
}

const processStart = performance.now();

/** A progress line for a long step, stamped with the seconds since the bench started. */
export function progress(message: string): void {
  const seconds = ((performance.now() - processStart) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`${seconds} s  ${message}\n`);
}
