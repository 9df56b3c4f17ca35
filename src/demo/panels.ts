/** The panels a person looks at: what the learner knows, versions and arm, drift, outbox. */

import type { LearnerEventMap, WorkerStats } from '../client/index.ts';
import type { AdminVersion } from '../protocol/admin.ts';
import type { DemoSession, DriftEvent } from './session.ts';

type Row = [term: string, value: string];

function definitions(list: HTMLElement, rows: readonly Row[]): void {
  list.replaceChildren(
    ...rows.flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      return [dt, dd];
    }),
  );
}

const percent = (value: number) => (Number.isNaN(value) ? '—' : `${Math.round(value * 100)}%`);
const short = (id: string) => (id.length > 14 ? `${id.slice(0, 12)}…` : id);

export function renderStats(list: HTMLElement, session: DemoSession, stats: WorkerStats): void {
  const staged = stats.versions.staged;
  const rows: Row[] = [
    ['Rounds', String(session.rounds)],
    ['Reactions learned (this device, all visits)', String(stats.lastSeq)],
    ['Serving', short(stats.versionId)],
    ['Accuracy, production (last 50)', percent(session.accuracy('production'))],
    ['Accuracy, staged (last 50)', percent(session.accuracy('staged'))],
  ];
  if (staged && staged.paired.n > 0)
    rows.push([
      `Staged − production log loss (${staged.paired.n} paired)`,
      (staged.paired.diffSum / staged.paired.n).toFixed(3),
    ]);
  definitions(list, rows);
  list.dataset.rounds = String(session.rounds);
  list.dataset.version = stats.versionId;
}

export interface VersionView {
  id: string;
  semver: string;
  status: string;
  weight: number | undefined;
  /** Where this device keeps it: production or staged (in IndexedDB), or not here. */
  local: 'production' | 'staged' | undefined;
  /** This device serves it (its arm). */
  serving: boolean;
}

/** Device versions (from the learner) joined with the server's view (when reachable). */
export function versionViews(
  stats: WorkerStats,
  server: readonly AdminVersion[] | undefined,
): VersionView[] {
  const local = (id: string) =>
    id === stats.versions.production
      ? ('production' as const)
      : id === stats.versions.staged?.id
        ? ('staged' as const)
        : undefined;
  const views: VersionView[] = (server ?? []).map((version) => ({
    id: version.id,
    semver: version.semver,
    status: version.status,
    weight: version.weight,
    local: local(version.id),
    serving: version.id === stats.versionId,
  }));
  for (const id of [stats.versions.production, stats.versions.staged?.id]) {
    if (id && !views.some((view) => view.id === id))
      views.push({
        id,
        semver: '—',
        status: server ? 'not on the server' : 'unknown (offline)',
        weight: undefined,
        local: local(id),
        serving: id === stats.versionId,
      });
  }
  return views;
}

export function renderVersions(
  body: HTMLTableSectionElement,
  arm: HTMLElement,
  views: readonly VersionView[],
  stats: WorkerStats,
): void {
  body.replaceChildren(
    ...views.map((view) => {
      const tr = document.createElement('tr');
      tr.dataset.versionId = view.id;
      tr.dataset.local = view.local ?? '';
      if (view.serving) tr.dataset.serving = 'true';
      const cells = [
        short(view.id),
        view.semver,
        view.status,
        view.weight === undefined ? '—' : `${Math.round(view.weight * 100)}%`,
        view.local ?? '—',
        view.serving ? '✓ serving' : '',
      ];
      tr.append(
        ...cells.map((text, i) => {
          const cell = document.createElement(i === 0 ? 'th' : 'td');
          if (i === 0) cell.setAttribute('scope', 'row');
          cell.textContent = text;
          return cell;
        }),
      );
      return tr;
    }),
  );
  const bucket = stats.rollout?.bucket;
  const role = stats.versions.staged?.id === stats.versionId ? 'staged' : 'production';
  arm.textContent = `This device's arm: ${role} (${short(stats.versionId)})${
    bucket === undefined ? '' : `, bucket ${bucket.toFixed(3)}`
  }`;
  arm.dataset.arm = role;
  arm.dataset.version = stats.versionId;
}

export function renderDrift(list: HTMLOListElement, drifts: readonly DriftEvent[]): void {
  if (!drifts.length) {
    const li = document.createElement('li');
    li.textContent = 'No change detected yet. Try shifting the person’s taste.';
    list.replaceChildren(li);
    list.dataset.count = '0';
    return;
  }
  list.replaceChildren(
    ...drifts
      .slice(-8)
      .reverse()
      .map((drift) => {
        const li = document.createElement('li');
        const when = `${new Date(drift.at).toLocaleTimeString()} · round ${drift.round}`;
        li.textContent =
          drift.kind === 'shift'
            ? `${when}: the person’s taste shifted (the learner was not told)`
            : `${when}: the error rate moved (ADWIN), recent error ${percent(drift.recentError)}, serving ${short(drift.versionId)}`;
        return li;
      }),
  );
  list.dataset.count = String(drifts.filter((drift) => drift.kind === 'detected').length);
}

export function renderOutbox(list: HTMLElement, stats: WorkerStats): void {
  const sync = stats.sync;
  if (!sync) {
    definitions(list, [['Sync', 'off (no sync server: start the demo with `npm start`)']]);
    return;
  }
  const rows: Row[] = [
    ['Outcomes in the open window', String(sync.openOutcomes)],
    ['Windows queued in IndexedDB', String(sync.queued)],
    ['Windows delivered', String(sync.delivered)],
    ['Delivery', sync.state],
  ];
  if (sync.lastError) rows.push(['Last failure', sync.lastError.kind]);
  definitions(list, rows);
  list.dataset.queued = String(sync.queued);
  list.dataset.delivered = String(sync.delivered);
  list.dataset.windows = String(sync.windows);
}

export function describeRollout(event: LearnerEventMap['rollout']): string {
  if (event.action === 'refused' && /^network|timeout/.test(event.reason ?? ''))
    return `could not reach the server (${event.reason}); serving what is stored here`;
  const swap = event.swapMs === undefined ? '' : ` (swap ${event.swapMs.toFixed(0)} ms)`;
  const reason = event.reason ? `: ${event.reason}` : '';
  return `${event.action.replace('_', ' ')} ${short(event.versionId)}${swap}${reason}`;
}

/** Appends a line to a log list, newest first, keeping the last `keep`. */
export function logLine(list: HTMLElement, text: string, keep = 8): void {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} · ${text}`;
  list.prepend(li);
  while (list.children.length > keep) list.lastElementChild?.remove();
}
