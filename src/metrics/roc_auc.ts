/**
 * Exact ROC AUC over all scores seen: the probability that a random positive is scored above
 * a random negative (ties count ½), computed from the Mann–Whitney U statistic with average
 * ranks for ties. It keeps every (score, label) pair, 9 bytes each, and sorts them when read,
 * so `get` is O(n log n): read it at the end of a run, not per event.
 *
 * ```ts
 * import { RocAuc } from './roc_auc.ts';
 * const auc = new RocAuc();
 * auc.update(true, 0.9);
 * auc.update(false, 0.2);
 * auc.update(false, 0.9);
 * auc.get(); // 0.75
 * ```
 */
export class RocAuc {
  private scores = new Float64Array(1024);
  private labels = new Uint8Array(1024);
  private n = 0;

  update(positive: boolean, score: number): void {
    if (this.n === this.scores.length) {
      const scores = new Float64Array(this.n * 2);
      scores.set(this.scores);
      this.scores = scores;
      const labels = new Uint8Array(this.n * 2);
      labels.set(this.labels);
      this.labels = labels;
    }
    this.scores[this.n] = score;
    this.labels[this.n] = positive ? 1 : 0;
    this.n++;
  }

  /** null until both a positive and a negative have been seen. */
  get(): number | null {
    const n = this.n;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const scores = this.scores;
    order.sort((a, b) => scores[a] - scores[b]);
    let positives = 0;
    let rankSum = 0;
    for (let i = 0; i < n; ) {
      let j = i;
      while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
      const rank = (i + j) / 2 + 1; // average 1-based rank of the tie group
      for (let k = i; k <= j; k++) {
        if (this.labels[order[k]] === 1) {
          positives++;
          rankSum += rank;
        }
      }
      i = j + 1;
    }
    const negatives = n - positives;
    if (positives === 0 || negatives === 0) return null;
    return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
  }
}
