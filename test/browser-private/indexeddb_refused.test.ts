// IndexedDB really refused: this project runs only in Firefox, started private with IndexedDB
// off in private browsing (vite.config.ts, `browser-private`), where every open fails with
// InvalidStateError — as in Firefox's private windows before version 115. The other engines,
// and the other causes (site data blocked, no IndexedDB at all), are in
// test/browser/persistence/durability.test.ts, with the failure injected in the worker.
import { afterEach, expect, test } from 'vitest';
import { examples, Fixtures } from '../browser/support/learners.ts';

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

test('IndexedDB refused by the browser: the learner serves from memory, ids exactly once', async () => {
  // The page's own open fails too: the refusal is the browser's, not the learner's doing.
  const refusal = await new Promise<string>((resolve) => {
    const request = indexedDB.open('probe');
    request.onsuccess = () => {
      request.result.close();
      resolve('opened');
    };
    request.onerror = () => resolve(request.error?.name ?? 'error');
  });
  expect(refusal).toBe('InvalidStateError');

  const learner = await fixtures.learner({ store: { name: 'localfit-private' } });
  const reference = await fixtures.learner({ store: { name: false } });
  const stream = examples(8, 81);
  for (const [i, example] of stream.entries()) {
    expect(await learner.observe(example, i % 2, { id: `p${i}` })).toEqual({
      seq: i + 1,
      duplicate: false,
    });
    await reference.observe(example, i % 2, { id: `p${i}` });
  }
  for (const [i, example] of stream.entries()) {
    expect(await learner.observe(example, 1 - (i % 2), { id: `p${i}` })).toEqual({
      seq: i + 1,
      duplicate: true,
    });
  }
  const stats = await learner.stats();
  expect(stats).toMatchObject({ storage: 'memory', observed: 8, duplicates: 8 });
  expect(stats.recovered).toEqual([
    {
      code: 'IN_MEMORY',
      cause: 'UNAVAILABLE',
      message: expect.stringContaining('InvalidStateError'),
      at: expect.any(Number),
    },
  ]);
  const probe = examples(12, 82);
  expect(Array.from((await learner.predict(probe)).scores)).toEqual(
    Array.from((await reference.predict(probe)).scores),
  );
});
