/**
 * What a retraining job asks of a trainer: train a candidate on the server's own data and
 * score it *and* the current production version on the same held-out slice, so the job can
 * compare like with like. The default is the batch trainer from `models/train` on a
 * MovieLens-format folder (`movielens_trainer.ts`); tests inject their own.
 */

/** Held-out figures of one model; lower logloss and higher AUC are better. */
export interface HeldOutMetrics {
  /** Mean log loss over the held-out outcomes. */
  logloss: number;
  /** ROC AUC over the held-out outcomes (the trainer says which: per user, pooled…). */
  auc: number;
}

export interface ProductionModel {
  id: string;
  semver: string;
  bytes: Uint8Array;
  featureSpec: Record<string, unknown>;
  head: Record<string, unknown> | null;
}

export interface TrainRequest {
  /** The model key the job is for. */
  model: string;
  jobId: number;
  /** 1 on the first try, then 2, 3… on retries. */
  attempt: number;
  /** What production serves now, to evaluate on the held-out slice; null when none. */
  production: ProductionModel | null;
  /**
   * Reports progress in [0, 1] with a short step name. Resolves once the job row says so
   * (awaiting it is optional; it never rejects).
   */
  progress(fraction: number, step?: string): Promise<void>;
  /** Aborted when the server stops; a trainer should give up soon after. */
  signal: AbortSignal;
}

export interface TrainResult {
  candidate: {
    /** ONNX bytes (the feature spec in its metadata, as `models/train` writes it). */
    bytes: Uint8Array;
    featureSpec: Record<string, unknown>;
    /** The initial head (head.json format) or null for the library's default. */
    head: Record<string, unknown> | null;
    /** Default: the next minor version. */
    semver?: string;
  };
  evaluation: {
    /** What the held-out slice is, for the record (e.g. "latest 10% of ratings, 61 users"). */
    heldOut: string;
    /** Outcomes scored. */
    examples: number;
    candidate: HeldOutMetrics;
    /**
     * Production on the same slice; null when there is no production version, or when it
     * cannot be scored on this data (then `productionNote` says why).
     */
    production: HeldOutMetrics | null;
    productionNote?: string;
  };
}

export interface Trainer {
  /** Shown in job results, e.g. "models/train hybrid on data/ml". */
  readonly description: string;
  train(request: TrainRequest): Promise<TrainResult>;
}
