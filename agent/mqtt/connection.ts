/**
 * mqtt.js connection options from the agent config: URL, TLS files, user name and password (or password file),
 * client id, keepalive, the Last Will on the availability topic, and the reconnect backoff.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { AgentConfig } from '../config/schema.js';
import { FerError, errorMessage } from '../core/errors.js';
import { NoReplayStore } from './no-replay-store.js';
import { OFFLINE } from '../core/topics.js';


function readKeyFile(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new FerError('config_invalid', `${key} = ${JSON.stringify(file)} cannot be read: ${errorMessage(err)}`);
  }
}

/** The broker URL's protocol must be one mqtt.js speaks; anything else is a config error naming mqtt.url. */
export function checkBrokerUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FerError('config_invalid', `mqtt.url = ${JSON.stringify(url)} is not a URL; expected e.g. mqtt://192.168.1.10:1883, mqtts://broker:8883 or 'embedded'`);
  }
  if (!['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'].includes(u.protocol)) {
    throw new FerError('config_invalid', `mqtt.url = ${JSON.stringify(url)} has protocol ${u.protocol}; expected mqtt:, mqtts:, ws: or wss:`);
  }
  return u;
}

export interface ConnectionOptions {
  url: string;
  options: IClientOptions;
  /** The store the client must keep across reconnects (mqtt.js's own would replay). */
  outgoingStore: NoReplayStore;
}

export function connectionOptions(mqtt: AgentConfig['mqtt'], agentId: string, url: string, availabilityTopic: string | undefined): ConnectionOptions {
  const u = checkBrokerUrl(url);
  const tls = ['mqtts:', 'ssl:', 'tls:', 'wss:'].includes(u.protocol);
  const password = mqtt.password || (mqtt.password_file ? readKeyFile(mqtt.password_file, 'mqtt.password_file').toString('utf8').trim() : '');
  const outgoingStore = new NoReplayStore();
  const options: IClientOptions = {
    clientId: mqtt.client_id || `fer-${agentId}`,
    keepalive: mqtt.keepalive_s,
    clean: true,
    protocolVersion: 4,
    // Reconnects are ours (backoff, and the store passed again each time); QoS 0 is never queued offline:
    // state is republished on connect, events go through EventDelivery.
    reconnectPeriod: 0,
    queueQoSZero: false,
    connectTimeout: 10_000,
    outgoingStore,
    ...(mqtt.username ? { username: mqtt.username } : {}),
    ...(password ? { password } : {}),
    ...(availabilityTopic ? { will: { topic: availabilityTopic, payload: Buffer.from(OFFLINE), qos: 1 as const, retain: true } } : {}),
  };
  if (tls) {
    if (mqtt.ca_file) options.ca = readKeyFile(mqtt.ca_file, 'mqtt.ca_file');
    if (mqtt.cert_file) options.cert = readKeyFile(mqtt.cert_file, 'mqtt.cert_file');
    if (mqtt.key_file) options.key = readKeyFile(mqtt.key_file, 'mqtt.key_file');
    options.rejectUnauthorized = mqtt.reject_unauthorized;
  } else if (mqtt.ca_file || mqtt.cert_file || mqtt.key_file) {
    throw new FerError('config_invalid', `mqtt.ca_file/cert_file/key_file are set but mqtt.url = ${JSON.stringify(url)} is not TLS; use mqtts://`);
  }
  return { url, options, outgoingStore };
}

const TLS_CODE_RE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER/;

/** A CONNACK refusal or a certificate the client cannot trust: retrying will not help until the settings change. */
export function isSettingsError(err: Error & { code?: unknown }): boolean {
  if (typeof err.code === 'number') return [2, 4, 5, 133, 134, 135].includes(err.code);
  return typeof err.code === 'string' && TLS_CODE_RE.test(err.code);
}

/** Says which settings to look at when the broker refuses us, rather than just relaying the error. */
export function describeConnectError(err: Error & { code?: unknown }, url: string): FerError {
  const code = err.code;
  if (code === 4 || code === 5 || code === 134 || code === 135) {
    return new FerError('broker_unavailable', `MQTT broker ${url} refused the login (${err.message}): check mqtt.username and mqtt.password / mqtt.password_file`);
  }
  if (code === 2 || code === 133) return new FerError('broker_unavailable', `MQTT broker ${url} refused the client id (${err.message}): check mqtt.client_id`);
  if (typeof code === 'string' && TLS_CODE_RE.test(code)) {
    return new FerError('broker_unavailable', `MQTT broker ${url}: TLS certificate not trusted (${code}: ${err.message}): check mqtt.ca_file (and mqtt.reject_unauthorized)`);
  }
  return new FerError('broker_unavailable', `MQTT broker ${url}: ${err.message}`);
}
