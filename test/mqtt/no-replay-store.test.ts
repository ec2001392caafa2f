/**
 * Why NoReplayStore exists: mqtt.js keeps QoS 1 publishes made while offline and sends them all on reconnect,
 * however old. Checked here against a real broker, for mqtt.js's own store and for ours.
 */
import test from 'ava';
import { connect, Store, type IStore, type MqttClient } from 'mqtt';
import { NoReplayStore } from '../../agent/mqtt/no-replay-store.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { Watcher } from './support.js';

/**
 * The client's next 'connect' (mqtt.js emits it once its store has been replayed), with a deadline. Listen before
 * whatever lets it connect: the reconnect timer fires every 100 ms, so a listener added after `broker.start()`
 * resolves could miss the event and wait forever (it did, on a loaded 2-core host).
 */
function nextConnect(client: MqttClient, what: string, timeoutMs = 20_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function offlinePublishThenReconnect(store: IStore, topic: string): Promise<string[]> {
  // Persistence keeps the watcher's session over the restart, so it gets whatever the client sends on reconnect.
  const broker = await startMosquitto({ persistence: true });
  const w = await Watcher.open(broker.url, [topic], { clientId: `w-${topic.replace('/', '-')}`, clean: false });
  const client = connect(broker.url, { clientId: `c-${topic.replace('/', '-')}`, reconnectPeriod: 100, outgoingStore: store });
  try {
    await nextConnect(client, 'the first connect');
    await broker.stopBroker();
    await waitFor('the client to see the broker go', () => !client.connected, 20_000);
    client.publish(topic, 'raised while offline', { qos: 1 });
    const reconnected = nextConnect(client, 'the reconnect after the broker came back');
    // If the broker fails to start, that error is the test's; the reconnect's own deadline must not surface later.
    reconnected.catch(() => undefined);
    await broker.start();
    await reconnected;
    // A barrier instead of a wait: mqtt.js sends what its store replays before anything published after the connect,
    // and the broker keeps one client's order, so once this arrives a replay would have too.
    await client.publishAsync(topic, 'barrier', { qos: 1 });
    await w.waitFor((s) => s.topic === topic && s.payload === 'barrier', 10_000);
    return w.on(topic).map((s) => s.payload).filter((p) => p !== 'barrier');
  } finally {
    client.end(true);
    await w.close();
    await broker.stop();
  }
}

test("mqtt.js's own store replays an offline publish on reconnect; NoReplayStore does not", async (t) => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  t.deepEqual(await offlinePublishThenReconnect(new Store(), 'replay/default'), ['raised while offline']);
  t.deepEqual(await offlinePublishThenReconnect(new NoReplayStore(), 'replay/ours'), []);
});

test('NoReplayStore acknowledges deletes of packets it forgot, so a late PUBACK is still a success', (t) => {
  const s = new NoReplayStore();
  let ok = false;
  s.del({ messageId: 42 }, (err) => (ok = err === undefined));
  t.true(ok);
  let missing: Error | undefined;
  s.get({ messageId: 42 }, (err) => (missing = err ?? undefined));
  t.truthy(missing);
});
