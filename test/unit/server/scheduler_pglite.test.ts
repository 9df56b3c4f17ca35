/** The retraining scheduler suite on the embedded back-end (PGlite). */

import { defineSchedulerSuite } from './scheduler_suite.ts';
import { pgliteBackend } from './support/backends.ts';

defineSchedulerSuite(pgliteBackend());
