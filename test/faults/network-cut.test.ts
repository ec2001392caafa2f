/**
 * A network cut between the agent and its broker, mid-stream: the agent's MQTT publisher reaches a real Mosquitto
 * only through a TCP proxy the test controls. The cut destroys every proxied socket and blackholes new connections
 * (accepted, nothing forwarded) while events keep coming on the bus; the restore forwards the held connection, as
 * a healed partition lets a retransmitted handshake through. A subscriber connected directly to Mosquitto checks:
 * availability goes offline (Last Will) during the cut and online after; every event young enough arrives once
 * (event_id), nothing leaks through the cut, and events older than mqtt.event_max_age_s are dropped and counted.
 */
import net from 'node:net';
import test from 'ava';
import { waitFor } from '../helpers/wait.js';
import { Bus } from '../../agent/core/bus.js';
import { systemClock } from '../../agent/core/clock.js';
import { silentLogger } from '../../agent/core/log.js';
import { startMqtt } from '../../agent/pipeline/mqtt.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';
import { CAMERAS, LABELS, MemoryControl, Watcher, event, sleep, testConfig } from '../mqtt/support.js';

/** A local TCP proxy to 127.0.0.1:targetPort that the test can cut and restore. */
class CuttableProxy {
  private up = true;
  private readonly open = new Set<net.Socket>();
  private held: net.Socket[] = [];
  /** Connections accepted while cut (the agent's reconnect attempts). */
  heldTotal = 0;

  private constructor(
    private readonly server: net.Server,
    private readonly targetPort: number,
  ) {
    server.on('connection', (s) => this.accept(s));
  }

