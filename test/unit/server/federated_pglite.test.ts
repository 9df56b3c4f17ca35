/** The federated rounds suite on the embedded back-end (PGlite), which needs no installation. */

import { defineFederatedSuite } from './federated_suite.ts';
import { pgliteBackend } from './support/backends.ts';

defineFederatedSuite(pgliteBackend());
