/**
 * The metric columns of the running totals (`version_install_totals`), in one table: each is a
 * bigint count or a float8 sum that ingest adds to and the status reads back as a fleet-wide
 * sum. The batch's sums (metrics.ts), the upsert that adds them, the empty row and the status
 * SELECT (aggregates.ts) are all generated from it, so a new metric is one line here (plus its
 * migration, which adds the column).
 *
 * ```ts
 * import { emptyMetricSums, fleetSumsSelect } from './metric_columns.ts';
 * emptyMetricSums().samples; // 0
 * fleetSumsSelect(); // 'sum(windows)::float8 as windows, sum(samples)::float8 as samples, …'
 * ```
 */

/** Every metric column and its kind: `count` (bigint, saturating) or `sum` (float8). */
export const METRIC_COLUMNS = {
  windows: 'count',
  samples: 'count',
  logloss_sum: 'sum',
  logloss_samples: 'count',
  correct: 'count',
  correct_samples: 'count',
  squared_error_sum: 'sum',
  absolute_error_sum: 'sum',
  error_samples: 'count',
  positives: 'count',
  impressions: 'count',
  clicks: 'count',
  conversions: 'count',
  slates: 'count',
  precision_sum: 'sum',
  recall_sum: 'sum',
  ndcg_sum: 'sum',
  prediction_count: 'count',
  prediction_sum: 'sum',
  prediction_sum_sq: 'sum',
  drift_alerts: 'count',
  dropped: 'count',
} as const satisfies Record<string, 'count' | 'sum'>;

export type MetricColumn = keyof typeof METRIC_COLUMNS;

/** One number per metric column. */
export type MetricSums = Record<MetricColumn, number>;

const columns = Object.keys(METRIC_COLUMNS) as MetricColumn[];

/** Every metric column, in table order. */
export const ALL_METRIC_COLUMNS: readonly MetricColumn[] = columns;
/** The bigint counts. */
export const COUNT_COLUMNS: readonly MetricColumn[] = columns.filter(
  (c) => METRIC_COLUMNS[c] === 'count',
);
/** The float8 sums. */
export const SUM_COLUMNS: readonly MetricColumn[] = columns.filter(
  (c) => METRIC_COLUMNS[c] === 'sum',
);

/** Zero in every metric column. */
export function emptyMetricSums(): MetricSums {
  return Object.fromEntries(columns.map((c) => [c, 0])) as MetricSums;
}

/**
 * The SELECT list that sums every metric column over devices, as float8 (a sum of bigints is
 * numeric, which node-postgres would hand back as a string).
 */
export function fleetSumsSelect(): string {
  return columns
    .map((c) => (METRIC_COLUMNS[c] === 'count' ? `sum(${c})::float8 as ${c}` : `sum(${c}) as ${c}`))
    .join(', ');
}
