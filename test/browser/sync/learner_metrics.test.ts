// What a learner tells the server, end to end: a real worker learner reports through the fault
// lab's pass-through proxy to the real sync server, and the test reads the windows the server's
// database stored. Slates become ranking sums, outcome kinds become click and conversion counts,
// drift alarms are counted per detector, and a buffered update cadence learns only when its
// buffer is released while every outcome is stored at once.
import { afterEach, describe, expect, test } from 'vitest';
import type { Example, Learner, LearnerOptions } from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import { createHead } from '../../../src/learn/index.ts';
import { rankingAtK } from '../../../src/metrics/ranking.ts';
import type { MetricWindow } from '../../../src/protocol/index.ts';
import type { LearnerEventMap } from '../../../src/runtime/events.ts';
import { deleteStore } from '../../../src/store/index.ts';
import { examples, testModel } from '../support/learners.ts';
import { hasSyncServer, newFaultProxy } from './fault_control.ts';

const learners: Learner[] = [];
const databases: string[] = [];

afterEach(async () => {
  await Promise.all(learners.splice(0).map((learner) => learner.close().catch(() => {})));
  await Promise.all(databases.splice(0).map((name) => deleteStore(name)));
});

async function learner(options: Partial<LearnerOptions>): Promise<Learner> {
  const name = `metrics-${crypto.randomUUID()}`;
  databases.push(name);
  const created = await createLearner({
    model: { bytes: testModel.bytes },
    store: { name },
    ...options,
  });
  learners.push(created);
  return created;
}

/**
 * A concept on a raw feature the head sees directly, flipped halfway: a change a loss detector
 * must see.
 */
function flippingStream(count: number, seed: number): { example: Example; label: number }[] {
  return examples(count, seed).map((example, i) => {
    const positive = (example.recency as Float32Array)[0] > 0;
    return { example, label: positive !== i >= count / 2 ? 1 : 0 };
  });
}

