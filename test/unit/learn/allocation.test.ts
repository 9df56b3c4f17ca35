/**
 * The per-event update path allocates nothing (no garbage, so no GC pauses in the worker).
 * Measured with V8's sampling heap profiler (./allocations.ts), counting objects that were
 * collected too. A single boxed number per update would show as 16 bytes per update.
 */
import { Session } from 'node:inspector/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHead, StandardScaler } from '../../../src/learn/index.ts';
import type { HeadConfig, Label } from '../../../src/learn/types.ts';
import { bytesPerCall, PER_CALL_LIMIT } from './allocations.ts';

const session = new Session();
beforeAll(() => session.connect());
afterAll(() => session.disconnect());

const d = 64;
const xs = new Float64Array(256 * d).map((_, i) => Math.sin(i * 1.3));
const rows = Array.from({ length: 256 }, (_, i) => xs.subarray(i * d, (i + 1) * d));

const sgd = { kind: 'sgd' } as const;
const cases: [string, HeadConfig, Label[]][] = [
  ['binary mixture (default)', { task: 'binary', dim: d }, [0, 1, true]],
  ['multiclass mixture', { task: 'multiclass', dim: d, classes: ['a', 'b', 'c'] }, ['a', 'b', 'c']],
  ['regression mixture', { task: 'regression', dim: d }, [0.5, -1.5, 2.25]],
  ['binary sgd', { task: 'binary', dim: d, optimizer: sgd }, [0, 1, true]],
  ['binary sgd + l1', { task: 'binary', dim: d, l1: 1e-5, optimizer: sgd }, [0, 1]],
  [
    'multiclass sgd',
    { task: 'multiclass', dim: d, classes: ['a', 'b', 'c'], optimizer: sgd },
    ['a', 'b', 'c'],
  ],
  ['regression sgd', { task: 'regression', dim: d, optimizer: sgd }, [0.5, -1.5, 2.25]],
  ['binary adagrad', { task: 'binary', dim: d, optimizer: { kind: 'adagrad' } }, [0, 1]],
  ['binary ftrl', { task: 'binary', dim: d, optimizer: { kind: 'ftrl' } }, [0, 1]],
];

test.each(cases)(
  '%s: scaler + head learning allocates nothing per update',
  async (_name, config, labels) => {
    const head = createHead(config);
    const scaler = new StandardScaler(d);
    const z = new Float64Array(d);
    const learn = (n: number) => {
      for (let i = 0; i < n; i++) {
        const x = rows[i & 255];
        scaler.transform(x, z);
        head.partialFit(z, labels[i % labels.length]);
        scaler.learn(x);
      }
    };
    learn(50_000); // let the JIT settle
    const perUpdate = await bytesPerCall(session, learn);
    expect(perUpdate).toBeLessThan(PER_CALL_LIMIT);
  },
);
