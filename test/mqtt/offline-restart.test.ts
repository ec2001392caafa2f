/**
 * The offline queue across a real broker restart: events raised while Mosquitto is down are delivered after it
 * comes back if young enough and within the cap, none is lost, none delivered before is sent again, and the
 * too-old and over-the-cap ones are dropped and counted.
 */
import test from 'ava';
import { waitFor } from '../helpers/wait.js';
import { Bus } from '../../agent/core/bus.js';
import type { Clock } from '../../agent/core/clock.js';
import { silentLogger } from '../../agent/core/log.js';
import { startMqtt } from '../../agent/pipeline/mqtt.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';
import { CAMERAS, LABELS, MemoryControl, Watcher, event, testConfig } from './support.js';

/** Real time, plus a jump the test can add to the monotonic clock to age queued events without waiting. */
function jumpingClock(): Clock & { jump(ms: number): void } {
  let offset = 0;
  return { mono: () => performance.now() + offset, wall: () => Date.now() + offset, jump: (ms) => {
      offset += ms;
    },
  };
}

test('events survive a broker restart within age and cap, none is replayed, the rest are dropped and counted', async (t) => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  // Persistence keeps the watcher's session (and its queued QoS 1 messages) across the restart.
  const broker = await startMosquitto({ persistence: true });
  const w = await Watcher.open(broker.url, ['fer/a-restart/+/event', 'fer/a-restart/errors'], { clientId: 'watch-restart', clean: false });
  const bus = new Bus();
  const clock = jumpingClock();
  const cfg = testConfig({ agent_id: 'a-restart', 'mqtt.url': broker.url, 'mqtt.event_max_age_s': 60, 'mqtt.offline_queue_max': 5 });
  const mqtt = await startMqtt({ cfg, bus, control: new MemoryControl(bus, CAMERAS.map((c) => c.id)), log: silentLogger, cameras: CAMERAS, labels: LABELS, clock });
  const send = (name: string): void => {
    bus.emit('event', { ...event('living_room', 1, 'happy', 'none', clock.mono(), clock.wall()), trackId: Number(name.slice(1)), eventType: name.startsWith('e') ? 'happy' : 'sad' });
  };
  try {
    await mqtt.whenConnected();
    // Delivered before the restart.
    for (const n of ['e1', 'e2', 'e3']) send(n);
    await waitFor('the first three events', () => w.on('fer/a-restart/living_room/event').length === 3 && mqtt.queueDepth() === 0, 15_000);

    await broker.stopBroker();
    await waitFor('the agent to notice the broker is gone', () => !mqtt.connected(), 15_000);
    send('o11'); // will be too old
    clock.jump(61_000);
    for (const n of ['o12', 'o13', 'o14', 'o15', 'o16', 'o17']) send(n); // six for a cap of five: o12 goes
    t.is(mqtt.queueDepth(), 5);
    t.like(mqtt.stats(), { droppedExpired: 1, droppedOverflow: 1 });

    await broker.start();
    await mqtt.whenConnected(20_000);
    await waitFor('the queued events after the restart', () => w.on('fer/a-restart/living_room/event').length >= 8, 20_000);
    await w.agentBarrier('fer', 'a-restart'); // anything replayed would have arrived before the answer
    const ids = w.on('fer/a-restart/living_room/event').map((s) => (JSON.parse(s.payload) as { track_id: number }).track_id);
    // The broker → watcher leg is QoS 1 with a persistent session: if the watcher's PUBACK for e3 did not reach
    // Mosquitto before it stopped, Mosquitto redelivers e3 after the restart (at-least-once, by the broker, not the
    // agent). So the watcher's view is compared without repeats, and the agent's own count proves it sent each once.
    t.deepEqual([...new Set(ids)], [1, 2, 3, 13, 14, 15, 16, 17]);
    t.true(ids.filter((id) => id > 3).length === 5, 'events queued during the outage arrive exactly once');
    t.like(mqtt.stats(), { delivered: 8, droppedExpired: 1, droppedOverflow: 1, queued: 0, inflight: 0 });
    const err = await w.waitFor((s) => s.topic === 'fer/a-restart/errors');
    t.like(JSON.parse(err.payload), { reason: 'events_dropped' });
    t.regex((JSON.parse(err.payload) as { message: string }).message, /2 event\(s\) dropped .*1 too old, 1 over the queue cap/);
  } finally {
    await mqtt.stop();
    await w.close();
    await broker.stop();
  }
});
