/**
 * Maps a class label to its output index on the update path without allocating: a linear
 * scan with `===` for the few classes heads usually have (cheaper than hashing), a `Map`
 * (whose `get` allocates nothing) beyond that. Labels match by value and type: the class
 * `1` and the label `'1'` are different, as they are in JavaScript.
 *
 * Booleans are accepted by binary heads as "positive"/"negative" (classes[1] / classes[0]),
 * whatever the classes are called, because that is how apps naturally report outcomes
 * (clicked: true). Multiclass heads accept booleans only if a class is literally `true` or
 * `false`, which `HeadConfig.classes` does not allow, so they reject them.
 *
 * ```ts
 * import { ClassIndex } from './labels.ts';
 * const index = new ClassIndex(['cat', 'dog', 'fish'], false);
 * index.indexOf('dog'); // 1
 * index.indexOf('cow'); // NaN: unknown
 * ```
 */
import type { Label } from './types.ts';

const SCAN_LIMIT = 16;

export class ClassIndex {
  private readonly classes: readonly (string | number)[];
  private readonly lookup: Map<string | number, number> | undefined;

  private readonly binary: boolean;
  constructor(classes: readonly (string | number)[], binary: boolean) {
    this.binary = binary;
    this.classes = classes;
    this.lookup =
      classes.length > SCAN_LIMIT ? new Map(classes.map((c, i) => [c, i] as const)) : undefined;
  }

  /** The output index of `y`, or NaN if the head does not know it. */
  indexOf(y: Label): number {
    if (typeof y === 'boolean') return this.binary ? (y ? 1 : 0) : Number.NaN;
    if (this.lookup !== undefined) return this.lookup.get(y) ?? Number.NaN;
    const classes = this.classes;
    for (let k = 0; k < classes.length; k++) if (classes[k] === y) return k;
    return Number.NaN;
  }
}
