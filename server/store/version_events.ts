/**
 * Device-side version events (`MetricWindow.events`: staged, refused, rolled back by a local
 * guardrail, promoted), counted per (version, install, kind, reason code). Written by ingest in
 * the same transaction as the windows that carry them, so they are counted exactly once; read
 * as "how many devices" for status and for the policy's guardrail rule.
 */

import type { EventAggregate, ReasonCount } from '../../src/protocol/admin.ts';
import type { MetricWindow, VersionEvent } from '../../src/protocol/index.ts';
import type { Queryable } from '../db/database.ts';

/**
 * The code of an event's reason: its text before the first ':' (`sha256_mismatch: …`), trimmed
 * and at most 64 characters; '' when there is none.
 */
export function reasonCode(reason: string | undefined): string {
  if (!reason) return '';
  const colon = reason.indexOf(':');
  return (colon === -1 ? reason : reason.slice(0, colon)).trim().slice(0, 64);
}

interface EventRow {
  version_id: string;
  kind: VersionEvent['kind'];
  code: string;
  events: number;
  first_at: number;
  last_at: number;
  last_reason: string | null;
}

/** One row per (version, kind, code) over the windows, in lock order. */
function eventRows(windows: MetricWindow[]): EventRow[] {
  const rows = new Map<string, EventRow>();
  for (const w of windows)
    for (const event of w.events ?? []) {
      const code = reasonCode(event.reason);
      const key = JSON.stringify([w.versionId, event.kind, code]);
      const row = rows.get(key) ?? {
        version_id: w.versionId,
        kind: event.kind,
        code,
        events: 0,
        first_at: event.at,
        last_at: event.at,
        last_reason: null,
      };
      row.events += 1;
      row.first_at = Math.min(row.first_at, event.at);
      if (event.at >= row.last_at) {
        row.last_at = event.at;
        row.last_reason = event.reason ?? row.last_reason;
      }
      rows.set(key, row);
    }
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, row]) => row);
}

export function hasEvents(windows: MetricWindow[]): boolean {
  return windows.some((w) => (w.events?.length ?? 0) > 0);
}

/** Adds the events of newly stored windows of `installId` (one statement). */
export async function addEvents(
  tx: Queryable,
  installId: string,
  windows: MetricWindow[],
): Promise<void> {
  const rows = eventRows(windows);
  if (rows.length === 0) return;
  await tx.query(
    `insert into version_event_totals as t
       (version_id, install_id, kind, code, events, first_at, last_at, last_reason)
     select x.version_id, $1, x.kind, x.code, x.events, x.first_at, x.last_at, x.last_reason
     from jsonb_to_recordset($2::jsonb) as x(version_id text, kind text, code text,
       events bigint, first_at bigint, last_at bigint, last_reason text)
     on conflict (version_id, install_id, kind, code) do update set
       events = least(t.events::numeric + excluded.events, 9000000000000000000)::bigint,
       first_at = least(t.first_at, excluded.first_at),
       last_at = greatest(t.last_at, excluded.last_at),
       last_reason = case when excluded.last_at >= t.last_at
                          then coalesce(excluded.last_reason, t.last_reason)
                          else t.last_reason end`,
    [installId, JSON.stringify(rows)],
  );
}

export function emptyEvents(): EventAggregate {
  return { staged: 0, promoted: 0, rolledBack: 0, rolledBackBy: [], refused: 0, refusedBy: [] };
}

/** Devices per kind (and per reason code) for each version. */
export async function eventAggregates(
  db: Queryable,
  versionIds?: string[],
): Promise<Map<string, EventAggregate>> {
  const filter = versionIds
    ? 'where version_id in (select jsonb_array_elements_text($1::jsonb))'
    : '';
  const params = versionIds ? [JSON.stringify(versionIds)] : [];
  // Devices per kind are distinct installs over all codes; per code, installs with that code.
  const byKind = await db.query<{
    version_id: string;
    kind: VersionEvent['kind'];
    devices: number;
  }>(
    `select version_id, kind, count(distinct install_id)::int as devices
     from version_event_totals ${filter} group by version_id, kind`,
    params,
  );
  const byCode = await db.query<{
    version_id: string;
    kind: VersionEvent['kind'];
    code: string;
    devices: number;
    events: number;
    example: string | null;
  }>(
    `select version_id, kind, code, count(*)::int as devices, sum(events)::float8 as events,
       (array_agg(last_reason order by last_at desc))[1] as example
     from version_event_totals
     ${filter ? `${filter} and` : 'where'} kind in ('refused', 'rolled_back')
     group by version_id, kind, code
     order by version_id, kind, count(*) desc, code`,
    params,
  );
  const out = new Map<string, EventAggregate>();
  const get = (id: string) => {
    let entry = out.get(id);
    if (!entry) {
      entry = emptyEvents();
      out.set(id, entry);
    }
    return entry;
  };
  for (const row of byKind.rows) {
    const entry = get(row.version_id);
    if (row.kind === 'staged') entry.staged = row.devices;
    else if (row.kind === 'promoted') entry.promoted = row.devices;
    else if (row.kind === 'rolled_back') entry.rolledBack = row.devices;
    else entry.refused = row.devices;
  }
  for (const row of byCode.rows) {
    const reason: ReasonCount = {
      code: row.code,
      devices: row.devices,
      events: row.events,
      example: row.example,
    };
    const entry = get(row.version_id);
    (row.kind === 'refused' ? entry.refusedBy : entry.rolledBackBy).push(reason);
  }
  return out;
}
