/**
 * Small hand-written SVG charts for bench/REPORT.md: a line chart (linear or log axes) and a
 * grouped bar chart (histograms). Plain strings, no dependencies; GitHub renders them inline.
 */

export type Scale = (value: number) => number;

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = { left: 72, right: 16, top: 36, bottom: 64 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

/** Maps [d0, d1] onto [r0, r1] linearly. */
export function linearScale(domain: readonly [number, number], range: readonly [number, number]) {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  return (value: number) => r0 + ((value - d0) / span) * (r1 - r0);
}

/** Maps [d0, d1] (both > 0) onto [r0, r1] by their logarithms. */
export function logScale(domain: readonly [number, number], range: readonly [number, number]) {
  if (!(domain[0] > 0 && domain[1] > 0)) throw new RangeError('a log scale needs a domain > 0');
  const inner = linearScale([Math.log10(domain[0]), Math.log10(domain[1])], range);
  return (value: number) => inner(Math.log10(value));
}

/** About `count` round ticks (1, 2 or 5 × 10ⁿ apart) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max))
    throw new RangeError('ticks need finite bounds');
  if (max < min) [min, max] = [max, min];
  if (max === min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const ratio = raw / power;
  const step = (ratio < 1.5 ? 1 : ratio < 3.5 ? 2 : ratio < 7.5 ? 5 : 10) * power;
  const ticks: number[] = [];
  for (let k = Math.ceil(min / step - 1e-9); k * step <= max + step * 1e-9; k++) {
    ticks.push(Number((k * step).toPrecision(12)));
  }
  return ticks;
}

/** Powers of ten from below min to above max: the domain and ticks of a log axis. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0 && max > 0)) throw new RangeError('log ticks need bounds > 0');
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++)
    ticks.push(10 ** e);
  return ticks;
}

/** Compact tick labels: 1k, 2.5M, 0.05. */
export function tickLabel(value: number): string {
  const abs = Math.abs(value);
  const trim = (n: number) => Number(n.toPrecision(3)).toString();
  if (abs >= 1e9) return `${trim(value / 1e9)}G`;
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e3) return `${trim(value / 1e3)}k`;
  return trim(value);
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const n1 = (value: number) => Number(value.toFixed(1));

/** An SVG's first lines: its size, a white background and the title (also as `<title>`). */
function opening(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    // Read out by screen readers (and required by the linter): the plot's title.
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ];
}

interface Frame {
  title: string;
  xLabel: string;
  yLabel: string;
}

interface LegendEntry {
  name: string;
  mark: (x: number, y: number) => string;
}

/** Legend entries laid out left to right, wrapping onto more rows below the plot. */
function legendRows(entries: readonly LegendEntry[]): { lines: string[]; rows: number } {
  const lines: string[] = [];
  let x = MARGIN.left;
  let row = 0;
  for (const entry of entries) {
    const width = 30 + entry.name.length * 6.2;
    if (x + width > WIDTH - MARGIN.right && x > MARGIN.left) {
      row++;
      x = MARGIN.left;
    }
    const y = HEIGHT - 14 + row * 16;
    lines.push(
      entry.mark(x, y - 4),
      `<text x="${x + 22}" y="${y}">${escapeXml(entry.name)}</text>`,
    );
    x += width;
  }
  return { lines, rows: entries.length > 0 ? row + 1 : 0 };
}

