/**
 * Issue 31 M2: a connect sequence (or a `republish`) that was still running when the link dropped went on to its
 * `online` phase offline, so event delivery believed it was online while disconnected, and the next connect's
 * `online` changed nothing: a queued event was never delivered. A sequence now ends when its connection does.
 */
import test from 'ava';
import { systemClock } from '../../agent/core/clock.js';
import { silentLogger } from '../../agent/core/log.js';
import { agentTopics } from '../../agent/core/topics.js';
import { MqttBridge } from '../../agent/mqtt/bridge.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { testConfig } from './support.js';

test('a connect sequence cut by a disconnect does not run its later phases offline, and the next connect runs them all', async (t) => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const cfg = testConfig({ agent_id: 'a-seq', 'mqtt.url': broker.url });
  const bridge = new MqttBridge(cfg, agentTopics('fer', 'a-seq'), broker.url, silentLogger, systemClock);
  let gate: Promise<void> | null = null;
  let open: () => void = () => undefined;
  let online = false;
  const phases: string[] = [];
  bridge.onConnect('discovery', async () => {
    phases.push('discovery');
    if (gate) await gate;
  });
  bridge.onConnect('online', async () => {
    phases.push('online');
    online = true;
  });
  bridge.onDisconnect(() => {
    online = false;
  });
  bridge.start();
  t.teardown(() => bridge.stop());
  await bridge.whenConnected();
  t.true(online);

  gate = new Promise<void>((r) => (open = r));
  const republished = bridge.republish();
  await waitFor('the republish to reach its discovery phase', () => phases.filter((p) => p === 'discovery').length === 2);
  await broker.stopBroker();
  await waitFor('the bridge to see the link drop', () => !bridge.connected());
  open();
  gate = null;
  await republished;
  t.false(online, 'the online phase did not run after the link dropped');
  t.false(bridge.isReady());

  await broker.start();
  await waitFor('the next connect to run every phase', () => online && bridge.isReady(), 30_000);
  t.pass();
});
