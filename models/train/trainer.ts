/**
 * The batch trainer: interaction history + item catalog in, a model version out.
 *
 * 1. Factorise the history (ALS with biases, `als.ts`): every item seen gets a bias b_i and
 *    factors q_i, plus its popularity log(1 + n_i).
 * 2. Fit the item MLP (`item_mlp.ts`) from content features to (b_i, q_i), so an item absent
 *    from the history still gets an embedding; the residual table keeps what the
 *    factorisation learned beyond the MLP's prior for every item it saw (`hybrid.ts`).
 * 3. Lay out the embedding the head learns on (`embedding.ts`): groups bias | factors |
 *    popularity | content | constant, each standardised over the history and multiplied by a
 *    group scale. The device's head uses the library's defaults (SGD, 'optimal' schedule,
 *    l2 = 1e-4) and no scaler, so these scales *are* the per-group step sizes of on-device
 *    learning: how far one outcome moves the user's weights on each kind of feature, and the
 *    constant column's scale how fast the user's own bias adapts.
 * 4. Choose the scales on the history itself: hold out its latest share (by time), train
 *    steps 1–3 on the rest, replay the held-out users prequentially with the device's head
 *    (`simulate.ts`) for candidate scales, keep the best. Nothing outside the history is used.
 * 5. Retrain steps 1–3 on the whole history with those scales, fit the global head over the
 *    embedding (Newton, `global_head.ts`), export ONNX with the feature spec (including the
 *    training reference statistics for drift checks) in metadata_props.
 *
 * Browser-safe (no node: imports) and deterministic for a seed.
 */

import { FEATURES_INPUT, ITEM_INPUT } from '../../src/backbone/catalog.ts';
import type { FeatureSpec } from '../../src/backbone/feature_spec.ts';
import type { HeadState } from '../../src/learn/types.ts';
import { canonicalJson } from '../../src/protocol/canonical_json.ts';
import { sha256Hex } from '../../src/sha256.ts';
import { factorise } from './als.ts';
import {
  DEFAULT_SCALES,
  type GroupScales,
  layoutEmbedding,
  SCALE_CANDIDATES,
  SCALE_GROUPS,
  standardisedColumns,
} from './embedding.ts';
import { countOutcomes, fitGlobalHead } from './global_head.ts';
import {
  buildHybridModel,
  EMBEDDING_OUTPUT,
  type HybridParams,
  joinCatalog,
  projectRows,
} from './hybrid.ts';
import { denseForward, fitItemMlp } from './item_mlp.ts';
import { columnStats } from './linalg.ts';
import { type ReplaySummary, rocAuc, summarise } from './metrics.ts';
import { simulateUsers, type UserSequence, userSequences } from './simulate.ts';
import type {
  InteractionHistory,
  ItemCatalog,
  TrainedVersion,
  TrainOptions,
  VersionMetrics,
} from './types.ts';

/** Metadata keys the trainer writes beside the spec. */
export const METADATA_KEYS = {
  semver: 'localfit.semver',
  trainedOn: 'localfit.trained_on',
  created: 'localfit.created',
  groups: 'localfit.embedding_groups',
  trainer: 'localfit.trainer',
} as const;

interface Resolved {
  seed: number;
  factors: number;
  factorL2: number;
  sweeps: number;
  hidden: number[];
  epochs: number;
  validation: number;
}

function resolve(options: TrainOptions): Resolved {
  return {
    seed: options.seed ?? 1,
    factors: options.factors ?? 16,
    factorL2: options.factorL2 ?? 20,
    sweeps: options.sweeps ?? 15,
    hidden: options.hidden ?? [32, 32],
    epochs: options.epochs ?? 60,
    validation: options.validation ?? 0.2,
  };
}

/** Rows [0, end) of a history. */
function slice(history: InteractionHistory, end: number): InteractionHistory {
  return {
    users: history.users,
    user: history.user.subarray(0, end),
    item: history.item.subarray(0, end),
    label: history.label.subarray(0, end),
    signal: history.signal?.subarray(0, end),
    time: history.time.subarray(0, end),
  };
}

