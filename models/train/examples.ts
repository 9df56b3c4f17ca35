/**
 * Examples for a trained version: what an app feeds `predict`/`observe` for one catalog item.
 * Browser-safe; the demo app, the replay and the tests all build them here.
 */
import type { Example } from '../../src/backbone/features.ts';
import { FEATURES_INPUT, ITEM_INPUT } from './hybrid.ts';
import type { ItemCatalog } from './types.ts';

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
