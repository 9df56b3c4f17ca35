import { describe, expect, it } from 'vitest';
import type { Section } from '../../../bench/lib/report.ts';
import { withMovielensPlot } from '../../../bench/movielens_plot.ts';

const section = (results: unknown): Section => ({
  key: 'quality.movielens',
  title: 'MovieLens',
  results,
  floors: [],
  markdown: 'table',
});

describe('withMovielensPlot', () => {
  it('plots the per-user AUCs and counts the users the head improved', () => {
    const out = withMovielensPlot(
      section({ per_user_auc: { static: [0.5, 0.6, 0.9], ondevice: [0.7, 0.6, 0.8] } }),
    );
    expect(out.plots?.map((p) => p.file)).toEqual(['movielens_user_auc.svg']);
    expect(out.markdown).toContain('for 1 of 3 users');
    expect(out.markdown).toContain('](plots/movielens_user_auc.svg)');
    // Two series of 20 bins each: 40 bars.
    expect(out.plots?.[0].svg.match(/<rect class="bar"/g)).toHaveLength(40);
  });

  it('says so, and plots nothing, when the results carry no per-user AUCs', () => {
    const out = withMovielensPlot(section({ users: 3 }));
    expect(out.plots).toBeUndefined();
    expect(out.markdown).toMatch(/^table\n\n\(Per-user AUC distribution not plotted/);
  });
});
