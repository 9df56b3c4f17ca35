// An app's service worker with localfit's caching rules, type-checked as service-worker code
// (tsconfig.sw.json: the WebWorker library, which Workbox's declarations need).
import { registerLocalfitRoutes } from 'localfit/offline';

registerLocalfitRoutes({ modelCacheName: 'app-models' });
