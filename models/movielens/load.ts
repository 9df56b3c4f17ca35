/**
 * Reads MovieLens from disk (Node only). The data stays where it is, beside the project
 * checkout in ../shared/data/movielens-small: nothing from it is copied into the repository.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Movie, parseMovies, parseRatings, type Rating } from './parse.ts';

/** The repository root (this file is models/movielens/load.ts). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** ../shared/data/movielens-small, relative to the repository root. */
export const DEFAULT_MOVIELENS_DIR = resolve(REPO_ROOT, '../shared/data/movielens-small');

export interface MovielensFiles {
  ratings: Rating[];
  movies: Movie[];
}

export function loadMovielens(dir: string = DEFAULT_MOVIELENS_DIR): MovielensFiles {
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch (error) {
      throw new Error(
        `cannot read ${join(dir, name)} (${(error as Error).message}); pass --data DIR with the ` +
          'MovieLens ml-latest-small files (ratings.csv, movies.csv)',
      );
    }
  };
  return { ratings: parseRatings(read('ratings.csv')), movies: parseMovies(read('movies.csv')) };
}
