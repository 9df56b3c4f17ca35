/**
 * The device's part in a staged rollout, wired together: the signed manifest arrives
 * (manifest/manifest_client.ts), the device finds its arm (arm.ts), compares what the server
 * asks for with what it runs (plan.ts), and for anything new downloads the bytes, verifies them
 * while streaming, loads and warms them (manifest/model_download.ts) before the learner stages
 * or installs them. Nothing unverified ever runs (design invariant 3): any failure leaves the
 * device on its current versions and is reported with its reason.
 */
import { describeError, LearnerError } from '../errors.ts';
import type { HeadJson } from '../learn/head_json.ts';
import { headFromJson } from '../learn/head_json.ts';
import type { Manifest, ManifestVersion } from '../protocol/index.ts';
import type { LearnerInit } from '../runtime/options.ts';
import { Pipeline } from '../runtime/pipeline.ts';
import type { NewRunningVersion } from '../runtime/version_store.ts';
import type { Store } from '../store/index.ts';
import { rolloutBucket } from './arm.ts';
import type { ManifestClientStats, ManifestState } from './manifest/client_options.ts';
import { ManifestClient } from './manifest/manifest_client.ts';
import { downloadModel, loadVerifiedBackbone, refusalCode } from './manifest/model_download.ts';
import { importManifestKeys } from './manifest/signature.ts';
import type { RolloutOptions } from './options.ts';
import type { RolloutAction } from './plan.ts';
import { planRollout } from './plan.ts';
import type { RolloutTarget } from './target.ts';

const DEFAULT_MAX_MODEL_BYTES = 64 * 1024 * 1024;

/** Downloads that failed for a reason the same bytes will always have: not retried. */
const PERMANENT = new Set([
  'sha256_mismatch',
  'too_large',
  'bad_feature_spec',
  'bad_model',
  'shape_mismatch',
  'incompatible',
  'bad_head',
]);

export interface RolloutStats {
  /** This device's bucket in the current rollout, and the manifest revision acted on. */
  bucket?: number;
  revision?: number;
  manifest: ManifestClientStats;
  /** Versions refused here, with why. */
  refused: Record<string, string>;
}

export class Rollout {
  private readonly refused = new Map<string, string>();
  private bucket: number | undefined;
  private revision: number | undefined;
  private readonly closing = new AbortController();

  private readonly learner: RolloutTarget;
  private readonly store: Store;
  private readonly init: LearnerInit;
  private readonly options: RolloutOptions;
  private readonly installId: () => Promise<string | undefined>;
  private readonly client: ManifestClient;
  /** Hears every verified manifest once acted on (the federated participant). */
  observe: ((manifest: Manifest) => unknown) | undefined;
  private constructor(
    learner: RolloutTarget,
    store: Store,
    init: LearnerInit,
    options: RolloutOptions,
    installId: () => Promise<string | undefined>,
    client: ManifestClient,
  ) {
    this.learner = learner;
    this.store = store;
    this.init = init;
    this.options = options;
    this.installId = installId;
    this.client = client;
  }

  /**
   * Starts following the server: the first check runs in the background (the learner serves
   * what it has meanwhile); later manifests arrive by push and by polling.
   */
  static async start(
    learner: RolloutTarget,
    store: Store,
    init: LearnerInit,
    installId: () => Promise<string | undefined>,
    observe?: (manifest: Manifest) => unknown,
  ): Promise<Rollout> {
    const options = init.rollout as RolloutOptions;
    const url = (init.sync?.url ?? '').replace(/\/+$/, '');
    const keys = [...(options.publicKey ? [options.publicKey] : []), ...(options.publicKeys ?? [])];
    const verifier = await importManifestKeys(keys);
    let rollout: Rollout | undefined;
    const client = new ManifestClient({
      url,
      verifier,
      state: {
        load: async () => (await store.meta.value('rolloutManifest')) as ManifestState | undefined,
        save: (state) => store.meta.setValue('rolloutManifest', state),
      },
      onManifest: (manifest) => rollout?.apply(manifest),
      onRefused: (reason) => learner.reportRollout('manifest', 'refused', reason),
      onStale: (reason) => learner.reportRollout('manifest', 'stale_manifest', reason),
      // The plan is cheap and idempotent; acting on the held manifest after a reload picks up
      // whatever a crash interrupted.
      redeliverOnStart: true,
      ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
      ...(options.live === false ? { events: false } : {}),
      ...(options.notBefore !== undefined ? { notBefore: options.notBefore } : {}),
    });
    rollout = new Rollout(learner, store, init, options, installId, client);
    rollout.observe = observe;
    void client.start();
    return rollout;
  }

  /** Checks the manifest now (e.g. the app came back online); resolves when acted on. */
  async check(): Promise<void> {
    await this.client.check();
  }

  stats(): RolloutStats {
    return {
      ...(this.bucket !== undefined ? { bucket: this.bucket } : {}),
      ...(this.revision !== undefined ? { revision: this.revision } : {}),
      manifest: this.client.stats(),
      refused: Object.fromEntries(this.refused),
    };
  }

