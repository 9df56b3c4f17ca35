/**
 * Catalog models: the inputs of the kind of model the trainer builds from an item catalog
 * (models/train/hybrid.ts; `npm run models`, `localfit replay`): a one-hot over the catalog
 * (`item`) and the item's content features (`item_features`). An app that serves such a model
 * builds its `predict`/`observe` examples here; so do the demo, the replay and the tests.
 *
 * ```ts
 * import { catalogExample, type ItemCatalog } from './catalog.ts';
 * const catalog: ItemCatalog = { count: 2, names: ['genre:Drama', 'year'], features: new Float32Array([1, 0.5, 0, 0.9]) };
 * const example = catalogExample(catalog, 1);
 * example.item; // Float32Array [0, 1]
 * example.item_features; // Float32Array [0, 0.9]
 * ```
 */
import type { Example } from './features.ts';

/** The one-hot input's name. */
export const ITEM_INPUT = 'item';
/** The content features' input name. */
export const FEATURES_INPUT = 'item_features';

/** Items and their content features. */
export interface ItemCatalog {
  count: number;
  /** Content features, row-major count × names.length (e.g. genre flags, release year). */
  features: Float32Array;
  names: string[];
}

/**
 * Catalog item i: its one-hot over the catalog (`item`) and its content features
 * (`item_features`). An item the version does not know is an all-zero `item` row.
 */
export function catalogExample(catalog: ItemCatalog, i: number): Example {
  const width = catalog.names.length;
  const item = new Float32Array(catalog.count);
  item[i] = 1;
  return {
    [ITEM_INPUT]: item,
    [FEATURES_INPUT]: catalog.features.slice(i * width, (i + 1) * width),
  };
}
