// The cross-fitted per-user bound (models/train/ceiling.ts) on made-up users: near 1 when each
// user's labels are a linear rule of the item features (their own rule, not the server head's),
// near ½ when the labels are coin flips; and the best setting is the one reported.
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { crossFittedUserAuc } from '../../../models/train/ceiling.ts';
import { createHead } from '../../../src/learn/index.ts';

const dim = 3;
const items = 200;
const random = mulberry32(7);
const features = Float32Array.from({ length: items * dim }, () => random() * 2 - 1);
const head = createHead({ task: 'binary', dim, optimizer: { kind: 'sgd' } }).exportState();

function users(label: (item: number, rule: number[]) => number) {
  return Array.from({ length: 8 }, () => {
    const rule = Array.from({ length: dim }, () => random() * 2 - 1);
    const order = Array.from({ length: 60 }, () => Math.floor(random() * items));
    return {
      items: Int32Array.from(order),
      labels: Uint8Array.from(order, (item) => label(item, rule)),
    };
  });
}

describe('cross-fitted per-user ceiling', () => {
  test("a user's own linear rule is learned from their other folds; coin flips are not", () => {
    const linear = users((item, rule) => {
      let z = 0;
      for (let j = 0; j < dim; j++) z += rule[j] * features[item * dim + j];
      return z > 0 ? 1 : 0;
    });
    const settings = [
      { eta0: 0.1, epochs: 20 },
      { eta0: 1e-6, epochs: 1 }, // barely moves from the (zero) server head: ties, AUC ½
    ];
    const learned = crossFittedUserAuc(head, features, linear, { settings });
    expect(learned.userAuc).toBeGreaterThan(0.9);
    expect(learned.setting).toEqual(settings[0]);
    expect(learned.bySetting.map((entry) => entry.setting)).toEqual(settings);
    expect(learned.bySetting[1].userAuc).toBeLessThan(learned.userAuc);

    const noise = crossFittedUserAuc(
      head,
      features,
      users(() => (random() < 0.5 ? 1 : 0)),
      { settings: [settings[0]] },
    );
    expect(Math.abs(noise.userAuc - 0.5)).toBeLessThan(0.1);
  });
});
