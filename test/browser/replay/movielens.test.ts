// The MovieLens replay in Chromium for a sample of users. The CSV files come from the dev
// server as `?raw` imports by a path relative to this file (vite serves ../shared/data, see
// server.fs.allow), so nothing is copied into the repository. The version is trained here by
// the same trainer the Node replay uses (a quick configuration: this test is about the device
// path, not about quality), then every sampled user is replayed twice: by `replaySequences` —
// the function the Node replay runs, here on onnxruntime-web in the page — and through the
// real learner worker via createLearner. The two must agree to 1e-6.
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import { afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import moviesCsv from '../../../../shared/data/movielens-small/movies.csv?raw';
import ratingsCsv from '../../../../shared/data/movielens-small/ratings.csv?raw';
import { qualifies, splitMovielens } from '../../../models/movielens/dataset.ts';
import { parseMovies, parseRatings } from '../../../models/movielens/parse.ts';
import { replaySequences } from '../../../models/train/replay.ts';
import { trainVersion } from '../../../models/train/trainer.ts';
import { catalogExample } from '../../../src/backbone/catalog.ts';
import { configureOrt } from '../../../src/backbone/configure_ort.ts';
import { cleanup, replayInWorker, worstDifference } from './support.ts';

beforeAll(() => configureOrt(wasmUrl));
afterEach(cleanup);

const SAMPLE_USERS = 6;
const MAX_RATINGS = 60;

describe('MovieLens replay: Node code path vs. the real worker', () => {
  test('sampled users agree to 1e-6', { timeout: 300_000 * inject('timeScale') }, async () => {
    const split = splitMovielens(parseRatings(ratingsCsv), parseMovies(moviesCsv));
    const version = await trainVersion(split.history, split.catalog, {
      sweeps: 4,
      epochs: 4,
      validation: 0,
      scales: { bias: 0.25, factors: 0.5, popularity: 0.5, content: 0.5, constant: 1 },
    });
    const users = split.replay.filter((user) => qualifies(user)).slice(0, SAMPLE_USERS);
    expect(users).toHaveLength(SAMPLE_USERS);
    const sequences = users.map((user) => ({
      user: user.userId,
      items: user.items.slice(0, MAX_RATINGS),
      labels: user.labels.slice(0, MAX_RATINGS),
    }));
    const traces = await replaySequences(
      { bytes: version.bytes, head: version.head, scale: false },
      split.catalog,
      sequences,
    );
    for (const [u, sequence] of sequences.entries()) {
      const examples = Array.from(sequence.items, (i) => catalogExample(split.catalog, i));
      const scores = await replayInWorker(version.bytes, version.head, examples, sequence.labels);
      expect(worstDifference(scores.static, traces[u].static)).toBeLessThanOrEqual(1e-6);
      expect(worstDifference(scores.ondevice, traces[u].ondevice)).toBeLessThanOrEqual(1e-6);
      await cleanup();
    }
  });
});
