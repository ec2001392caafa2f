/**
 * The agent's MQTT side, assembled: the bridge (mqtt/bridge.ts) and the features plugged into it, in start order:
 * state and events, pause sync, diagnostics, commands, and Home Assistant discovery (homeassistant/), which gets
 * the model status topic (models/) and the live view's URL (web/) from here, so those folders stay apart.
 */
import type { AgentConfig } from '../config/schema.js';
import type { Feature } from '../core/broker-link.js';
import type { Bus } from '../core/bus.js';
import { systemClock, type Clock } from '../core/clock.js';
import { FerError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { agentTopics } from '../core/topics.js';
import type { AgentControl } from '../core/types.js';
import type { DeliveryStats } from '../events/delivery.js';
import { DiscoveryPublisher } from '../homeassistant/discovery-publisher.js';
import { topics as modelTopics } from '../models/transport.js';
import { MqttBridge } from '../mqtt/bridge.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.js';
import { CommandHandler } from '../mqtt/command-handler.js';
import { DiagnosticsPublisher } from '../mqtt/diagnostics-publisher.js';
import { PauseSync } from '../mqtt/pause-sync.js';
import { PausedCameras } from '../mqtt/paused-cameras.js';
import { SnapshotPublisher } from '../mqtt/snapshot-publisher.js';
import { StatePublisher } from '../mqtt/state-publisher.js';
import { liveViewUrl } from '../web/live-view.js';

export interface StartMqttOptions {
  cfg: AgentConfig;
  bus: Bus;
  control: AgentControl;
  log: Logger;
  /** `snapshot`: the camera publishes pictures (snapshot.enabled; Home Assistant gets an image entity). */
  cameras: ReadonlyArray<{ id: string; name: string; snapshot?: boolean }>;
  /** The active model's labels (updated later by 'model' bus events). */
  labels: readonly string[];
  clock?: Clock;
  /** Where paused.json lives. Default: cfg.model.state_dir; empty: the retained paused topics are read back instead. */
  stateDir?: string;
  /** A state whose only change is in confidences is published at most this often (default 1000 ms). */
  stateMinIntervalMs?: number;
  /** Diagnostics period (default 30 s). */
  diagnosticsIntervalMs?: number;
  /** Linux thermal zones (tests point this elsewhere). */
  thermalDir?: string;
}

export interface MqttHandle {
  /** The broker URL in use (the embedded broker's when mqtt.url is 'embedded'). */
  readonly url: string;
  /** Publishes `offline`, disconnects, stops the embedded broker. */
  stop(): Promise<void>;
  /** Events not yet acknowledged by the broker. */
  queueDepth(): number;
  connected(): boolean;
  /** Resolves once connected and the initial publishes (availability, discovery, state) are done. */
  whenConnected(timeoutMs?: number): Promise<void>;
  stats(): DeliveryStats;
}

const disabledHandle = (): MqttHandle => ({
  url: '',
  stop: async () => {},
  queueDepth: () => 0,
  connected: () => false,
  whenConnected: () => Promise.reject(new FerError('broker_unavailable', 'MQTT is off (mqtt.url is empty)')),
  stats: () => ({ queued: 0, inflight: 0, delivered: 0, droppedExpired: 0, droppedOverflow: 0 }),
});

export async function startMqtt(o: StartMqttOptions): Promise<MqttHandle> {
  const { cfg } = o;
  if (!cfg.mqtt.url) {
    o.log.info('MQTT off (mqtt.url is empty)');
    return disabledHandle();
  }
  let embedded: EmbeddedBroker | undefined;
  let url = cfg.mqtt.url;
  if (url === 'embedded') {
    embedded = await startEmbeddedBroker({ host: cfg.mqtt.embedded_host, port: cfg.mqtt.embedded_port, log: o.log });
    url = embedded.url;
  }
  const log = o.log.child({ module: 'mqtt' });
  const clock = o.clock ?? systemClock;
  const features: Feature[] = [];
  let bridge: MqttBridge | undefined;
  try {
    const topics = agentTopics(cfg.mqtt.base_topic, cfg.agent_id);
    bridge = new MqttBridge(cfg, topics, url, log, clock, embedded);
    const paused = new PausedCameras(o.cameras.map((c) => c.id));
    const state = new StatePublisher(cfg, topics, paused, o.bus, clock, log, o.stateMinIntervalMs);
    const pause = new PauseSync(topics, paused, o.control, o.bus, log, o.stateDir ?? cfg.model.state_dir);
    const diagnostics = new DiagnosticsPublisher({
      topics, paused, bus: o.bus, clock, intervalMs: o.diagnosticsIntervalMs, thermalDir: o.thermalDir,
      delivery: () => ({ depth: state.queueDepth(), stats: state.stats() }),
    });
    const commands = new CommandHandler(topics, paused.cameraIds, o.control, pause, log);
    const snapshots = new SnapshotPublisher(topics, paused, o.bus);
    const configurationUrl = liveViewUrl(cfg);
    const discovery = new DiscoveryPublisher({
      cfg, topics, bus: o.bus, log, cameras: o.cameras, labels: o.labels, cpuTemperature: () => diagnostics.hasCpuTemperature,
      ...(cfg.model.state_dir ? { modelStatusTopic: modelTopics.status(cfg.mqtt.base_topic, cfg.agent_id) } : {}),
      ...(configurationUrl ? { configurationUrl } : {}),
    });
    for (const f of [state, pause, diagnostics, commands, snapshots, discovery]) {
      await f.start(bridge);
      features.push(f);
    }
    bridge.start();
    const b = bridge;
    return {
      url,
      queueDepth: () => state.queueDepth(),
      stats: () => state.stats(),
      connected: () => b.connected(),
      whenConnected: (timeoutMs) => b.whenConnected(timeoutMs),
      stop: async () => {
        for (const f of [...features].reverse()) await f.stop();
        await b.stop();
      },
    };
  } catch (err) {
    for (const f of [...features].reverse()) await f.stop().catch(() => {});
    if (bridge) await bridge.stop();
    else await embedded?.stop();
    throw err;
  }
}
