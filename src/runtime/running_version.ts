import type { PackedBatch } from '../backbone/features.ts';
import type { Pipeline, PipelineState, PredictionBatch } from './pipeline.ts';

/** A version's starting point, kept with it so a reset or a lost snapshot can start over. */
export interface InitialState extends PipelineState {
  /** Outcomes up to this seq predate the version: its head never learned them. */
  seq: number;
}

/**
 * One version loaded in the worker: its pipeline, where it starts, and the predictions still
 * running on it. A swap makes another version serve at once, but the old pipeline is only
 * released once its in-flight predictions finished ("swap without a gap"): an answer is always
 * computed by exactly one session, and no session is closed under a running call.
 */
export class RunningVersion {
  private inFlight = 0;
  private retiring: (() => void) | undefined;
  private released: Promise<void> | undefined;

  readonly pipeline: Pipeline;
  readonly initial: InitialState;
  constructor(pipeline: Pipeline, initial: InitialState) {
    this.pipeline = pipeline;
    this.initial = initial;
  }

  get id(): string {
    return this.pipeline.versionId;
  }

  async predict(batch: PackedBatch): Promise<PredictionBatch> {
    this.inFlight++;
    try {
      return await this.pipeline.predict(batch);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.retiring?.();
    }
  }

  /** Releases the session once nothing runs on it any more; idempotent. */
  retire(): Promise<void> {
    this.released ??= new Promise<void>((resolve) => {
      if (this.inFlight === 0) resolve();
      else this.retiring = resolve;
    }).then(() => this.pipeline.release());
    return this.released;
  }
}
