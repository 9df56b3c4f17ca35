import { describe, expect, it } from 'vitest';
import {
  barChart,
  linearScale,
  lineChart,
  logScale,
  logTicks,
  niceTicks,
  tickLabel,
  timelineChart,
} from '../../../bench/lib/svg.ts';

describe('scales', () => {
  it('maps a linear domain onto a range, flipped for the y axis', () => {
    const y = linearScale([0, 10], [300, 100]);
    expect(y(0)).toBe(300);
    expect(y(10)).toBe(100);
    expect(y(2.5)).toBe(250);
  });

  it('maps powers of ten to equal steps on a log scale', () => {
    const x = logScale([1, 1000], [0, 300]);
    expect(x(1)).toBeCloseTo(0);
    expect(x(10)).toBeCloseTo(100);
    expect(x(100)).toBeCloseTo(200);
    expect(x(1000)).toBeCloseTo(300);
  });

  it('refuses a log domain that reaches 0', () => {
    expect(() => logScale([0, 10], [0, 1])).toThrow(RangeError);
    expect(() => logTicks(0, 10)).toThrow(RangeError);
  });
});

describe('ticks', () => {
  it('picks round steps of 1, 2 or 5 × 10ⁿ that cover the data', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.62, 0.91, 5)).toEqual([0.65, 0.7, 0.75, 0.8, 0.85, 0.9]);
    expect(niceTicks(0, 1000, 4)).toEqual([0, 200, 400, 600, 800, 1000]);
  });

  it('spans the data with powers of ten on a log axis', () => {
    expect(logTicks(1500, 2_400_000)).toEqual([1000, 10_000, 100_000, 1_000_000, 10_000_000]);
  });

  it('labels ticks compactly', () => {
    expect(tickLabel(1_500_000)).toBe('1.5M');
    expect(tickLabel(2000)).toBe('2k');
    expect(tickLabel(0.75)).toBe('0.75');
  });
});

describe('charts', () => {
  const coordinates = (svg: string) =>
    [...svg.matchAll(/<polyline points="([^"]+)"/g)].map((m) =>
      m[1].split(' ').map((pair) => pair.split(',').map(Number)),
    );

  it('draws each series inside the plot area, higher values higher up', () => {
    const svg = lineChart({
      title: 'T',
      xLabel: 'd',
      yLabel: 'samples/s',
      xLog: true,
      yLog: true,
      series: [
        {
          name: 'fast',
          points: [
            [8, 5e6],
            [64, 1.5e6],
            [256, 4e5],
          ],
        },
        {
          name: 'slow',
          points: [
            [8, 2e3],
            [64, 1.8e3],
            [256, 1.2e3],
          ],
        },
      ],
    });
    const [fast, slow] = coordinates(svg);
    for (const [x, y] of [...fast, ...slow]) {
      expect(x).toBeGreaterThanOrEqual(72);
      expect(x).toBeLessThanOrEqual(624);
      expect(y).toBeGreaterThanOrEqual(36);
      expect(y).toBeLessThanOrEqual(296);
    }
    expect(fast[1][1]).toBeLessThan(slow[1][1]);
    expect(fast[0][0]).toBeLessThan(fast[1][0]);
    expect(svg).toContain('>fast</text>');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  });

  it('escapes text so a title cannot break the markup', () => {
    const svg = lineChart({
      title: 'a < b & c',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 's', points: [[0, 1]] }],
    });
    expect(svg).toContain('a &lt; b &amp; c');
  });

  it('refuses an empty chart and bars that do not match the bins', () => {
    expect(() => lineChart({ title: 'e', xLabel: 'x', yLabel: 'y', series: [] })).toThrow(
      RangeError,
    );
    expect(() =>
      barChart({
        title: 'b',
        xLabel: 'x',
        yLabel: 'y',
        edges: [0, 1, 2],
        series: [{ name: 's', values: [1] }],
      }),
    ).toThrow(RangeError);
  });

  it('draws bar heights in proportion to the counts', () => {
    const svg = barChart({
      title: 'h',
      xLabel: 'ms',
      yLabel: 'count',
      edges: [0, 1, 2, 3],
      series: [{ name: 'n', values: [10, 5, 0] }],
    });
    const heights = [
      ...svg.matchAll(/<rect class="bar" x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"/g),
    ].map((m) => Number(m[1]));
    expect(heights).toHaveLength(3);
    expect(heights[0]).toBeCloseTo(2 * heights[1], 0);
    expect(heights[2]).toBe(0);
  });
});

describe('legend and line order', () => {
  const many = Array.from({ length: 8 }, (_, i) => ({
    name: `a rather long series name ${i}`,
    points: [[1, i + 1] as const, [2, i + 2] as const],
    dashed: i === 0,
  }));

  it('wraps a long legend onto more rows and makes the picture taller for them', () => {
    const one = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: many.slice(0, 1) });
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: many });
    const height = (text: string) => Number(/<svg [^>]*height="(\d+)"/.exec(text)?.[1]);
    expect(height(svg)).toBeGreaterThan(height(one));
    const legendYs = new Set(
      [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)">a rather/g)].map((m) => m[1]),
    );
    expect(legendYs.size).toBeGreaterThan(1);
  });

  it('draws dashed series after the solid ones, so they stay visible where lines coincide', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: many.slice(0, 3) });
    const lines = [...svg.matchAll(/<polyline [^>]*>/g)].map((m) => m[0]);
    expect(lines[2]).toContain('stroke-dasharray');
    expect(lines[0]).not.toContain('stroke-dasharray');
  });

  it('labels exactly the x ticks given', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      xLog: true,
      xTicks: [8, 64, 256],
      series: [
        {
          name: 's',
          points: [
            [8, 1],
            [64, 2],
            [256, 3],
          ],
        },
      ],
    });
    expect(svg).toContain('>8</text>');
    expect(svg).toContain('>64</text>');
    expect(svg).toContain('>256</text>');
    expect(svg).not.toContain('>1k</text>');
  });
});

describe('timelineChart', () => {
  it('one bar per phase, overlapping phases in separate lanes, a title element', () => {
    const svg = timelineChart({
      title: 'start <up>',
      xLabel: 'ms',
      rows: [
        {
          label: 'a',
          bars: [
            { name: 'open', start: 0, end: 10 },
            { name: 'load', start: 5, end: 30 },
            { name: 'run', start: 30, end: 35 },
          ],
        },
      ],
    });
    expect(svg).toContain('<title>start &lt;up&gt;</title>');
    const bars = [
      ...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="#/g),
    ];
    // Three bars plus three legend marks; the overlapping two are in different lanes.
    expect(bars).toHaveLength(6);
    expect(bars[0][1]).not.toBe(bars[1][1]);
    expect(bars[2][1]).toBe(bars[0][1]);
  });
});
