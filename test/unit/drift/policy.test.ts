/**
 * The drift policy on seeded synthetic streams with known change points: which events it
 * raises and when, the learning-rate multiplier it derives, the reporter's counts, and its
 * JSON snapshots. The delays asserted here are those stated in src/drift/policy.ts's doc.
 */
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import type { FeatureSpec } from '../../../src/backbone/feature_spec.ts';
import { DriftPolicy } from '../../../src/drift/policy.ts';
import {
  DRIFT_POLICY_DEFAULTS,
  type DriftEvent,
  type DriftPolicyOptions,
  featureReferenceFromSpec,
} from '../../../src/drift/policy_options.ts';
import { isLearnerError } from '../../../src/errors.ts';
import { bernoulli, gaussian, type Sampler } from './streams.ts';

interface Feed {
  error: Sampler;
  score?: Sampler;
  features?: Sampler[];
}

/** Feeds `length` observations drawn from `feed`; returns the events, tagged by position. */
function run(policy: DriftPolicy, random: () => number, feed: Feed, length: number): DriftEvent[] {
  const events: DriftEvent[] = [];
  const x = new Float64Array(feed.features?.length ?? 0);
  for (let i = 0; i < length; i++) {
    const error = feed.error(random);
    const score = feed.score?.(random);
    if (feed.features) for (let j = 0; j < x.length; j++) x[j] = feed.features[j](random);
    events.push(...policy.observe(error, score, feed.features ? x : undefined));
  }
  return events;
}

function expectCode(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(isLearnerError(caught) && caught.code).toBe(code);
}

describe('concept drift (the prequential error)', () => {
  test('0/1 error rate 0.1 → 0.4 after 1,000 outcomes: detected within 128 in ≥ 19 of 20 runs, never before', () => {
    let within = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const policy = new DriftPolicy({ prediction: false });
      const random = mulberry32(seed);
      const early = run(policy, random, { error: bernoulli(0.1) }, 1000);
      expect(early).toEqual([]);
      const late = run(policy, random, { error: bernoulli(0.4) }, 1000);
      const first = late.find((e) => e.kind === 'concept');
      expect(first).toBeDefined();
      if (first && first.at - 1000 + 1 <= 128) within++;
      expect(first?.detector).toBe('loss.adwin');
      expect(first?.direction).toBe('up');
    }
    expect(within).toBeGreaterThanOrEqual(19);
  });

  test('Page-Hinkley on the loss: detected within 220 outcomes, never before', () => {
    const policy = new DriftPolicy({ loss: { detector: 'ph' }, prediction: false });
    const random = mulberry32(3);
    expect(run(policy, random, { error: bernoulli(0.1) }, 1000)).toEqual([]);
    const first = run(policy, random, { error: bernoulli(0.4) }, 1000)[0];
    expect(first.detector).toBe('loss.ph');
    expect(first.at - 1000 + 1).toBeLessThanOrEqual(220);
  });

  test('a stationary stream of 50,000 outcomes (error and scores) raises no event', () => {
    for (const seed of [11, 12]) {
      const policy = new DriftPolicy();
      const events = run(
        policy,
        mulberry32(seed),
        { error: bernoulli(0.2), score: gaussian(0.3, 0.1) },
        50_000,
      );
      expect(events).toEqual([]);
      expect(policy.multiplier).toBe(1);
      expect(policy.peekStats()).toEqual({
        alerts: 0,
        byDetector: { 'loss.adwin': 0, 'prediction.psi': 0 },
      });
    }
  });
});

