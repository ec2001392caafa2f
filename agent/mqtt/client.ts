/**
 * The MQTT side of the agent: publishes availability, per-camera state and events, diagnostics and errors,
 * Home Assistant discovery, and takes commands (pause/resume, republish, the Home Assistant pause switch).
 * Entry point: startMqtt(). Topic layout in topics.ts, payloads in payloads.ts, README.md has examples.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import type { AgentConfig } from '../config/schema.js';
import type { Bus, ModelInfo, SourceStatus } from '../core/bus.js';
import { backoffMs } from '../core/backoff.js';
import { systemClock, type Clock } from '../core/clock.js';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { packageRoot } from '../core/paths.js';
import type { AgentControl, EmotionEvent, FrameResult } from '../core/types.js';
import { deviceDiscovery, legacyDiscovery, type DiscoveryContext, type DiscoveryMessage } from '../homeassistant/discovery.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.js';
import { CameraStateModel, shouldPublish, stateBody, stateKey } from './camera-state.js';
import { commandReply, parseCommand, parseSwitchPayload, type Command, type ParsedCommand } from './commands.js';
import { connectionOptions, describeConnectError, isSettingsError, type ConnectionOptions } from './connection.js';
import { DiagnosticsModel, readCpuTemperature } from './diagnostics.js';
import { EventDelivery, type DeliveryStats } from '../events/delivery.js';
import { PauseStore } from './pause-store.js';
import { errorPayload, eventIdFactory, eventPayload } from '../events/payloads.js';
import { agentTopics, OFFLINE, ONLINE, type AgentTopics } from '../core/topics.js';
import { topics as modelTopics } from '../models/transport.js';
import { liveViewUrl } from '../web/live-view.js';

/** Command replies awaiting their PUBACK at once; more are dropped and counted (a flood must not pile up memory). */
const MAX_REPLIES_IN_FLIGHT = 100;
/** `republish` (discovery + every state) runs at most this often; requests in between are merged. */
const REPUBLISH_MIN_MS = 5000;

