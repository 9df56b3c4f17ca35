/**
 * Parses the MovieLens "latest-small" CSV files (ratings.csv, movies.csv) into plain arrays.
 * Browser-safe: it takes the files' text, so Node reads them from disk and a browser test can
 * get them from the dev server. Nothing here is MovieLens-specific beyond the column layout.
 */
import { splitCsvLine } from '../cli/csv.ts';

export interface Rating {
  user: number;
  movie: number;
  rating: number;
  /** Seconds since the epoch. */
  time: number;
}

export interface Movie {
  movie: number;
  title: string;
  /** Release year from the title's "(1995)" suffix, or undefined when it has none. */
  year: number | undefined;
  genres: string[];
}

/** The genres MovieLens uses, in a fixed order ("(no genres listed)" maps to none). */
export const GENRES = [
  'Action',
  'Adventure',
  'Animation',
  'Children',
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'IMAX',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
] as const;

/** One CSV line split with RFC 4180 quoting: the command line's own splitter. */
export { splitCsvLine };

function rows(text: string, header: string): string[][] {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== header)
    throw new Error(`expected the header "${header}", got "${lines[0]?.slice(0, 80)}"`);
  const out: string[][] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === '') continue;
    out.push(splitCsvLine(lines[i]));
  }
  return out;
}

/** ratings.csv's columns, in order. */
export const RATINGS_COLUMNS = ['userId', 'movieId', 'rating', 'timestamp'];

export function parseRatings(text: string): Rating[] {
  return rows(text, RATINGS_COLUMNS.join(',')).map((fields, i) => {
    const [user, movie, rating, time] = fields.map(Number);
    if (fields.length !== 4 || ![user, movie, rating, time].every(Number.isFinite))
      throw new Error(`ratings.csv line ${i + 2} is malformed`);
    return { user, movie, rating, time };
  });
}

export function parseMovies(text: string): Movie[] {
  return rows(text, 'movieId,title,genres').map((fields, i) => {
    if (fields.length !== 3) throw new Error(`movies.csv line ${i + 2} is malformed`);
    const [id, rawTitle, genres] = fields;
    const title = rawTitle.trim();
    const match = /\((\d{4})\)\s*$/.exec(title);
    return {
      movie: Number(id),
      title,
      year: match ? Number(match[1]) : undefined,
      genres: genres === '(no genres listed)' ? [] : genres.split('|'),
    };
  });
}
