/** Paths the launcher serves besides the build; the config's shape is the page's (src/demo). */
export type { DemoConfig } from '../../src/demo/config.ts';
export { DEMO_CONFIG_PATH } from '../../src/demo/config.ts';

export const VARIANT_MODEL_PATH = '/demo/variant/model.onnx';
export const VARIANT_HEAD_PATH = '/demo/variant/head.json';
