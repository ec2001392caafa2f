/**
 * Home Assistant MQTT discovery as a feature on the MQTT bridge: published (retained) on every connect, again when
 * Home Assistant announces itself online (`<prefix>/status`) and when the model's labels change. What is published
 * is discovery.ts's business; this module only decides when.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AgentConfig } from '../config/schema.js';
import type { Feature, FeatureHost } from '../core/broker-link.js';
import type { Bus, ModelInfo } from '../core/bus.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { packageRoot } from '../core/paths.js';
import type { AgentTopics } from '../core/topics.js';
import { deviceDiscovery, legacyDiscovery, type DiscoveryContext } from './discovery.js';

export interface DiscoveryPublisherOptions {
  cfg: AgentConfig;
  topics: AgentTopics;
  bus: Bus;
  log: Logger;
  cameras: ReadonlyArray<{ id: string; name: string }>;
  /** The active model's labels at start (later ones come with 'model' bus events). */
  labels: readonly string[];
  /** Whether the board reports a CPU temperature (known once diagnostics started). */
  cpuTemperature: () => boolean;
  /** The retained model status topic, when the agent accepts pushed models: adds an update entity. */
  modelStatusTopic?: string;
  /** The live view's URL when it is on: the device page links to it. */
  configurationUrl?: string;
}

function packageInfo(): { version: string; url?: string } {
  try {
    const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: string; homepage?: string; repository?: string | { url?: string } };
    const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
    const url = pkg.homepage ?? repo?.replace(/^git\+/, '').replace(/\.git$/, '');
    return { version: pkg.version ?? '0.0.0', ...(url ? { url } : {}) };
  } catch {
    return { version: '0.0.0' };
  }
}

export class DiscoveryPublisher implements Feature {
  private host?: FeatureHost;
  private labels: readonly string[];
  private readonly pkg = packageInfo();

  constructor(private readonly o: DiscoveryPublisherOptions) {
    this.labels = o.labels;
  }

  async start(host: FeatureHost): Promise<void> {
    if (!this.o.cfg.homeassistant.discovery) return;
    this.host = host;
    const { prefix } = this.o.cfg.homeassistant;
    host.route(`${prefix}/status`, (_topic, payload) => {
      if (payload.toString().trim() !== 'online' || !host.isReady()) return;
      this.o.log.info('Home Assistant came online: republishing discovery and state');
      void host.republish().catch((err) => this.o.log.warn({ err: errorMessage(err) }, 'republish after Home Assistant restart failed'));
    });
    host.onConnect('discovery', () => this.publish());
    this.o.bus.listen(this, 'model', (info: ModelInfo) => {
      const changed = info.labels.join('\u0000') !== this.labels.join('\u0000');
      this.labels = info.labels;
      if (!changed || !host.isReady()) return;
      this.o.log.info({ labels: info.labels }, 'model labels changed: republishing Home Assistant discovery');
      void this.publish().catch((err) => this.o.log.warn({ err: errorMessage(err) }, 'discovery republish failed'));
    });
  }

  async stop(): Promise<void> {
    this.o.bus.release(this);
  }

  context(): DiscoveryContext {
    const { cfg } = this.o;
    return {
      prefix: cfg.homeassistant.prefix,
      agentId: cfg.agent_id,
      topics: this.o.topics,
      labels: this.labels,
      cameras: this.o.cameras,
      origin: { name: 'fer-edge', sw: this.pkg.version, ...(this.pkg.url ? { url: this.pkg.url } : {}) },
      cpuTemperature: this.o.cpuTemperature(),
      ...(this.o.modelStatusTopic ? { modelStatusTopic: this.o.modelStatusTopic } : {}),
      ...(this.o.configurationUrl ? { configurationUrl: this.o.configurationUrl } : {}),
    };
  }

  private async publish(): Promise<void> {
    const host = this.host;
    if (!host) return;
    const ctx = this.context();
    const messages = this.o.cfg.homeassistant.legacy_discovery ? legacyDiscovery(ctx) : deviceDiscovery(ctx);
    await Promise.all(messages.map((m) => host.publish(m.topic, m.payload, { qos: 1, retain: true })));
  }
}
