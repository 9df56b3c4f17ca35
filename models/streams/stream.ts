/**
 * What every generated stream of the quality suite is: a seeded, finite sequence of labelled
 * rows, described well enough that the prequential runner, the unit tests and the benchmark can
 * all build a head for it. Generators live beside this file, one per stream; `suite.ts` lists
 * them. They live under `models/` (not `src/`) because they are data the library is measured
 * on, not part of the library: tests and `bench/` import them, `src/` never does.
 *
 * ```ts
 * import { sea } from './sea.ts';
 * const stream = sea({ rows: 1000, seed: 1 });
 * for (const [x, y] of stream.rows()) { x.length === stream.dim; }
 * ```
 */
import type { Random } from '../onnx/prng.ts';

export type StreamTask = 'binary' | 'multiclass' | 'regression';

export interface GeneratedStream {
  name: string;
  task: StreamTask;
  dim: number;
  /** Class labels (binary: [0, 1]); empty for regression. */
  classes: number[];
  /** Rows this stream yields. */
  length: number;
  /** Where the generator comes from. */
  cite: string;
  /** A fresh pass over the rows, identical for the same seed. */
  rows(): Iterable<readonly [Float64Array, number]>;
}

export interface StreamOptions {
  rows?: number;
  seed?: number;
}

/** N(0, 1) by Box–Muller (one of the pair: simplicity over speed). */
export function normal(random: Random): number {
  const u = 1 - random(); // (0, 1]: log(0) would be −∞
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A stream from a row function, regenerated from the seed on every pass. */
export function generated(
  meta: Omit<GeneratedStream, 'rows'>,
  start: () => (i: number) => readonly [Float64Array, number],
): GeneratedStream {
  return {
    ...meta,
    *rows() {
      const next = start();
      for (let i = 0; i < meta.length; i++) yield next(i);
    },
  };
}
