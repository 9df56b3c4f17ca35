import type { Section } from './lib/report.ts';
import { binEdges, histogramCounts } from './lib/stats.ts';
import { barChart } from './lib/svg.ts';

/** Per-user ROC AUCs of the replay, as quality.movielens reports them (when it does). */
interface PerUserAuc {
  static: number[];
  ondevice: number[];
}

function perUserAuc(results: unknown): PerUserAuc | undefined {
  const found = (results as { per_user_auc?: Partial<PerUserAuc> } | null)?.per_user_auc;
  return Array.isArray(found?.static) && Array.isArray(found?.ondevice)
    ? { static: found.static, ondevice: found.ondevice }
    : undefined;
}

/**
 * Adds the per-user AUC distribution (static server model vs. on-device head) to the
 * MovieLens section: the mean hides whether the head helps most users a little or a few a
 * lot. Needs `per_user_auc` in the section's results; says so in the report when absent.
 */
export function withMovielensPlot(section: Section): Section {
  const auc = perUserAuc(section.results);
  if (!auc) {
    return {
      ...section,
      markdown: `${section.markdown}\n\n(Per-user AUC distribution not plotted: this run's quality.movielens results carry no \`per_user_auc\`.)`,
    };
  }
  const bins = 20;
  const edges = binEdges(0, 1, bins);
  let better = 0;
  auc.static.forEach((value, i) => {
    if (auc.ondevice[i] > value) better++;
  });
  const svg = barChart({
    title: 'MovieLens: per-user ROC AUC, static model vs. on-device head',
    xLabel: 'ROC AUC of one user’s replayed ratings',
    yLabel: 'users',
    edges,
    series: [
      { name: 'static server model', values: histogramCounts(auc.static, 0, 1, bins) },
      { name: 'on-device head', values: histogramCounts(auc.ondevice, 0, 1, bins) },
    ],
  });
  return {
    ...section,
    markdown: [
      section.markdown,
      '',
      `The on-device head scores higher than the static model for ${better} of ${auc.static.length} users.`,
      '',
      '![Per-user AUC distribution](plots/movielens_user_auc.svg)',
    ].join('\n'),
    plots: [...(section.plots ?? []), { file: 'movielens_user_auc.svg', svg }],
  };
}
