/** Prequential (test-then-train) metrics, one file per metric. */
export { Accuracy } from './accuracy.ts';
export { LOG_LOSS_EPS, LogLoss } from './log_loss.ts';
export { Mae } from './mae.ts';
export type { RankingAtK, Relevance } from './ranking.ts';
export { ndcgAtK, precisionAtK, rankingAtK, rankOrder, recallAtK } from './ranking.ts';
export { Rmse } from './rmse.ts';
export { RocAuc } from './roc_auc.ts';