export interface StartMqttOptions {
  cfg: AgentConfig;
  bus: Bus;
  control: AgentControl;
  log: Logger;
  cameras: ReadonlyArray<{ id: string; name: string }>;
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

interface OutMessage {
  topic: string;
  payload: string;
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

const disabledHandle = (): MqttHandle => ({
  url: '',
  stop: async () => {},
  queueDepth: () => 0,
  connected: () => false,
  whenConnected: () => Promise.reject(new FerError('broker_unavailable', 'MQTT is off (mqtt.url is empty)')),
  stats: () => ({ queued: 0, inflight: 0, delivered: 0, droppedExpired: 0, droppedOverflow: 0 }),
});

export async function startMqtt(opts: StartMqttOptions): Promise<MqttHandle> {
  if (!opts.cfg.mqtt.url) {
    opts.log.info('MQTT off (mqtt.url is empty)');
    return disabledHandle();
  }
  let embedded: EmbeddedBroker | undefined;
  let url = opts.cfg.mqtt.url;
  if (url === 'embedded') {
    embedded = await startEmbeddedBroker({ host: opts.cfg.mqtt.embedded_host, port: opts.cfg.mqtt.embedded_port, log: opts.log });
    url = embedded.url;
  }
  try {
    const agent = new MqttAgent(opts, url, embedded);
    await agent.start();
    return agent;
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}

class MqttAgent implements MqttHandle {
  private readonly cfg: AgentConfig;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly topics: AgentTopics;
  private readonly conn: ConnectionOptions;
  private readonly delivery: EventDelivery<OutMessage>;
  private readonly states = new Map<string, CameraStateModel>();
  private readonly lastState = new Map<string, { key: string; monoMs: number; body: string }>();
  private readonly pendingState = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly diag: DiagnosticsModel;
  private readonly cameraIds: string[];
  private readonly pauseStore?: PauseStore;
  private readonly paused = new Map<string, boolean>();
  private readonly nextEventId: () => string;
  private readonly startMono: number;
  private readonly pkg = packageInfo();
  private client?: MqttClient;
  private labels: readonly string[];
  private online = false;
  /** Command replies waiting for their PUBACK; past MAX_REPLIES_IN_FLIGHT a flood's replies are dropped and counted. */
  private repliesInFlight = 0;
  repliesDropped = 0;
  private lastDropWarnMono = Number.NEGATIVE_INFINITY;
  /** republish runs at most once per REPUBLISH_MIN_MS; requests in between are merged into one more run. */
  private lastRepublishMono = Number.NEGATIVE_INFINITY;
  private republishTimer?: ReturnType<typeof setTimeout>;
  /** Paused-state publishes per camera: one in flight, and the newest state published after it (a burst is one). */
  private readonly pausedPublishing = new Map<string, { again: boolean }>();
  private ready = false;
  private stopping = false;
  private attempt = 0;
  private firstConnect = true;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private diagTimer?: ReturnType<typeof setInterval>;
  private hasCpuTemp = false;
  private lastErrorText = '';
  /** The last attempt's error when it was the settings' fault (refused login, untrusted certificate). */
  private settingsError?: FerError;
  private reportedDrops = 0;
  private readyWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private syncWaiter?: { nonce: string; resolve: () => void };
  private retainedPaused?: Map<string, boolean>;
  private readonly unsubscribers: Array<() => void> = [];

  constructor(
    private readonly o: StartMqttOptions,
    readonly url: string,
    private readonly embedded: EmbeddedBroker | undefined,
  ) {
    this.cfg = o.cfg;
    this.log = o.log.child({ module: 'mqtt' });
    this.clock = o.clock ?? systemClock;
    this.topics = agentTopics(this.cfg.mqtt.base_topic, this.cfg.agent_id);
    this.conn = connectionOptions(this.cfg.mqtt, this.cfg.agent_id, url, this.topics.availability);
    this.conn.options.resubscribe = false;
    this.labels = o.labels;
    this.cameraIds = o.cameras.map((c) => c.id);
    for (const id of this.cameraIds) this.states.set(id, new CameraStateModel(id));
    this.diag = new DiagnosticsModel(this.cameraIds);
    const stateDir = o.stateDir ?? this.cfg.model.state_dir;
    if (stateDir) this.pauseStore = PauseStore.inDir(stateDir);
    this.startMono = this.clock.mono();
    this.nextEventId = eventIdFactory(this.cfg.agent_id, this.clock.wall());
    this.delivery = new EventDelivery<OutMessage>(
      { maxItems: this.cfg.mqtt.offline_queue_max, maxAgeMs: this.cfg.mqtt.event_max_age_s * 1000 },
      { send: (m, done) => this.rawPublish(m.topic, m.payload, 1, false, done) },
      this.clock,
      (dropped) => {
        for (const d of dropped) {
          this.log.warn(
            { topic: d.item.topic, age_s: Math.round(this.clock.mono() - d.bornMono) / 1000, reason: d.reason },
            d.reason === 'expired' ? `event dropped: older than mqtt.event_max_age_s (${this.cfg.mqtt.event_max_age_s} s) before the broker took it` : `event dropped: more than mqtt.offline_queue_max (${this.cfg.mqtt.offline_queue_max}) events waiting`,
          );
        }
      },
    );
  }

  async start(): Promise<void> {
    this.hasCpuTemp = (await readCpuTemperature(this.o.thermalDir)) !== null;
    if (this.pauseStore) {
      const saved = await this.pauseStore.load();
      for (const id of this.cameraIds) {
        if (saved[id] === true && !this.o.control.isPaused(id)) this.o.control.setPaused(id, true);
      }
    } else {
      this.retainedPaused = new Map();
    }
    for (const id of this.cameraIds) this.notePaused(id, this.o.control.isPaused(id), false);
    this.listen();
    const client = connect(this.conn.url, this.conn.options);
    this.client = client;
    client.on('connect', () => void this.onConnect());
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.onError(err));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    this.diagTimer = setInterval(() => void this.publishDiagnostics(), this.o.diagnosticsIntervalMs ?? 30_000);
    this.diagTimer.unref();
  }

  // ---- handle -------------------------------------------------------------------------------------------------

  queueDepth(): number {
    return this.delivery.depth();
  }

  connected(): boolean {
    return this.online;
  }

  stats(): DeliveryStats {
    return this.delivery.stats();
  }

  whenConnected(timeoutMs = 10_000): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.settingsError) return Promise.reject(this.settingsError);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
        reject(new FerError('broker_unavailable', `MQTT broker ${this.url} not reached within ${timeoutMs} ms${this.lastErrorText ? `: ${this.lastErrorText}` : ''}`));
      }, timeoutMs);
      const waiter = {
        resolve: (): void => {
          clearTimeout(t);
          resolve();
        },
        reject: (err: Error): void => {
          clearTimeout(t);
          reject(err);
        },
      };
      this.readyWaiters.push(waiter);
    });
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.republishTimer);
    clearInterval(this.diagTimer);
    for (const t of this.pendingState.values()) clearTimeout(t);
    for (const off of this.unsubscribers) off();
    const client = this.client;
    if (client && this.online) {
      // The Last Will only fires on an unclean end: say offline ourselves.
      await this.publish(this.topics.availability, OFFLINE, 1, true, 2000).catch(() => {});
    }
    const left = this.delivery.clear();
    if (left > 0) this.log.warn({ events: left }, 'MQTT stopping with events not delivered');
    if (client) {
      // end() waits for the socket to close; never let a half-open socket hold the agent's shutdown.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => client.end(!this.online, {}, () => r())),
        new Promise<void>((r) => (timer = setTimeout(r, 5000))),
      ]);
      clearTimeout(timer);
    }
    this.online = false;
    await this.embedded?.stop();
  }

  // ---- bus ----------------------------------------------------------------------------------------------------

  private listen(): void {
    const bus: Bus = this.o.bus;
    const onResult = (r: FrameResult): void => {
      const model = this.states.get(r.cameraId);
      if (!model || this.paused.get(r.cameraId)) return;
      model.onResult(r);
      this.diag.onResult(r);
      this.maybePublishState(r.cameraId);
    };
    const onEvent = (e: EmotionEvent): void => {
      const model = this.states.get(e.cameraId);
      // A paused camera raises nothing, even if a frame was already on its way through the pipeline.
      if (!model || this.paused.get(e.cameraId)) return;
      model.onEvent(e);
      const payload = JSON.stringify(eventPayload(e, this.cfg.agent_id, this.nextEventId()));
      this.delivery.submit({ topic: this.topics.camera(e.cameraId).event, payload }, e.monoMs);
      this.maybePublishState(e.cameraId);
    };
    const onModel = (info: ModelInfo): void => {
      this.diag.onModel(info);
      const changed = info.labels.join('\u0000') !== this.labels.join('\u0000');
      this.labels = info.labels;
      if (changed && this.ready) {
        this.log.info({ labels: info.labels }, 'model labels changed: republishing Home Assistant discovery');
        void this.publishDiscovery().catch((err) => this.log.warn({ err: errorMessage(err) }, 'discovery republish failed'));
      }
      void this.publishDiagnostics();
    };
    const onPaused = (p: { cameraId: string; paused: boolean }): void => this.notePaused(p.cameraId, p.paused, true);
    const onSource = (s: SourceStatus): void => {
      if (s.state !== 'failed') return;
      const body = errorPayload('source_failed', `camera ${s.cameraId}: ${s.reason ?? 'source failed'}`, this.clock.wall(), s.cameraId);
      void this.publish(this.topics.errors, JSON.stringify(body), 1, false).catch(() => {});
    };
    bus.on('result', onResult);
    bus.on('event', onEvent);
    bus.on('model', onModel);
    bus.on('paused', onPaused);
    bus.on('source', onSource);
    this.unsubscribers.push(
      () => bus.off('result', onResult),
      () => bus.off('event', onEvent),
      () => bus.off('model', onModel),
      () => bus.off('paused', onPaused),
      () => bus.off('source', onSource),
    );
  }

  /** Records a camera's pause state; when it changed, publishes it and remembers it across restarts. */
  private notePaused(cameraId: string, paused: boolean, announce: boolean): void {
    const model = this.states.get(cameraId);
    if (!model) return;
    const before = this.paused.get(cameraId);
    if (before === paused) return;
    this.paused.set(cameraId, paused);
    model.setPaused(paused, this.clock.wall());
    if (!announce) return;
    this.log.info({ camera: cameraId, paused }, paused ? 'camera paused' : 'camera resumed');
    void this.publishPaused(cameraId).catch(() => {});
    this.publishState(cameraId);
    if (this.pauseStore) {
      void this.pauseStore.save(Object.fromEntries(this.paused)).catch((err) => this.log.error({ err: errorMessage(err) }, 'pause state not saved'));
    }
  }

  // ---- connection ---------------------------------------------------------------------------------------------

  private async onConnect(): Promise<void> {
    this.online = true;
    this.attempt = 0;
    if (this.lastErrorText) this.log.info({ url: this.url }, 'MQTT connected again');
    else this.log.info({ url: this.url }, 'MQTT connected');
    this.lastErrorText = '';
    this.settingsError = undefined;
    try {
      await this.publish(this.topics.availability, ONLINE, 1, true);
      const subs = [this.topics.command, this.topics.pausedSetAll, this.topics.sync];
      if (this.cfg.homeassistant.discovery) subs.push(`${this.cfg.homeassistant.prefix}/status`);
      const readBack = this.firstConnect && this.retainedPaused !== undefined;
      if (readBack) subs.push(this.topics.pausedAll);
      await this.client?.subscribeAsync(subs, { qos: 1 });
      if (readBack) {
        await this.barrier();
        await this.client?.unsubscribeAsync(this.topics.pausedAll);
        this.applyRetainedPaused();
      }
      this.firstConnect = false;
      await this.publishDiscovery();
      await this.publishAll();
      this.delivery.setOnline(true);
      this.reportDrops();
      this.ready = true;
      for (const w of this.readyWaiters.splice(0)) w.resolve();
    } catch (err) {
      if (!this.stopping) this.log.warn({ err: errorMessage(err) }, 'MQTT connect sequence interrupted');
    }
  }

  private onClose(): void {
    const was = this.online;
    this.online = false;
    this.ready = false;
    this.delivery.setOnline(false);
    if (this.syncWaiter) this.syncWaiter.resolve();
    if (this.stopping) return;
    if (was) this.log.warn({ url: this.url, queued: this.delivery.depth() }, 'MQTT connection lost; events wait in the offline queue');
    if (this.reconnectTimer) return;
    const delay = backoffMs(this.attempt++);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping) this.client?.reconnect({ outgoingStore: this.conn.outgoingStore });
    }, delay);
  }

  private onError(err: Error): void {
    const e = describeConnectError(err, this.url);
    // Once per distinct error, not once per reconnect attempt.
    if (e.message !== this.lastErrorText) this.log.error({ reason: e.reason }, e.message);
    this.lastErrorText = e.message;
    // Whoever waits for the connection learns now that the settings are wrong (retries go on: they may be fixed
    // on the broker's side).
    if (isSettingsError(err)) {
      this.settingsError = e;
      for (const w of this.readyWaiters.splice(0)) w.reject(e);
    }
  }

  /**
   * Waits until retained messages for the subscriptions just made have arrived: a message to our own echo topic
   * is queued by the broker after them.
   */
  private async barrier(timeoutMs = 3000): Promise<void> {
    const nonce = `${process.pid}-${this.clock.mono()}`;
    const echoed = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.syncWaiter = {
        nonce,
        resolve: () => {
          clearTimeout(t);
          this.syncWaiter = undefined;
          resolve();
        },
      };
    });
    await this.publish(this.topics.sync, nonce, 1, false);
    await echoed;
  }

  private applyRetainedPaused(): void {
    const found = this.retainedPaused ?? new Map<string, boolean>();
    this.retainedPaused = undefined;
    for (const [cameraId, paused] of found) {
      if (paused && !this.o.control.isPaused(cameraId)) {
        this.log.info({ camera: cameraId }, 'camera stays paused (retained state from before the restart)');
        this.o.control.setPaused(cameraId, true);
        this.notePaused(cameraId, true, true);
      }
    }
  }

  // ---- incoming -----------------------------------------------------------------------------------------------

  private onMessage(topic: string, payload: Buffer): void {
    try {
      if (topic === this.topics.sync) {
        if (this.syncWaiter && payload.toString() === this.syncWaiter.nonce) this.syncWaiter.resolve();
        return;
      }
      if (topic === this.topics.command) {
        this.handleCommand(parseCommand(payload, this.cameraIds), 'command');
        return;
      }
      if (topic === `${this.cfg.homeassistant.prefix}/status`) {
        if (payload.toString().trim() === 'online' && this.ready) {
          this.log.info('Home Assistant came online: republishing discovery and state');
          void this.publishDiscovery()
            .then(() => this.publishAll())
            .catch((err) => this.log.warn({ err: errorMessage(err) }, 'republish after Home Assistant restart failed'));
        }
        return;
      }
      const p = this.topics.pausedCamera(topic);
      if (p?.set) {
        this.handleCommand(parseSwitchPayload(payload, p.cameraId, this.cameraIds), 'switch');
        return;
      }
      if (p && this.retainedPaused && this.cameraIds.includes(p.cameraId)) {
        this.retainedPaused.set(p.cameraId, payload.toString().trim().toUpperCase() === 'ON');
      }
    } catch (err) {
      // Nothing that arrives on a topic may take the agent down.
      this.log.error({ topic, err: errorMessage(err) }, 'MQTT message handling failed');
    }
  }

  private handleCommand(parsed: ParsedCommand, via: 'command' | 'switch'): void {
    if (parsed.ok) {
      this.log.info({ command: parsed.command.kind, via }, 'MQTT command');
      this.apply(parsed.command);
    } else {
      this.log.warn({ via, error: parsed.error }, 'MQTT command refused');
    }
    if (via === 'command' || !parsed.ok) this.reply(JSON.stringify(commandReply(parsed)));
  }

  /** Every command is answered, up to MAX_REPLIES_IN_FLIGHT at once; a flood beyond that is counted, not queued. */
  private reply(body: string): void {
    if (this.repliesInFlight >= MAX_REPLIES_IN_FLIGHT) {
      this.repliesDropped++;
      const now = performance.now();
      if (now - this.lastDropWarnMono > 10_000) {
        this.lastDropWarnMono = now;
        this.log.warn({ dropped: this.repliesDropped }, 'command flood: replies dropped');
      }
      return;
    }
    this.repliesInFlight++;
    void this.publish(this.topics.commandReply, body, 1, false)
      .catch(() => {})
      .finally(() => this.repliesInFlight--);
  }

  private apply(cmd: Command): void {
    if (cmd.kind === 'republish') {
      this.scheduleRepublish();
      return;
    }
    const paused = cmd.kind === 'pause';
    for (const id of cmd.cameras) {
      if (this.o.control.isPaused(id) !== paused) this.o.control.setPaused(id, paused);
      // The control may or may not announce it on the bus; notePaused ignores repeats.
      this.notePaused(id, this.o.control.isPaused(id), true);
      // The switch's state topic must answer even when nothing changed, or Home Assistant shows a stale switch.
      this.publishPausedCoalesced(id);
    }
  }

  /** A republish now, or (within REPUBLISH_MIN_MS of the last) one more at the end of that window. */
  private scheduleRepublish(): void {
    if (this.republishTimer) return;
    const wait = this.lastRepublishMono + REPUBLISH_MIN_MS - performance.now();
    const run = (): void => {
      this.republishTimer = undefined;
      this.lastRepublishMono = performance.now();
      this.o.control.republishState();
      void this.publishDiscovery()
        .then(() => this.publishAll())
        .catch(() => {});
    };
    if (wait <= 0) run();
    else {
      this.republishTimer = setTimeout(run, wait);
      this.republishTimer.unref?.();
    }
  }

  private publishPausedCoalesced(id: string): void {
    const busy = this.pausedPublishing.get(id);
    if (busy) {
      busy.again = true;
      return;
    }
    const state = { again: false };
    this.pausedPublishing.set(id, state);
    void this.publishPaused(id)
      .catch(() => {})
      .finally(() => {
        this.pausedPublishing.delete(id);
        if (state.again) this.publishPausedCoalesced(id);
      });
  }

  // ---- outgoing -----------------------------------------------------------------------------------------------

  private rawPublish(topic: string, payload: string, qos: 0 | 1, retain: boolean, done: (err?: Error) => void): void {
    const client = this.client;
    if (!client || !this.online) {
      done(new Error('not connected'));
      return;
    }
    client.publish(topic, payload, { qos, retain }, (err) => done(err ?? undefined));
  }

  /** Publishes while connected (what is skipped offline is republished on connect); resolves on PUBACK for QoS 1. */
  private publish(topic: string, payload: string, qos: 0 | 1, retain: boolean, timeoutMs = 10_000): Promise<void> {
    if (!this.online) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`publish to ${topic} not acknowledged within ${timeoutMs} ms`)), timeoutMs);
      this.rawPublish(topic, payload, qos, retain, (err) => {
        clearTimeout(t);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  private discoveryContext(): DiscoveryContext {
    return {
      prefix: this.cfg.homeassistant.prefix,
      agentId: this.cfg.agent_id,
      topics: this.topics,
      labels: this.labels,
      cameras: this.o.cameras,
      origin: { name: 'fer-edge', sw: this.pkg.version, ...(this.pkg.url ? { url: this.pkg.url } : {}) },
      cpuTemperature: this.hasCpuTemp,
      ...(this.cfg.model.state_dir ? { modelStatusTopic: modelTopics.status(this.cfg.mqtt.base_topic, this.cfg.agent_id) } : {}),
      ...(liveViewUrl(this.cfg) ? { configurationUrl: liveViewUrl(this.cfg) } : {}),
    };
  }

  private async publishDiscovery(): Promise<void> {
    if (!this.cfg.homeassistant.discovery) return;
    const ctx = this.discoveryContext();
    const messages: DiscoveryMessage[] = this.cfg.homeassistant.legacy_discovery ? legacyDiscovery(ctx) : deviceDiscovery(ctx);
    await Promise.all(messages.map((m) => this.publish(m.topic, m.payload, 1, true)));
  }

  private async publishPaused(cameraId: string): Promise<void> {
    await this.publish(this.topics.camera(cameraId).paused, this.paused.get(cameraId) ? 'ON' : 'OFF', 1, true);
  }

  private async publishAll(): Promise<void> {
    await Promise.all(this.cameraIds.map((id) => this.publishPaused(id)));
    for (const id of this.cameraIds) this.publishState(id);
    await this.publishDiagnostics();
  }

  /** Publishes at once when something meaningful changed, else schedules for when the rate limit allows. */
  private maybePublishState(cameraId: string): void {
    const model = this.states.get(cameraId);
    if (!model) return;
    const snap = model.snapshot();
    const next = { key: stateKey(snap), body: stateBody(snap) };
    const now = this.clock.mono();
    const minInterval = this.o.stateMinIntervalMs ?? 1000;
    const last = this.lastState.get(cameraId);
    if (shouldPublish(last, next, now, minInterval)) {
      this.publishState(cameraId);
      return;
    }
    if (last && last.body !== next.body && !this.pendingState.has(cameraId)) {
      const wait = Math.max(0, minInterval - (now - last.monoMs));
      this.pendingState.set(
        cameraId,
        setTimeout(() => {
          this.pendingState.delete(cameraId);
          this.publishState(cameraId);
        }, wait),
      );
    }
  }

  private publishState(cameraId: string): void {
    const model = this.states.get(cameraId);
    if (!model) return;
    const pending = this.pendingState.get(cameraId);
    if (pending) {
      clearTimeout(pending);
      this.pendingState.delete(cameraId);
    }
    const snap = model.snapshot();
    if (!this.online) return; // republished on connect
    this.lastState.set(cameraId, { key: stateKey(snap), body: stateBody(snap), monoMs: this.clock.mono() });
    void this.publish(this.topics.camera(cameraId).state, JSON.stringify(snap), 0, true).catch(() => {});
  }

  private async publishDiagnostics(): Promise<void> {
    if (!this.online) return;
    const st = this.delivery.stats();
    const body = this.diag.snapshot(this.clock.mono(), this.clock.wall(), {
      cpuTempC: this.hasCpuTemp ? await readCpuTemperature(this.o.thermalDir) : null,
      queued: this.delivery.depth(),
      dropped: st.droppedExpired + st.droppedOverflow,
      uptimeS: (this.clock.mono() - this.startMono) / 1000,
    });
    await this.publish(this.topics.diagnostics, JSON.stringify(body), 0, true).catch(() => {});
  }

  /** After a reconnect, one error message summarises events dropped while the broker was away. */
  private reportDrops(): void {
    const st = this.delivery.stats();
    const total = st.droppedExpired + st.droppedOverflow;
    if (total <= this.reportedDrops) return;
    const n = total - this.reportedDrops;
    this.reportedDrops = total;
    const body = errorPayload('events_dropped', `${n} event(s) dropped while the broker was away (total: ${st.droppedExpired} too old, ${st.droppedOverflow} over the queue cap)`, this.clock.wall());
    void this.publish(this.topics.errors, JSON.stringify(body), 1, false).catch(() => {});
  }
}
