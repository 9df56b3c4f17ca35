/**
 * The shapes of device request bodies (src/protocol), as checks. Each check is typed
 * against the protocol's interface, so the compiler keeps the two in step.
 */
import {
  AUC_SKETCH_BINS,
  type AucSketch,
  type CtrCounts,
  type DriftStats,
  type HeadLeaders,
  MAX_HEAD_CANDIDATES,
  MAX_VERSION_EVENTS,
  MAX_WINDOWS_PER_BATCH,
  type MetricsBatch,
  type MetricWindow,
  type Moments,
  type PairedComparison,
  type RankingSums,
  type RegisterRequest,
  type VersionEvent,
} from '../src/protocol/index.ts';
import {
  array,
  type Check,
  invalid,
  number,
  object,
  oneOf,
  optional,
  record,
  refine,
  string,
} from './validate.ts';

/** Ids made by devices: safe in logs and URLs. Idempotency keys must not be trivially short. */
export const idempotencyKey: Check<string> = string({
  min: 8,
  max: 128,
  pattern: /^[A-Za-z0-9._:-]+$/,
  patternName: '8–128 characters of A-Z a-z 0-9 . _ : -',
});

export const windowId: Check<string> = string({
  min: 1,
  max: 128,
  pattern: /^[A-Za-z0-9._:-]+$/,
  patternName: '1–128 characters of A-Z a-z 0-9 . _ : -',
});

/** Version ids as devices report them (the server's are `v<n>`; others are accepted too). */
export const versionId: Check<string> = string({
  min: 1,
  max: 128,
  pattern: /^[A-Za-z0-9._:+-]+$/,
  patternName: 'up to 128 characters of A-Z a-z 0-9 . _ : + -',
});

/**
 * Bounds on every number a device sends. Generous for any real window, and they keep the
 * running sums (bigint and float8 columns) far from overflow however many windows arrive, so
 * no input can turn into a storage error.
 */
const count: Check<number> = number({ min: 0, max: 1e9, integer: true });
const epochMs: Check<number> = number({ min: 0, max: 1e14, integer: true });
const sum: Check<number> = number({ min: -1e15, max: 1e15 });
const nonNegative: Check<number> = number({ min: 0, max: 1e15 });
const sumOfSquares: Check<number> = number({ min: 0, max: 1e30 });

const shortText = optional(string({ max: 200 }));

export const registerRequest: Check<RegisterRequest> = object<RegisterRequest>({
  appKey: string({ min: 1, max: 256 }),
  client: optional(
    object<NonNullable<RegisterRequest['client']>>({
      platform: shortText,
      appVersion: shortText,
      sdkVersion: shortText,
    }),
  ),
});

const histogram: Check<number[]> = array(count, { min: AUC_SKETCH_BINS, max: AUC_SKETCH_BINS });

const aucSketch = object<AucSketch>({ positive: histogram, negative: histogram });

const ctrCounts = refine(
  object<CtrCounts>({ impressions: count, clicks: count, conversions: count }),
  (ctr, path) => {
    if (ctr.clicks > ctr.impressions) invalid(`${path}.clicks`, 'must be <= impressions');
  },
);

const rankingSums = refine(
  object<RankingSums>({
    k: number({ min: 1, max: 1000, integer: true }),
    slates: count,
    precisionSum: nonNegative,
    recallSum: nonNegative,
    ndcgSum: nonNegative,
  }),
  (r, path) => {
    for (const key of ['precisionSum', 'recallSum', 'ndcgSum'] as const)
      if (r[key] > r.slates * (1 + 1e-9)) invalid(`${path}.${key}`, 'must be <= slates');
  },
);

const momentsShape = { count, sum, sumSq: sumOfSquares };
const moments = object<Moments>(momentsShape);
const featureMoments = object<Moments & { name: string }>({
  ...momentsShape,
  name: string({ min: 1, max: 128 }),
});

const driftStats = object<DriftStats>({
  prediction: optional(moments),
  features: optional(array(featureMoments, { max: 256 })),
  alerts: count,
  byDetector: optional(
    record(count, {
      maxKeys: 32,
      key: string({
        min: 1,
        max: 64,
        pattern: /^[A-Za-z0-9._-]+$/,
        patternName: 'a detector name',
      }),
    }),
  ),
});

const pairedComparison = object<PairedComparison>({
  baselineVersionId: versionId,
  n: count,
  diffSum: sum,
  diffSumSq: sumOfSquares,
});

const versionEvent = object<VersionEvent>({
  kind: oneOf(['staged', 'refused', 'rolled_back', 'promoted']),
  at: epochMs,
  reason: optional(string({ max: 500, controls: 'whitespace' })),
});

const headLeaders = object<HeadLeaders>({
  leaders: record(count, {
    maxKeys: MAX_HEAD_CANDIDATES,
    key: string({
      min: 1,
      max: 64,
      pattern: /^[A-Za-z0-9._() -]+$/,
      patternName: 'a candidate name',
    }),
  }),
});

export const metricWindow: Check<MetricWindow> = refine(
  object<MetricWindow>({
    windowId,
    versionId,
    task: oneOf(['binary', 'multiclass', 'regression']),
    start: epochMs,
    end: epochMs,
    count,
    loglossSum: optional(nonNegative),
    correct: optional(count),
    squaredErrorSum: optional(sumOfSquares),
    absoluteErrorSum: optional(nonNegative),
    positives: optional(count),
    auc: optional(aucSketch),
    ctr: optional(ctrCounts),
    ranking: optional(rankingSums),
    drift: optional(driftStats),
    dropped: optional(count),
    paired: optional(pairedComparison),
    // A window may carry only events (count 0): a refused version never scored anything.
    events: optional(array(versionEvent, { max: MAX_VERSION_EVENTS })),
    head: optional(headLeaders),
  }),
  (w, path) => {
    if (w.end < w.start) invalid(`${path}.end`, 'must be >= start');
    if (w.correct !== undefined && w.correct > w.count)
      invalid(`${path}.correct`, 'must be <= count');
    if (w.positives !== undefined && w.positives > w.count)
      invalid(`${path}.positives`, 'must be <= count');
    if (w.auc) {
      let total = 0;
      for (let i = 0; i < AUC_SKETCH_BINS; i++) total += w.auc.positive[i] + w.auc.negative[i];
      if (total > w.count) invalid(`${path}.auc`, 'holds more outcomes than count');
    }
    if (w.paired && w.paired.n > w.count) invalid(`${path}.paired.n`, 'must be <= count');
    if (w.head && Object.values(w.head.leaders).reduce((a, b) => a + b, 0) > w.count)
      invalid(`${path}.head.leaders`, 'lead more outcomes than count');
  },
);

export const metricsBatch: Check<MetricsBatch> = refine(
  object<MetricsBatch>({
    idempotencyKey,
    windows: array(metricWindow, { min: 1, max: MAX_WINDOWS_PER_BATCH }),
    sentAt: optional(epochMs),
  }),
  (batch, path) => {
    const seen = new Set<string>();
    batch.windows.forEach((w, i) => {
      if (seen.has(w.windowId))
        invalid(`${path ? `${path}.` : ''}windows[${i}].windowId`, 'appears twice in the batch');
      seen.add(w.windowId);
    });
  },
);
