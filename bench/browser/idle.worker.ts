/// <reference lib="webworker" />
// The learner's worker with its timers counted (bench/idle.ts).
import './timer_count.ts';
import '../../workers/learner.worker.ts';