function checkInputs(history: InteractionHistory, catalog: ItemCatalog): void {
  const n = history.user.length;
  if (n === 0) throw new Error('the history is empty');
  for (const [name, array] of [
    ['item', history.item],
    ['label', history.label],
    ['time', history.time],
  ] as const) {
    if (array.length !== n) throw new Error(`history.${name} has ${array.length} rows, not ${n}`);
  }
  if (history.signal && history.signal.length !== n) throw new Error('history.signal length');
  if (catalog.features.length !== catalog.count * catalog.names.length)
    throw new Error('catalog.features is not count × names.length');
  for (let r = 0; r < n; r++) {
    if (history.user[r] < 0 || history.user[r] >= history.users)
      throw new Error(`history row ${r}: user out of range`);
    if (history.item[r] < 0 || history.item[r] >= catalog.count)
      throw new Error(`history row ${r}: item out of range`);
    if (history.label[r] > 1) throw new Error(`history row ${r}: label must be 0 or 1`);
    if (r > 0 && history.time[r] < history.time[r - 1])
      throw new Error(`history row ${r}: rows must be sorted by time`);
  }
  if (!catalog.features.every(Number.isFinite)) throw new Error('catalog features must be finite');
}

/** Steps 1–2 on one history: the backbone's parameters up to the last Gemm. */
interface Stage {
  params: Omit<HybridParams, 'projection' | 'projectionBias'>;
  contentMean: number[];
  contentStd: number[];
  /** Reference statistics of the raw content features over the history interactions. */
  reference: { mean: number[]; std: number[] };
  /** items × (factorWidth + C): the tensor before the last Gemm. */
  joined: Float32Array;
  rmse: number;
  r2: number;
  mlpItems: number;
}

