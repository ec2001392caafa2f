/**
 * Issue 31 M3: with the broker down at start and no state folder, the pause is restored from the retained topic
 * only once the broker is back; events the camera raised before that waited in the offline queue and were published
 * although the camera had been paused all along. Events of a camera that turns out paused are now dropped.
 */
import test from 'ava';
import { connect } from 'mqtt';
import { Bus } from '../../agent/core/bus.js';
import { systemClock } from '../../agent/core/clock.js';
import { silentLogger } from '../../agent/core/log.js';
import { startMqtt } from '../../agent/pipeline/mqtt.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { CAMERAS, LABELS, MemoryControl, Watcher, event, testConfig } from './support.js';

test('events queued before a paused camera is restored from the retained topic are not published', async (t) => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  const broker = await startMosquitto({ persistence: true });
  t.teardown(() => broker.stop());
  // Before the restart: living_room was paused (the retained switch state).
  const c = connect(broker.url);
  await new Promise<void>((r) => c.once('connect', () => r()));
  await c.publishAsync('fer/a-m3/living_room/paused', 'ON', { qos: 1, retain: true });
  await c.endAsync();
  // A persistent session: the broker keeps every event for the watcher, whenever the agent gets to publish it.
  const session = { clientId: 'watch-m3', clean: false };
  await (await Watcher.open(broker.url, ['fer/a-m3/+/event'], session)).close();
  await broker.stopBroker();

  const bus = new Bus();
  const cfg = testConfig({ agent_id: 'a-m3', 'mqtt.url': broker.url, 'model.state_dir': '' });
  const mqtt = await startMqtt({ cfg, bus, control: new MemoryControl(bus, CAMERAS.map((x) => x.id)), log: silentLogger, cameras: CAMERAS, labels: LABELS });
  t.teardown(() => mqtt.stop());
  const clock = systemClock;
  // The broker is down: these wait in the offline queue.
  bus.emit('event', event('living_room', 1, 'happy', 'none', clock.mono(), clock.wall()));
  bus.emit('event', event('hall-2', 2, 'sad', 'none', clock.mono(), clock.wall()));
  t.is(mqtt.queueDepth(), 2);

  await broker.start();
  const w = await Watcher.open(broker.url, ['fer/a-m3/+/event'], session);
  t.teardown(() => w.close());
  await mqtt.whenConnected(30_000);
  // The queue goes out in order, so hall-2's event arriving means living_room's was not going to.
  await w.waitFor((s) => s.topic === 'fer/a-m3/hall-2/event', 15_000);
  // The watcher can see hall-2's event before the agent has its acknowledgement, which is what empties the queue.
  await waitFor('the queue to drain', () => mqtt.queueDepth() === 0, 15_000);
  t.deepEqual(w.seen.map((s) => s.topic), ['fer/a-m3/hall-2/event']);
});
