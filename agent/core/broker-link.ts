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
