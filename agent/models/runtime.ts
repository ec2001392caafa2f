/**
 * Model updates inside the running agent, in the order the agent needs them:
 *
 *   const updates = ModelUpdates.fromConfig(cfg, log);          // null when model.state_dir is empty
 *   const start = await updates?.startupModel();                 // last fully installed version, or model.path
 *   const agent = new Agent(cfg, log, { modelDir: start?.dir });  await agent.start();
 *   await updates?.enable({ engine: agent.engine, activate: (dir) => agent.activateModel(dir).then(() => undefined) });
 *   await updates?.attach(link);                                 // the MQTT connection (see core/broker-link.ts)
 *   ...
 *   await updates?.stop();
 */
import type { AgentConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { ClassifierLoader } from '../emotion/classifier.js';
import { loadBundle } from './bundle.js';
import { ModelInstaller, type ActivateHook, type ActiveInfo } from './installer.js';
import type { Manifest } from './manifest.js';
import { loadTrustPolicy, type TrustPolicy } from './signing.js';
import { ModelStore, type StoreOptions } from './store.js';
import type { BrokerLink } from '../core/broker-link.js';
import { ModelUpdateService } from './updates.js';
import { ReleaseFollower } from './release-follower.js';
import path from 'node:path';

export interface StartupModel {
  dir: string;
  manifest: Manifest;
  source: ActiveInfo['source'];
  /** Installed versions passed over at startup, with the reason (damaged, incomplete). */
  skipped: Array<{ tag: string; reason: string }>;
}

/**
 * The bundle `fer-agent run` would serve with this config: the last fully installed pushed version when
 * model.state_dir is set and has one, else model.path. Reads only (nothing is repaired or pruned).
 */
export async function servingBundleDir(cfg: AgentConfig, log: Logger): Promise<{ dir: string; source: 'installed' | 'base' }> {
  if (cfg.model.state_dir) {
    const store = new ModelStore({ stateDir: cfg.model.state_dir, keepVersions: cfg.model.keep_versions, log });
    const active = await store.peekActive().catch(() => null);
    if (active) return { dir: active.dir, source: 'installed' };
  }
  return { dir: cfg.model.path, source: 'base' };
}

export class ModelUpdates {
  private installer: ModelInstaller | null = null;
  private service: ModelUpdateService | null = null;
  private follower: ReleaseFollower | null = null;
  private readonly trust: TrustPolicy;

  private constructor(
    private readonly cfg: AgentConfig,
    private readonly log: Logger,
    private readonly clock: Clock,
    readonly store: ModelStore,
  ) {
    this.trust = loadTrustPolicy(cfg.model.trusted_keys, cfg.model.allow_unsigned);
  }

  /**
   * Null when updates are off (no model.state_dir). Throws config_invalid for an unusable trusted key.
   * `onStep` is for crash tests (see StoreOptions).
   */
  static fromConfig(cfg: AgentConfig, log: Logger, opts: { clock?: Clock; onStep?: StoreOptions['onStep'] } = {}): ModelUpdates | null {
    if (!cfg.model.state_dir) return null;
    const store = new ModelStore({ stateDir: cfg.model.state_dir, keepVersions: cfg.model.keep_versions, log, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
    return new ModelUpdates(cfg, log, opts.clock ?? systemClock, store);
  }

  /** The bundle to start with: the last fully installed version, else config model.path. */
  async startupModel(): Promise<StartupModel> {
    const r = await this.store.resolveActive();
    for (const s of r.skipped) this.log.warn({ version: s.tag, reason: s.reason }, 'installed model version skipped at startup');
    if (r.active) return { dir: r.active.dir, manifest: r.active.bundle.manifest, source: 'installed', skipped: r.skipped };
    const base = await loadBundle(this.cfg.model.path);
    return { dir: base.dir, manifest: base.manifest, source: 'base', skipped: r.skipped };
  }

  /** Starts accepting updates for the agent's engine; `activate` is the agent's hot swap. */
  async enable(o: { engine: string; activate: ActivateHook; loader?: ClassifierLoader }): Promise<ModelInstaller> {
    const loader = o.loader ?? (await import('../emotion/load-classifier.js')).loadClassifier;
    const installer = new ModelInstaller({
      store: this.store,
      loader,
      engine: o.engine,
      threads: 1, // verification only; the agent loads the serving classifier with its own thread count
      precision: this.cfg.model.precision,
      trust: this.trust,
      maxBundleBytes: this.cfg.model.max_bundle_bytes,
      baseBundleDir: this.cfg.model.path,
      onActivate: o.activate,
      log: this.log,
      clock: this.clock,
    });
    const s = await installer.start();
    if (this.trust.keys.length === 0 && !this.trust.allowUnsigned) {
      this.log.warn('model.trusted_keys is empty and model.allow_unsigned is false: every pushed model will be rejected');
    }
    this.log.info({ model: `${s.info.name}@${s.info.version}`, source: s.info.source, trusted: this.trust.keys.map((k) => k.keyId) }, 'model updates enabled');
    this.installer = installer;
    return installer;
  }

  /** Listens for pushes and rollbacks on the agent's broker connection; publishes the retained status. */
  async attach(link: BrokerLink): Promise<ModelUpdateService> {
    if (!this.installer) throw new Error('ModelUpdates.enable() must run before attach()');
    const service = new ModelUpdateService({
      installer: this.installer,
      agentId: this.cfg.agent_id,
      groups: this.cfg.agent_groups,
      baseTopic: this.cfg.mqtt.base_topic,
      maxBundleBytes: this.cfg.model.max_bundle_bytes,
      fetchAllow: this.cfg.model.fetch_allow,
      log: this.log,
      clock: this.clock,
      release: () => this.follower?.state ?? null,
    });
    await service.attach(link);
    this.service = service;
    // Desired state: the retained release records of this agent's targets, followed on the same connection.
    const follower = new ReleaseFollower({
      installer: this.installer,
      agentId: this.cfg.agent_id,
      groups: this.cfg.agent_groups,
      baseTopic: this.cfg.mqtt.base_topic,
      trust: this.trust,
      maxBundleBytes: this.cfg.model.max_bundle_bytes,
      stateFile: path.join(this.cfg.model.state_dir, 'releases.json'),
      fetchAllow: this.cfg.model.fetch_allow,
      log: this.log,
      clock: this.clock,
      onChange: () => void service.publishStatus(),
    });
    this.follower = follower;
    await follower.attach(link);
    return service;
  }

  get modelInstaller(): ModelInstaller | null {
    return this.installer;
  }

  async stop(): Promise<void> {
    await this.follower?.detach();
    this.follower = null;
    await this.service?.detach();
    this.service = null;
  }
}
