// A real QuotaExceededError, mid-stream: this project runs in a browser of its own whose origin
// quota is small — Chromium on a persistent profile, where the DevTools protocol's quota
// override applies (4 MB over what the origin uses), Firefox with a 200 MiB temporary storage
// limit (40 MiB per origin) — see vite.config.ts, `browser-quota`. The page fills the quota with
// a ballast database, and the learner's next writes meet the browser's own refusal. (WebKitGTK
// takes no quota setting: its full-disk test, injected, is in persistence/durability.test.ts.)
import { afterEach, expect, inject, test } from 'vitest';
import { cdp } from 'vitest/browser';
import { isLearnerError } from '../../src/client/index.ts';
import { deleteStore } from '../../src/store/index.ts';
import { examples, Fixtures, readLog } from '../browser/support/learners.ts';

const fixtures = new Fixtures();
const BALLAST = 'quota-ballast';
afterEach(async () => {
  await fixtures.cleanup();
  await deleteStore(BALLAST);
  if (inject('engine') === 'chromium') {
    await cdp().send('Storage.overrideQuotaForOrigin', { origin: location.origin });
  }
});

/** Writes random (incompressible) chunks into a database of its own until the browser refuses. */
async function fillQuota(): Promise<{ bytes: number; refusal: string }> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const request = indexedDB.open(BALLAST, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('chunks');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  let bytes = 0;
  try {
    for (let i = 0; i < 10_000; i++) {
      const chunk = new Uint8Array(32 * 1024);
      for (let at = 0; at < chunk.length; at += 65_536) {
        crypto.getRandomValues(chunk.subarray(at, at + 65_536));
      }
      const refused = await new Promise<DOMException | null>((resolve) => {
        const tx = db.transaction('chunks', 'readwrite');
        tx.objectStore('chunks').put(chunk, i);
        tx.oncomplete = () => resolve(null);
        tx.onabort = () => resolve(tx.error);
      });
      if (refused) return { bytes, refusal: refused.name };
      bytes += chunk.length;
    }
    throw new Error(`the quota took more than ${bytes} bytes`);
  } finally {
    db.close();
  }
}

test('quota exceeded mid-stream: acknowledged outcomes survive, the app is told, the learner serves', async () => {
  if (inject('engine') === 'chromium') {
    const { usage } = await navigator.storage.estimate();
    await cdp().send('Storage.overrideQuotaForOrigin', {
      origin: location.origin,
      quotaSize: (usage ?? 0) + 4_000_000,
    });
  }
  const name = fixtures.storeName();
  // No snapshot until the end: nothing in the log is covered, so nothing may be evicted.
  const store = { name, snapshotEvery: 100_000 };
  const learner = await fixtures.learner({ store });
  const stream = examples(400, 91);
  const probe = examples(16, 92);
  const acknowledged: string[] = [];
  for (let i = 0; i < 5; i++) {
    await learner.observe(stream[i], i % 2, { id: `k${i}` });
    acknowledged.push(`k${i}`);
  }

  const filled = await fillQuota();
  expect(filled.refusal).toBe('QuotaExceededError');

  // The chunk that did not fit leaves less than 32 KB: outcomes fill it, then are refused.
  let refused: unknown;
  for (let i = 5; i < stream.length && refused === undefined; i++) {
    refused = await learner.observe(stream[i], i % 2, { id: `k${i}` }).then(
      () => {
        acknowledged.push(`k${i}`);
      },
      (error: unknown) => error,
    );
  }
  expect(isLearnerError(refused) && refused.code).toBe('QUOTA');
  // Still serving: predictions, and acknowledged ids answered as duplicates.
  expect((await learner.predict(probe)).scores).toHaveLength(probe.length);
  expect(await learner.observe(stream[0], 1, { id: 'k0' })).toEqual({ seq: 1, duplicate: true });
  expect((await learner.stats()).observed).toBe(acknowledged.length);

  // Room again (Chromium: the override lifted, since its usage figures lag a deletion; Firefox:
  // the ballast deleted): the learner stores and learns once more, after what was acknowledged.
  if (inject('engine') === 'chromium') {
    await cdp().send('Storage.overrideQuotaForOrigin', { origin: location.origin });
  } else {
    await deleteStore(BALLAST);
  }
  const next = await learner.observe(stream[399], 1, { id: 'after' });
  expect(next).toEqual({ seq: acknowledged.length + 1, duplicate: false });
  acknowledged.push('after');
  const learned = Array.from((await learner.predict(probe)).scores);
  await learner.close();

  // Reopened: every acknowledged outcome is in the log, and learning them again gives the head.
  expect((await readLog(name)).map((record) => record.clientId)).toEqual(acknowledged);
  const reopened = await fixtures.learner({ store });
  expect((await reopened.stats()).lastSeq).toBe(acknowledged.length);
  expect(Array.from((await reopened.predict(probe)).scores)).toEqual(learned);
});
