/**
 * What an app gives `createLearner` and the learner's calls (the worker's side of
 * `src/client`): the model, its storage, and the extensions it turns on — sync (src/reporting,
 * src/delivery) and rollouts (src/rollout/options.ts). Types only; the client re-exports them.
 */
import type { FeatureSpecInit } from '../backbone/feature_spec.ts';
import type { SyncOptions } from '../delivery/options.ts';
import type { RolloutOptions } from '../rollout/options.ts';
import type { CloseReason } from '../store/index.ts';
import type { OutcomeReport } from '../store/schema.ts';
import type { AdaptationOptions } from './adaptation.ts';
import type { HeadStart, ScalerStart } from './pipeline.ts';
import type { CadenceOptions } from './update_cadence.ts';

/** Where the model comes from: bytes the app already has, or a URL the worker fetches. */
export type ModelSource = { bytes: Uint8Array | ArrayBuffer } | { url: string };

export interface PersistenceOptions {
  /** IndexedDB database name (one learner state per name and origin); `false`: memory only. */
  name?: string | false;
  /** Write a head snapshot after this many outcomes (default 50)… */
  snapshotEvery?: number;
  /** …or this long after the first outcome not in a snapshot (default 10 s). */
  snapshotIntervalMs?: number;
  /**
   * Ask the browser to keep this origin's storage under pressure (`navigator.storage.persist()`,
   * default false). Best-effort storage may be evicted, and Safari deletes script-written storage
   * after 7 days without a visit; a persisted origin keeps it. The browser may say no (or ask the
   * person); `stats().persistence` reports the answer either way.
   */
  persist?: boolean;
}

export interface LearnerInit {
  model: ModelSource;
  /**
   * What the model takes and gives, for a model that carries no spec (a PyTorch export) or
   * to override the one it carries: see "Bring your own model" in the README.
   */
  featureSpec?: FeatureSpecInit;
  /** Settings for a fresh head, or the state of a trained one (the version's initial head). */
  head?: HeadStart;
  /**
   * Standardise the head's input with running mean and variance (default true). A version
   * trained elsewhere passes its scaler's state, so its initial head sees the inputs it was
   * trained on.
   */
  scale?: ScalerStart;
  store?: PersistenceOptions;
  /**
   * Report aggregate metrics of what the head learns to a sync server (src/reporting). Needs the
   * IndexedDB store (metrics wait in its outbox); only the tab that owns the state reports.
   */
  sync?: SyncOptions;
  /**
   * Take part in staged rollouts (src/rollout): follow the sync server's signed manifest, stage
   * new versions for this device's arm, compare them with production on the same outcomes,
   * promote or roll back as the fleet decides. Needs `sync`.
   */
  rollout?: RolloutOptions;
  /**
   * Federated rounds (src/federated/participant.ts): when the signed manifest announces a round
   * for the version this device serves, and the device has learned at least the round's
   * `minOutcomes` on it, it sends one contribution — its head minus the version's published head,
   * clipped to the round's norm — through the outbox (never an outcome). On by default whenever
   * `sync` and `rollout` are set and the server announces rounds; `false` turns it off.
   * `localNoise` (default 0): device-side Gaussian noise of standard deviation `localNoise·clip`
   * per coordinate, for operators who do not trust their server (local DP; it costs accuracy).
   */
  federated?: false | { localNoise?: number };
  /**
   * Adapting to drift: the drift policy raises the learning rate when the person changes
   * (default on), and the forgetting guard resets the head to the version's server head when
   * it has become worse than it (default on). `false` turns either off.
   */
  drift?: AdaptationOptions['drift'];
  forgettingGuard?: AdaptationOptions['forgettingGuard'];
  /**
   * When the heads learn: per event (default), or buffered and released by size and time
   * (`{ mode: 'buffered', maxItems: 50, maxDelayMs: 60_000 }`). Outcomes are stored durably
   * at `observe` either way; buffered ones are learned when the buffer is released.
   */
  cadence?: CadenceOptions;
  /**
   * Where onnxruntime-web's runtime files are fetched from, when not from the app's own build:
   * a URL prefix ending in `/` that serves `ort-wasm-simd-threaded.wasm` and
   * `ort-wasm-simd-threaded.mjs` (copied from `node_modules/onnxruntime-web/dist/`, with CORS
   * headers if on another origin), or the URL of the `.wasm` alone. By default the bundler's
   * copy is used (see "Installing" in the README).
   */
  wasmPaths?: string;
}

/** How the app says what an outcome was (see `Learner.observe`). */
export interface ObserveOptions {
  /** What the user did with the shown prediction: for CTR and conversion counts. */
  kind?: OutcomeReport['kind'];
  /** The slate (a `predict` over candidates with `slate`) and this candidate's index in it. */
  slate?: OutcomeReport['slate'];
}

/** A `predict` over candidates that the app will report outcomes on (ranking metrics). */
export interface PredictOptions {
  slate?: { id: string; surface?: string };
}

export interface ObserveResult {
  /** The outcome's place in the log: the order outcomes are learned in. */
  seq: number;
  /** The outcome id was seen before: nothing was stored or learned this time. */
  duplicate: boolean;
}

/**
 * When the store goes away under a running learner — deleted (another tab, the site's data
 * cleared while the page runs) or dropped by the browser — nothing more can be stored, and a
 * learner that carried on would fail every call. Its owner (worker_api.ts) closes it and opens
 * a new one on the same options instead, as a reload would: a deleted database is a new install
 * from the version's head (the deletion is respected, not undone from memory).
 */
export interface RestartOptions {
  /** Called once when the store goes away (not for another tab's upgrade). */
  onStoreLost?: (reason: CloseReason) => void;
  /** This open follows such a loss: say so in the recovery. */
  after?: CloseReason;
}
