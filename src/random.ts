/**
 * A tiny seeded PRNG (mulberry32, Tommy Ettinger's 32-bit generator): the same seed gives the
 * same numbers in every JavaScript engine, because it uses only 32-bit integer arithmetic
 * (`Math.imul`), which is exact everywhere. `Math.random` cannot be seeded. The model build
 * (models/onnx) needs byte-identical weights from a seed, the demo's world the same catalog and
 * users in every browser.
 *
 * ```ts
 * import { mulberry32 } from './random.ts';
 * const random = mulberry32(42);
 * const a = random(); // uniform in [0, 1)
 * mulberry32(42)() === a; // true
 * ```
 */

/** Uniform numbers in [0, 1). */
export type Random = () => number;

/** Uniform numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
