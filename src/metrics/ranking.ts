/**
 * Ranking metrics at a cut-off k for one slate: N candidates scored by a model, some of which
 * later turned out relevant. The candidates are ranked by score, highest first; equal scores
 * keep the order the candidates were given in (lower index first), so a slate always ranks the
 * same way.
 *
 * - P@k: the share of the top k that is relevant. The top k of a slate shorter than k is the
 *   whole slate, so the denominator is min(k, N): a short slate is not penalised for its length.
 * - R@k: the share of the relevant candidates that made the top k.
 * - NDCG@k: discounted cumulated gain (Järvelin & Kekäläinen, "Cumulated gain-based evaluation
 *   of IR techniques", ACM TOIS 20(4), 2002), DCG@k = Σ_{r=1..k} gain_r / log2(r + 1), divided by
 *   the DCG@k of the ideal order (gains sorted, highest first). The log2(r + 1) discount, which
 *   discounts every rank after the first, is the common variant of their log_b discount.
 *
 * Relevance is binary (a set of relevant candidate indices, gain 1 each) or graded (a gain ≥ 0
 * per candidate; relevant means gain > 0). P@k and R@k count relevant candidates; NDCG@k weighs
 * them by gain. A slate with no relevant candidate has no recall or NDCG (0/0) and is not
 * measured: {@link rankingAtK} returns null.
 *
 * ```ts
 * import { rankingAtK } from './ranking.ts';
 * // Candidate 2 scored highest, candidate 0 second; candidates 0 and 1 were clicked.
 * rankingAtK([0.5, 0.1, 0.9], new Set([0, 1]), 2);
 * // { precision: 0.5, recall: 0.5, ndcg: (1 / log2 3) / (1 + 1 / log2 3) ≈ 0.39 }
 * ```
 */
import { LearnerError } from '../errors.ts';

/** Which candidates are relevant: their indices (gain 1), or one gain ≥ 0 per candidate. */
export type Relevance = ReadonlySet<number> | ArrayLike<number>;

export interface RankingAtK {
  precision: number;
  recall: number;
  ndcg: number;
}

/**
 * Candidate indices in rank order: by score, highest first, ties by index. Throws BAD_INPUT
 * for a non-finite score (it has no place in an order).
 */
export function rankOrder(scores: ArrayLike<number>): number[] {
  const order = new Array<number>(scores.length);
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) {
      throw new LearnerError('BAD_INPUT', `score ${i} is ${scores[i]}: scores must be finite`);
    }
    order[i] = i;
  }
  // Array.prototype.sort is stable, and the index comparison makes the order total anyway.
  return order.sort((a, b) => scores[b] - scores[a] || a - b);
}

/** P@k, R@k and NDCG@k of one slate, or null when no candidate is relevant. */
export function rankingAtK(
  scores: ArrayLike<number>,
  relevance: Relevance,
  k: number,
): RankingAtK | null {
  checkK(k);
  const gains = gainsOf(relevance, scores.length);
  const order = rankOrder(scores);
  const top = Math.min(k, order.length);
  let relevant = 0;
  for (let i = 0; i < gains.length; i++) if (gains[i] > 0) relevant++;
  if (relevant === 0) return null;
  let hits = 0;
  let dcg = 0;
  for (let rank = 0; rank < top; rank++) {
    const gain = gains[order[rank]];
    if (gain > 0) hits++;
    dcg += gain / Math.log2(rank + 2);
  }
  const ideal = Array.from(gains).sort((a, b) => b - a);
  let idcg = 0;
  for (let rank = 0; rank < top; rank++) idcg += ideal[rank] / Math.log2(rank + 2);
  return {
    precision: hits / top,
    recall: hits / relevant,
    // idcg > 0: the highest gain is > 0 and sits at rank 1 of the ideal order.
    ndcg: Math.min(1, dcg / idcg),
  };
}

/** P@k; 0 when no candidate is relevant. */
export function precisionAtK(scores: ArrayLike<number>, relevance: Relevance, k: number): number {
  return rankingAtK(scores, relevance, k)?.precision ?? 0;
}

/** R@k; null when no candidate is relevant. */
export function recallAtK(
  scores: ArrayLike<number>,
  relevance: Relevance,
  k: number,
): number | null {
  return rankingAtK(scores, relevance, k)?.recall ?? null;
}

/** NDCG@k; null when no candidate is relevant. */
export function ndcgAtK(scores: ArrayLike<number>, relevance: Relevance, k: number): number | null {
  return rankingAtK(scores, relevance, k)?.ndcg ?? null;
}

function checkK(k: number): void {
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new LearnerError('BAD_INPUT', `k must be a positive integer, not ${k}`);
  }
}

/** One gain per candidate, checked: BAD_INPUT for an index or gain that cannot be. */
function gainsOf(relevance: Relevance, n: number): Float64Array {
  const gains = new Float64Array(n);
  if (isIndexSet(relevance)) {
    for (const index of relevance) {
      if (!(Number.isInteger(index) && index >= 0 && index < n)) {
        throw new LearnerError('BAD_INPUT', `relevant index ${index} is not a candidate of ${n}`);
      }
      gains[index] = 1;
    }
    return gains;
  }
  if (relevance.length !== n) {
    throw new LearnerError('BAD_INPUT', `${relevance.length} gains for ${n} candidates`);
  }
  for (let i = 0; i < n; i++) {
    const gain = relevance[i];
    if (!(Number.isFinite(gain) && gain >= 0)) {
      throw new LearnerError('BAD_INPUT', `gain ${i} is ${gain}: gains must be finite and ≥ 0`);
    }
    gains[i] = gain;
  }
  return gains;
}

function isIndexSet(relevance: Relevance): relevance is ReadonlySet<number> {
  return relevance instanceof Set;
}
