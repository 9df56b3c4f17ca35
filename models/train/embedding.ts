/**
 * The embedding's layout: which columns of the backbone's joined tensor [bias, factors…,
 * popularity, content…] reach the head, standardised over the history and scaled per group,
 * plus a constant column.
 *
 * Why scales: the device's head is plain SGD with the library's defaults and one learning
 * rate for every weight, and the version ships no scaler. A column scaled by s gets an update
 * s² times larger in its effect on the score, so the group scales set how much one outcome
 * teaches the user's head about each kind of feature. The constant column (value c) makes its
 * weight a second intercept, so the user's own bias adapts (1 + c²) times faster than through
 * the intercept alone: that per-user bias is what lifts pooled AUC. The trainer chooses the
 * scales on held-out history (see `trainer.ts`), not by hand.
 */

import { columnStats } from './linalg.ts';
import type { EmbeddingGroup } from './types.ts';

export const SCALE_GROUPS = ['bias', 'factors', 'popularity', 'content', 'constant'] as const;
export type ScaleGroup = (typeof SCALE_GROUPS)[number];
export type GroupScales = Record<ScaleGroup, number>;

/** Where the search for scales starts. */
export const DEFAULT_SCALES: GroupScales = {
  bias: 1,
  factors: 0.5,
  popularity: 0.5,
  content: 0.5,
  constant: 1,
};

/** Values the search tries for each group (0 leaves a group out). */
export const SCALE_CANDIDATES = [0, 0.125, 0.25, 0.5, 1, 2] as const;

export interface EmbeddingColumn {
  group: ScaleGroup;
  /** Column of the joined tensor it comes from, −1 for the constant column. */
  source: number;
  scale: number;
}

export interface EmbeddingLayout {
  size: number;
  columns: EmbeddingColumn[];
  groups: EmbeddingGroup[];
  /** Joined width × size, row-major: the last Gemm's weights. */
  projection: Float32Array;
  bias: Float32Array;
}

/** Interaction-weighted mean and standard deviation of each joined column. */
export function standardisedColumns(
  joined: Float32Array,
  width: number,
  itemWeights: Float64Array,
): { mean: Float64Array; std: Float64Array; width: number } {
  return { ...columnStats(joined, width, itemWeights), width };
}

/** The group of joined column j, given the factor block's width (bias, q…, popularity). */
function groupOf(j: number, factorWidth: number): ScaleGroup {
  if (j === 0) return 'bias';
  if (j < factorWidth - 1) return 'factors';
  if (j === factorWidth - 1) return 'popularity';
  return 'content';
}

export function layoutEmbedding(
  factorWidth: number,
  contentWidth: number,
  stats: { mean: Float64Array; std: Float64Array },
  scales: GroupScales,
): EmbeddingLayout {
  const width = factorWidth + contentWidth;
  const columns: EmbeddingColumn[] = [];
  for (let j = 0; j < width; j++) {
    const group = groupOf(j, factorWidth);
    // A column with no spread in the history carries nothing the head could use.
    if (scales[group] > 0 && stats.std[j] > 1e-9)
      columns.push({ group, source: j, scale: scales[group] });
  }
  if (scales.constant > 0) columns.push({ group: 'constant', source: -1, scale: scales.constant });
  const size = columns.length;
  const projection = new Float32Array(width * size);
  const bias = new Float32Array(size);
  columns.forEach((column, col) => {
    if (column.source < 0) {
      bias[col] = column.scale;
      return;
    }
    const s = column.scale / stats.std[column.source];
    projection[column.source * size + col] = s;
    bias[col] = -s * stats.mean[column.source];
  });
  const groups: EmbeddingGroup[] = [];
  columns.forEach((column, col) => {
    const last = groups[groups.length - 1];
    if (last?.name === column.group) last.size++;
    else groups.push({ name: column.group, offset: col, size: 1, scale: column.scale });
  });
  return { size, columns, groups, projection, bias };
}