function frame(
  spec: Frame,
  body: string[],
  xTicks: string[],
  yTicks: string[],
  legend: readonly LegendEntry[],
): string {
  const { left, right, top, bottom } = MARGIN;
  const { lines, rows } = legendRows(legend);
  const height = HEIGHT + Math.max(0, rows - 1) * 16;
  return [
    ...opening(WIDTH, height, spec.title),
    ...yTicks,
    ...xTicks,
    `<rect x="${left}" y="${top}" width="${WIDTH - left - right}" height="${HEIGHT - top - bottom}" fill="none" stroke="#444"/>`,
    ...body,
    `<text x="${(left + WIDTH - right) / 2}" y="${HEIGHT - bottom + 34}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(16 ${(top + HEIGHT - bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
    ...lines,
    '</svg>',
    '',
  ].join('\n');
}

/** Given ticks, and a domain that spans them with a little room (a tenth of a decade on log). */
function chosenTicks(ticks: readonly number[], log: boolean | undefined) {
  const lo = Math.min(...ticks);
  const hi = Math.max(...ticks);
  const pad = log ? 10 ** 0.1 : (hi - lo) * 0.05 || 1;
  const domain = (log ? [lo / pad, hi * pad] : [lo - pad, hi + pad]) as readonly [number, number];
  return { ticks: [...ticks], domain };
}

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  /** Drawn dashed and thinner, on top: a reference, or a peer that may coincide with another line. */
  dashed?: boolean;
}

export interface LineChart extends Frame {
  series: readonly Series[];
  xLog?: boolean;
  yLog?: boolean;
  /** Fixed y bounds (linear axes only); by default the data's, with round ticks. */
  yDomain?: readonly [number, number];
  /** The x ticks to label (e.g. the dimensions measured); the axis then spans just them. */
  xTicks?: readonly number[];
}

export function lineChart(spec: LineChart): string {
  const points = spec.series.flatMap((s) => s.points);
  if (points.length === 0) throw new RangeError(`${spec.title}: nothing to plot`);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const { left, right, top, bottom } = MARGIN;
  const xRange = [left, WIDTH - right] as const;
  const yRange = [HEIGHT - bottom, top] as const;

  const axis = (values: number[], log: boolean | undefined, fixed?: readonly [number, number]) => {
    if (log) {
      const ticks = logTicks(Math.min(...values), Math.max(...values));
      return { ticks, domain: [ticks[0], ticks[ticks.length - 1]] as const };
    }
    const lo = fixed ? fixed[0] : Math.min(...values);
    const hi = fixed ? fixed[1] : Math.max(...values);
    const ticks = niceTicks(lo, hi);
    const domain =
      fixed ?? ([Math.min(ticks[0], lo), Math.max(ticks[ticks.length - 1], hi)] as const);
    return { ticks, domain };
  };
  const xAxis = spec.xTicks ? chosenTicks(spec.xTicks, spec.xLog) : axis(xs, spec.xLog);
  const yAxis = axis(ys, spec.yLog, spec.yDomain);
  const x: Scale = spec.xLog ? logScale(xAxis.domain, xRange) : linearScale(xAxis.domain, xRange);
  const y: Scale = spec.yLog ? logScale(yAxis.domain, yRange) : linearScale(yAxis.domain, yRange);

  const yTicks = yAxis.ticks.flatMap((t) => [
    `<line x1="${left}" x2="${WIDTH - right}" y1="${n1(y(t))}" y2="${n1(y(t))}" stroke="#ddd"/>`,
    `<text x="${left - 6}" y="${n1(y(t)) + 4}" text-anchor="end">${tickLabel(t)}</text>`,
  ]);
  const xTicks = xAxis.ticks.flatMap((t) => [
    `<line x1="${n1(x(t))}" x2="${n1(x(t))}" y1="${top}" y2="${HEIGHT - bottom}" stroke="#eee"/>`,
    `<text x="${n1(x(t))}" y="${HEIGHT - bottom + 16}" text-anchor="middle">${tickLabel(t)}</text>`,
  ]);
  const style = (i: number) => {
    const dash = spec.series[i].dashed
      ? '5 3'
      : DASHES[Math.floor(i / COLOURS.length) % DASHES.length];
    const width = spec.series[i].dashed ? 1.5 : 2.5;
    return `stroke="${COLOURS[i % COLOURS.length]}" stroke-width="${width}" fill="none"${dash ? ` stroke-dasharray="${dash}"` : ''}`;
  };
  // Solid lines first, dashed ones over them, so a peer that coincides stays visible.
  const order = spec.series
    .map((_, i) => i)
    .sort((a, b) => Number(!!spec.series[a].dashed) - Number(!!spec.series[b].dashed));
  const body = order.flatMap((i) => {
    const s = spec.series[i];
    const path = s.points.map(([px, py]) => `${n1(x(px))},${n1(y(py))}`).join(' ');
    const dots =
      s.points.length <= 12
        ? s.points.map(
            ([px, py]) =>
              `<circle cx="${n1(x(px))}" cy="${n1(y(py))}" r="3" fill="${COLOURS[i % COLOURS.length]}"/>`,
          )
        : [];
    return [`<polyline points="${path}" ${style(i)}/>`, ...dots];
  });
  const legend = spec.series.map((s, i) => ({
    name: s.name,
    mark: (lx: number, ly: number) =>
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" ${style(i)}/>`,
  }));
  return frame(spec, body, xTicks, yTicks, legend);
}

export interface BarChart extends Frame {
  /** Bin edges: categories.length + 1 numbers, shown under the bars' boundaries. */
  edges: readonly number[];
  series: readonly { name: string; values: readonly number[] }[];
}

