/**
 * `status` output: per-version fleet metrics as a table, the rollout policy's reading of each
 * staged version, device events, then the recent audit log.
 */
import type {
  AuditEntry,
  PolicyEvaluation,
  PolicyVerdict,
  ReasonCount,
  StatusResponse,
  StatusVersion,
} from '../../src/protocol/admin.ts';

const DASH = '—';

const fixed = (x: number | null | undefined, digits: number) =>
  x === null || x === undefined ? DASH : x.toFixed(digits);

const integer = (x: number | null | undefined) =>
  x === null || x === undefined ? DASH : Math.round(x).toLocaleString('en-US');

const percent = (x: number | null | undefined) =>
  x === null || x === undefined ? DASH : `${(x * 100).toFixed(2)}%`;

/** Columns from `numericFrom` on are right-aligned (numbers). */
export function table(header: string[], rows: string[][], numericFrom = header.length): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i < numericFrom ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Paired Δlogloss (this − baseline) with a 95% interval, e.g. `-0.0123 ±0.0040 (n=5,120 vs v1)`. */
function pairedCell(entry: StatusVersion): string {
  const paired = entry.metrics?.paired ?? [];
  if (paired.length === 0) return DASH;
  const p = [...paired].sort((a, b) => b.n - a.n)[0];
  const ci = p.stdError === null ? '' : ` ±${(1.96 * p.stdError).toFixed(4)}`;
  return `${fixed(p.meanDiff, 4)}${ci} (n=${integer(p.n)} vs ${p.baselineVersionId})`;
}

export function versionRows(status: StatusResponse): string[][] {
  return status.versions.map((entry) => {
    const v = entry.version;
    const m = entry.metrics;
    return [
      entry.versionId,
      v?.semver ?? DASH,
      v?.status ?? '(unpublished)',
      v?.status === 'staging' ? fixed(v.weight, 3) : DASH,
      integer(m?.devices),
      integer(m?.samples),
      fixed(m?.logloss, 4),
      percent(m?.accuracy),
      fixed(m?.auc, 4),
      fixed(m?.rmse, 4),
      percent(m?.ctr),
      integer(m?.driftAlerts),
      integer(m?.dropped),
      pairedCell(entry),
    ];
  });
}

function auditRows(entries: AuditEntry[]): string[][] {
  return entries.map((e) => [
    e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    e.actor,
    e.action,
    e.versionId ?? (typeof e.details.sha256 === 'string' ? e.details.sha256.slice(0, 12) : DASH),
    describeDetails(e),
    e.why ?? '',
  ]);
}

function describeDetails(e: AuditEntry): string {
  const d = e.details;
  switch (e.action) {
    case 'publish':
      return `semver ${d.semver}, weight ${d.weight}`;
    case 'ramp':
      return `weight ${d.from} → ${d.to}`;
    case 'promote':
      return d.previousProduction ? `archived ${d.previousProduction}` : 'first production';
    case 'rollback':
      return d.restoredProduction ? `restored ${d.restoredProduction}` : `from ${d.from}`;
    case 'upload':
      return `${d.bytes} bytes`;
    case 'autopilot':
      return `autopilot ${d.to ? 'on' : 'off'}`;
    case 'federated_open':
      return `round ${d.roundId} opened, clip ${d.clip}, noise multiplier ${d.noiseMultiplier}`;
    case 'federated_aggregate':
      return `round ${d.roundId}: ${d.contributions} contributions, ε ${typeof d.epsilon === 'number' ? d.epsilon.toFixed(3) : d.epsilon} at δ ${d.delta}`;
    case 'federated_close':
    case 'federated_expire':
      return `round ${d.roundId}: ${d.reason}`;
    default:
      return '';
  }
}

const signed = (x: number | null) => (x === null ? DASH : `${x >= 0 ? '+' : ''}${x.toFixed(4)}`);

function verdictCell(v: PolicyVerdict): string {
  const what = v.decision === 'ramp' ? `ramp → ${v.toWeight}` : v.decision;
  const outcome = {
    applied: ' (applied)',
    off: ' (autopilot off)',
    refused: ' (refused)',
    none: '',
  }[v.outcome];
  return `${what}${outcome}`;
}