  async stop(): Promise<void> {
    this.closing.abort();
    this.client.stop();
  }

  /** Acts on a verified manifest; throwing makes the client fetch it again next time. */
  private async apply(manifest: Manifest): Promise<void> {
    const installId = await this.installId();
    if (installId === undefined) throw new Error('not registered with the server yet');
    this.bucket = await rolloutBucket(installId, manifest.rollout);
    const local = await this.learner.localVersions((id) => this.refused.has(id));
    let retry = false;
    for (const action of planRollout(manifest, this.bucket, local)) {
      if (this.closing.signal.aborted) return;
      if ((await this.run(action)) === 'retry') retry = true;
    }
    // After the plan ran: what serves here is what this manifest asks for.
    if (this.observe) Promise.resolve(this.observe(manifest)).catch(() => undefined);
    // A download that failed for a passing reason (the network): the client fetches this
    // manifest again at its next check instead of taking it as done.
    if (retry) throw new Error('a download failed; trying again at the next check');
    this.revision = manifest.revision;
  }

  private async run(action: RolloutAction): Promise<'done' | 'retry'> {
    switch (action.kind) {
      case 'promote':
        await this.learner.promoteStaged(`server promoted ${action.version.id}`);
        return 'done';
      case 'drop_staged':
        await this.learner.dropStaged(action.reason);
        return 'done';
      case 'restore':
        await this.learner.restoreArchived(
          action.version.id,
          `server rolled back to ${action.version.id}`,
        );
        return 'done';
      case 'adopt':
      case 'install':
      case 'stage': {
        const added = await this.verified(action.version, action.kind === 'adopt');
        if (!added) return this.refused.has(action.version.id) ? 'done' : 'retry';
        if (action.kind === 'stage') await this.learner.stage(added);
        else
          await this.learner.installProduction(
            added,
            action.kind === 'adopt',
            `manifest: ${action.kind}`,
          );
        return 'done';
      }
    }
  }

  /**
   * The version's bytes, proven to be what the signed manifest names and to implement its
   * feature spec, loaded and warmed; or undefined, reported, when anything fails. `local`: the
   * device already holds these bytes (stored under their sha256 after verification), so the
   * download is skipped.
   */
  private async verified(
    version: ManifestVersion,
    local: boolean,
  ): Promise<NewRunningVersion | undefined> {
    let backbone: Awaited<ReturnType<typeof loadVerifiedBackbone>> | undefined;
    let pipeline: Pipeline | undefined;
    try {
      const stored = local ? await this.store.models.get(version.model.sha256) : undefined;
      const bytes = stored
        ? new Uint8Array(stored)
        : await downloadModel(
            `${(this.init.sync?.url ?? '').replace(/\/+$/, '')}/v1/manifest`,
            version.model,
            {
              maxBytes: this.options.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES,
              signal: this.closing.signal,
            },
          );
      const verifiedAt = performance.now();
      backbone = await loadVerifiedBackbone(bytes, version.featureSpec);
      pipeline = createPipeline(backbone, version, this.init);
      const incompatible = this.learner.compatible(pipeline);
      if (incompatible) throw new LearnerError('BAD_MODEL', `incompatible: ${incompatible}`);
      return {
        record: {
          id: version.id,
          semver: version.semver,
          modelSha256: version.model.sha256,
          featureSpec: pipeline.spec,
          weight: version.weight,
        },
        bytes,
        pipeline,
        source: 'server',
        verifiedAt,
      };
    } catch (error) {
      await (pipeline ?? backbone)?.release();
      if (this.closing.signal.aborted) return undefined;
      const code = refusalCode(error) ?? /^([a-z_]+):/.exec(describeError(error))?.[1] ?? 'error';
      // A network failure may pass; bytes that are wrong stay wrong.
      if (PERMANENT.has(code)) this.refused.set(version.id, describeError(error));
      this.learner.reportRollout(version.id, 'refused', describeError(error));
      return undefined;
    }
  }
}

/** The version's initial head from the manifest (trained on the server), or a fresh one. */
function createPipeline(
  backbone: Parameters<typeof Pipeline.create>[0],
  version: ManifestVersion,
  init: LearnerInit,
): Pipeline {
  if (version.head) {
    let state: ReturnType<typeof headFromJson>;
    try {
      state = headFromJson(version.head as unknown as HeadJson);
    } catch (error) {
      throw new LearnerError('BAD_MODEL', `bad_head: ${describeError(error)}`);
    }
    // Server-trained versions normalise in the graph (models/train/version_dir.ts).
    return Pipeline.create(backbone, state, false, version.id);
  }
  const options = init.head && !('weights' in init.head) ? init.head : {};
  return Pipeline.create(
    backbone,
    options,
    typeof init.scale === 'boolean' ? init.scale : true,
    version.id,
  );
}
