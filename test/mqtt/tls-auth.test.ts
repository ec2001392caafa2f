/** TLS (CA, client certificate) and user/password (from a file) against a real Mosquitto. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { Bus } from '../../agent/core/bus.js';
import { silentLogger } from '../../agent/core/log.js';
import { startMqtt } from '../../agent/pipeline/mqtt.js';
import { makeTestCerts, mosquittoAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { CAMERAS, LABELS, MemoryControl, Watcher, event, testConfig } from './support.js';

let broker: Mosquitto;
let secrets: string;

test.before(async () => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  broker = await startMosquitto({ passwords: { fer: 'correct horse', watcher: 'w' }, tls: true, requireClientCert: true });
  secrets = mkdtempSync(path.join(os.tmpdir(), 'fer-mqtt-secrets-'));
  writeFileSync(path.join(secrets, 'good'), 'correct horse\n');
  writeFileSync(path.join(secrets, 'bad'), 'battery staple\n');
});
test.after.always(async () => {
  await broker?.stop();
  if (secrets) rmSync(secrets, { recursive: true, force: true });
});

function start(agentId: string, over: Record<string, unknown>) {
  const bus = new Bus();
  const certs = broker.certs;
  if (!certs || !broker.tlsUrl) throw new Error('the test broker has no TLS listener');
  const cfg = testConfig({
    agent_id: agentId,
    'mqtt.url': broker.tlsUrl,
    'mqtt.username': 'fer',
    'mqtt.password_file': path.join(secrets, 'good'),
    'mqtt.ca_file': certs.caFile,
    'mqtt.cert_file': certs.clientCertFile,
    'mqtt.key_file': certs.clientKeyFile,
    ...over,
  });
  return startMqtt({ cfg, bus, control: new MemoryControl(bus, CAMERAS.map((c) => c.id)), log: silentLogger, cameras: CAMERAS, labels: LABELS }).then((mqtt) => ({ bus, mqtt }));
}

test('connects over TLS with the CA, a client certificate and the password from a file; events flow', async (t) => {
  const w = await Watcher.open(broker.url, ['fer/a-tls/#'], { username: 'watcher', password: 'w' });
  const { bus, mqtt } = await start('a-tls', {});
  try {
    await mqtt.whenConnected();
    bus.emit('event', event('living_room', 1, 'happy', 'none', performance.now()));
    const e = await w.waitFor((s) => s.topic === 'fer/a-tls/living_room/event');
    t.is((JSON.parse(e.payload) as { event_type: string }).event_type, 'happy');
  } finally {
    await mqtt.stop();
    await w.close();
  }
});

test('a wrong password is reported as a refused login naming the settings to check', async (t) => {
  const { mqtt } = await start('a-badpw', { 'mqtt.password_file': path.join(secrets, 'bad') });
  try {
    const err = await t.throwsAsync(mqtt.whenConnected(4000));
    t.regex(err?.message ?? '', /refused the login .*mqtt\.username and mqtt\.password/);
    t.false(mqtt.connected());
  } finally {
    await mqtt.stop();
  }
});

test('a broker certificate from another CA is refused', async (t) => {
  const other = mkdtempSync(path.join(os.tmpdir(), 'fer-mqtt-otherca-'));
  t.teardown(() => rmSync(other, { recursive: true, force: true }));
  const otherCerts = makeTestCerts(other);
  const { mqtt } = await start('a-badca', { 'mqtt.ca_file': otherCerts.caFile });
  try {
    const err = await t.throwsAsync(mqtt.whenConnected(4000));
    t.regex(err?.message ?? '', /TLS certificate not trusted .*check mqtt\.ca_file/);
  } finally {
    await mqtt.stop();
  }
});

test('without credentials the plain listener refuses; a missing password file is a config error naming the key', async (t) => {
  const bus = new Bus();
  const cfg = testConfig({ agent_id: 'a-anon', 'mqtt.url': broker.url });
  const mqtt = await startMqtt({ cfg, bus, control: new MemoryControl(bus, ['living_room']), log: silentLogger, cameras: CAMERAS, labels: LABELS });
  try {
    const err = await t.throwsAsync(mqtt.whenConnected(4000));
    t.regex(err?.message ?? '', /refused the login/);
  } finally {
    await mqtt.stop();
  }
  const cfg2 = testConfig({ agent_id: 'a-nofile', 'mqtt.url': broker.url });
  cfg2.mqtt.password_file = path.join(secrets, 'missing');
  await t.throwsAsync(startMqtt({ cfg: cfg2, bus, control: new MemoryControl(bus, []), log: silentLogger, cameras: CAMERAS, labels: LABELS }), {
    message: /mqtt\.password_file = ".*missing" cannot be read/,
  });
});
