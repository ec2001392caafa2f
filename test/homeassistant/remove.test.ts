/** `fer-agent ha remove`: empty retained payloads clear what the agent published, so Home Assistant drops it. */
import test from 'ava';
import { connect } from 'mqtt';
import { readRetained } from '../../agent/cli/broker-client.js';
import { Bus } from '../../agent/core/bus.js';
import { silentLogger } from '../../agent/core/log.js';
import { removeDiscovery } from '../../agent/cli/ha-command.js';
import { startMqtt } from '../../agent/pipeline/mqtt.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';
import { CAMERAS, LABELS, MemoryControl, testConfig } from '../mqtt/support.js';

/** The non-empty retained topics under `filters`, read up to a round trip through the broker (no fixed wait). */
async function retainedTopics(url: string, filters: string[]): Promise<string[]> {
  const c = connect(url);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  try {
    const out: string[] = [];
    for (const f of filters) out.push(...(await readRetained(c, f)).keys());
    return out;
  } finally {
    await c.endAsync();
  }
}

for (const legacy of [false, true]) {
  test(`removeDiscovery clears every retained discovery and state topic (${legacy ? 'legacy' : 'device-based'} discovery)`, async (t) => {
    if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
    const broker = await startMosquitto();
    try {
      const cfg = testConfig({ agent_id: 'a-rm', 'mqtt.url': broker.url, 'homeassistant.legacy_discovery': legacy });
      const bus = new Bus();
      const mqtt = await startMqtt({ cfg, bus, control: new MemoryControl(bus, CAMERAS.map((c) => c.id)), log: silentLogger, cameras: CAMERAS, labels: LABELS });
      await mqtt.whenConnected();
      await mqtt.stop();
      const filters = ['homeassistant/#', 'fer/a-rm/#'];
      const before = await retainedTopics(broker.url, filters);
      t.true(before.filter((x) => x.startsWith('homeassistant/')).length >= (legacy ? 17 : 3), before.join(', '));
      const cleared = await removeDiscovery({ cfg, cameras: CAMERAS, log: silentLogger });
      for (const topic of before) t.true(cleared.includes(topic), `${topic} cleared`);
      t.deepEqual(await retainedTopics(broker.url, filters), []);
    } finally {
      await broker.stop();
    }
  });
}
