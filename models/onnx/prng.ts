/**
 * A tiny seeded PRNG (mulberry32), so that the same seed gives the same weights and hence
 * a byte-identical model file (and the same sha256, which is the model's address).
 * `Math.random` cannot be seeded; 32-bit integer arithmetic via `Math.imul` is exact and
 * identical in every JS engine.
 */
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

/** A Float32Array of `length` numbers drawn uniformly from [low, high). */
export function uniformArray(random: Random, length: number, low: number, high: number) {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = low + (high - low) * random();
  return out;
}
