/**
 * What the rollout policy reads about each staged version: the devices' paired comparisons
 * against the current production version (running sums per install, from ingest, each install
 * capped), paired outcomes since the weight last changed (counted per install at ingest,
 * `paired_totals.n_at_weight`, server/store/metrics.ts), how many devices rolled it back
 * locally, and how many devices of its arm reported at all (the per-version rollup). Only
 * windows that may speak for the version are in any of these (server/rollout/epochs.ts).
 * A handful of queries per evaluation, whatever the number of windows: the paired query reads
 * one row per device of the staged arm (the cap is a median over devices and the variance is
 * clustered by device, neither of which a per-version sum can give), nothing per window.
 */
import type { Queryable } from '../db/database.ts';
import { listVersions } from '../store/versions.ts';
import type { ResolvedPolicy, VersionEvidence } from './policy.ts';

/**
 * Outcomes cluster by device (one person's habits, one device's data), so the per-outcome
 * variance understates how uncertain the fleet's mean is when devices differ. The cluster-robust
 * (sandwich) variance of the mean, with devices as clusters, is Σ_j (S_j − n_j·μ)² / N² (S_j,
 * n_j: device j's sum and count; N = Σ n_j), times J / (J − 1) for J devices; multiplied by N it
 * is a per-outcome variance the confidence sequence can use as its floor. Expanded into sums so
 * SQL can add them: Σ S_j² − 2μ Σ n_j S_j + μ² Σ n_j².
 */
function clusterVariance(p: {
  devices: number;
  n: number;
  diff_sum: number;
  device_sum_sq: number;
  device_cross: number;
  device_n_sq: number;
}): number | null {
  if (p.devices < 2 || !(p.n > 0)) return null;
  const mean = p.diff_sum / p.n;
  const spread = p.device_sum_sq - 2 * mean * p.device_cross + mean * mean * p.device_n_sq;
  return (Math.max(0, spread) / p.n) * (p.devices / (p.devices - 1));
}

export async function readEvidence(
  db: Queryable,
  policy: Pick<ResolvedPolicy, 'minSamples' | 'minDevices' | 'deviceCap'>,
): Promise<VersionEvidence[]> {
  const versions = await listVersions(db);
  const staged = versions.filter((v) => v.status === 'staging');
  if (staged.length === 0) return [];
  // Devices compare a staged head with the production head they serve, so only comparisons
  // against the current production version speak to the decision at hand.
  const baseline = versions.find((v) => v.status === 'production')?.id ?? null;
  const ids = JSON.stringify(staged.map((v) => v.id));
  const floor = policy.minSamples / policy.minDevices;

  // Each install's sums scaled by f = min(1, cap / n_j), which keeps its mean and spread but
  // caps its weight at `cap` outcomes: max(minSamples / minDevices, deviceCap × the median
  // device's n). A device is one cluster; sending more does not make it count for more.
  const paired = await db.query<{
    version_id: string;
    devices: number;
    capped: number;
    cap: number;
    n: number;
    diff_sum: number;
    diff_sum_sq: number;
    device_sum_sq: number;
    device_cross: number;
    device_n_sq: number;
    n_at_weight: number;
  }>(
    `with p as (
       select p.version_id, p.n::float8 as n, p.diff_sum, p.diff_sum_sq,
         case when p.weight_since = v.updated_at then p.n_at_weight else 0 end::float8 as at_weight
       from paired_totals p join versions v on v.id = p.version_id
       where p.version_id in (select jsonb_array_elements_text($1::jsonb))
         and p.baseline_version_id = $2 and p.n > 0
     ), caps as (
       select version_id,
         greatest($3::float8, $4::float8 * percentile_cont(0.5) within group (order by n)) as cap
       from p group by version_id
     ), s as (
       select p.version_id, c.cap, least(1, c.cap / p.n) as f, p.n, p.diff_sum, p.diff_sum_sq,
         least(p.at_weight, c.cap) as at_weight
       from p join caps c on c.version_id = p.version_id
     )
     select version_id, count(*)::int as devices, count(*) filter (where f < 1)::int as capped,
       max(cap) as cap, sum(n * f) as n, sum(diff_sum * f) as diff_sum,
       sum(diff_sum_sq * f) as diff_sum_sq, sum((diff_sum * f) * (diff_sum * f)) as device_sum_sq,
       sum((n * f) * (diff_sum * f)) as device_cross, sum((n * f) * (n * f)) as device_n_sq,
       sum(at_weight) as n_at_weight
     from s group by version_id`,
    [ids, baseline ?? '', floor, policy.deviceCap],
  );
  const guardrails = await db.query<{ version_id: string; devices: number }>(
    `select version_id, count(distinct install_id)::int as devices
     from version_event_totals
     where version_id in (select jsonb_array_elements_text($1::jsonb)) and kind = 'rolled_back'
     group by version_id`,
    [ids],
  );
  // The arm's active devices: installs whose windows for the version counted (any kind).
  const arms = await db.query<{ version_id: string; devices: number }>(
    `select version_id, sum(devices)::int as devices from version_totals
     where version_id in (select jsonb_array_elements_text($1::jsonb)) group by version_id`,
    [ids],
  );

  const pairedBy = new Map(paired.rows.map((row) => [row.version_id, row]));
  const guardrailBy = new Map(guardrails.rows.map((row) => [row.version_id, row.devices]));
  const armBy = new Map(arms.rows.map((row) => [row.version_id, row.devices]));
  return staged.map((version) => {
    const p = pairedBy.get(version.id);
    return {
      clusterVariance: p ? clusterVariance(p) : null,
      version,
      baselineVersionId: baseline,
      devices: p?.devices ?? 0,
      cappedDevices: p?.capped ?? 0,
      armDevices: armBy.get(version.id) ?? 0,
      n: p?.n ?? 0,
      diffSum: p?.diff_sum ?? 0,
      diffSumSq: p?.diff_sum_sq ?? 0,
      nAtWeight: p?.n_at_weight ?? 0,
      guardrailDevices: guardrailBy.get(version.id) ?? 0,
    };
  });
}
