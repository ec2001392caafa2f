/** `fer-agent ha remove`: clears this agent's retained discovery so Home Assistant deletes its device and entities. */
import { redactUrl } from '../core/redact.js';
import { connectAsync } from 'mqtt';
import type { AgentConfig } from '../config/schema.js';
import { loadConfig, resolveCameras } from '../config/load.js';
import { FerError, errorMessage } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { discoveryTopicsToClear, type RemoveDiscoveryOptions } from '../homeassistant/remove.js';
import { connectionOptions } from '../mqtt/connection.js';
import { overridesFrom, parse } from './args.js';

/**
 * Publishes an empty retained payload on every discovery and state topic of this agent, which makes Home Assistant
 * delete its devices and entities. A running agent would publish them again: stop it first. Returns the topics.
 */
export async function removeDiscovery(opts: RemoveDiscoveryOptions & { log: Logger }): Promise<string[]> {
  const cfg: AgentConfig = opts.cfg;
  if (!cfg.mqtt.url) throw new FerError('config_invalid', 'mqtt.url is empty: there is no broker to remove Home Assistant discovery from');
  const url = cfg.mqtt.url === 'embedded' ? `mqtt://${cfg.mqtt.embedded_host}:${cfg.mqtt.embedded_port}` : cfg.mqtt.url;
  const conn = connectionOptions(cfg.mqtt, cfg.agent_id, url, undefined);
  // A different client id, so a running agent is not kicked off the broker.
  const options = { ...conn.options, clientId: `${conn.options.clientId}-remove`, reconnectPeriod: 0 };
  const cleared = discoveryTopicsToClear(opts);
  let client;
  try {
    client = await connectAsync(url, options);
  } catch (err) {
    throw new FerError('broker_unavailable', redactUrl(`cannot reach MQTT broker ${url} to remove discovery: ${errorMessage(err)}`));
  }
  try {
    await Promise.all(cleared.map((t) => client.publishAsync(t, '', { qos: 1, retain: true })));
  } finally {
    await client.endAsync();
  }
  opts.log.info({ topics: cleared.length }, 'Home Assistant discovery removed');
  return cleared;
}

export async function haCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help || positionals[0] !== 'remove') {
    process.stdout.write('usage: fer-agent ha remove [--config FILE] [--mqtt-url URL]\n');
    return values.help ? 0 : 2;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  const log = createLogger(cfg.log_level);
  const topics = await removeDiscovery({ cfg, cameras: resolveCameras(cfg).map((c) => ({ id: c.id, name: c.name })), log });
  process.stdout.write(`cleared ${topics.length} discovery topics\n`);
  return 0;
}