function fitStage(
  history: InteractionHistory,
  catalog: ItemCatalog,
  options: Resolved,
  progress: (step: string, done: number, total: number) => void,
): Stage {
  const items = catalog.count;
  const c = catalog.names.length;
  const k = options.factors;
  const als = factorise(
    {
      users: history.users,
      items,
      user: history.user,
      item: history.item,
      value: history.signal ?? history.label,
    },
    {
      factors: k,
      l2: options.factorL2,
      sweeps: options.sweeps,
      seed: options.seed,
      onSweep: (done, total) => progress('factorise', done, total),
    },
  );

  // Content statistics over the interactions (what the head sees), also the drift reference.
  const perItem = new Float64Array(items);
  for (const i of history.item) perItem[i]++;
  const stats = columnStats(catalog.features, c, perItem);
  const reference = { mean: Array.from(stats.mean), std: Array.from(stats.std) };
  const contentMean = reference.mean;
  const contentStd = reference.std.map((s) => (s > 0 ? s : 1));

  // Item MLP: normalised content → (b_i, q_i), weighted by how well each item is estimated.
  // Items with identical content are one training row (weights summed, targets averaged):
  // the same least-squares objective, in about half the rows.
  const seen: number[] = [];
  for (let i = 0; i < items; i++) if (als.itemCount[i] > 0) seen.push(i);
  const targets = k + 1;
  const normalise = (i: number, j: number) => {
    // Rounded like the graph's Sub/Div, so the MLP is fitted on what it will be fed.
    const centred = Math.fround(
      Math.fround(catalog.features[i * c + j]) - Math.fround(contentMean[j]),
    );
    return Math.fround(centred / Math.fround(contentStd[j]));
  };
  const learned = (i: number, out: Float64Array, offset: number) => {
    out[offset] = als.itemBias[i];
    for (let f = 0; f < k; f++) out[offset + 1 + f] = als.itemFactors[i * k + f];
  };
  const rowOf = new Map<string, number>();
  const groups: { first: number; weight: number; sum: Float64Array }[] = [];
  const one = new Float64Array(targets);
  for (const i of seen) {
    const key = Array.from(catalog.features.subarray(i * c, (i + 1) * c)).join(',');
    let row = rowOf.get(key);
    if (row === undefined) {
      row = groups.length;
      rowOf.set(key, row);
      groups.push({ first: i, weight: 0, sum: new Float64Array(targets) });
    }
    const n = als.itemCount[i];
    const w = n / (n + 5);
    learned(i, one, 0);
    const group = groups[row];
    group.weight += w;
    for (let o = 0; o < targets; o++) group.sum[o] += w * one[o];
  }
  const x = new Float64Array(groups.length * c);
  const y = new Float64Array(groups.length * targets);
  const weight = new Float64Array(groups.length);
  groups.forEach((group, r) => {
    for (let j = 0; j < c; j++) x[r * c + j] = normalise(group.first, j);
    for (let o = 0; o < targets; o++) y[r * targets + o] = group.sum[o] / group.weight;
    weight[r] = group.weight;
  });
  const fit = fitItemMlp(x, y, weight, c, targets, {
    hidden: options.hidden,
    epochs: options.epochs,
    seed: options.seed + 1,
    onEpoch: (done, total) => progress('item-mlp', done, total),
  });
  // R² per item (weighted as in training).
  let residualSum = 0;
  let totalSum = 0;
  {
    const xi = new Float64Array(c);
    let wsum = 0;
    const meanY = new Float64Array(targets);
    for (const i of seen) {
      const n = als.itemCount[i];
      const w = n / (n + 5);
      learned(i, one, 0);
      wsum += w;
      for (let o = 0; o < targets; o++) meanY[o] += w * one[o];
    }
    for (let o = 0; o < targets; o++) meanY[o] /= wsum;
    for (const i of seen) {
      const n = als.itemCount[i];
      const w = n / (n + 5);
      for (let j = 0; j < c; j++) xi[j] = normalise(i, j);
      const prediction = denseForward(fit.params, xi);
      learned(i, one, 0);
      for (let o = 0; o < targets; o++) {
        residualSum += w * (prediction[o] - one[o]) ** 2;
        totalSum += w * (one[o] - meanY[o]) ** 2;
      }
    }
  }
  const r2 = totalSum > 0 ? 1 - residualSum / totalSum : 0;

  // The prior gets a popularity column that is always 0: popularity is learned per item only.
  const factorWidth = k + 2;
  const mlp = fit.params;
  const last = mlp.layers[mlp.layers.length - 1];
  const widened = new Float32Array(last.inputSize * factorWidth);
  for (let i = 0; i < last.inputSize; i++)
    for (let o = 0; o < targets; o++) widened[i * factorWidth + o] = last.weights[i * targets + o];
  const bias = new Float32Array(factorWidth);
  bias.set(last.bias);
  mlp.layers[mlp.layers.length - 1] = {
    ...last,
    outputSize: factorWidth,
    weights: widened,
    bias,
  };

  // Residual = learned − prior for seen items (prior computed exactly as the graph does).
  const residual = new Float32Array(items * factorWidth);
  const base: Stage['params'] = { items, mlp, residual, factorWidth };
  const spec = stageSpec(base, catalog, contentMean, contentStd);
  const prior = joinCatalog(
    { ...base, projection: new Float32Array(0), projectionBias: new Float32Array(0) },
    spec,
    catalog.features,
  );
  const width = factorWidth + c;
  for (const i of seen) {
    const target = [
      als.itemBias[i],
      ...als.itemFactors.subarray(i * k, (i + 1) * k),
      Math.log1p(als.itemCount[i]),
    ];
    for (let o = 0; o < factorWidth; o++)
      residual[i * factorWidth + o] = target[o] - prior[i * width + o];
  }
  const joined = joinCatalog(
    { ...base, projection: new Float32Array(0), projectionBias: new Float32Array(0) },
    spec,
    catalog.features,
  );
  return {
    params: base,
    contentMean,
    contentStd,
    reference,
    joined,
    rmse: als.rmse,
    r2,
    mlpItems: seen.length,
  };
}

/** A spec for the stage's graph (the output width is filled in once the layout is known). */
function stageSpec(
  params: Stage['params'],
  catalog: ItemCatalog,
  mean: number[],
  std: number[],
  outputSize = 1,
  reference?: { mean: number[]; std: number[] },
): FeatureSpec {
  return {
    inputs: [
      { name: ITEM_INPUT, size: params.items },
      {
        name: FEATURES_INPUT,
        size: catalog.names.length,
        mean,
        std,
        ...(reference ? { reference } : {}),
      },
    ],
    output: { name: EMBEDDING_OUTPUT, size: outputSize },
    task: 'binary',
  };
}

/** Per-item interaction weights of a history (for the standardisation statistics). */
function itemWeights(history: InteractionHistory, items: number): Float64Array {
  const counts = new Float64Array(items);
  for (const i of history.item) counts[i]++;
  return counts;
}

/** What the search for scales works on: steps 1–2 fitted on the history minus its end. */
export interface SelectionContext {
  stage: Stage;
  catalog: ItemCatalog;
  stats: ReturnType<typeof standardisedColumns>;
  /** The global head fitted once on unit scales, its weights indexed by joined column. */
  head: HeadState;
  weightBySource: Float64Array;
  /** Interactions the head was fitted on (its `t`). */
  t: number;
  /** The held-out users, each in time order. */
  sequences: UserSequence[];
}

