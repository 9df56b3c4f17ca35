/**
 * Seeded draws for the model build (mulberry32, src/random.ts), so that the same seed gives the same weights and hence
 * a byte-identical model file (and the same sha256, which is the model's address).
 * `Math.random` cannot be seeded; 32-bit integer arithmetic via `Math.imul` is exact and
 * identical in every JS engine.
 */
import type { Random } from '../../src/random.ts';

export { mulberry32, type Random } from '../../src/random.ts';

/** A Float32Array of `length` numbers drawn uniformly from [low, high). */
export function uniformArray(random: Random, length: number, low: number, high: number) {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = low + (high - low) * random();
  return out;
}
