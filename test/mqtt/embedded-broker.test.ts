/** The embedded default: no broker configured, the agent runs aedes and mosquitto_sub sees the traffic. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import test from 'ava';
import { Bus } from '../../agent/core/bus.js';
import { silentLogger } from '../../agent/core/log.js';
import { startEmbeddedBroker } from '../../agent/mqtt/broker.js';
import { startMqtt } from '../../agent/pipeline/mqtt.js';
import { freePort } from '../helpers/mosquitto.js';
import { CAMERAS, LABELS, MemoryControl, event, testConfig } from './support.js';

const MOSQUITTO_SUB = ['/usr/bin/mosquitto_sub', '/usr/local/bin/mosquitto_sub'].find((p) => existsSync(p));

test("mqtt.url 'embedded' starts a broker that mosquitto_sub -t 'fer/#' can watch", async (t) => {
  if (!MOSQUITTO_SUB) throw new Error('mosquitto_sub is not installed: apt-get install -y mosquitto-clients');
  const port = await freePort();
  const bus = new Bus();
  const cfg = testConfig({ agent_id: 'a-emb', 'mqtt.url': 'embedded', 'mqtt.embedded_port': port });
  const mqtt = await startMqtt({ cfg, bus, control: new MemoryControl(bus, CAMERAS.map((c) => c.id)), log: silentLogger, cameras: CAMERAS, labels: LABELS });
  try {
    t.is(mqtt.url, `mqtt://127.0.0.1:${port}`);
    await mqtt.whenConnected();
    const sub = spawn(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', String(port), '-t', 'fer/#', '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      // Retained topics arrive at once; then a live event.
      const end = Date.now() + 5000;
      while (!out.includes('fer/a-emb/availability online') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      bus.emit('event', event('living_room', 1, 'surprise', 'none', performance.now()));
      while (!out.includes('fer/a-emb/living_room/event') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    } finally {
      sub.kill();
    }
    t.regex(out, /^fer\/a-emb\/availability online$/m);
    t.regex(out, /^fer\/a-emb\/living_room\/state \{.*"emotion":"none"/m);
    t.regex(out, /^fer\/a-emb\/living_room\/event \{"schema":1,"event_type":"surprise"/m);
  } finally {
    await mqtt.stop();
  }
  // Stopped means the port is free again.
  await new Promise<void>((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(port, '127.0.0.1', () => s.close(() => resolve()));
  });
});

test('an embedded broker port already in use is a clear error', async (t) => {
  const first = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, log: silentLogger });
  try {
    await t.throwsAsync(startEmbeddedBroker({ host: '127.0.0.1', port: first.port, log: silentLogger }), {
      message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: the port is in use .*mqtt\\.url.*mqtt\\.embedded_port`),
    });
  } finally {
    await first.stop();
  }
});
