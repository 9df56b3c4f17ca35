// The memory store's once-only ids (src/store/memory_outcomes.ts); the learner with it runs in
// test/browser/persistence/durability.test.ts. Pure bookkeeping, so plain Node.
import { describe, expect, test } from 'vitest';
import { MemoryOutcomeLog } from '../../../src/store/memory_outcomes.ts';

describe('MemoryOutcomeLog', () => {
  test('a repeated id gets its original seq and duplicate: true', () => {
    const log = new MemoryOutcomeLog();
    expect(log.append('a')).toEqual({ seq: 1, duplicate: false });
    expect(log.append('b')).toEqual({ seq: 2, duplicate: false });
    expect(log.append('a')).toEqual({ seq: 1, duplicate: true });
    expect(log.append('c')).toEqual({ seq: 3, duplicate: false });
  });

  test('new seqs follow the floor the learner already covers', () => {
    const log = new MemoryOutcomeLog();
    expect(log.append('a', 40)).toEqual({ seq: 41, duplicate: false });
    expect(log.append('b', 10)).toEqual({ seq: 42, duplicate: false });
  });

  test('like the IndexedDB log, it forgets the oldest ids past its capacity', () => {
    const log = new MemoryOutcomeLog(3);
    for (const id of ['a', 'b', 'c', 'd']) log.append(id);
    expect(log.append('b')).toEqual({ seq: 2, duplicate: true });
    expect(log.append('d')).toEqual({ seq: 4, duplicate: true });
    expect(log.append('a')).toEqual({ seq: 5, duplicate: false });
  });
});
