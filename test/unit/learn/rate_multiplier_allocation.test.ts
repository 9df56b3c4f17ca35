/**
 * Changing `Head.learningRateMultiplier` before every update (through `learningRateScale`, as
 * a drift policy does) keeps the update path allocation-free; measured as in
 * allocation.test.ts. A file of its own: V8's feedback is per process, and heads of other
 * configurations trained earlier in the same file make call sites polymorphic (SGD's
 * schedule call then boxes its result whether or not a multiplier is set).
 */
import { Session } from 'node:inspector/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHead } from '../../../src/learn/index.ts';
import type { OptimizerConfig } from '../../../src/learn/types.ts';
import { bytesPerCall, PER_CALL_LIMIT } from './allocations.ts';
import { separable } from './helpers.ts';

const optimizers: [string, OptimizerConfig][] = [
  ['sgd optimal', { kind: 'sgd' }],
  ['adagrad', { kind: 'adagrad' }],
  ['ftrl', { kind: 'ftrl' }],
];

const data = separable(400, 1);

describe('allocation', () => {
  const session = new Session();
  beforeAll(() => session.connect());
  afterAll(() => session.disconnect());

  test.each(optimizers)(
    '%s: writing the multiplier before every update allocates nothing',
    async (_name, optimizer) => {
      const head = createHead({ task: 'binary', dim: data.d, optimizer });
      const multipliers = Float64Array.from({ length: 64 }, (_, i) => 1 + i / 32);
      const rows = Array.from({ length: 400 }, (_, i) => data.row(i)); // subarrays, made once
      const learn = (n: number) => {
        for (let i = 0; i < n; i++) {
          head.learningRateScale[0] = multipliers[i & 63];
          head.partialFit(rows[i % 400], data.ys[i % 400]);
        }
      };
      learn(50_000);
      expect(await bytesPerCall(session, learn)).toBeLessThan(PER_CALL_LIMIT);
    },
  );
});
