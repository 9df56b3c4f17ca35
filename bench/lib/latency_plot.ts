import type { Plot } from './report.ts';
import { binEdges, histogramCounts, quantile } from './stats.ts';
import { barChart } from './svg.ts';

/**
 * A latency histogram from 0 to the 99.5th percentile, the slower calls counted in the last
 * bin: a few outliers would otherwise squeeze the body of the distribution into one bar.
 */
export function latencyPlot(file: string, title: string, samples: readonly number[]): Plot {
  const top = Math.max(quantile(samples, 0.995), 1e-3);
  const bins = 30;
  return {
    file,
    svg: barChart({
      title,
      xLabel: 'milliseconds (last bin: everything above)',
      yLabel: 'calls',
      edges: binEdges(0, top, bins),
      series: [{ name: 'calls', values: histogramCounts(samples, 0, top, bins) }],
    }),
  };
}