describe('the learning-rate multiplier', () => {
  test('rises to 1 + severity · boost at a rise of the error, capped, and halves its excess every halfLife outcomes', () => {
    const halfLife = 300;
    const policy = new DriftPolicy({
      prediction: false,
      halfLife,
      maxMultiplier: 3,
      loss: { boost: 1.5 },
    });
    const random = mulberry32(5);
    run(policy, random, { error: bernoulli(0.1) }, 1000);
    expect(policy.multiplier).toBe(1);
    let event: DriftEvent | undefined;
    for (let i = 0; i < 1000 && !event; i++) {
      event = policy.observe(bernoulli(0.4)(random))[0];
    }
    if (!event) throw new Error('no detection');
    // The fast average has seen the new rate, the slow one barely: a large relative rise.
    expect(event.severity).toBeGreaterThan(0.5);
    expect(event.severity).toBeLessThanOrEqual(1);
    expect(event.multiplier).toBeCloseTo(Math.min(3, 1 + 1.5 * event.severity), 12);
    expect(policy.multiplier).toBe(event.multiplier);
    // ADWIN may cut its window again as evidence of the new rate accrues (each raising the
    // multiplier anew); after the last event, the excess halves every halfLife outcomes.
    let last = event;
    let quiet = 0;
    const trace: number[] = [];
    for (let i = 0; i < 6000; i++) {
      const events = policy.observe(bernoulli(0.4)(random));
      if (events.length > 0) {
        last = events[events.length - 1];
        quiet = 0;
        trace.length = 0;
      } else {
        quiet++;
        trace.push(policy.multiplier - 1);
      }
    }
    expect(quiet).toBeGreaterThan(3 * halfLife);
    const excess = last.multiplier - 1;
    expect(trace[halfLife - 1]).toBeCloseTo(excess / 2, 12);
    expect(trace[3 * halfLife - 1]).toBeCloseTo(excess / 8, 12);
  });

  test('a larger rise of the error gives a larger multiplier; a fall gives an event of severity 0 and no boost', () => {
    const peak = (to: number) => {
      const policy = new DriftPolicy({ prediction: false, maxMultiplier: 10, loss: { boost: 4 } });
      const random = mulberry32(9);
      run(policy, random, { error: bernoulli(0.2) }, 2000);
      const events = run(policy, random, { error: bernoulli(to) }, 2000);
      return events[0];
    };
    const small = peak(0.3);
    const large = peak(0.6);
    expect(small.severity).toBeLessThan(large.severity);
    expect(small.multiplier).toBeLessThan(large.multiplier);

    const policy = new DriftPolicy({ prediction: false });
    const random = mulberry32(4);
    run(policy, random, { error: bernoulli(0.5) }, 2000);
    const fall = run(policy, random, { error: bernoulli(0.05) }, 2000)[0];
    expect(fall.direction).toBe('down');
    expect(fall.severity).toBe(0);
    expect(fall.multiplier).toBe(1);
  });

  test('boost 0 reports the drift but leaves the learning rate alone', () => {
    const policy = new DriftPolicy({ prediction: false, loss: { boost: 0 } });
    const random = mulberry32(2);
    run(policy, random, { error: bernoulli(0.1) }, 1000);
    const events = run(policy, random, { error: bernoulli(0.5) }, 1000);
    expect(events.length).toBeGreaterThan(0);
    expect(policy.multiplier).toBe(1);
  });
});

describe('prediction drift (the served scores)', () => {
  test('PSI against the first 1,000 scores: a shift of 2σ is reported within 350 outcomes, not before', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const policy = new DriftPolicy({ loss: false });
      const random = mulberry32(seed);
      expect(policy.collectingReference.prediction).toBe(true);
      const early = run(policy, random, { error: () => 0, score: gaussian(0.3, 0.1) }, 3000);
      expect(early).toEqual([]);
      expect(policy.collectingReference.prediction).toBe(false);
      const late = run(policy, random, { error: () => 0, score: gaussian(0.5, 0.1) }, 1000);
      expect(late.length).toBe(1); // a crossing, not every outcome above the threshold
      const [event] = late;
      expect(event).toMatchObject({
        kind: 'prediction',
        detector: 'prediction.psi',
        direction: 'shift',
      });
      expect(event.at - 3000 + 1).toBeLessThanOrEqual(350);
      expect(event.value).toBeGreaterThan(DRIFT_POLICY_DEFAULTS.threshold);
      // Prediction drift is reported, but by default does not change learning.
      expect(policy.multiplier).toBe(1);
    }
  });

  test('KSWIN on the scores compares them with their own recent past', () => {
    const policy = new DriftPolicy({
      loss: false,
      prediction: { method: 'kswin', kswin: { alpha: 1e-4 } },
    });
    const random = mulberry32(8);
    run(policy, random, { error: () => 0, score: gaussian(0.3, 0.05) }, 500);
    const events = run(policy, random, { error: () => 0, score: gaussian(0.6, 0.05) }, 200);
    expect(events[0]?.detector).toBe('prediction.kswin');
    expect(events[0].at - 500 + 1).toBeLessThanOrEqual(60);
  });
});

