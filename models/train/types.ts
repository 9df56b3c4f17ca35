/**
 * The trainer's contract: interaction history and an item catalog in, a model version out.
 * Nothing here knows about MovieLens or the demo; both build these shapes from their data,
 * and so can the sync server from its own logs.
 */
import type { ItemCatalog } from '../../src/backbone/catalog.ts';
import type { FeatureSpec } from '../../src/backbone/feature_spec.ts';
import type { HeadState } from '../../src/learn/types.ts';
import type { HybridParams } from './hybrid.ts';

export type { ItemCatalog };

/** What the server logged: one row per interaction, in time order. */
export interface InteractionHistory {
  /** Users are 0 … users − 1. */
  users: number;
  user: Int32Array;
  /** Catalog indices (rows of {@link ItemCatalog.features}). */
  item: Int32Array;
  /** The outcome the head predicts (binary: 1 = positive, e.g. "liked"). */
  label: Uint8Array;
  /**
   * A graded version of the outcome for the factorisation (e.g. the star rating), when the
   * app has one; defaults to the label. Only its differences matter (it is centred).
   */
  signal?: Float32Array;
  /** A clock (e.g. seconds); rows must be sorted by it. Used for the validation split. */
  time: Float64Array;
}

/** Everything the app knows about each item, including items nobody has touched yet. */

export interface TrainProgress {
  /** What is running: 'factorise', 'item-mlp', 'global-head', 'select', … */
  step: string;
  done: number;
  total: number;
  /** Seconds since training started. */
  elapsed: number;
}

export interface TrainOptions {
  /** Seeds every random choice; the same seed and data give byte-identical models. Default 1. */
  seed?: number;
  /** Latent factors per item (default 16). */
  factors?: number;
  /** L2 strength of the factorisation (default 20, in units of ratings). */
  factorL2?: number;
  /** ALS sweeps (default 15). */
  sweeps?: number;
  /** Hidden widths of the item MLP (content → factor space); default [32, 32]. */
  hidden?: number[];
  /** Epochs of the item MLP (default 60). */
  epochs?: number;
  /**
   * Share of the history (latest by time) held out to choose the embedding's scales (0.2);
   * 0 holds nothing out and takes `scales` as given.
   */
  validation?: number;
  /**
   * The embedding's group scales; when given, the search on held-out history is skipped
   * (missing groups take the search's starting values).
   */
  scales?: Partial<Record<EmbeddingGroup['name'], number>>;
  /** Semver written into the model's metadata (default '0.1.0'). */
  semver?: string;
  /** Free-form description of the training data, written into the metadata. */
  trainedOn?: string;
  /** Fixed timestamp for the metadata (default: none, to keep builds reproducible). */
  created?: string;
  onProgress?: (progress: TrainProgress) => void;
}

/** How the embedding is laid out: named column ranges and the scale each was given. */
export interface EmbeddingGroup {
  name: 'bias' | 'factors' | 'popularity' | 'content' | 'constant';
  offset: number;
  size: number;
  scale: number;
}

/** Offline figures of a version, from the held-out end of the history and from the fit. */
export interface VersionMetrics {
  history: { interactions: number; users: number; items: number; positiveRate: number };
  factorisation: { rmse: number; sweeps: number };
  itemMlp: { r2: number; items: number };
  globalHead: { logLoss: number; auc: number; iterations: number };
  /**
   * Prequential replay of the held-out part, per user: static head vs. a learning head
   * (absent when nothing was held out).
   */
  validation?: {
    users: number;
    interactions: number;
    static: { userAuc: number; pooledAuc: number; logLoss: number };
    ondevice: { userAuc: number; pooledAuc: number; logLoss: number };
  };
  seconds: number;
}

/** A model version as the trainer produces it; `writeVersion` stores it as a directory. */
export interface TrainedVersion {
  /** The ONNX model (feature spec in its metadata_props). */
  bytes: Uint8Array;
  /** Hex sha256 of `bytes`: the version's content address. */
  sha256: string;
  spec: FeatureSpec;
  /** The backbone's parameters (what `hybridForward` needs to recompute the model). */
  params: HybridParams;
  /** The version's initial head: the global model fitted on the history. */
  head: HeadState;
  /**
   * Whether the device standardises the head's input: false, because the backbone's last
   * layer already puts every embedding column on the scale chosen for it.
   */
  scale: false;
  groups: EmbeddingGroup[];
  metrics: VersionMetrics;
  metadata: Record<string, string>;
}
