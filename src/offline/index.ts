export type { LocalfitRoutesOptions } from './model_cache.ts';
export {
  DEFAULT_MODEL_CACHE,
  DEFAULT_RUNTIME_CACHE,
  isVerifiedModel,
  MODEL_URL,
  ORT_RUNTIME_URL,
  registerLocalfitRoutes,
  verifiedModelPlugin,
} from './model_cache.ts';
