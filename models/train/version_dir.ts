/**
 * A version as a directory (Node only):
 *
 *   model.onnx    the backbone, feature spec in its metadata_props
 *   head.json     the initial head (HeadState, see src/learn/head_json.ts)
 *   spec.json     the feature spec (a copy of what the model carries, for reading without ONNX)
 *   metrics.json  offline figures of the training run
 *   version.json  sha256 and size of model.onnx, semver, scale setting, embedding layout,
 *                 and the sha256 of every other file
 *
 * The device's init for it is `{ model: { bytes }, head: headFromJson(head.json), scale }`.
 * No scaler file: these versions put every embedding column on its scale in the graph.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FeatureSpec } from '../../src/backbone/feature_spec.ts';
import { headFromJson, headToJson } from '../../src/learn/head_json.ts';
import type { HeadState } from '../../src/learn/types.ts';
import { canonicalJson } from '../../src/protocol/canonical_json.ts';
import { sha256Hex } from '../../src/sha256.ts';
import { METADATA_KEYS } from './trainer.ts';
import type { TrainedVersion } from './types.ts';

export interface VersionManifest {
  format: 'localfit.version/1';
  model: { file: 'model.onnx'; sha256: string; bytes: number };
  semver: string;
  scale: false;
  groups: TrainedVersion['groups'];
  files: Record<string, string>;
}

/** Pretty JSON with sorted keys, so equal versions give equal files. */
export function stableJson(value: unknown): string {
  return `${JSON.stringify(JSON.parse(canonicalJson(value)), null, 2)}\n`;
}

export async function writeVersionDir(
  dir: string,
  version: TrainedVersion,
  extra: Record<string, string | Uint8Array> = {},
): Promise<VersionManifest> {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string | Uint8Array> = {
    'head.json': stableJson(headToJson(version.head)),
    'spec.json': stableJson(version.spec),
    // Without the wall time, so that rebuilding the same version gives the same files.
    'metrics.json': stableJson({ ...version.metrics, seconds: undefined }),
    ...extra,
  };
  const digests: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    writeFileSync(join(dir, name), bytes);
    digests[name] = await sha256Hex(bytes);
  }
  writeFileSync(join(dir, 'model.onnx'), version.bytes);
  const manifest: VersionManifest = {
    format: 'localfit.version/1',
    model: { file: 'model.onnx', sha256: version.sha256, bytes: version.bytes.length },
    semver: version.metadata[METADATA_KEYS.semver] ?? '0.0.0',
    scale: false,
    groups: version.groups,
    files: digests,
  };
  writeFileSync(join(dir, 'version.json'), stableJson(manifest));
  return manifest;
}

export interface LoadedVersion {
  manifest: VersionManifest;
  bytes: Uint8Array;
  head: HeadState;
  scale: false;
  spec: FeatureSpec;
}

/** Reads a version directory back, refusing model bytes whose sha256 is not the recorded one. */
export async function readVersionDir(dir: string): Promise<LoadedVersion> {
  const manifest = JSON.parse(readFileSync(join(dir, 'version.json'), 'utf8')) as VersionManifest;
  if (manifest.format !== 'localfit.version/1') throw new Error(`${dir}: not a localfit version`);
  const bytes = new Uint8Array(readFileSync(join(dir, manifest.model.file)));
  const digest = await sha256Hex(bytes);
  if (digest !== manifest.model.sha256)
    throw new Error(
      `${dir}: model.onnx has sha256 ${digest}, version.json says ${manifest.model.sha256}`,
    );
  return {
    manifest,
    bytes,
    head: headFromJson(JSON.parse(readFileSync(join(dir, 'head.json'), 'utf8'))),
    scale: false,
    spec: JSON.parse(readFileSync(join(dir, 'spec.json'), 'utf8')) as FeatureSpec,
  };
}