/** Grouped bars over shared bins: a histogram, or several side by side. */
export function barChart(spec: BarChart): string {
  const bins = spec.edges.length - 1;
  if (bins < 1 || spec.series.some((s) => s.values.length !== bins)) {
    throw new RangeError(`${spec.title}: every series needs one value per bin`);
  }
  const { left, right, top, bottom } = MARGIN;
  const most = Math.max(1, ...spec.series.flatMap((s) => s.values));
  const yTickValues = niceTicks(0, most);
  const y = linearScale(
    [0, Math.max(most, yTickValues[yTickValues.length - 1])],
    [HEIGHT - bottom, top],
  );
  const x = linearScale([0, bins], [left, WIDTH - right]);
  const slot = (x(1) - x(0)) / (spec.series.length + 0.5);
  const body = spec.series.flatMap((s, k) =>
    s.values.map((value, i) => {
      const bx = x(i) + slot * (0.25 + k);
      return `<rect class="bar" x="${n1(bx)}" y="${n1(y(value))}" width="${n1(slot)}" height="${n1(y(0) - y(value))}" fill="${COLOURS[k % COLOURS.length]}"/>`;
    }),
  );
  const yTicks = yTickValues.flatMap((t) => [
    `<line x1="${left}" x2="${WIDTH - right}" y1="${n1(y(t))}" y2="${n1(y(t))}" stroke="#ddd"/>`,
    `<text x="${left - 6}" y="${n1(y(t)) + 4}" text-anchor="end">${tickLabel(t)}</text>`,
  ]);
  const every = Math.ceil((bins + 1) / 11);
  const xTicks = spec.edges.flatMap((edge, i) =>
    i % every === 0 || i === bins
      ? [
          `<text x="${n1(x(i))}" y="${HEIGHT - bottom + 16}" text-anchor="middle">${tickLabel(edge)}</text>`,
        ]
      : [],
  );
  const legend =
    spec.series.length > 1
      ? spec.series.map((s, i) => ({
          name: s.name,
          mark: (lx: number, ly: number) =>
            `<rect x="${lx}" y="${ly - 5}" width="18" height="10" fill="${COLOURS[i % COLOURS.length]}"/>`,
        }))
      : [];
  return frame(spec, body, xTicks, yTicks, legend);
}

export interface TimelineChart {
  title: string;
  xLabel: string;
  /** One row per run; each bar a phase from `start` to `end` (x units), coloured by name. */
  rows: readonly { label: string; bars: readonly { name: string; start: number; end: number }[] }[];
}

/**
 * Horizontal bars on a shared time axis, one row per run: where a start-up's time goes, and
 * what overlaps. Overlapping phases of one row are stacked in thin lanes so all stay visible.
 */
export function timelineChart(spec: TimelineChart): string {
  const width = 760;
  const margin = { left: 230, right: 16, top: 36, bottom: 44 };
  const rowHeight = 34;
  const names = [...new Set(spec.rows.flatMap((row) => row.bars.map((bar) => bar.name)))];
  const colour = (name: string) => COLOURS_WIDE[names.indexOf(name) % COLOURS_WIDE.length];
  const most = Math.max(1, ...spec.rows.flatMap((row) => row.bars.map((bar) => bar.end)));
  const ticks = niceTicks(0, most);
  const x = linearScale(
    [0, Math.max(most, ticks[ticks.length - 1])],
    [margin.left, width - margin.right],
  );
  const plotBottom = margin.top + spec.rows.length * rowHeight;
  const body = spec.rows.flatMap((row, r) => {
    const top = margin.top + r * rowHeight + 4;
    // Greedy lanes: a bar goes in the first lane whose last bar ended before it starts.
    const lanes: number[] = [];
    const placed = [...row.bars]
      .sort((a, b) => a.start - b.start)
      .map((bar) => {
        let lane = lanes.findIndex((end) => end <= bar.start);
        if (lane < 0) lane = lanes.push(0) - 1;
        lanes[lane] = bar.end;
        return { bar, lane };
      });
    const laneHeight = (rowHeight - 8) / Math.max(1, lanes.length);
    return [
      `<text x="${margin.left - 6}" y="${top + rowHeight / 2}" text-anchor="end">${escapeXml(row.label)}</text>`,
      ...placed.map(
        ({ bar, lane }) =>
          `<rect x="${n1(x(Math.max(0, bar.start)))}" y="${n1(top + lane * laneHeight)}" width="${n1(Math.max(1, x(bar.end) - x(Math.max(0, bar.start))))}" height="${n1(laneHeight - 1)}" fill="${colour(bar.name)}"><title>${escapeXml(`${bar.name}: ${bar.start.toFixed(0)} – ${bar.end.toFixed(0)}`)}</title></rect>`,
      ),
    ];
  });
  const xTicks = ticks.flatMap((t) => [
    `<line x1="${n1(x(t))}" x2="${n1(x(t))}" y1="${margin.top}" y2="${plotBottom}" stroke="#ddd"/>`,
    `<text x="${n1(x(t))}" y="${plotBottom + 16}" text-anchor="middle">${tickLabel(t)}</text>`,
  ]);
  const legendTop = plotBottom + margin.bottom;
  let lx = 16;
  let ly = legendTop;
  const legend = names.flatMap((name) => {
    const w = 30 + name.length * 6.2;
    if (lx + w > width - 16) {
      lx = 16;
      ly += 16;
    }
    const mark = [
      `<rect x="${lx}" y="${ly - 9}" width="18" height="10" fill="${colour(name)}"/>`,
      `<text x="${lx + 22}" y="${ly}">${escapeXml(name)}</text>`,
    ];
    lx += w;
    return mark;
  });
  const height = ly + 12;
  return [
    ...opening(width, height, spec.title),
    ...xTicks,
    ...body,
    `<text x="${(margin.left + width - margin.right) / 2}" y="${plotBottom + 32}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}

/** More distinct colours than the line charts need: a start-up has a dozen phases. */
const COLOURS_WIDE = [...COLOURS, '#e377c2', '#7f7f7f', '#bcbd22', '#aec7e8', '#ffbb78', '#98df8a'];
