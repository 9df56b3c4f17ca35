/** The shared server suite on the embedded back-end (PGlite), which needs no installation. */

import { defineServerSuite } from './suite.ts';
import { pgliteBackend } from './support/backends.ts';

defineServerSuite(pgliteBackend());