export function prepareSelection(
  history: InteractionHistory,
  catalog: ItemCatalog,
  options: TrainOptions = {},
  progress: (step: string, done: number, total: number) => void = () => undefined,
): SelectionContext {
  const resolved = resolve(options);
  const n = history.user.length;
  const items = catalog.count;
  const c = catalog.names.length;
  const cut = Math.floor(n * (1 - resolved.validation));
  const inner = slice(history, cut);
  const sequences = userSequences(
    history.user.subarray(cut),
    history.item.subarray(cut),
    history.label.subarray(cut),
  );
  const stage = fitStage(inner, catalog, resolved, progress);
  const stats = standardisedColumns(
    stage.joined,
    stage.params.factorWidth + c,
    itemWeights(inner, items),
  );
  // The global head is fitted once on unit scales; for other scales the same model is the
  // one with weights w / s per column (up to the tiny L2 term), so no refit per candidate.
  const unitScales: GroupScales = { bias: 1, factors: 1, popularity: 1, content: 1, constant: 0 };
  const unit = layoutEmbedding(stage.params.factorWidth, c, stats, unitScales);
  const unitFeatures = projectRows(
    { ...stage.params, projection: unit.projection, projectionBias: unit.bias },
    stageSpec(stage.params, catalog, stage.contentMean, stage.contentStd, unit.size),
    stage.joined,
  );
  const head = fitGlobalHead(
    unitFeatures,
    unit.size,
    countOutcomes(items, inner.item, inner.label),
  );
  const weightBySource = new Float64Array(stage.params.factorWidth + c);
  unit.columns.forEach((column, j) => {
    weightBySource[column.source] = head.state.weights[j];
  });
  return { stage, catalog, stats, head: head.state, weightBySource, t: cut, sequences };
}

/** Replays the held-out users with the device's head over the embedding for `scales`. */
export function evaluateScales(context: SelectionContext, scales: GroupScales): ReplaySummary {
  const { stage, catalog } = context;
  const layout = layoutEmbedding(
    stage.params.factorWidth,
    catalog.names.length,
    context.stats,
    scales,
  );
  const features = projectRows(
    { ...stage.params, projection: layout.projection, projectionBias: layout.bias },
    stageSpec(stage.params, catalog, stage.contentMean, stage.contentStd, layout.size),
    stage.joined,
  );
  const head = structuredClone(context.head);
  head.config.dim = layout.size;
  head.weights = new Float64Array(layout.size);
  layout.columns.forEach((column, j) => {
    if (column.source >= 0) head.weights[j] = context.weightBySource[column.source] / column.scale;
  });
  head.t = context.t;
  return summarise(simulateUsers(head, features, layout.size, context.sequences));
}

/**
 * How candidate scales are compared, on the held-out replay with the learning head: twice the
 * mean per-user ROC AUC (ranking items for one user, what a recommender does with the scores)
 * plus the pooled ROC AUC (scores comparable across users, which needs each user's bias).
 */
export function selectionScore(summary: ReplaySummary): number {
  if (!(summary.users > 0)) return Number.NEGATIVE_INFINITY;
  return 2 * summary.ondevice_user_auc + summary.ondevice_pooled_auc;
}

/** Coordinate search over {@link SCALE_CANDIDATES}, two rounds over the groups. */
export function searchScales(
  context: SelectionContext,
  progress: (step: string, done: number, total: number) => void = () => undefined,
  score: (summary: ReplaySummary) => number = selectionScore,
): { scales: GroupScales; summary: ReplaySummary } {
  let best = { ...DEFAULT_SCALES };
  let bestSummary = evaluateScales(context, best);
  const total = SCALE_GROUPS.length * SCALE_CANDIDATES.length * 2;
  let tried = 0;
  for (let round = 0; round < 2; round++) {
    for (const group of SCALE_GROUPS) {
      for (const value of SCALE_CANDIDATES) {
        tried++;
        if (value === best[group]) continue;
        const scales = { ...best, [group]: value };
        if (SCALE_GROUPS.every((g) => g === 'constant' || scales[g] === 0)) continue;
        const summary = evaluateScales(context, scales);
        if (score(summary) > score(bestSummary) + 1e-9) {
          best = scales;
          bestSummary = summary;
        }
        progress('select/scales', tried, total);
      }
    }
  }
  return { scales: best, summary: bestSummary };
}

