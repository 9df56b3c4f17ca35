/**
 * The default trainer adapter (the batch trainer from models/train) on a tiny synthetic
 * MovieLens-format folder written to a temp dir: it trains, reports progress, and scores the
 * candidate and production on the same held-out ratings through the device's pipeline. Trained
 * twice with the same seed on the same data, the candidate *is* production, so both must get
 * exactly the same figures and the job must not stage it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { makeTestBackbone } from '../../../models/testing.ts';
import { movielensTrainer } from '../../../server/scheduler/movielens_trainer.ts';
import { judgeCandidate } from '../../../server/scheduler/run_job.ts';
import type {
  ProductionModel,
  TrainRequest,
  TrainResult,
} from '../../../server/scheduler/trainer.ts';

const GENRES = ['Action', 'Comedy', 'Drama', 'Horror', 'Romance', 'Sci-Fi'];

/** 40 movies, 30 users × 100 ratings, users interleaved in time, likes from a latent taste. */
function writeSyntheticMovielens(dir: string): void {
  const random = mulberry32(42);
  const movies: string[] = ['movieId,title,genres'];
  const taste: number[][] = [];
  for (let m = 1; m <= 40; m++) {
    const genres = GENRES.filter(() => random() < 0.35);
    const vector = [random() * 2 - 1, random() * 2 - 1];
    taste.push(vector);
    movies.push(
      `${m},"Film ${m}, The (${1970 + m})",${genres.length ? genres.join('|') : '(no genres listed)'}`,
    );
  }
  const ratings: string[] = [['userId', 'movieId', 'rating', 'timestamp'].join(',')];
  const users = Array.from({ length: 30 }, () => [random() * 2 - 1, random() * 2 - 1]);
  let time = 1_000_000_000;
  for (let k = 0; k < 100; k++)
    for (let u = 0; u < users.length; u++) {
      const m = Math.floor(random() * 40);
      const score =
        3 + 1.5 * (users[u][0] * taste[m][0] + users[u][1] * taste[m][1]) + (random() - 0.5);
      const rating = Math.min(5, Math.max(0.5, Math.round(score * 2) / 2));
      ratings.push(`${u + 1},${m + 1},${rating},${time++}`);
    }
  writeFileSync(join(dir, 'movies.csv'), `${movies.join('\n')}\n`);
  writeFileSync(join(dir, 'ratings.csv'), `${ratings.join('\n')}\n`);
}

function request(production: ProductionModel | null, progress: number[]): TrainRequest {
  return {
    model: 'default',
    jobId: 1,
    attempt: 1,
    production,
    progress: async (fraction) => {
      progress.push(fraction);
    },
    signal: new AbortController().signal,
  };
}

describe('default trainer adapter (models/train on a MovieLens-format folder)', {
  timeout: 180_000,
}, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'localfit-ml-'));
    writeSyntheticMovielens(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const trainer = () =>
    movielensTrainer({ dataDir: '', holdout: 0.25, train: { seed: 3, sweeps: 5, epochs: 10 } });

  test('trains, evaluates production on the same held-out slice, and refuses an equal candidate', async () => {
    const adapter = movielensTrainer({
      dataDir: dir,
      holdout: 0.25,
      train: { seed: 3, sweeps: 5, epochs: 10 },
    });
    const progress: number[] = [];
    const first: TrainResult = await adapter.train(request(null, progress));
    expect(first.candidate.bytes.length).toBeGreaterThan(1000);
    expect(first.candidate.featureSpec).toMatchObject({ task: 'binary' });
    expect(first.candidate.head).toMatchObject({ format: 'localfit.head/1' });
    expect(first.evaluation.production).toBeNull();
    // Each user has 25 held-out ratings; those with both classes among them count (26 of 30).
    expect(first.evaluation.examples).toBe(650);
    expect(first.evaluation.heldOut).toMatch(/latest 25% of ratings, 26 users/);
    const { logloss, auc } = first.evaluation.candidate;
    // Prequential figures of the learning head: on 25 ratings per user its large first steps
    // cost calibration (log loss well above ln 2 here), while the ranking is clearly learned.
    expect(Number.isFinite(logloss) && logloss > 0).toBe(true);
    expect(auc).toBeGreaterThan(0.6);
    expect(progress.length).toBeGreaterThan(3);
    expect(progress.at(-1)).toBeGreaterThanOrEqual(0.8);

    const production: ProductionModel = {
      id: 'v1',
      semver: '1.0.0',
      bytes: first.candidate.bytes,
      featureSpec: first.candidate.featureSpec,
      head: first.candidate.head,
    };
    const second = await adapter.train(request(production, []));
    expect(second.candidate.bytes).toEqual(first.candidate.bytes);
    expect(second.evaluation.production).toEqual(second.evaluation.candidate);
    const verdict = judgeCandidate(second.evaluation, production, {
      stagedWeight: 0.1,
      metric: 'logloss',
      minImprovement: 0,
    });
    expect(verdict.better).toBe(false);
    expect(verdict.reason).toMatch(/^not better on logloss: gain 0\.0000/);
  });

  test('a production model for another catalog is reported as not comparable', async () => {
    const adapter = movielensTrainer({
      dataDir: dir,
      holdout: 0.25,
      train: { seed: 3, sweeps: 5, epochs: 10, scales: {} },
    });
    const other = makeTestBackbone();
    const result = await adapter.train(
      request(
        {
          id: 'v9',
          semver: '9.0.0',
          bytes: other.bytes,
          featureSpec: other.spec as unknown as Record<string, unknown>,
          head: null,
        },
        [],
      ),
    );
    expect(result.evaluation.production).toBeNull();
    expect(result.evaluation.productionNote).toMatch(
      /^v9: its item input has 8 slots, the catalog 40 movies/,
    );
    expect(
      judgeCandidate(
        result.evaluation,
        { id: 'v9' },
        { stagedWeight: 0.1, metric: 'logloss', minImprovement: 0 },
      ).better,
    ).toBe(false);
  });

  test('a missing folder is a clear error', async () => {
    await expect(trainer().train(request(null, []))).rejects.toThrow(/cannot read .*ratings\.csv/);
  });
});
