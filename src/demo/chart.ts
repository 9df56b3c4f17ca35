/** The live chart of prequential accuracy, production vs staged (uPlot: small, canvas-based). */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { MetricSeries } from './session.ts';

export class MetricChart {
  private readonly plot: uPlot;

  private readonly container: HTMLElement;
  constructor(container: HTMLElement) {
    this.container = container;
    const width = Math.max(280, container.clientWidth);
    this.plot = new uPlot(
      {
        width,
        height: 180,
        scales: { x: { time: false }, y: { range: [0, 1] } },
        axes: [
          { label: 'reactions' },
          { label: 'accuracy', values: (_u, ticks) => ticks.map((t) => `${Math.round(t * 100)}%`) },
        ],
        series: [
          { label: 'reaction' },
          { label: 'production', stroke: '#2f5bd3', width: 2, spanGaps: false },
          { label: 'staged', stroke: '#d3652f', width: 2, spanGaps: false },
        ],
        legend: { live: false },
        cursor: { show: false },
      },
      [[], [], []],
      container,
    );
    new ResizeObserver(() =>
      this.plot.setSize({ width: Math.max(280, container.clientWidth), height: 180 }),
    ).observe(container);
  }

  update(series: MetricSeries): void {
    this.plot.setData([series.x, series.production, series.staged]);
    this.container.dataset.points = String(series.x.length);
    this.container.dataset.staged = String(series.staged.filter((y) => y !== null).length);
  }
}
