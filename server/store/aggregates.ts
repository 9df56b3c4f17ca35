/**
 * Fleet-wide metrics per version, from the per-version rollups that ingest adds to with the
 * windows (`version_totals`, `paired_version_totals`, server/store/metrics.ts): a few rows per
 * version (ROLLUP_SHARDS), never one per device or per window. Device counts are kept there
 * too (a device counts once, when its first window for the version is stored). AUC comes from
 * the merged score histograms (src/metrics/auc_sketch.ts, aucFromSketch).
 *
 * Measured (bench/server_windows.ts, 10,000 devices, 2-core machine): reading one row per
 * device, status took p95 307–565 ms at 100,000 windows; from the rollups, p95 37 ms at 1 M
 * windows and 40 ms at 10 M.
 */

import { aucFromSketch } from '../../src/metrics/auc_sketch.ts';
import type { PairedAggregate, VersionAggregate } from '../../src/protocol/admin.ts';
import { AUC_SKETCH_BINS } from '../../src/protocol/index.ts';
import type { Queryable } from '../db/database.ts';
import { fleetSumsSelect, type MetricSums } from './metric_columns.ts';
import { emptyEvents, eventAggregates } from './version_events.ts';

/** One version's fleet-wide sums (over its rollup rows). */
interface SumsRow extends MetricSums {
  version_id: string;
  devices: number;
  ranking_k: number | null;
}

const ratio = (num: number, den: number) => (den > 0 ? num / den : null);

export async function versionAggregates(
  db: Queryable,
  versionIds?: string[],
): Promise<Map<string, VersionAggregate>> {
  const filter = versionIds
    ? 'where version_id in (select jsonb_array_elements_text($1::jsonb))'
    : '';
  const params = versionIds ? [JSON.stringify(versionIds)] : [];
  const sums = await db.query<SumsRow>(
    `select version_id, sum(devices)::int as devices, max(ranking_k) as ranking_k,
       ${fleetSumsSelect()}
     from version_totals ${filter}
     group by version_id`,
    params,
  );
  const histograms = await db.query<{
    version_id: string;
    side: 'p' | 'n';
    i: number;
    total: number;
  }>(
    `select version_id, 'p' as side, u.i, sum(u.x) as total
       from version_totals, unnest(auc_positive) with ordinality as u(x, i) ${filter}
       group by version_id, u.i
     union all
     select version_id, 'n' as side, u.i, sum(u.x) as total
       from version_totals, unnest(auc_negative) with ordinality as u(x, i) ${filter}
       group by version_id, u.i`,
    params,
  );
  const paired = await db.query<{
    version_id: string;
    baseline_version_id: string;
    devices: number;
    n: number;
    diff_sum: number;
    diff_sum_sq: number;
  }>(
    `select version_id, baseline_version_id, sum(devices)::int as devices, sum(n)::float8 as n,
       sum(diff_sum) as diff_sum, sum(diff_sum_sq) as diff_sum_sq
     from paired_version_totals ${filter}
     group by version_id, baseline_version_id
     order by version_id, baseline_version_id`,
    params,
  );

  const sketches = new Map<string, { positive: number[]; negative: number[] }>();
  for (const row of histograms.rows) {
    let sketch = sketches.get(row.version_id);
    if (!sketch) {
      sketch = {
        positive: new Array(AUC_SKETCH_BINS).fill(0),
        negative: new Array(AUC_SKETCH_BINS).fill(0),
      };
      sketches.set(row.version_id, sketch);
    }
    (row.side === 'p' ? sketch.positive : sketch.negative)[row.i - 1] = row.total;
  }
  const pairedBy = new Map<string, PairedAggregate[]>();
  for (const row of paired.rows) {
    const meanDiff = ratio(row.diff_sum, row.n);
    const variance =
      row.n > 1 && meanDiff !== null
        ? Math.max(0, (row.diff_sum_sq - row.n * meanDiff * meanDiff) / (row.n - 1))
        : null;
    const list = pairedBy.get(row.version_id) ?? [];
    list.push({
      baselineVersionId: row.baseline_version_id,
      devices: row.devices,
      n: row.n,
      meanDiff,
      stdError: variance === null ? null : Math.sqrt(variance / row.n),
    });
    pairedBy.set(row.version_id, list);
  }

  const events = await eventAggregates(db, versionIds);
  const out = new Map<string, VersionAggregate>();
  for (const row of sums.rows) {
    const sketch = sketches.get(row.version_id);
    out.set(row.version_id, {
      versionId: row.version_id,
      devices: row.devices,
      windows: row.windows,
      samples: row.samples,
      logloss: ratio(row.logloss_sum, row.logloss_samples),
      accuracy: ratio(row.correct, row.correct_samples),
      auc: sketch ? aucFromSketch(sketch) : null,
      rmse: row.error_samples > 0 ? Math.sqrt(row.squared_error_sum / row.error_samples) : null,
      mae: ratio(row.absolute_error_sum, row.error_samples),
      ctr: ratio(row.clicks, row.impressions),
      conversionRate: ratio(row.conversions, row.impressions),
      impressions: row.impressions,
      ranking:
        row.slates > 0
          ? {
              k: row.ranking_k,
              slates: row.slates,
              precision: row.precision_sum / row.slates,
              recall: row.recall_sum / row.slates,
              ndcg: row.ndcg_sum / row.slates,
            }
          : null,
      predictionMean: ratio(row.prediction_sum, row.prediction_count),
      driftAlerts: row.drift_alerts,
      dropped: row.dropped,
      paired: pairedBy.get(row.version_id) ?? [],
      events: events.get(row.version_id) ?? emptyEvents(),
    });
  }
  return out;
}