const spec: FeatureSpec = {
  inputs: [{ name: 'price', size: 1, reference: { mean: [10], std: [2] } }],
  raw: [{ name: 'hour', size: 2, reference: { mean: [0, 5], std: [1, 1] } }],
  output: { name: 'embedding', size: 4 },
  task: 'binary',
};

describe('feature drift', () => {
  test('the spec reference: inputs then raw features, named', () => {
    expect(featureReferenceFromSpec(spec)).toEqual({
      mean: [10, 0, 5],
      std: [2, 1, 1],
      names: ['price', 'hour[0]', 'hour[1]'],
    });
    const partial = { ...spec, raw: [{ name: 'hour', size: 2 }] };
    expect(featureReferenceFromSpec(partial)).toBeNull();
    const broken = {
      ...spec,
      inputs: [{ name: 'price', size: 1, reference: { mean: [1], std: [0] } }],
    };
    expectCode(() => featureReferenceFromSpec(broken), 'BAD_MODEL');
  });

  test('against the spec: the shifted feature is reported (by index and name) within 600 outcomes; the others never', () => {
    const reference = featureReferenceFromSpec(spec) ?? undefined;
    const policy = new DriftPolicy({ loss: false, prediction: false, features: { reference } });
    const random = mulberry32(21);
    const before = [gaussian(10, 2), gaussian(0), gaussian(5)];
    expect(run(policy, random, { error: () => 0, features: before }, 5000)).toEqual([]);
    const after = [gaussian(10, 2), gaussian(0), gaussian(6)];
    const events = run(policy, random, { error: () => 0, features: after }, 2000);
    expect(events.length).toBe(1);
    expect(events[0]).toMatchObject({
      kind: 'feature',
      detector: 'features.psi',
      feature: 2,
      featureName: 'hour[1]',
    });
    expect(events[0].at - 5000 + 1).toBeLessThanOrEqual(600);
  });

  test('without a reference: the first 1,000 examples are the reference', () => {
    const policy = new DriftPolicy({ loss: false, prediction: false, features: { dim: 2 } });
    const random = mulberry32(22);
    const quiet = run(
      policy,
      random,
      { error: () => 0, features: [gaussian(0), gaussian(3, 2)] },
      6000,
    );
    expect(quiet).toEqual([]);
    const events = run(
      policy,
      random,
      { error: () => 0, features: [gaussian(1), gaussian(3, 2)] },
      2000,
    );
    expect(events.map((e) => e.feature)).toEqual([0]);
    expect(events[0].at - 6000 + 1).toBeLessThanOrEqual(600);
  });

  test('features.boost makes feature drift raise the learning rate', () => {
    const policy = new DriftPolicy({
      loss: false,
      prediction: false,
      features: { dim: 1, boost: 1 },
    });
    const random = mulberry32(23);
    run(policy, random, { error: () => 0, features: [gaussian(0)] }, 2000);
    const [event] = run(policy, random, { error: () => 0, features: [gaussian(2)] }, 1000);
    expect(event.severity).toBeGreaterThan(0.5);
    expect(event.multiplier).toBeCloseTo(1 + event.severity, 12);
  });
});

test('takeStats: alarms per detector since the last call, then zero', () => {
  const policy = new DriftPolicy({ features: { dim: 1 } });
  const random = mulberry32(30);
  run(
    policy,
    random,
    { error: bernoulli(0.1), score: gaussian(0.2, 0.1), features: [gaussian(0)] },
    3000,
  );
  const events = run(
    policy,
    random,
    { error: bernoulli(0.5), score: gaussian(0.6, 0.1), features: [gaussian(2)] },
    3000,
  );
  const stats = policy.takeStats();
  const count = (detector: string) => events.filter((e) => e.detector === detector).length;
  expect(stats.byDetector).toEqual({
    'loss.adwin': count('loss.adwin'),
    'prediction.psi': count('prediction.psi'),
    'features.psi': count('features.psi'),
  });
  expect(count('loss.adwin')).toBeGreaterThan(0);
  expect(count('prediction.psi')).toBe(1);
  expect(count('features.psi')).toBe(1);
  expect(stats.alerts).toBe(events.length);
  expect(policy.takeStats()).toEqual({
    alerts: 0,
    byDetector: { 'loss.adwin': 0, 'prediction.psi': 0, 'features.psi': 0 },
  });
});

