// The package's other page-side entry, for tsc: with skipLibCheck false it checks every
// declaration file this pulls in under the app's strict flags. Nothing imports this file, so no
// bundle contains it. (localfit/offline is service-worker code: sw/ is checked on its own.)
import type * as learn from 'localfit/learn';

export type Learn = typeof learn;
