import { writeFileSync } from 'node:fs';
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
  markdown: string;
}

export const fmt = {
  rate: (value: number) =>
    value >= 1e6 ? `${(value / 1e6).toFixed(2)} M/s` : `${(value / 1e3).toFixed(1)} k/s`,
  ratio: (value: number) => `${value.toFixed(2)}×`,
  figure: (figure: Figure, unit: (value: number) => string) =>
    `${unit(figure.median)} (${unit(figure.min)} – ${unit(figure.max)})`,
};

function machine(): string {
  return `Node ${process.version}, ${process.platform}/${process.arch}`;
}

export function writeReport(sections: readonly Section[], quick: boolean, dir: URL): void {
  const results: Record<string, unknown> = {
    generated: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: machine(),
  };
  for (const section of sections) results[section.key] = section.results;
  writeFileSync(new URL('results.json', dir), `${JSON.stringify(results, null, 2)}\n`);

  const floors = sections.flatMap((section) => section.floors);
  const lines = [
    '# localfit benchmarks',
    '',
    `Measured by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${machine()}, ${results.generated}.`,
    'Each figure is the median of several runs, with the min – max range; each ratio compares',
    'two things measured in the same run.',
    quick ? '\n**Quick mode**: smaller samples, a smoke test; floors are not judged.\n' : '',
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
