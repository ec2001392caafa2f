/**
 * The little a feature needs from a broker connection (the model update service, for one): the MQTT layer hands it
 * over (mqtt/update-link.ts adapts an mqtt.js client), so features do not depend on the MQTT layer.
 */
export interface BrokerLink {
  connected(): boolean;
  subscribe(topics: string[]): Promise<void>;
  unsubscribe(topics: string[]): Promise<void>;
  publish(topic: string, payload: string | Uint8Array, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** Every incoming message; `retained` is the packet's retain flag. Returns an unsubscribe function. */
  onMessage(fn: (topic: string, payload: Uint8Array, retained: boolean) => void): () => void;
  /** Every (re)connect. Returns an unsubscribe function. */
  onConnect(fn: () => void): () => void;
}

/**
 * What the MQTT bridge offers the features plugged into it (state publishing, pause sync, diagnostics, commands,
 * Home Assistant discovery): publishing, routed subscriptions, and hooks into the connect sequence.
 */
export interface FeatureHost {
  /** Publishes while connected (resolves on PUBACK for QoS 1); resolves at once offline: connect republishes. */
  publish(topic: string, payload: string | Buffer, opts: { qos: 0 | 1; retain: boolean }, timeoutMs?: number): Promise<void>;
  /** Publishes, or rejects when not connected: for queues that must know whether the broker took it. */
  send(topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** Messages on topics matching `filter` (subscribed on every connect) go to `handler`. */
  route(filter: string, handler: (topic: string, payload: Buffer) => void): void;
  /**
   * Runs `hook` on every connect, by phase: `restore` (read retained state back), `discovery`, `state` (publish
   * retained state), `online` (start sending queued events). `republish()` runs the last three again.
   */
  onConnect(phase: ConnectPhase, hook: (first: boolean) => Promise<void>): void;
  onDisconnect(fn: () => void): void;
  /** Delivers the retained messages on `filter` to `handler`, then unsubscribes (a broker round trip is the barrier). */
  readRetained(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void>;
  /** Discovery and every retained state again (a command, Home Assistant restarting). */
  republish(): Promise<void>;
  /** Connected, and the connect sequence has run. */
  isReady(): boolean;
}

export type ConnectPhase = 'restore' | 'discovery' | 'state' | 'online';
export const CONNECT_PHASES: readonly ConnectPhase[] = ['restore', 'discovery', 'state', 'online'];

/** One part of the MQTT side, zigbee2mqtt-extension style: started on the host, stopped with it. */
export interface Feature {
  start(host: FeatureHost): Promise<void>;
  stop(): Promise<void>;
}
