// The MovieLens replay on the real data (../shared/data/movielens-small, read where it lies):
// the done criteria of the on-device head against the static server model, and the shape of
// the trained backbone. Plus the parsing and the time split on small made-up inputs.
import { describe, expect, test } from 'vitest';
import { qualifies, splitMovielens } from '../../../models/movielens/dataset.ts';
import {
  parseMovies,
  parseRatings,
  RATINGS_COLUMNS,
  splitCsvLine,
} from '../../../models/movielens/parse.ts';
import { runMovielensReplay } from '../../../models/movielens/run.ts';
import { onnx } from '../../../models/onnx/proto.ts';
import { readFeatureSpec } from '../../../src/backbone/model_metadata.ts';
import './support.ts';

describe('parsing', () => {
  test('quoted CSV fields, years from titles, genres', () => {
    expect(splitCsvLine('11,"American President, The (1995)",Comedy|Drama')).toEqual([
      '11',
      'American President, The (1995)',
      'Comedy|Drama',
    ]);
    expect(splitCsvLine('1,"say ""hi"" (2001)",Drama')[1]).toBe('say "hi" (2001)');
    const movies = parseMovies(
      'movieId,title,genres\n1,A Made-Up Film (1995),Adventure|Animation\n2,Untitled,(no genres listed)\n',
    );
    expect(movies).toEqual([
      { movie: 1, title: 'A Made-Up Film (1995)', year: 1995, genres: ['Adventure', 'Animation'] },
      { movie: 2, title: 'Untitled', year: undefined, genres: [] },
    ]);
    expect(parseRatings(`${RATINGS_COLUMNS.join(',')}\n7,42,3.5,1100000000\n`)).toEqual([
      { user: 7, movie: 42, rating: 3.5, time: 1100000000 },
    ]);
    expect(() => parseRatings('user,movie\n1,2\n')).toThrow(/header/);
  });

  test('the time split: earliest share to the server, the rest per user in time order', () => {
    const movies = parseMovies('movieId,title,genres\n10,A (1990),Drama\n20,B (2000),Comedy\n');
    const ratings = [
      { user: 1, movie: 10, rating: 5, time: 4 },
      { user: 2, movie: 20, rating: 2, time: 1 },
      { user: 1, movie: 20, rating: 4, time: 2 },
      { user: 3, movie: 10, rating: 1, time: 2 }, // a tie: file order decides
      { user: 2, movie: 10, rating: 3.5, time: 5 },
    ];
    const split = splitMovielens(ratings, movies, 0.6);
    expect(split.userIds).toEqual([1, 2, 3]);
    expect(Array.from(split.history.time)).toEqual([1, 2, 2]);
    expect(Array.from(split.history.user)).toEqual([1, 0, 2]);
    expect(Array.from(split.history.label)).toEqual([0, 1, 0]);
    expect(split.replay.map((u) => [u.userId, Array.from(u.items), Array.from(u.labels)])).toEqual([
      [1, [0], [1]],
      [2, [0], [0]],
    ]);
    expect(split.catalog.names.at(-1)).toBe('year');
    expect(qualifies(split.replay[0], 1)).toBe(false); // one class only
  });
});

describe('MovieLens replay (real data)', () => {
  test('the on-device head beats the static server model', { timeout: 600_000 }, async () => {
    const run = await runMovielensReplay();
    const s = run.summary;
    console.log(
      `MovieLens replay: ${s.users} users; per-user AUC static ${s.static_user_auc.toFixed(4)} → on-device ${s.ondevice_user_auc.toFixed(4)}; ` +
        `pooled ${s.static_pooled_auc.toFixed(4)} → ${s.ondevice_pooled_auc.toFixed(4)}; ` +
        `train ${run.seconds.train.toFixed(1)}s, replay ${run.seconds.replay.toFixed(1)}s`,
    );
    expect(s.users).toBeGreaterThanOrEqual(100);
    expect(s.ondevice_user_auc).toBeGreaterThanOrEqual(s.static_user_auc + 0.03);
    expect(s.ondevice_pooled_auc).toBeGreaterThanOrEqual(0.83);

    // The trained backbone: spec in its metadata, one-hot over the whole catalog, dynamic batch.
    const { version } = run;
    const spec = readFeatureSpec(version.bytes);
    expect(spec).toEqual(version.spec);
    expect(spec.inputs.map((input) => [input.name, input.size])).toEqual([
      ['item', 9742],
      ['item_features', 20],
    ]);
    expect(spec.output.size).toBe(version.head.config.dim);
    const model = onnx.ModelProto.decode(version.bytes);
    for (const value of [...model.graph!.input!, ...model.graph!.output!]) {
      expect(value.type?.tensorType?.shape?.dim?.[0]?.dimParam).toBe('batch');
    }
  });
});