/** One row per staged version: the policy's evidence and verdict. */
export function verdictRows(verdicts: PolicyVerdict[]): string[][] {
  return verdicts.map((v) => [
    v.versionId,
    verdictCell(v),
    fixed(v.weight, 3),
    v.baselineVersionId ?? DASH,
    integer(v.devices),
    integer(v.n),
    signed(v.meanDiff),
    v.lower === null ? DASH : `[${signed(v.lower)}, ${signed(v.upper)}]`,
    integer(v.guardrailDevices),
  ]);
}

const VERDICT_HEADER = [
  'version',
  'verdict',
  'weight',
  'vs',
  'devices',
  'paired n',
  'mean Δ',
  'bound (CS)',
  'local rollbacks',
];

function verdictTable(verdicts: PolicyVerdict[]): string {
  const why = verdicts.map(
    (v) => `  ${v.versionId}: ${v.reason}${v.error ? ` — refused: ${v.error}` : ''}`,
  );
  return [table(VERDICT_HEADER, verdictRows(verdicts), 2), ...why].join('\n');
}

/** `evaluate` output. */
export function formatVerdicts(evaluation: PolicyEvaluation): string {
  const head = `Rollout policy (autopilot ${evaluation.enabled ? 'on' : 'off'}):`;
  if (evaluation.verdicts.length === 0) return `${head}\n  (no staged versions)`;
  return `${head}\n${verdictTable(evaluation.verdicts)}`;
}

const reasons = (list: ReasonCount[]) =>
  list.length === 0 ? '' : ` (${list.map((r) => `${r.code || '?'} ×${r.devices}`).join(', ')})`;

function eventRows(status: StatusResponse): string[][] {
  return status.versions
    .filter((entry) => {
      const e = entry.metrics?.events;
      return e && e.staged + e.promoted + e.rolledBack + e.refused > 0;
    })
    .map((entry) => {
      const e = entry.metrics!.events;
      return [
        entry.versionId,
        integer(e.staged),
        integer(e.promoted),
        `${integer(e.rolledBack)}${reasons(e.rolledBackBy)}`,
        `${integer(e.refused)}${reasons(e.refusedBy)}`,
      ];
    });
}

export function formatStatus(status: StatusResponse): string {
  const parts: string[] = [];
  if (status.versions.length === 0)
    parts.push('No versions published and no metrics received yet.');
  else
    parts.push(
      table(
        [
          'version',
          'semver',
          'status',
          'weight',
          'devices',
          'samples',
          'logloss',
          'accuracy',
          'AUC',
          'RMSE',
          'CTR',
          'drift',
          'dropped',
          'paired Δlogloss (95%)',
        ],
        versionRows(status),
        3,
      ),
    );
  const verdicts = status.versions.flatMap((entry) => (entry.policy ? [entry.policy] : []));
  if (verdicts.length > 0) {
    parts.push('');
    parts.push('Rollout policy (staged versions; d = logloss(staged) − logloss(production)):');
    parts.push(verdictTable(verdicts));
  }
  const events = eventRows(status);
  if (events.length > 0) {
    parts.push('');
    parts.push('Devices reporting version events:');
    parts.push(
      table(['version', 'staged', 'promoted', 'rolled back locally', 'refused'], events, 1),
    );
  }
  const rejected = status.versions.flatMap((entry) =>
    (entry.rejected ?? []).map((r) => [
      entry.versionId,
      r.reason,
      integer(r.installs),
      integer(r.windows),
      integer(r.outcomes),
    ]),
  );
  if (rejected.length > 0) {
    parts.push('');
    parts.push('Evidence rejected (stored, not counted; see server/README.md, "Threat model"):');
    parts.push(table(['version', 'reason', 'installs', 'windows', 'outcomes'], rejected, 1));
  }
  parts.push('');
  parts.push('Recent admin actions:');
  parts.push(
    status.audit.length === 0
      ? '  (none)'
      : table(['when', 'who', 'action', 'version', 'what', 'why'], auditRows(status.audit)),
  );
  return parts.join('\n');
}