describe('snapshots', () => {
  const options: DriftPolicyOptions = { features: { dim: 2 }, prediction: { referenceSize: 800 } };
  const feed = (shift: number): Feed => ({
    error: bernoulli(0.1 + shift / 4),
    score: gaussian(0.3 + shift / 5, 0.1),
    features: [gaussian(shift), gaussian(-1, 0.5)],
  });

  test.each([
    ['while collecting the references', 400],
    ['after the references are complete', 2500],
  ])('JSON round trip %s: the copy continues exactly as the original', (_name, at) => {
    const original = new DriftPolicy(options);
    const random = mulberry32(40);
    run(original, random, feed(0), at);
    const state = original.exportState();
    const copy = DriftPolicy.restore(JSON.parse(JSON.stringify(state)));
    expect(copy.exportState()).toEqual(state);
    const randomCopy = mulberry32(41);
    const randomOriginal = mulberry32(41);
    const a = run(original, randomOriginal, feed(1.5), 3000);
    const b = run(copy, randomCopy, feed(1.5), 3000);
    expect(a.length).toBeGreaterThan(0);
    expect(b).toEqual(a);
    expect(copy.multiplier).toBe(original.multiplier);
    expect(JSON.stringify(copy.exportState())).toBe(JSON.stringify(original.exportState()));
  });

  test('detection is deterministic: two policies fed the same stream agree event for event', () => {
    const a = run(new DriftPolicy(options), mulberry32(50), feed(0), 2000).concat();
    const b = run(new DriftPolicy(options), mulberry32(50), feed(0), 2000);
    expect(b).toEqual(a);
  });

  test('a corrupt or mismatched state is refused with BAD_CONFIG', () => {
    const policy = new DriftPolicy(options);
    run(policy, mulberry32(60), feed(0), 1000);
    const state = policy.exportState();
    expectCode(() => DriftPolicy.restore({ ...state, kind: 'other' } as never), 'BAD_CONFIG');
    expectCode(() => DriftPolicy.restore({ ...state, excess: -1 }), 'BAD_CONFIG');
    expectCode(() => DriftPolicy.restore({ ...state, loss: null }), 'BAD_CONFIG');
    expectCode(() => DriftPolicy.restore({ ...state, counts: { 'loss.adwin': -1 } }), 'BAD_CONFIG');
    expectCode(() => DriftPolicy.restore({ ...state, features: { detectors: [] } }), 'BAD_CONFIG');
  });
});

describe('bad input and bad options', () => {
  test('a non-finite error, score or feature, or a wrong length, throws BAD_INPUT and changes nothing', () => {
    const policy = new DriftPolicy({ features: { dim: 2 } });
    run(
      policy,
      mulberry32(70),
      { error: bernoulli(0.2), score: gaussian(0.5), features: [gaussian(0), gaussian(0)] },
      1200,
    );
    const before = JSON.stringify(policy.exportState());
    expectCode(() => policy.observe(Number.NaN, 0.5, [0, 0]), 'BAD_INPUT');
    expectCode(() => policy.observe(0, Number.POSITIVE_INFINITY, [0, 0]), 'BAD_INPUT');
    expectCode(() => policy.observe(0, 0.5, [0, Number.NaN]), 'BAD_INPUT');
    expectCode(() => policy.observe(0, 0.5, [0]), 'BAD_INPUT');
    expect(JSON.stringify(policy.exportState())).toBe(before);
  });

  test.each<[string, DriftPolicyOptions]>([
    ['an unknown detector', { loss: { detector: 'cusum' as never } }],
    ['a detector option out of range', { loss: { detector: 'adwin', options: { delta: 2 } } }],
    ['a negative boost', { loss: { boost: -1 } }],
    ['a cap below 1', { maxMultiplier: 0.5 }],
    ['a zero half-life', { halfLife: 0 }],
    ['an unknown score method', { prediction: { method: 'ks' as never } }],
    ['a reference smaller than the bins', { prediction: { referenceSize: 5 } }],
    ['features without a dimension', { features: {} }],
    ['a reference std of 0', { features: { reference: { mean: [0], std: [0] } } }],
    [
      'a dimension that disagrees with the reference',
      { features: { dim: 3, reference: { mean: [0], std: [1] } } },
    ],
  ])('%s: BAD_CONFIG', (_name, options) => {
    expectCode(() => new DriftPolicy(options), 'BAD_CONFIG');
  });
});
