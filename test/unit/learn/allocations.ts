/**
 * Bytes allocated per call of a hot loop, with V8's sampling heap profiler, counting objects
 * that were collected too (so short-lived garbage shows). A single boxed number per call reads
 * as 16 bytes.
 *
 * The least of up to five rounds: an allocation in the loop itself shows in every round, while a
 * one-off (a late recompilation on a loaded machine, the profiler's own bookkeeping) does not.
 * What CI once read as 16.4 bytes per update was real and showed in every round: SGD with L1
 * passed the step size to a call V8 did not always inline, which boxes the double.
 */
import type { Session } from 'node:inspector/promises';

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

const totalBytes = (node: SamplingNode): number =>
  node.children.reduce((sum, child) => sum + totalBytes(child), node.selfSize);

/**
 * What "allocates nothing per call" is judged against: one boxed number per call is 16 bytes,
 * so anything the loop allocates on every call reads ≥ 16; a reading under 8 is the profiler's
 * and the compiler's own noise (a loaded CI machine read 2.95 in every round of one run).
 */
export const PER_CALL_LIMIT = 8;

/** Runs `loop(n)` in up to five profiled rounds; the least bytes per call of those rounds. */
export async function bytesPerCall(
  session: Session,
  loop: (n: number) => void,
  n = 100_000,
): Promise<number> {
  let least = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5 && least >= 1; round++) {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 128,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    loop(n);
    const { profile } = await session.post('HeapProfiler.stopSampling');
    least = Math.min(least, totalBytes(profile.head as unknown as SamplingNode) / n);
  }
  return least;
}