  static async start(targetPort: number): Promise<CuttableProxy> {
    const server = net.createServer();
    const proxy = new CuttableProxy(server, targetPort);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** Drops every connection now; new ones are accepted and held, nothing forwarded, until restore(). */
  cut(): void {
    this.up = false;
    for (const s of this.open) s.destroy();
    this.open.clear();
  }

  restore(): void {
    this.up = true;
    const held = this.held;
    this.held = [];
    for (const s of held) if (!s.destroyed) this.forward(s);
  }

  async close(): Promise<void> {
    this.cut();
    for (const s of this.held) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(s: net.Socket): void {
    this.open.add(s);
    s.on('error', () => {}); // a reset is part of the scenario
    s.on('close', () => this.open.delete(s));
  }

  private accept(client: net.Socket): void {
    this.track(client);
    if (this.up) {
      this.forward(client);
      return;
    }
    this.heldTotal++;
    client.pause();
    this.held.push(client);
  }

  private forward(client: net.Socket): void {
    const broker = net.connect(this.targetPort, '127.0.0.1');
    this.track(broker);
    client.on('close', () => broker.destroy());
    broker.on('close', () => client.destroy());
    client.pipe(broker);
    broker.pipe(client);
  }
}

const AGENT = 'a-cut';
const EVENT_TOPIC = `fer/${AGENT}/living_room/event`;
const MAX_AGE_S = 3;

test('a network cut mid-stream: young events arrive once after it, old ones are dropped and counted, LWT marks the cut', async (t) => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  const broker = await startMosquitto();
  const proxy = await CuttableProxy.start(broker.port);
  const w = await Watcher.open(broker.url, [EVENT_TOPIC, `fer/${AGENT}/availability`, `fer/${AGENT}/errors`]);
  const bus = new Bus();
  const clock = systemClock;
  const cfg = testConfig({ agent_id: AGENT, 'mqtt.url': proxy.url, 'mqtt.event_max_age_s': MAX_AGE_S, 'mqtt.offline_queue_max': 20 });
  const mqtt = await startMqtt({ cfg, bus, control: new MemoryControl(bus, CAMERAS.map((c) => c.id)), log: silentLogger, cameras: CAMERAS, labels: LABELS, clock });
  // track_id names each event: 1xx before the cut, 2xx early in the cut (too old by the restore), 3xx just before
  // the restore, 4xx after it.
  const send = (trackId: number): void => {
    bus.emit('event', { ...event('living_room', trackId, 'happy', 'none', clock.mono(), clock.wall()), trackId });
  };
  const arrivals = (): Array<{ trackId: number; eventId: string }> =>
    w.on(EVENT_TOPIC).map((s) => {
      const p = JSON.parse(s.payload) as { track_id: number; event_id: string };
      return { trackId: p.track_id, eventId: p.event_id };
    });
  const availability = (from = 0): string[] => w.seen.slice(from).filter((s) => s.topic === `fer/${AGENT}/availability`).map((s) => s.payload);
  try {
    await mqtt.whenConnected();
    await w.waitFor((s) => s.topic === `fer/${AGENT}/availability` && s.payload === 'online');

    // The stream before the cut.
    for (let i = 1; i <= 8; i++) {
      send(100 + i);
      await sleep(100);
    }
    await waitFor('the events before the cut', () => arrivals().length === 8 && mqtt.queueDepth() === 0, 15_000);

    // Cut between two events, with nothing in flight: a QoS 1 duplicate would be allowed for an event cut off
    // before its PUBACK, and this test means to see none.
    const beforeCut = w.seen.length;
    proxy.cut();
    const cutAt = clock.mono();
    const oldEmitted: number[] = [];
    for (let i = 1; i <= 5; i++) {
      send(200 + i);
      oldEmitted.push(clock.mono());
      await sleep(100);
    }
    await waitFor('the agent to notice the cut', () => !mqtt.connected(), 15_000);
    await w.waitFor((s) => s.topic === `fer/${AGENT}/availability` && s.payload === 'offline', 10_000, beforeCut);
    // Hold the cut until the early events are well past mqtt.event_max_age_s (load only makes them older).
    await waitFor('the early events to age', () => clock.mono() - oldEmitted[oldEmitted.length - 1]! > MAX_AGE_S * 1000 + 1000, 15_000);
    for (let i = 1; i <= 5; i++) {
      send(300 + i);
      await sleep(40);
    }
    // Nothing crossed the cut; the agent kept trying (its attempts are held by the blackhole).
    t.false(mqtt.connected());
    t.deepEqual(arrivals().map((a) => a.trackId).filter((id) => id >= 200), [], 'an event crossed the cut');
    t.true(proxy.heldTotal >= 1, 'the agent made no reconnect attempt during the cut');
    t.deepEqual(availability(beforeCut), ['offline']);
    // The queue prunes on every push: the early events are already counted as too old, the late ones wait.
    t.is(mqtt.queueDepth(), 5);
    t.like(mqtt.stats(), { droppedExpired: 5, droppedOverflow: 0 });

    const atRestore = w.seen.length;
    const restoredAt = clock.mono();
    proxy.restore();
    await mqtt.whenConnected(15_000);
    t.log(`cut held ${Math.round(restoredAt - cutAt)} ms; agent back ${Math.round(clock.mono() - restoredAt)} ms after the restore`);
    await w.waitFor((s) => s.topic === `fer/${AGENT}/availability` && s.payload === 'online', 10_000, atRestore);
    for (let i = 1; i <= 3; i++) {
      send(400 + i);
      await sleep(100);
    }
    await waitFor('the events after the restore', () => arrivals().filter((a) => a.trackId >= 300).length >= 8 && mqtt.queueDepth() === 0, 15_000);
    await w.agentBarrier('fer', AGENT); // a duplicate or a late old event would have arrived before the answer

    const got = arrivals();
    const expected = [101, 102, 103, 104, 105, 106, 107, 108, 301, 302, 303, 304, 305, 401, 402, 403];
    t.deepEqual(got.map((a) => a.trackId), expected);
    t.is(new Set(got.map((a) => a.eventId)).size, got.length, `an event_id arrived twice: ${got.map((a) => a.eventId).join(' ')}`);
    t.like(mqtt.stats(), { delivered: 16, droppedExpired: 5, droppedOverflow: 0, queued: 0, inflight: 0 });
    t.deepEqual(availability(atRestore), ['online']);
    const err = await w.waitFor((s) => s.topic === `fer/${AGENT}/errors`, 5000, atRestore);
    t.like(JSON.parse(err.payload), { reason: 'events_dropped' });
    t.regex((JSON.parse(err.payload) as { message: string }).message, /^5 event\(s\) dropped .*5 too old, 0 over the queue cap/);
  } finally {
    await mqtt.stop();
    await w.close();
    await proxy.close();
    await broker.stop();
  }
});
