/**
 * `startServer({ scheduler })` lands here: check the configuration, pick the trainer (the
 * injected one, else the batch trainer on `trainingData`) and the clock, start ticking.
 */
import type { Database } from '../db/database.ts';
import { ValidationError } from '../validate.ts';
import { type Clock, systemClock } from './clock.ts';
import { resolveSchedulerConfig, type SchedulerConfig } from './config.ts';
import { movielensTrainer } from './movielens_trainer.ts';
import { Scheduler } from './scheduler.ts';
import type { Trainer } from './trainer.ts';

export interface SchedulerOptions extends SchedulerConfig {
  /** Default: the batch trainer on `trainingData` (which is then required). */
  trainer?: Trainer;
  /** Default: the system clock. Tests pass a ManualClock. */
  clock?: Clock;
}

export async function startScheduler(
  options: SchedulerOptions,
  deps: {
    db: Database;
    onPublished?: () => Promise<void> | void;
    logError: (message: string, error: unknown) => void;
  },
): Promise<Scheduler> {
  const { trainer, clock, ...json } = options;
  const config = resolveSchedulerConfig(json);
  if (!trainer && !config.trainingData)
    throw new ValidationError(
      'scheduler.trainingData',
      'is required without an injected trainer: a MovieLens-format folder (ratings.csv, movies.csv)',
    );
  const scheduler = new Scheduler({
    db: deps.db,
    config,
    trainer:
      trainer ??
      movielensTrainer({ dataDir: config.trainingData as string, holdout: config.holdout }),
    clock: clock ?? systemClock,
    onPublished: deps.onPublished,
    logError: deps.logError,
  });
  await scheduler.start();
  return scheduler;
}
