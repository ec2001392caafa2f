/**
 * The MQTT bridge: one broker connection (connect, reconnect with backoff, errors explained once), publishing,
 * subscriptions routed to the features that asked for them, and the connect sequence the features hook into
 * (availability `online`, subscriptions, then each phase's hooks). What is published is the features' business.
 */
import { connect, type MqttClient } from 'mqtt';
import type { AgentConfig } from '../config/schema.js';
import { backoffMs } from '../core/backoff.js';
import { CONNECT_PHASES, type ConnectPhase, type FeatureHost } from '../core/broker-link.js';
import type { Clock } from '../core/clock.js';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { OFFLINE, ONLINE, topicMatches, type AgentTopics } from '../core/topics.js';
import type { EmbeddedBroker } from './broker.js';
import { connectionOptions, describeConnectError, isSettingsError, type ConnectionOptions } from './connection.js';

type Handler = (topic: string, payload: Buffer) => void;

/** A connect sequence abandoned because its connection dropped (the next connect runs a new one). */
class LinkDropped extends Error {
  constructor(phase: ConnectPhase) {
    super(`MQTT link dropped before the ${phase} phase finished`);
  }
}
type PublishOpts = { qos: 0 | 1; retain: boolean };

export class MqttBridge implements FeatureHost {
  private readonly conn: ConnectionOptions;
  private readonly routes: Array<{ filter: string; handler: Handler; temporary?: boolean }> = [];
  private readonly hooks = new Map<ConnectPhase, Array<(first: boolean) => Promise<void>>>(CONNECT_PHASES.map((p) => [p, []]));
  private readonly disconnectHooks: Array<() => void> = [];
  private client?: MqttClient;
  private online = false;
  private ready = false;
  private stopping = false;
  private attempt = 0;
  private firstConnect = true;
  /** Counts connections: a connect sequence or republish started on one connection ends when that one does. */
  private epoch = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private lastErrorText = '';
  /** The last attempt's error when it was the settings' fault (refused login, untrusted certificate). */
  private settingsError?: FerError;
  private readyWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private syncWaiter?: { nonce: string; resolve: () => void };

  constructor(
    cfg: AgentConfig,
    private readonly topics: AgentTopics,
    readonly url: string,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly embedded?: EmbeddedBroker,
  ) {
    this.conn = connectionOptions(cfg.mqtt, cfg.agent_id, url, topics.availability);
    // Subscriptions are made afresh on each connect (the routes decide which), not replayed by mqtt.js.
    this.conn.options.resubscribe = false;
  }

  // ---- what features use --------------------------------------------------------------------------------------

  route(filter: string, handler: Handler): void {
    this.routes.push({ filter, handler });
  }

  onConnect(phase: ConnectPhase, hook: (first: boolean) => Promise<void>): void {
    this.hooks.get(phase)!.push(hook);
  }

  onDisconnect(fn: () => void): void {
    this.disconnectHooks.push(fn);
  }

  isReady(): boolean {
    return this.ready;
  }

  connected(): boolean {
    return this.online;
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOpts, timeoutMs = 10_000): Promise<void> {
    if (!this.online) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`publish to ${topic} not acknowledged within ${timeoutMs} ms`)), timeoutMs);
      this.sendRaw(topic, payload, opts, (err) => {
        clearTimeout(t);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  send(topic: string, payload: string, opts: PublishOpts): Promise<void> {
    return new Promise((resolve, reject) => this.sendRaw(topic, payload, opts, (err) => (err ? reject(err) : resolve())));
  }

  async readRetained(filter: string, handler: Handler): Promise<void> {
    const entry = { filter, handler, temporary: true };
    this.routes.push(entry);
    try {
      await this.client?.subscribeAsync(filter, { qos: 1 });
      await this.barrier();
      await this.client?.unsubscribeAsync(filter);
    } finally {
      this.routes.splice(this.routes.indexOf(entry), 1);
    }
  }

  async republish(): Promise<void> {
    if (!this.online) return; // the next connect runs every phase anyway
    const epoch = this.epoch;
    try {
      for (const phase of ['discovery', 'state', 'online'] as const) await this.runPhase(phase, false, epoch);
    } catch (err) {
      if (!(err instanceof LinkDropped)) throw err;
    }
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------------

  start(): void {
    const client = connect(this.conn.url, this.conn.options);
    this.client = client;
    client.on('connect', () => void this.onConnected());
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.onError(err));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  /** Resolves once connected and the connect sequence has run; rejects at once when the settings are wrong. */
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

  /** Says `offline` (the Last Will only fires on an unclean end), disconnects, stops the embedded broker. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    if (client && this.online) await this.publish(this.topics.availability, OFFLINE, { qos: 1, retain: true }, 2000).catch(() => {});
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

  // ---- connection ---------------------------------------------------------------------------------------------

  private async onConnected(): Promise<void> {
    this.online = true;
    const epoch = ++this.epoch;
    this.attempt = 0;
    this.log.info({ url: this.url }, this.lastErrorText ? 'MQTT connected again' : 'MQTT connected');
    this.lastErrorText = '';
    this.settingsError = undefined;
    try {
      await this.publish(this.topics.availability, ONLINE, { qos: 1, retain: true });
      const filters = [this.topics.sync, ...new Set(this.routes.filter((r) => !r.temporary).map((r) => r.filter))];
      await this.client?.subscribeAsync(filters, { qos: 1 });
      const first = this.firstConnect;
      this.firstConnect = false;
      for (const phase of CONNECT_PHASES) await this.runPhase(phase, first, epoch);
      this.ready = true;
      for (const w of this.readyWaiters.splice(0)) w.resolve();
    } catch (err) {
      if (err instanceof LinkDropped) this.log.info(err.message);
      else if (!this.stopping) this.log.warn({ err: errorMessage(err) }, 'MQTT connect sequence interrupted');
    }
  }

  /**
   * Runs one phase's hooks, unless the connection they were meant for has dropped: publishes resolve at once while
   * offline, so a sequence would otherwise run on to `online` (event delivery switched on) while disconnected.
   */
  private async runPhase(phase: ConnectPhase, first: boolean, epoch: number): Promise<void> {
    for (const hook of this.hooks.get(phase)!) {
      if (epoch !== this.epoch || !this.online) throw new LinkDropped(phase);
      await hook(first);
    }
    if (epoch !== this.epoch || !this.online) throw new LinkDropped(phase);
  }

  private onClose(): void {
    const was = this.online;
    this.online = false;
    this.ready = false;
    for (const fn of this.disconnectHooks) fn();
    if (this.syncWaiter) this.syncWaiter.resolve();
    if (this.stopping) return;
    if (was) this.log.warn({ url: this.url }, 'MQTT connection lost; events wait in the offline queue');
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
    await this.publish(this.topics.sync, nonce, { qos: 1, retain: false });
    await echoed;
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topics.sync) {
      if (this.syncWaiter && payload.toString() === this.syncWaiter.nonce) this.syncWaiter.resolve();
      return;
    }
    for (const r of [...this.routes]) {
      if (!topicMatches(r.filter, topic)) continue;
      try {
        r.handler(topic, payload);
      } catch (err) {
        // Nothing that arrives on a topic may take the agent down.
        this.log.error({ topic, err: errorMessage(err) }, 'MQTT message handling failed');
      }
    }
  }

  private sendRaw(topic: string, payload: string | Buffer, opts: PublishOpts, done: (err?: Error) => void): void {
    const client = this.client;
    if (!client || !this.online) {
      done(new Error('not connected'));
      return;
    }
    client.publish(topic, payload, opts, (err) => done(err ?? undefined));
  }
}
