/**
 * The CSV side of `localfit prequential`, kept free of Node APIs so it can be tested (and
 * reused) on strings: splitting lines, parsing feature values, and inferring the task from
 * the target column.
 *
 * Supported CSV: a header row, comma-separated fields, optional double quotes around a field
 * (with "" for a quote inside it); a quoted field may not span lines. Blank lines are skipped.
 *
 * ```ts
 * import { splitCsvLine, TargetSummary } from './csv.ts';
 * splitCsvLine('a,"b,c",1'); // ['a', 'b,c', '1']
 * const target = new TargetSummary();
 * for (const v of ['0', '1', '1']) target.observe(v);
 * target.inferTask(); // 'binary'
 * ```
 */
import type { Task } from '../../src/learn/types.ts';

/** A problem with the command line or the data: printed as is, exit code 1 (2 for usage). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else {
      field += c;
    }
  }
  if (quoted) throw new CliError('unterminated quoted field (quoted fields may not span lines)');
  fields.push(field);
  return fields;
}

/** A finite number, or NaN for anything else ('' and whitespace included, unlike Number()). */
export function parseNumber(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '') return Number.NaN;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : Number.NaN;
}

/**
 * More distinct values than this and a numeric target is regression; a non-numeric one is
 * refused rather than turned into a huge softmax.
 */
export const MAX_CLASSES = 50;
/** At most this many distinct integers count as class labels when the task is inferred. */
export const MAX_INFERRED_INTEGER_CLASSES = 20;

/** What a pass over the target column learned: enough to infer the task and the classes. */
export class TargetSummary {
  rows = 0;
  numeric = true;
  integer = true;
  /** Distinct values (numbers if the column is numeric so far), up to MAX_CLASSES + 1. */
  private readonly values = new Set<string>();
  private readonly numbers = new Set<number>();

  observe(text: string): void {
    this.rows++;
    const value = parseNumber(text);
    if (Number.isNaN(value)) this.numeric = false;
    else if (!Number.isInteger(value)) this.integer = false;
    if (this.values.size <= MAX_CLASSES) this.values.add(text.trim());
    if (this.numeric && this.numbers.size <= MAX_CLASSES) this.numbers.add(value);
  }

  /** Distinct values, at most MAX_CLASSES + 1 (more means "many"). */
  get distinct(): number {
    return this.numeric ? this.numbers.size : this.values.size;
  }

  /**
   * The task the target suggests:
   * - exactly 2 distinct values → binary;
   * - non-numeric with ≤ MAX_CLASSES values, or integers with ≤ MAX_INFERRED_INTEGER_CLASSES
   *   values → multiclass;
   * - any other numeric column → regression.
   */
  inferTask(): Task {
    const n = this.distinct;
    if (n < 2)
      throw new CliError(
        `the target has ${n === 0 ? 'no values' : 'a single value'}: nothing to learn`,
      );
    if (n === 2) return 'binary';
    if (!this.numeric) {
      if (n > MAX_CLASSES) {
        throw new CliError(
          `the target has more than ${MAX_CLASSES} distinct non-numeric values; is --target right?`,
        );
      }
      return 'multiclass';
    }
    return this.integer && n <= MAX_INFERRED_INTEGER_CLASSES ? 'multiclass' : 'regression';
  }

  /** The classes in sorted order (numbers ascending, strings by code unit), as scikit-learn. */
  classes(): (string | number)[] {
    if (this.distinct > MAX_CLASSES) {
      throw new CliError(
        `the target has more than ${MAX_CLASSES} distinct values: too many classes`,
      );
    }
    if (this.numeric) return [...this.numbers].sort((a, b) => a - b);
    return [...this.values].sort();
  }

  /** The label to learn from a target field: a number for a numeric column, else the trimmed text. */
  label(text: string): string | number {
    return this.numeric ? parseNumber(text) : text.trim();
  }
}
