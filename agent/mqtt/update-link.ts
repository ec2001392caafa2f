/**
 * The broker connection model transfers use: its own client, so a multi-megabyte push never queues behind (or
 * delays) events, with its own reconnects (1 s doubling to 30 s, jittered; mqtt.js re-subscribes), so an agent keeps
 * accepting models after its broker restarts. The agent and the test fixtures both connect through here.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { AgentConfig } from '../config/schema.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { backoffMs } from '../core/backoff.js';
import { connectionOptions } from './connection.js';
import { redactUrl } from '../core/redact.js';
import type { BrokerLink } from '../core/broker-link.js';

export interface UpdateConnection {
  link: BrokerLink;
  client: MqttClient;
  stop(): Promise<void>;
}

/** How long stop() lets the update connection close cleanly. */
const END_MS = 2000;

export function connectUpdates(mqttCfg: AgentConfig['mqtt'], agentId: string, brokerUrl: string, log: Logger): UpdateConnection {
  const conn = connectionOptions(mqttCfg, agentId, brokerUrl, undefined);
  let attempt = 0;
  const client = mqtt.connect(conn.url, { ...conn.options, clientId: `${conn.options.clientId}-models`, clean: true, reconnectPeriod: backoffMs(0) });
  let wasUp = false;
  let stopping = false;
  client.on('connect', () => {
    if (attempt > 0 || wasUp) log.info({ url: redactUrl(brokerUrl) }, 'model update connection restored');
    attempt = 0;
    wasUp = true;
    client.options.reconnectPeriod = backoffMs(0);
  });
  client.on('close', () => {
    // mqtt.js schedules the next try with options.reconnectPeriod: grow it while the broker stays away.
    client.options.reconnectPeriod = backoffMs(attempt++);
    if (attempt === 1 && wasUp && !stopping) log.warn({ url: redactUrl(brokerUrl) }, 'model update connection lost; reconnecting');
  });
  client.on('error', (err) => log.debug({ err: errorMessage(err) }, 'model update connection error'));
  return {
    link: linkFromMqttClient(client),
    client,
    stop: async () => {
      stopping = true;
      // end() waits for every acknowledgement, then for the socket to close: over a half-open link, forever. After
      // END_MS the socket is dropped (nothing of value is in flight: the status is retained and republished).
      let timer: NodeJS.Timeout | undefined;
      const ended = new Promise<boolean>((resolve) => client.end(false, {}, () => resolve(true)));
      const clean = await Promise.race([ended, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), END_MS)))]);
      clearTimeout(timer);
      if (!clean) {
        log.warn({ url: redactUrl(brokerUrl) }, `model update connection did not close within ${END_MS / 1000} s; dropping it`);
        client.stream?.destroy();
      }
    },
  };
}

/** Adapts a plain mqtt.js client to the link features use. */
export function linkFromMqttClient(client: MqttClient): BrokerLink {
  return {
    connected: () => client.connected,
    subscribe: async (t) => {
      await client.subscribeAsync(t, { qos: 1 });
    },
    unsubscribe: async (t) => {
      await client.unsubscribeAsync(t);
    },
    publish: async (topic, payload, opts) => {
      await client.publishAsync(topic, typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), opts);
    },
    onMessage: (fn) => {
      const h = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => fn(topic, payload, packet.retain === true);
      client.on('message', h);
      return () => client.removeListener('message', h);
    },
    onConnect: (fn) => {
      client.on('connect', fn);
      return () => client.removeListener('connect', fn);
    },
  };
}
