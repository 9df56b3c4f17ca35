/**
 * The generated streams of the quality suite, each at its benchmark length (or `rows` for a
 * shorter run: unit tests use a few thousand). With elec.csv and the MovieLens replay they are
 * what `bench/quality_streams.ts` measures every head on.
 *
 * ```ts
 * import { suite } from './suite.ts';
 * suite({ rows: 2000 }).map((s) => s.name);
 * // ['sea', 'hyperplane', 'agrawal_abrupt', 'agrawal_gradual', 'scales', 'rbf', 'friedman']
 * ```
 */
import { agrawal } from './agrawal.ts';
import { friedman } from './friedman.ts';
import { hyperplane } from './hyperplane.ts';
import { rbf } from './rbf.ts';
import { scales } from './scales.ts';
import { sea } from './sea.ts';
import type { GeneratedStream } from './stream.ts';

export type { GeneratedStream } from './stream.ts';

export function suite({ rows }: { rows?: number } = {}): GeneratedStream[] {
  return [
    sea({ rows }),
    hyperplane({ rows }),
    agrawal({ rows, drift: 'abrupt' }),
    agrawal({ rows, drift: 'gradual' }),
    // Stationary: its length is the (3,000 rows) unless a shorter one is asked for.
    scales({ rows: rows === undefined ? undefined : Math.min(rows, 3_000) }),
    rbf({ rows }),
    friedman({ rows }),
  ];
}
