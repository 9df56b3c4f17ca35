/** The prequential metrics in src/metrics, checked against direct definitions. */
import { describe, expect, test } from 'vitest';
import { Accuracy, LogLoss, Mae, Rmse, RocAuc } from '../../../src/metrics/index.ts';

/** AUC by its definition: P(score of a positive > score of a negative), ties ½. O(n²). */
function aucByPairs(labels: boolean[], scores: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j]) continue;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('RocAuc', () => {
  test('equals the pairwise definition, ties included, across buffer growth', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const labels: boolean[] = [];
    const scores: number[] = [];
    const auc = new RocAuc();
    for (let i = 0; i < 3000; i++) {
      const positive = random() < 0.3;
      // Rounded scores make many ties.
      const score = Math.round((random() + (positive ? 0.3 : 0)) * 20) / 20;
      labels.push(positive);
      scores.push(score);
      auc.update(positive, score);
    }
    expect(auc.get()).toBeCloseTo(aucByPairs(labels, scores), 12);
  });

  test('is null until both classes are seen', () => {
    const auc = new RocAuc();
    expect(auc.get()).toBeNull();
    auc.update(true, 0.4);
    expect(auc.get()).toBeNull();
    auc.update(false, 0.6);
    expect(auc.get()).toBe(0);
  });
});

test('LogLoss clips like scikit-learn and averages −log p', () => {
  const loss = new LogLoss();
  expect(loss.get()).toBeNull();
  loss.update(0.5);
  loss.update(0);
  expect(loss.get()).toBeCloseTo((Math.log(2) - Math.log(1e-15)) / 2, 12);
});

test('Accuracy, RMSE and MAE', () => {
  const acc = new Accuracy();
  for (const [t, p] of [
    [1, 1],
    [0, 1],
    ['a', 'a'],
    ['a', 'b'],
  ]) {
    acc.update(t, p);
  }
  expect(acc.get()).toBe(0.5);
  const rmse = new Rmse();
  const mae = new Mae();
  for (const [t, p] of [
    [0, 3],
    [0, -4],
  ]) {
    rmse.update(t, p);
    mae.update(t, p);
  }
  expect(rmse.get()).toBeCloseTo(Math.sqrt(12.5), 12);
  expect(mae.get()).toBe(3.5);
  expect(new Rmse().get()).toBeNull();
});
