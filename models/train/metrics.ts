/** Offline metrics shared by the trainer, the replay and the tests. */

/**
 * ROC AUC with ties counted as half (the Mann–Whitney statistic). NaN when only one class
 * is present.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]]) {
        rankSum += rank;
        positives++;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean log loss of probabilities, clipped to [1e-15, 1 − 1e-15] like scikit-learn. */
export function logLoss(probabilities: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < probabilities.length; i++) {
    const p = Math.min(1 - 1e-15, Math.max(1e-15, probabilities[i]));
    sum -= labels[i] ? Math.log(p) : Math.log(1 - p);
  }
  return sum / probabilities.length;
}

export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return values.length ? sum / values.length : Number.NaN;
}

/** Scores and labels of one user's replay, in the order they were predicted. */
export interface UserTrace {
  user: number;
  labels: number[];
  static: number[];
  ondevice: number[];
  /** On-device with the forgetting guard (see `replaySequences`' `guard`), when replayed so. */
  guarded?: number[];
}

export interface ReplaySummary {
  /** Users that count: at least `minInteractions` replayed and both classes present. */
  users: number;
  interactions: number;
  static_user_auc: number;
  ondevice_user_auc: number;
  static_pooled_auc: number;
  ondevice_pooled_auc: number;
  static_log_loss: number;
  ondevice_log_loss: number;
  /** With the forgetting guard, when the traces have it. */
  guarded_user_auc?: number;
  guarded_log_loss?: number;
}

/** The users that count: at least `minInteractions` replayed, and both classes present. */
export function qualifyingTraces(traces: readonly UserTrace[], minInteractions = 20): UserTrace[] {
  return traces.filter((trace) => {
    const positives = trace.labels.reduce((sum, y) => sum + y, 0);
    return (
      trace.labels.length >= minInteractions && positives > 0 && positives < trace.labels.length
    );
  });
}

/** The replay's figures over the users that qualify (≥ minInteractions, both classes). */
export function summarise(traces: readonly UserTrace[], minInteractions = 20): ReplaySummary {
  const kept = qualifyingTraces(traces, minInteractions);
  const pooled = (key: 'static' | 'ondevice') => kept.flatMap((trace) => trace[key]);
  const labels = kept.flatMap((trace) => trace.labels);
  return {
    users: kept.length,
    interactions: labels.length,
    static_user_auc: mean(kept.map((trace) => rocAuc(trace.static, trace.labels))),
    ondevice_user_auc: mean(kept.map((trace) => rocAuc(trace.ondevice, trace.labels))),
    static_pooled_auc: rocAuc(pooled('static'), labels),
    ondevice_pooled_auc: rocAuc(pooled('ondevice'), labels),
    static_log_loss: logLoss(pooled('static'), labels),
    ondevice_log_loss: logLoss(pooled('ondevice'), labels),
    ...(kept.length > 0 && kept.every((trace) => trace.guarded)
      ? {
          guarded_user_auc: mean(kept.map((trace) => rocAuc(trace.guarded ?? [], trace.labels))),
          guarded_log_loss: logLoss(
            kept.flatMap((trace) => trace.guarded ?? []),
            labels,
          ),
        }
      : {}),
  };
}
