/**
 * `fer-agent ha remove`: empty retained payloads on every discovery topic (device-based and legacy), which makes
 * Home Assistant delete the agent's devices and entities, plus the retained state topics so nothing re-creates
 * stale values. A running agent would publish them again: stop it first.
 */
import { connectAsync } from 'mqtt';
import type { AgentConfig } from '../config/schema.js';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { connectionOptions } from '../mqtt/connection.js';
import { agentTopics } from '../mqtt/topics.js';
import { removeDiscoveryMessages } from './discovery.js';

export interface RemoveDiscoveryOptions {
  cfg: AgentConfig;
  cameras: ReadonlyArray<{ id: string; name: string }>;
  log: Logger;
  /** Also clear the retained availability, state, paused and diagnostics topics (default true). */
  clearState?: boolean;
}

/** Returns the topics cleared. */
export async function removeDiscovery(opts: RemoveDiscoveryOptions): Promise<string[]> {
  const { cfg } = opts;
  if (!cfg.mqtt.url) throw new FerError('config_invalid', 'mqtt.url is empty: there is no broker to remove Home Assistant discovery from');
  const url = cfg.mqtt.url === 'embedded' ? `mqtt://${cfg.mqtt.embedded_host}:${cfg.mqtt.embedded_port}` : cfg.mqtt.url;
  const topics = agentTopics(cfg.mqtt.base_topic, cfg.agent_id);
  const conn = connectionOptions(cfg.mqtt, cfg.agent_id, url, undefined);
  // A different client id, so a running agent is not kicked off the broker.
  const options = { ...conn.options, clientId: `${conn.options.clientId}-remove`, reconnectPeriod: 0 };
  const ctx = {
    prefix: cfg.homeassistant.prefix,
    agentId: cfg.agent_id,
    topics,
    labels: [],
    cameras: opts.cameras,
    origin: { name: 'fer-edge', sw: '' },
    cpuTemperature: true,
  };
  const cleared = removeDiscoveryMessages(ctx).map((m) => m.topic);
  if (opts.clearState ?? true) {
    cleared.push(topics.availability, topics.diagnostics);
    for (const c of opts.cameras) cleared.push(topics.camera(c.id).state, topics.camera(c.id).paused);
  }
  let client;
  try {
    client = await connectAsync(url, options);
  } catch (err) {
    throw new FerError('broker_unavailable', `cannot reach MQTT broker ${url} to remove discovery: ${errorMessage(err)}`);
  }
  try {
    await Promise.all(cleared.map((t) => client.publishAsync(t, '', { qos: 1, retain: true })));
  } finally {
    await client.endAsync();
  }
  opts.log.info({ topics: cleared.length }, 'Home Assistant discovery removed');
  return cleared;
}
