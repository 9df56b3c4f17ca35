/**
 * HeadState ⇄ JSON for a version's head.json. Typed arrays become plain number arrays: JSON
 * numbers round-trip doubles exactly (shortest round-trip formatting), so a head read back
 * continues bit for bit. Browser-safe.
 */
import type { HeadState } from './types.ts';

export interface HeadJson {
  format: 'localfit.head/1';
  config: HeadState['config'];
  weights: number[];
  intercepts: number[];
  slots: Record<string, number[]>;
  t: number;
  scalars: Record<string, number>;
}

export function headToJson(state: HeadState): HeadJson {
  return {
    format: 'localfit.head/1',
    config: state.config,
    weights: Array.from(state.weights),
    intercepts: Array.from(state.intercepts),
    slots: Object.fromEntries(Object.entries(state.slots).map(([k, v]) => [k, Array.from(v)])),
    t: state.t,
    scalars: { ...state.scalars },
  };
}

export function headFromJson(json: HeadJson): HeadState {
  if (json?.format !== 'localfit.head/1')
    throw new Error('not a localfit head (format localfit.head/1)');
  const floats = (values: unknown, what: string) => {
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'number' && Number.isFinite(v)))
      throw new Error(`head.${what} must be an array of finite numbers`);
    return Float64Array.from(values);
  };
  return {
    config: json.config,
    weights: floats(json.weights, 'weights'),
    intercepts: floats(json.intercepts, 'intercepts'),
    slots: Object.fromEntries(
      Object.entries(json.slots ?? {}).map(([k, v]) => [k, floats(v, `slots.${k}`)]),
    ),
    t: json.t,
    scalars: { ...json.scalars },
  };
}