describe.runIf(hasSyncServer)('what a learner reports', () => {
  test('slates become ranking sums, kinds become clicks and conversions, drift alarms are counted', async () => {
    const proxy = await newFaultProxy();
    const device = await learner({
      sync: {
        url: proxy.url,
        appKey: proxy.appKey,
        window: { maxOutcomes: 100, maxAgeMs: 3_600_000 },
        flushAtQueued: 10_000,
        flushIntervalMs: 3_600_000,
      },
      forgettingGuard: false,
      // A steady step, so the flipped concept takes a while to relearn (as a real change does).
      head: { optimizer: { kind: 'sgd', schedule: 'constant', eta0: 0.02 } },
    });
    const drifts: LearnerEventMap['drift'][] = [];
    device.on('drift', (event) => drifts.push(event));

    const candidates = examples(5, 11);
    const slate = await device.predict(candidates, { slate: { id: 'home-1', surface: 'home' } });
    await device.observe(candidates[2], 1, {
      id: 'c2',
      kind: 'conversion',
      slate: { id: 'home-1', candidate: 2 },
    });
    await device.observe(candidates[0], 1, {
      id: 'c0',
      kind: 'click',
      slate: { id: 'home-1', candidate: 0 },
    });
    await device.observe(candidates[4], 0, {
      id: 'c4',
      kind: 'impression',
      slate: { id: 'home-1', candidate: 4 },
    });
    for (const [i, { example, label }] of flippingStream(600, 12).entries()) {
      await device.observe(example, label, { id: `s${i}` });
    }
    await device.flush();

    const windows = (await proxy.stored()).map((row) => row.body as unknown as MetricWindow);
    const sum = (pick: (w: MetricWindow) => number | undefined) =>
      windows.reduce((total, w) => total + (pick(w) ?? 0), 0);
    expect(sum((w) => w.count)).toBe(603);
    // The funnel: every binary outcome is an impression; a conversion is also a click.
    expect(sum((w) => w.ctr?.conversions)).toBe(1);
    expect(sum((w) => w.ctr?.impressions)).toBe(603);
    // The slate, closed by the flush: gains 2 (conversion) and 1 (click).
    const expected = rankingAtK(slate.scores, [1, 0, 2, 0, 0], 10);
    const ranking = windows.find((w) => w.ranking)?.ranking;
    expect(ranking).toMatchObject({ k: 10, slates: 1 });
    expect(ranking?.precisionSum).toBeCloseTo(expected!.precision, 12);
    expect(ranking?.ndcgSum).toBeCloseTo(expected!.ndcg, 12);
    // The flip is seen, and each alarm the app heard of is counted once on the server.
    const concept = drifts.filter((event) => event.kind === 'concept');
    expect(concept.length).toBeGreaterThan(0);
    expect(concept.some((event) => event.seq > 303)).toBe(true);
    expect(sum((w) => w.drift?.byDetector?.['loss.adwin'])).toBe(
      drifts.filter((event) => event.detector === 'loss.adwin').length,
    );
    expect(sum((w) => w.drift?.alerts)).toBe(drifts.length);
    // Features travel as moments, never as values: one entry per input component.
    const features = windows.find((w) => w.drift?.features)?.drift?.features ?? [];
    expect(features.map((f) => f.name)).toContain('item[0]');
  });

  test('the default head tells which of its candidates led, outcome by outcome', async () => {
    const proxy = await newFaultProxy();
    const device = await learner({
      sync: {
        url: proxy.url,
        appKey: proxy.appKey,
        window: { maxOutcomes: 50, maxAgeMs: 3_600_000 },
        flushAtQueued: 10_000,
        flushIntervalMs: 3_600_000,
      },
    });
    for (const [i, { example, label }] of flippingStream(200, 21).entries())
      await device.observe(example, label, { id: `h${i}` });
    await device.flush();
    const windows = (await proxy.stored()).map((row) => row.body as unknown as MetricWindow);
    expect(windows.reduce((total, w) => total + w.count, 0)).toBe(200);
    for (const w of windows) {
      const leaders = w.head?.leaders ?? {};
      expect(Object.keys(leaders).every((name) => name === 'sgd' || name === 'adagrad')).toBe(true);
      expect(Object.values(leaders).reduce((a, b) => a + b, 0)).toBe(w.count);
    }
    // A device that reported a mixture head also says so in stats().
    const { candidates } = (await device.stats()).head;
    expect(candidates.map((c) => c.name).sort()).toEqual(['adagrad', 'sgd']);
  });

  test('a buffered cadence stores every outcome at once and learns when its buffer is released', async () => {
    const device = await learner({
      cadence: { mode: 'buffered', maxItems: 5, maxDelayMs: 3_600_000 },
    });
    const probe = examples(3, 21);
    const fresh = await device.predict(probe);
    const stream = flippingStream(9, 22);
    for (const [i, { example, label }] of stream.slice(0, 4).entries()) {
      await device.observe(example, label, { id: `b${i}` });
    }
    expect(Array.from((await device.predict(probe)).scores)).toEqual(Array.from(fresh.scores));
    await device.observe(stream[4].example, stream[4].label, { id: 'b4' }); // the 5th: released
    const afterFive = await device.predict(probe);
    expect(Array.from(afterFive.scores)).not.toEqual(Array.from(fresh.scores));
    for (const [i, { example, label }] of stream.slice(5).entries()) {
      await device.observe(example, label, { id: `c${i}` });
    }
    expect(Array.from((await device.predict(probe)).scores)).toEqual(Array.from(afterFive.scores));
    expect((await device.stats()).observed).toBe(5);
    await device.flush(); // the page hides: the buffer is learned
    expect((await device.stats()).observed).toBe(9);
  });

  test('feature drift: inputs that move away from the reference raise a feature drift event', async () => {
    const device = await learner({
      store: { name: false },
      forgettingGuard: false,
      drift: { features: { referenceSize: 100, window: 100 } },
    });
    const kinds: string[] = [];
    device.on('drift', (event) => kinds.push(event.kind));
    const stream = examples(300, 41).map((example, i) => {
      // After the first 150, the raw `recency` inputs move by +3: the person changed.
      const recency = Float32Array.from(example.recency as Float32Array, (v) =>
        i < 150 ? v : v + 3,
      );
      return { ...example, recency };
    });
    for (const [i, example] of stream.entries()) {
      await device.observe(example, i % 2, { id: `f${i}` });
      if (i === 149) expect(kinds).not.toContain('feature');
    }
    expect(kinds).toContain('feature');
  });

  test('the forgetting guard resets a head that became worse than its version’s server head', async () => {
    // A server head that knows the rule (label = recency[0] > 0, the first raw feature, which
    // the head sees after the embedding): far better than the constant predictor.
    const dim = testModel.spec.output.size + 2;
    // A mixture of one candidate whose step is so large that learning on from the server
    // head overshoots on every outcome (a mixture of several would shift its weight away from
    // such a candidate by itself, and there would be nothing for the guard to do).
    const serverHead = createHead({
      task: 'binary',
      dim,
      optimizer: {
        kind: 'mixture',
        candidates: [{ kind: 'sgd', schedule: 'constant', eta0: 200 }],
      },
    }).exportState();
    serverHead.weights = new Float64Array(dim);
    serverHead.weights[dim - 2] = 6;
    const device = await learner({
      store: { name: false },
      head: serverHead,
      scale: false,
      drift: false,
      forgettingGuard: { margin: 0.05, minOutcomes: 20 },
    });
    const resets: LearnerEventMap['reset'][] = [];
    device.on('reset', (event) => resets.push(event));
    const stream = examples(400, 31).map((example) => ({
      example,
      label: (example.recency as Float32Array)[0] > 0 ? 1 : 0,
    }));
    for (const [i, { example, label }] of stream.entries()) {
      await device.observe(example, label, { id: `g${i}` });
    }
    expect(resets.length).toBeGreaterThan(0);
    expect(resets[0].difference).toBeGreaterThan(0.05);
    expect((await device.stats()).resets).toBe(resets.length);
  });
});
