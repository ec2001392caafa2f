/** The MQTT client against a real Mosquitto: topics, retained state, events, commands, discovery republishing. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { Bus } from '../../agent/core/bus.js';
import { silentLogger } from '../../agent/core/log.js';
import { startMqtt, type MqttHandle } from '../../agent/pipeline/mqtt.js';
import { readCpuTemperature } from '../../agent/mqtt/diagnostics.js';
import { mosquittoAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { schemaProblems } from '../helpers/schemas.js';
import { CAMERAS, LABELS, MemoryControl, Watcher, event, face, modelInfo, result, sleep, testConfig } from './support.js';

let broker: Mosquitto;

test.before(async () => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  broker = await startMosquitto();
});
test.after.always(async () => {
  await broker?.stop();
});

interface Agent {
  bus: Bus;
  control: MemoryControl;
  mqtt: MqttHandle;
}

async function startAgent(agentId: string, extra: Record<string, unknown> = {}, stateDir = '', cameras: ReadonlyArray<{ id: string; name: string; snapshot?: boolean }> = CAMERAS): Promise<Agent> {
  const bus = new Bus();
  const control = new MemoryControl(bus, cameras.map((c) => c.id));
  const cfg = testConfig({ agent_id: agentId, 'mqtt.url': broker.url, ...extra });
  const mqtt = await startMqtt({ cfg, bus, control, log: silentLogger, cameras, labels: LABELS, stateDir, stateMinIntervalMs: 200, diagnosticsIntervalMs: 300 });
  await mqtt.whenConnected();
  return { bus, control, mqtt };
}

const json = (s: string): Record<string, unknown> => JSON.parse(s) as Record<string, unknown>;

test('on connect: retained online, discovery, paused OFF and an empty state, before any face', async (t) => {
  const a = await startAgent('a-connect');
  try {
    // A subscriber arriving later sees all of it retained.
    const w = await Watcher.open(broker.url, ['fer/a-connect/#', 'homeassistant/device/+/config']);
    const avail = await w.waitFor((s) => s.topic === 'fer/a-connect/availability');
    t.is(avail.payload, 'online');
    t.true(avail.retain);
    for (const cam of CAMERAS) {
      const st = await w.waitFor((s) => s.topic === `fer/a-connect/${cam.id}/state`);
      t.true(st.retain);
      t.like(json(st.payload), { camera: cam.id, emotion: 'none', faces: 0, paused: false, tracks: [] });
      t.is((await w.waitFor((s) => s.topic === `fer/a-connect/${cam.id}/paused`)).payload, 'OFF');
      const dev = await w.waitFor((s) => s.topic === `homeassistant/device/fer_a_connect_${cam.id.replace('-', '_')}/config`);
      t.true(dev.retain);
    }
    const diag = await w.waitFor((s) => s.topic === 'fer/a-connect/diagnostics');
    t.like(json(diag.payload), { events_queued: 0 });
    await w.close();
  } finally {
    await a.mqtt.stop();
  }
});

test('a scripted sequence: state follows the frames, one QoS 1 non-retained event per debounced change', async (t) => {
  const w = await Watcher.open(broker.url, ['fer/a-seq/#']);
  const a = await startAgent('a-seq');
  try {
    const cam = 'living_room';
    a.bus.emit('model', modelInfo());
    let seq = 0;
    const frame = (faces: ReturnType<typeof face>[]): void => {
      a.bus.emit('result', result(cam, seq++, performance.now(), faces));
    };
    frame([face(4, 'happy', 0.9)]);
    const first = await w.waitFor((s) => s.topic === `fer/a-seq/${cam}/state` && json(s.payload).faces === 1);
    t.like(json(first.payload), { emotion: 'happy', faces: 1, confidence: 0.9 });
    t.like((json(first.payload).tracks as unknown[])[0], { track_id: 4, emotion: 'happy', settled: false });

    a.bus.emit('event', event(cam, 4, 'happy', 'none', performance.now()));
    frame([face(4, 'sad', 0.7)]);
    a.bus.emit('event', event(cam, 4, 'sad', 'happy', performance.now()));
    await w.waitFor((s) => s.topic === `fer/a-seq/${cam}/state` && json(s.payload).emotion === 'sad');
    // Two faces: the larger one is dominant.
    frame([face(4, 'sad', 0.7, 60), face(9, 'surprise', 0.8, 150)]);
    const two = await w.waitFor((s) => s.topic === `fer/a-seq/${cam}/state` && json(s.payload).faces === 2);
    t.like(json(two.payload), { emotion: 'surprise' });
    frame([]);
    a.bus.emit('event', event(cam, 4, 'face_lost', 'sad', performance.now()));
    a.bus.emit('event', event(cam, 9, 'face_lost', 'none', performance.now()));
    const gone = await w.waitFor((s) => s.topic === `fer/a-seq/${cam}/state` && json(s.payload).faces === 0 && s.payload.includes('"emotion":"none"'));
    t.like(json(gone.payload), { confidence: 0, tracks: [] });

    await w.waitFor((s) => s.topic === `fer/a-seq/${cam}/event` && json(s.payload).track_id === 9);
    const events = w.on(`fer/a-seq/${cam}/event`);
    t.deepEqual(events.map((e) => [json(e.payload).event_type, json(e.payload).previous, json(e.payload).track_id]), [
      ['happy', 'none', 4],
      ['sad', 'happy', 4],
      ['face_lost', 'sad', 4],
      ['face_lost', 'none', 9],
    ]);
    t.true(events.every((e) => e.qos === 1 && !e.retain));
    // Every event and every state conforms to the published schemas (agent/events/schemas).
    for (const e of events) t.deepEqual(schemaProblems('event', json(e.payload)), [], e.payload);
    const states = w.on(`fer/a-seq/${cam}/state`);
    t.true(states.length >= 4);
    for (const st of states) t.deepEqual(schemaProblems('state', json(st.payload)), [], st.payload);
    const e0 = json(events[0].payload);
    t.like(e0, { camera: cam, agent: 'a-seq', confidence: 0.812, held_s: 1.2 });
    t.regex(String(e0.time), /^\d{4}-\d\d-\d\dT/);
    t.is(new Set(events.map((e) => json(e.payload).event_id)).size, 4);
    // Nothing for the other camera.
    t.is(w.on('fer/a-seq/hall-2/event').length, 0);
    // A late subscriber gets the last state, never an old event.
    const late = await Watcher.open(broker.url, ['fer/a-seq/#']);
    await late.waitFor((s) => s.topic === `fer/a-seq/${cam}/state`);
    await late.agentBarrier('fer', 'a-seq');
    t.is(late.on(`fer/a-seq/${cam}/event`).length, 0);
    await late.close();
  } finally {
    await a.mqtt.stop();
    await w.close();
  }
});

test('commands: pause and resume by JSON and by the switch; a paused camera raises no events', async (t) => {
  const w = await Watcher.open(broker.url, ['fer/a-cmd/#']);
  const a = await startAgent('a-cmd');
  try {
    const cam = 'hall-2';
    await w.client.publishAsync('fer/a-cmd/command', JSON.stringify({ command: 'pause', camera: cam, id: 'p1' }), { qos: 1 });
    const reply = await w.waitFor((s) => s.topic === 'fer/a-cmd/command/reply');
    t.deepEqual(json(reply.payload), { ok: true, id: 'p1', command: 'pause' });
    t.true(a.control.isPaused(cam));
    t.false(a.control.isPaused('living_room'));
    await w.waitFor((s) => s.topic === `fer/a-cmd/${cam}/paused` && s.payload === 'ON');
    await w.waitFor((s) => s.topic === `fer/a-cmd/${cam}/state` && json(s.payload).paused === true);

    a.bus.emit('event', event(cam, 1, 'happy', 'none', performance.now()));
    a.bus.emit('event', event('living_room', 1, 'sad', 'none', performance.now()));
    await w.waitFor((s) => s.topic === 'fer/a-cmd/living_room/event');
    t.is(w.on(`fer/a-cmd/${cam}/event`).length, 0);

    const from = w.seen.length;
    await w.client.publishAsync(`fer/a-cmd/${cam}/paused/set`, 'OFF', { qos: 1 });
    await w.waitFor((s) => s.topic === `fer/a-cmd/${cam}/paused` && s.payload === 'OFF', 5000, from);
    t.false(a.control.isPaused(cam));
    a.bus.emit('event', event(cam, 2, 'fear', 'none', performance.now()));
    const ev = await w.waitFor((s) => s.topic === `fer/a-cmd/${cam}/event`);
    t.is(json(ev.payload).event_type, 'fear');

    await w.client.publishAsync('fer/a-cmd/command', '{"command":"republish","id":2}', { qos: 1 });
    await w.waitFor((s) => s.topic === 'fer/a-cmd/command/reply' && json(s.payload).id === 2);
    t.is(a.control.republished, 1);
  } finally {
    await a.mqtt.stop();
    await w.close();
  }
});

test('a flood of 5,000 commands: no listener pile-up, republish merged, the last pause state wins, still answering', async (t) => {
  t.timeout(120_000);
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  const a = await startAgent('a-flood');
  const w = await Watcher.open(broker.url, ['fer/a-flood/command/reply', 'fer/a-flood/+/paused']);
  const cam = CAMERAS[0]!.id;
  try {
    for (let i = 0; i < 5000; i++) {
      const command = i % 5 === 0 ? 'republish' : i % 2 === 0 ? 'pause' : 'resume';
      void w.client.publish('fer/a-flood/command', JSON.stringify({ command, camera: command === 'republish' ? undefined : cam, id: i }), { qos: 0 });
    }
    // i = 4999 (odd, not a multiple of 5) was a resume: the camera must end up running.
    let answered = false;
    for (let k = 0; k < 60 && !answered; k++) {
      await w.client.publishAsync('fer/a-flood/command', JSON.stringify({ command: 'resume', camera: cam, id: `barrier-${k}` }), { qos: 1 });
      answered = await w.waitFor((m) => m.topic === 'fer/a-flood/command/reply' && String(json(m.payload).id).startsWith('barrier-'), 1000).then(() => true, () => false);
    }
    t.true(answered, 'the agent still answers after the flood');
    t.false(a.control.isPaused(cam));
    await w.waitFor((m) => m.topic === `fer/a-flood/${cam}/paused` && m.payload === 'OFF', 10_000);
    t.true(a.control.republished >= 1 && a.control.republished <= 30, `1,000 republish commands ran ${a.control.republished} republishes`);
    t.deepEqual(warnings.filter((n) => n === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
    await a.mqtt.stop();
    await w.close();
  }
});

test('bad command payloads are answered with an error on the reply topic and the client carries on (fuzzed)', async (t) => {
  const w = await Watcher.open(broker.url, ['fer/a-bad/#']);
  const a = await startAgent('a-bad');
  try {
    const bad: Array<[string, string | Buffer, RegExp]> = [
      ['fer/a-bad/command', 'pause please', /not JSON/],
      ['fer/a-bad/command', '{"command":"selfdestruct","id":"x1"}', /"command" must be one of/],
      ['fer/a-bad/command', '{"command":"pause","camera":"garage"}', /"camera" must be one of/],
      ['fer/a-bad/command', Buffer.from([0xc3, 0x28, 0xff]), /not UTF-8/],
      ['fer/a-bad/command', 'x'.repeat(10_000), /at most 4096/],
      ['fer/a-bad/living_room/paused/set', 'MAYBE', /must be ON \(pause\) or OFF \(resume\)/],
      ['fer/a-bad/garage/paused/set', 'ON', /no camera "garage"/],
    ];
    for (const [topic, payload, re] of bad) {
      const from = w.seen.length;
      await w.client.publishAsync(topic, payload, { qos: 1 });
      const r = await w.waitFor((s) => s.topic === 'fer/a-bad/command/reply', 5000, from);
      const body = json(r.payload) as { ok: boolean; error?: { reason: string; message: string } };
      t.false(body.ok);
      t.is(body.error?.reason, 'command_invalid');
      t.regex(body.error?.message ?? '', re);
    }
    t.false(a.control.isPaused('living_room'));

    // Fuzz over the real broker: every payload gets exactly one reply, and the agent still works afterwards.
    const payloads = fc.sample(fc.oneof(fc.string({ maxLength: 200 }), fc.json(), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b))), { numRuns: 60, seed: 42 });
    const before = w.on('fer/a-bad/command/reply').length;
    for (const p of payloads) await w.client.publishAsync('fer/a-bad/command', p, { qos: 1 });
    const until = Date.now() + 10_000;
    while (w.on('fer/a-bad/command/reply').length < before + payloads.length && Date.now() < until) await sleep(50);
    t.is(w.on('fer/a-bad/command/reply').length, before + payloads.length);
    t.true(a.mqtt.connected());
    a.bus.emit('event', event('living_room', 3, 'happy', 'none', performance.now()));
    await w.waitFor((s) => s.topic === 'fer/a-bad/living_room/event');
  } finally {
    await a.mqtt.stop();
    await w.close();
  }
});

test('Home Assistant announcing online and a model swap both republish discovery; the new labels are in it', async (t) => {
  const w = await Watcher.open(broker.url, ['homeassistant/device/+/config']);
  const a = await startAgent('a-disc');
  try {
    const topic = 'homeassistant/device/fer_a_disc_living_room/config';
    await w.waitFor((s) => s.topic === topic);
    const n = w.on(topic).length;
    await w.client.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await w.waitFor(() => w.on(topic).length > n);

    a.bus.emit('model', modelInfo(['happy', 'sad', 'neutral'], '2.0.0'));
    const swapped = await w.waitFor((s) => s.topic === topic && s.payload.includes('"options":["happy","sad","neutral","none"]'));
    const cmps = (json(swapped.payload).cmps ?? {}) as Record<string, { event_types?: string[] }>;
    t.deepEqual(cmps.emotion_event.event_types, ['happy', 'sad', 'neutral', 'face_lost']);
    // The same labels again: no republish.
    const m = w.on(topic).length;
    a.bus.emit('model', modelInfo(['happy', 'sad', 'neutral'], '2.0.1'));
    await w.agentBarrier('fer', 'a-disc');
    t.is(w.on(topic).length, m);
  } finally {
    await a.mqtt.stop();
    await w.close();
  }
});

test('legacy discovery publishes one config per entity instead of device configs', async (t) => {
  const w = await Watcher.open(broker.url, ['homeassistant/#']);
  const a = await startAgent('a-legacy', { 'homeassistant.legacy_discovery': true });
  try {
    await w.waitFor((s) => s.topic === 'homeassistant/event/fer_a_legacy_living_room/emotion_event/config');
    await w.agentBarrier('fer', 'a-legacy');
    t.is(w.seen.filter((s) => s.topic.includes('/device/fer_a_legacy')).length, 0);
    const agentEntities = (await readCpuTemperature()) === null ? 5 : 6; // CPU temperature only where the board has one
    t.is(new Set(w.seen.filter((s) => s.topic.includes('fer_a_legacy')).map((s) => s.topic)).size, agentEntities + 6 * CAMERAS.length);
  } finally {
    await a.mqtt.stop();
    await w.close();
  }
});

test('diagnostics and errors: fps and latency from results, a failed source on the errors topic', async (t) => {
  const w = await Watcher.open(broker.url, ['fer/a-diag/#']);
  const a = await startAgent('a-diag');
  try {
    a.bus.emit('model', modelInfo(LABELS, '3.1.4'));
    const t0 = performance.now();
    for (let i = 0; i < 11; i++) a.bus.emit('result', result('living_room', i, t0 + i * 200, []));
    const d = await w.waitFor((s) => s.topic === 'fer/a-diag/diagnostics' && json(s.payload).fps !== 0);
    t.like(json(d.payload), { fps: 5, latency_ms: 15, engine: 'onnxruntime', model: 'fer-test', model_version: '3.1.4' });
    a.bus.emit('source', { cameraId: 'hall-2', state: 'failed', reason: 'ffmpeg exited with code 1', framesDropped: 0, framesCorrupt: 0 });
    const e = await w.waitFor((s) => s.topic === 'fer/a-diag/errors');
    t.like(json(e.payload), { reason: 'source_failed', camera: 'hall-2' });
    t.regex(String(json(e.payload).message), /ffmpeg exited/);
  } finally {
    await a.mqtt.stop();
    await w.close();
  }
});

test('a graceful stop publishes offline (retained) itself, and leaves no listener on the bus', async (t) => {
  const a = await startAgent('a-stop');
  t.true(a.bus.listenerCount('result') > 0 && a.bus.listenerCount('model') > 0);
  await a.mqtt.stop();
  for (const e of ['result', 'event', 'model', 'paused', 'source'] as const) t.is(a.bus.listenerCount(e), 0, `${e} listeners left`);
  const w = await Watcher.open(broker.url, ['fer/a-stop/availability']);
  try {
    const s = await w.waitFor((x) => x.topic === 'fer/a-stop/availability');
    t.is(s.payload, 'offline');
    t.true(s.retain);
  } finally {
    await w.close();
  }
});

test('the pause survives a restart: read back from the retained topic, or from the state dir', async (t) => {
  const a = await startAgent('a-keep');
  const w = await Watcher.open(broker.url, ['fer/a-keep/#']);
  // Closed even when an assertion fails: an open client would keep this test file's worker alive.
  t.teardown(() => w.close());
  await w.client.publishAsync('fer/a-keep/living_room/paused/set', 'ON', { qos: 1 });
  await w.waitFor((s) => s.topic === 'fer/a-keep/living_room/paused' && s.payload === 'ON');
  const beforeStop = w.seen.length;
  await a.mqtt.stop();
  // The first agent's last word is its retained offline; what follows it comes from the restarted agent, which may
  // publish while it is still starting, so look from there on.
  const offline = await w.waitFor((s) => s.topic === 'fer/a-keep/availability' && s.payload === 'offline', 5000, beforeStop);
  const restartedFrom = w.seen.indexOf(offline) + 1;
  const b = await startAgent('a-keep');
  try {
    t.true(b.control.isPaused('living_room'));
    t.false(b.control.isPaused('hall-2'));
    const st = await w.waitFor((s) => s.topic === 'fer/a-keep/living_room/state' && json(s.payload).paused === true, 5000, restartedFrom);
    t.truthy(st);
  } finally {
    await b.mqtt.stop();
  }

  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-mqtt-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = await startAgent('a-file', {}, dir);
  await w.client.publishAsync('fer/a-file/hall-2/paused/set', 'ON', { qos: 1 });
  const until = Date.now() + 5000;
  while (Date.now() < until && !readFileSafe(path.join(dir, 'paused.json')).includes('"hall-2": true')) await sleep(50);
  await c.mqtt.stop();
  t.deepEqual(JSON.parse(readFileSafe(path.join(dir, 'paused.json'))), { living_room: false, 'hall-2': true });
  // With a state dir the file decides, even if the retained topic was cleared meanwhile.
  await w.client.publishAsync('fer/a-file/hall-2/paused', '', { qos: 1, retain: true });
  const d = await startAgent('a-file', {}, dir);
  try {
    t.true(d.control.isPaused('hall-2'));
  } finally {
    await d.mqtt.stop();
  }
});

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

test('opt-in snapshots: an image entity only for the camera that enables them; pictures published, never retained', async (t) => {
  const w = await Watcher.open(broker.url, ['homeassistant/device/+/config', 'fer/a-snap/+/snapshot']);
  const cams = [{ id: 'living_room', name: 'Living room', snapshot: true }, { id: 'hall-2', name: 'Hall', snapshot: false }];
  const a = await startAgent('a-snap', {}, '', cams);
  try {
    const on = await w.waitFor((s) => s.topic === 'homeassistant/device/fer_a_snap_living_room/config');
    const off = await w.waitFor((s) => s.topic === 'homeassistant/device/fer_a_snap_hall-2/config' || s.topic === 'homeassistant/device/fer_a_snap_hall_2/config');
    const cmps = (json(on.payload).cmps ?? {}) as Record<string, Record<string, unknown>>;
    t.like(cmps.snapshot, { platform: 'image', image_topic: 'fer/a-snap/living_room/snapshot', content_type: 'image/jpeg' });
    t.is((json(off.payload).cmps as Record<string, unknown>).snapshot, undefined, 'no image entity without snapshot.enabled');
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
    a.bus.emit('snapshot', { cameraId: 'living_room', eventId: 'x-1', eventType: 'happy', jpeg });
    const pic = await w.waitFor((s) => s.topic === 'fer/a-snap/living_room/snapshot');
    t.false(pic.retain);
    t.deepEqual(Buffer.from(pic.payload, 'latin1').length, jpeg.length);
    // Paused: nothing leaves the device.
    a.control.setPaused('living_room', true);
    a.bus.emit('snapshot', { cameraId: 'living_room', eventId: 'x-2', eventType: 'sad', jpeg });
    await w.agentBarrier('fer', 'a-snap');
    t.is(w.on('fer/a-snap/living_room/snapshot').length, 1);
  } finally {
    await a.mqtt.stop();
    await w.close();
  }
});