/** Trains a version (see the file comment for the steps). */
export async function trainVersion(
  history: InteractionHistory,
  catalog: ItemCatalog,
  options: TrainOptions = {},
): Promise<TrainedVersion> {
  const started = performance.now();
  const resolved = resolve(options);
  checkInputs(history, catalog);
  const progress = (step: string, done: number, total: number) =>
    options.onProgress?.({ step, done, total, elapsed: (performance.now() - started) / 1000 });
  const n = history.user.length;
  const items = catalog.count;
  const c = catalog.names.length;

  // 4. Choose the scales on a time split of the history (or take the given ones).
  // With `validation: 0` nothing is held out: the given (or starting) scales are used as they
  // are and there are no held-out figures.
  let best: GroupScales = { ...DEFAULT_SCALES, ...options.scales };
  let bestSummary: ReplaySummary | undefined;
  if (resolved.validation > 0) {
    const context = prepareSelection(history, catalog, options, (step, done, total) =>
      progress(`select/${step}`, done, total),
    );
    if (options.scales) bestSummary = evaluateScales(context, best);
    else ({ scales: best, summary: bestSummary } = searchScales(context, progress));
  }

  // 5. The version: everything again on the whole history, with the chosen scales.
  const stage = fitStage(history, catalog, resolved, progress);
  const base = standardisedColumns(
    stage.joined,
    stage.params.factorWidth + c,
    itemWeights(history, items),
  );
  const layout = layoutEmbedding(stage.params.factorWidth, c, base, best);
  const params: HybridParams = {
    ...stage.params,
    projection: layout.projection,
    projectionBias: layout.bias,
  };
  const spec = stageSpec(
    stage.params,
    catalog,
    stage.contentMean,
    stage.contentStd,
    layout.size,
    stage.reference,
  );
  const features = projectRows(params, spec, stage.joined);
  progress('global-head', 0, 1);
  const head = fitGlobalHead(
    features,
    layout.size,
    countOutcomes(items, history.item, history.label),
  );
  progress('global-head', 1, 1);

  // Offline figures of the final head on its own history (in-sample) for the record.
  const scores: number[] = [];
  const labels: number[] = [];
  {
    const { weights, intercepts } = head.state;
    for (let r = 0; r < n; r++) {
      const i = history.item[r];
      let z = intercepts[0];
      for (let j = 0; j < layout.size; j++) z += weights[j] * features[i * layout.size + j];
      scores.push(1 / (1 + Math.exp(-z)));
      labels.push(history.label[r]);
    }
  }
  let positives = 0;
  for (const y of history.label) positives += y;

  const groups = layout.groups;
  const metadata: Record<string, string> = {
    [METADATA_KEYS.semver]: options.semver ?? '0.1.0',
    ...(options.trainedOn ? { [METADATA_KEYS.trainedOn]: options.trainedOn } : {}),
    ...(options.created ? { [METADATA_KEYS.created]: options.created } : {}),
    [METADATA_KEYS.groups]: canonicalJson(groups),
    [METADATA_KEYS.trainer]: canonicalJson({ ...resolved, scales: best }),
  };
  const bytes = buildHybridModel(params, spec, { metadata });
  const metrics: VersionMetrics = {
    history: {
      interactions: n,
      users: new Set(history.user).size,
      items: new Set(history.item).size,
      positiveRate: positives / n,
    },
    factorisation: { rmse: stage.rmse, sweeps: resolved.sweeps },
    itemMlp: { r2: stage.r2, items: stage.mlpItems },
    globalHead: { logLoss: head.logLoss, auc: rocAuc(scores, labels), iterations: head.iterations },
    validation: bestSummary && {
      users: bestSummary.users,
      interactions: bestSummary.interactions,
      static: {
        userAuc: bestSummary.static_user_auc,
        pooledAuc: bestSummary.static_pooled_auc,
        logLoss: bestSummary.static_log_loss,
      },
      ondevice: {
        userAuc: bestSummary.ondevice_user_auc,
        pooledAuc: bestSummary.ondevice_pooled_auc,
        logLoss: bestSummary.ondevice_log_loss,
      },
    },
    seconds: (performance.now() - started) / 1000,
  };
  return {
    bytes,
    sha256: await sha256Hex(bytes),
    spec,
    params,
    head: head.state,
    scale: false,
    groups,
    metrics,
    metadata,
  };
}
