// memory: a learner in Chromium following a real sync server learns 10,000 outcomes and then
// serves ten new versions in turn (publish at weight 1 → serving → rollback → dropped, the
// page acting as the operator). At each checkpoint the page calls `measureWorker(label)`,
// which bench/memory.ts provides: it collects the worker's garbage and reads its JS heap and
// wasm memory over the DevTools protocol.
//
// Query: server, appKey, publicKey (base64 raw Ed25519), admin (token), observes, swaps.

import { createLearner } from '../../src/client/index.ts';
import { deleteStore } from '../../src/store/index.ts';
import { passingBackbone, world } from '../../test/browser/sync/rollout_models.ts';
import { publishResult } from './bench_page.ts';
import { swapCycle } from './operator.ts';

const params = new URLSearchParams(location.search);
const server = params.get('server') ?? '';
const operator = { server, adminToken: params.get('admin') ?? '' };
const observes = Number(params.get('observes') ?? 10_000);
const swaps = Number(params.get('swaps') ?? 10);
/** Outcomes in flight at once: enough to keep the worker busy, as a busy app would. */
const CONCURRENT = 50;
const w = window as unknown as {
  measureWorker: (label: string) => Promise<void>;
};

async function run() {
  const name = `bench-memory-${crypto.randomUUID()}`;
  const learner = await createLearner({
    // The bytes of the server's production v1 (bench/lib/fleet_server.ts): adopted as is.
    model: { bytes: passingBackbone(2) },
    store: { name },
    sync: { url: server, appKey: params.get('appKey') ?? '' },
    rollout: { publicKey: params.get('publicKey') ?? '', live: true },
    worker: new Worker(new URL('./memory.worker.ts', import.meta.url), { type: 'module' }),
  });
  try {
    await learner.checkForUpdates();
    const stream = world(13, 1_000);
    let observed = 0;
    const observeUntil = async (total: number) => {
      while (observed < total) {
        const chunk = Math.min(CONCURRENT, total - observed);
        await Promise.all(
          Array.from({ length: chunk }, (_, i) => {
            const { example, label } = stream[(observed + i) % stream.length];
            return learner.observe(example, label, { id: `o${observed + i}` });
          }),
        );
        observed += chunk;
      }
      await learner.flush();
    };
    const probe = stream.slice(0, 16).map((entry) => entry.example);
    await observeUntil(1_000);
    await learner.predict(probe);
    await w.measureWorker('after 1,000 observes');
    await observeUntil(observes);
    await learner.predict(probe);
    await w.measureWorker(`after ${observes.toLocaleString('en-US')} observes`);
    const published = ['v1'];
    for (let k = 1; k <= swaps; k++)
      await swapCycle(operator, learner, k, published, async () => {
        await learner.predict(probe);
      });
    await learner.predict(probe);
    await learner.flush();
    await w.measureWorker(`after ${swaps} swaps`);
    const stats = await learner.stats();
    return { versionId: stats.versionId, observed };
  } finally {
    await learner.close();
    await deleteStore(name);
  }
}

await publishResult(run);
