// The wipe the forgetting guard once caused, reproduced from the outside: an app's own model
// with a fresh head (no server head to go back to but zeros) learning a stationary rule. The
// guard must never reset it, and the default head must do as well as the best single optimizer.
import { afterEach, expect, test } from 'vitest';
import { makeTestBackbone } from '../../models/testing.ts';
import type { LearnerOptions } from '../../src/client/index.ts';
import type { LearnerEventMap } from '../../src/runtime/events.ts';
import { examples, Fixtures } from './support/learners.ts';

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

/** A generated model of its own (not the suite's test model), exported with no head. */
const model = makeTestBackbone({ seed: 23, raw: true });
/** A stationary rule on what the head sees: a raw feature and its interaction with another. */
const stream = examples(1000, 24).map((example) => {
  const [a, b] = example.recency as Float32Array;
  return { example, label: a + 0.5 * b > 0 ? 1 : 0 };
});

async function run(head: LearnerOptions['head']) {
  const learner = await fixtures.learner({
    model: { bytes: model.bytes },
    store: { name: fixtures.storeName() },
    ...(head ? { head } : {}),
  });
  const resets: LearnerEventMap['reset'][] = [];
  learner.on('reset', (event) => resets.push(event));
  let correct = 0;
  for (const [i, { example, label }] of stream.entries()) {
    const { score } = await learner.predict(example);
    if ((score > 0.5 ? 1 : 0) === label) correct++;
    await learner.observe(example, label, { id: `w${i}` });
  }
  const stats = await learner.stats();
  return { accuracy: correct / stream.length, resets: resets.length, statsResets: stats.resets };
}

test('a fresh head on a stationary rule: no reset, and the default as good as the best single optimizer', async () => {
  const mixture = await run(undefined);
  const sgd = await run({ optimizer: { kind: 'sgd' } });
  const adagrad = await run({ optimizer: { kind: 'adagrad' } });
  for (const result of [mixture, sgd, adagrad]) {
    expect(result.resets).toBe(0);
    expect(result.statsResets).toBe(0);
  }
  console.log(
    `accuracy: mixture ${mixture.accuracy}, sgd ${sgd.accuracy}, adagrad ${adagrad.accuracy}`,
  );
  // The rule is learnable: well above chance, or the comparison says nothing.
  expect(Math.max(sgd.accuracy, adagrad.accuracy)).toBeGreaterThan(0.75);
  expect(mixture.accuracy).toBeGreaterThanOrEqual(Math.max(sgd.accuracy, adagrad.accuracy) - 0.02);
}, 300_000);
