/// <reference lib="webworker" />
// The learner's worker with a storage failure installed first (storage_faults.ts).
import './storage_faults.ts';
import '../../../workers/learner.worker.ts';
