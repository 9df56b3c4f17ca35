/**
 * `federated status` output: every round (state, base, contributions, clip, noise, deadline,
 * what it made or why it ended) and the privacy budget spent, so an operator sees at a glance
 * how much of (ε, δ) is left before the server refuses the next round.
 */
import type { AdminRound, FederatedStatus } from '../../src/protocol/admin.ts';
import { table } from './status_table.ts';

const DASH = '—';
const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
const eps = (x: number | null) => (x === null ? DASH : Number.isFinite(x) ? x.toFixed(3) : '∞');

function outcome(round: AdminRound): string {
  if (round.resultVersionId) return `made ${round.resultVersionId}`;
  return round.closedReason ?? DASH;
}

export function formatRound(round: AdminRound): string {
  return `${round.id} (${round.status}) on ${round.baseVersionId}: ${round.contributions}/${round.minClients} contributions, clip ${round.clip}, noise multiplier ${round.noiseMultiplier}, sampling rate ${round.samplingRate}, deadline ${when(round.deadline)}${round.epsilon !== null ? `, ε ${eps(round.epsilon)} at δ ${round.delta}` : ''}${round.resultVersionId ? `, made ${round.resultVersionId}` : round.closedReason ? ` (${round.closedReason})` : ''}`;
}

export function formatFederated(status: FederatedStatus): string {
  const { budget } = status;
  const parts = [
    `Privacy budget: ε ${eps(budget.spent)} of ${budget.epsilon} spent at δ ${budget.delta} over ${budget.aggregatedRounds} aggregated round${budget.aggregatedRounds === 1 ? '' : 's'}`,
    '',
  ];
  if (status.rounds.length === 0) parts.push('No federated rounds yet.');
  else
    parts.push(
      table(
        ['round', 'status', 'base', 'deadline', 'outcome', 'contrib', 'min', 'clip', 'z', 'q', 'ε'],
        status.rounds.map((r) => [
          r.id,
          r.status,
          r.baseVersionId,
          when(r.deadline),
          outcome(r),
          String(r.contributions),
          String(r.minClients),
          String(r.clip),
          String(r.noiseMultiplier),
          String(r.samplingRate),
          eps(r.epsilon),
        ]),
        5,
      ),
    );
  return parts.join('\n');
}
