/**
 * End to end against a real Home Assistant Core (2025.4.4, from the venv that setup-ha.sh makes; FER_HA_VENV)
 * and a real Mosquitto: the entities appear before any face, the blueprint's automation fires on an emotion event,
 * the pause switch stops events, and after an agent restart the states are right and no old event fires again.
 * Home Assistant also loads deploy/homeassistant/automations.yaml, so the examples are checked by the real thing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import sharp from 'sharp';
import type * as haws from 'home-assistant-js-websocket';
import { Bus } from '../../agent/core/bus.js';
import { silentLogger } from '../../agent/core/log.js';
import { packageRoot } from '../../agent/core/paths.js';
import { startHomeAssistantWs, type HomeAssistantWsHandle } from '../../agent/homeassistant/websocket-sink.js';
import { startMqtt, type MqttHandle } from '../../agent/pipeline/mqtt.js';
import { schemaProblems } from '../helpers/schemas.js';
import { waitFor } from '../helpers/wait.js';
import { mosquittoAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { LABELS, MemoryControl, Watcher, event, face, modelInfo, result, sleep, testConfig } from '../mqtt/support.js';
import { haVenv, startHomeAssistant, type HaState, type HomeAssistant } from './ha-core.js';

// The camera publishes snapshots (opt-in), so Home Assistant gets its image entity too.
const CAMERAS = [{ id: 'living_room', name: 'Living room', snapshot: true }];

interface Agent {
  bus: Bus;
  control: MemoryControl;
  mqtt: MqttHandle;
  ws: HomeAssistantWsHandle;
}

interface Ctx {
  broker: Mosquitto;
  ha: HomeAssistant;
  conn: haws.Connection;
  fired: Array<Record<string, unknown>>;
  ferEvents: Array<Record<string, unknown>>;
  /** AVA hands each test a shallow copy of the context: the running agent lives in a shared holder. */
  run: { agent?: Agent };
}

const test = anyTest as TestFn<Ctx>;
const { venv, missing } = haVenv();

async function startAgent(c: Ctx): Promise<Agent> {
  const bus = new Bus();
  const control = new MemoryControl(bus, CAMERAS.map((x) => x.id));
  const cfg = testConfig({ agent_id: 'e2e', 'mqtt.url': c.broker.url, cameras: [{ id: 'living_room', name: 'Living room', source: { type: 'dir', path: '/nonexistent' }, fps: 5 }] });
  const mqtt = await startMqtt({ cfg, bus, control, log: silentLogger, cameras: CAMERAS, labels: LABELS, diagnosticsIntervalMs: 1000, stateMinIntervalMs: 200 });
  await mqtt.whenConnected();
  bus.emit('model', modelInfo());
  const ws = await startHomeAssistantWs({ url: c.ha.url, token: c.ha.token, agentId: 'e2e', bus, log: silentLogger, cameras: CAMERAS, control });
  return { bus, control, mqtt, ws };
}

async function stopAgent(a?: Agent): Promise<void> {
  await a?.ws.stop();
  await a?.mqtt.stop();
}

/** Polls Home Assistant's states until `check` accepts them. */
async function waitStates(ha: HomeAssistant, check: (s: Map<string, HaState>) => boolean, what: string, timeoutMs = 30_000): Promise<Map<string, HaState>> {
  const until = Date.now() + timeoutMs;
  let last = new Map<string, HaState>();
  for (;;) {
    last = new Map((await ha.states()).map((s) => [s.entity_id, s]));
    if (check(last)) return last;
    if (Date.now() > until) {
      const fer = [...last.values()].filter((s) => s.entity_id.includes('fer_')).map((s) => `${s.entity_id}=${s.state}`);
      throw new Error(`timed out waiting for ${what}; Home Assistant has: ${fer.join(', ')}\n${ha.log().slice(-3000)}`);
    }
    await sleep(300);
  }
}

const ENTITIES = [
  'sensor.fer_living_room_emotion',
  'sensor.fer_living_room_confidence',
  'sensor.fer_living_room_faces',
  'binary_sensor.fer_living_room_presence',
  'event.fer_living_room_emotion',
  'switch.fer_living_room_pause',
  'sensor.fer_e2e_fps',
  'sensor.fer_e2e_latency',
  'sensor.fer_e2e_engine',
  'sensor.fer_e2e_model_version',
  'sensor.fer_e2e_events_dropped',
];

if (!venv) {
  console.warn(`Home Assistant end-to-end test skipped: ${missing}`);
  test.skip(`Home Assistant end-to-end (skipped: ${missing})`, () => {});
} else {
  test.before(async (t) => {
    t.timeout(240_000);
    if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
    const broker = await startMosquitto();
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'fer-ha-e2e-'));
    const e2eAutomations = path.join(tmp, 'e2e-automations.yaml');
    // JSON is YAML: the test's automation, made from the blueprint in deploy/.
    writeFileSync(
      e2eAutomations,
      JSON.stringify([
        {
          id: 'e2e_sad_from_blueprint',
          alias: 'e2e: sad (blueprint)',
          use_blueprint: {
            path: 'fer-edge/emotion_event.yaml',
            input: {
              emotion_event: 'event.fer_living_room_emotion',
              emotions: ['sad'],
              min_confidence: 0.6,
              actions: [
                // A counter survives Home Assistant restarts (the websocket subscription below may miss a run then).
                { action: 'counter.increment', target: { entity_id: 'counter.fer_fired' } },
                { event: 'fer_test_fired', event_data: { emotion: '{{ trigger.to_state.attributes.event_type }}', track: '{{ trigger.to_state.attributes.track_id }}', event_id: '{{ trigger.to_state.attributes.event_id }}' } },
              ],
            },
          },
        },
      ]),
    );
    const deploy = path.join(packageRoot, 'deploy', 'homeassistant');
    const ha = await startHomeAssistant({
      venv: venv as string,
      mqttPort: broker.port,
      files: [
        [path.join(deploy, 'automations.yaml'), 'automations.yaml'],
        [path.join(deploy, 'blueprints'), 'blueprints'],
        [e2eAutomations, 'e2e-automations.yaml'],
      ],
      extraYaml: ['automation: !include automations.yaml', 'automation e2e: !include e2e-automations.yaml', 'counter:', '  fer_fired:', '    initial: 0', '    restore: true'].join('\n'),
    });
    rmSync(tmp, { recursive: true, force: true });
    const conn = await ha.connect();
    const fired: Array<Record<string, unknown>> = [];
    const ferEvents: Array<Record<string, unknown>> = [];
    await conn.subscribeEvents<{ data: Record<string, unknown> }>((e) => fired.push(e.data), 'fer_test_fired');
    await conn.subscribeEvents<{ data: Record<string, unknown> }>((e) => ferEvents.push(e.data), 'fer_emotion');
    t.context = { broker, ha, conn, fired, ferEvents, run: {} };
  });

  test.after.always(async (t) => {
    await stopAgent(t.context.run?.agent);
    t.context.conn?.close();
    await t.context.ha?.stop();
    await t.context.broker?.stop();
  });

  test.serial('all entities appear before any face is seen, with the documented attributes', async (t) => {
    t.timeout(90_000);
    const c = t.context;
    c.run.agent = await startAgent(c);
    // An entity is discovered before its first state arrives (it reads 'unknown' until then), so wait for the states
    // checked below as well; on a loaded machine the switch's retained state can come a moment after the others.
    const known = ['sensor.fer_living_room_emotion', 'sensor.fer_living_room_faces', 'sensor.fer_living_room_confidence', 'binary_sensor.fer_living_room_presence', 'switch.fer_living_room_pause'];
    const s = await waitStates(
      c.ha,
      (m) => ENTITIES.every((id) => m.has(id) && m.get(id)?.state !== 'unavailable') && known.every((id) => m.get(id)?.state !== 'unknown') && m.get('sensor.fer_e2e_engine')?.state === 'onnxruntime',
      'the discovered entities and their first states',
    );
    t.is(s.get('sensor.fer_living_room_emotion')?.state, 'none');
    t.like(s.get('sensor.fer_living_room_emotion')?.attributes, { device_class: 'enum', options: [...LABELS, 'none'], friendly_name: 'Living room Emotion' });
    t.is(s.get('sensor.fer_living_room_faces')?.state, '0');
    t.is(s.get('sensor.fer_living_room_confidence')?.state, '0');
    t.is(s.get('binary_sensor.fer_living_room_presence')?.state, 'off');
    t.is(s.get('switch.fer_living_room_pause')?.state, 'off');
    t.is(s.get('event.fer_living_room_emotion')?.state, 'unknown');
    t.deepEqual(s.get('event.fer_living_room_emotion')?.attributes.event_types, [...LABELS, 'face_lost']);
    t.is(s.get('sensor.fer_e2e_model_version')?.state, '1.0.0');
    // The example automations and the blueprint automation all loaded.
    const automations = [...s.values()].filter((x) => x.entity_id.startsWith('automation.'));
    t.is(automations.length, 7, automations.map((a) => a.entity_id).join(', '));
    t.true(automations.every((a) => a.state === 'on'));
    t.is(c.fired.length, 0);
  });

  test.serial('opt-in snapshots: the image entity appears, updates on an event, and its image proxy returns the JPEG', async (t) => {
    t.timeout(90_000);
    const c = t.context;
    const a = c.run.agent as Agent;
    const id = 'image.fer_living_room_snapshot';
    const before = await waitStates(c.ha, (m) => m.has(id) && m.get(id)?.state !== 'unavailable', 'the image entity');
    t.is(before.get(id)?.attributes.friendly_name, 'Living room Last emotion snapshot');
    const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 120, b: 40 } } }).jpeg().toBuffer();
    a.bus.emit('snapshot', { cameraId: 'living_room', eventId: 'e2e-snap-1', eventType: 'happy', jpeg });
    const after = await waitStates(c.ha, (m) => (m.get(id)?.state ?? 'unknown') !== (before.get(id)?.state ?? 'unknown'), 'the image entity to update');
    t.regex(after.get(id)!.state, /^\d{4}-\d\d-\d\dT/, 'its state is the time of the last picture');
    // What a notification attaches: the entity's picture through Home Assistant's image proxy.
    const r = await fetch(`${c.ha.url}/api/image_proxy/${id}`, { headers: { authorization: `Bearer ${c.ha.token}` } });
    t.is(r.status, 200);
    t.is(r.headers.get('content-type'), 'image/jpeg');
    t.deepEqual(Buffer.from(await r.arrayBuffer()), jpeg);
    // The example automation that sends the picture ran on it (its notifier is not set up here; its trigger is what counts).
    const auto = 'automation.fer_edge_send_a_picture_of_each_emotion';
    await waitStates(c.ha, (m) => m.get(auto)?.attributes.last_triggered != null, 'the picture automation to trigger');
  });

  test.serial('an automation fires on an emotion event; state sensors follow the frames', async (t) => {
    t.timeout(90_000);
    const c = t.context;
    const a = c.run.agent as Agent;
    a.bus.emit('result', result('living_room', 1, performance.now(), [face(7, 'sad', 0.9)]));
    a.bus.emit('event', { ...event('living_room', 7, 'sad', 'none', performance.now()), confidence: 0.85 });
    await waitFor('the blueprint automation to fire', () => c.fired.length === 1, 15_000, 100);
    t.like(c.fired[0], { emotion: 'sad', track: 7 });
    const s = await waitStates(c.ha, (m) => m.get('sensor.fer_living_room_emotion')?.state === 'sad', 'the emotion sensor to say sad');
    t.is(s.get('binary_sensor.fer_living_room_presence')?.state, 'on');
    t.is(s.get('sensor.fer_living_room_faces')?.state, '1');
    t.is(s.get('sensor.fer_living_room_confidence')?.state, '90');
    t.like(s.get('event.fer_living_room_emotion')?.attributes, { event_type: 'sad', previous: 'none', track_id: 7, camera: 'living_room' });

    // Not an emotion the automation wants, and a sad one below its confidence: no run.
    a.bus.emit('event', { ...event('living_room', 7, 'happy', 'sad', performance.now()), confidence: 0.9 });
    a.bus.emit('event', { ...event('living_room', 8, 'sad', 'none', performance.now()), confidence: 0.3 });
    await waitStates(c.ha, (m) => m.get('event.fer_living_room_emotion')?.attributes.track_id === 8, 'the last event to reach Home Assistant');
    await sleep(1000);
    t.is(c.fired.length, 1);
    // The websocket sink fired fer_emotion for each of the three.
    await waitFor('three fer_emotion events', () => c.ferEvents.length === 3, 15_000, 100);
    t.deepEqual(c.ferEvents.map((e) => e.event_type), ['sad', 'happy', 'sad']);
    t.like(c.ferEvents[0], { camera: 'living_room', camera_name: 'Living room', agent: 'e2e', track_id: 7, schema: 1 });
    // As Home Assistant hands them to automations, they conform to the published event schema.
    for (const e of c.ferEvents) t.deepEqual(schemaProblems('event', e), [], JSON.stringify(e));
  });

  test.serial('the pause switch in Home Assistant stops events', async (t) => {
    t.timeout(90_000);
    const c = t.context;
    const a = c.run.agent as Agent;
    // The last event before the pause (and the restart below) is one the automation runs for, so a replay or a
    // trigger on the entity coming back would show.
    const n = c.fired.length;
    a.bus.emit('event', { ...event('living_room', 10, 'sad', 'neutral', performance.now()), confidence: 0.9 });
    await waitFor('the automation to fire for track 10', () => c.fired.length === n + 1, 15_000, 100);
    await c.ha.rest('POST', '/api/services/switch/turn_on', { entity_id: 'switch.fer_living_room_pause' });
    await waitFor('the agent to pause the camera', () => a.control.isPaused('living_room'), 15_000, 100);
    const before = await waitStates(c.ha, (m) => m.get('switch.fer_living_room_pause')?.state === 'on' && m.get('binary_sensor.fer_living_room_presence')?.state === 'off', 'the switch on and nobody present');
    const lastEvent = before.get('event.fer_living_room_emotion')?.state;
    const fired = c.fired.length;
    const fer = c.ferEvents.length;
    const w = await Watcher.open(c.broker.url, ['fer/e2e/living_room/event']);
    try {
      a.bus.emit('event', { ...event('living_room', 9, 'sad', 'none', performance.now()), confidence: 0.95 });
      // A round trip through the agent: anything it published for that event would have reached the broker first.
      await w.agentBarrier('fer', 'e2e');
      t.is(w.on('fer/e2e/living_room/event').length, 0, 'a paused camera publishes no event');
    } finally {
      await w.close();
    }
    t.is(c.fired.length, fired);
    t.is(c.ferEvents.length, fer);
    t.is((await c.ha.state('event.fer_living_room_emotion'))?.state, lastEvent);
  });

  test.serial('after an agent restart the states are right and no old event fires again', async (t) => {
    t.timeout(120_000);
    const c = t.context;
    const lastEvent = (await c.ha.state('event.fer_living_room_emotion'))?.state;
    const fired = c.fired.length;
    await stopAgent(c.run.agent);
    c.run.agent = undefined;
    await waitStates(c.ha, (m) => ENTITIES.every((id) => m.get(id)?.state === 'unavailable'), 'the entities to go unavailable');

    c.run.agent = await startAgent(c);
    const s = await waitStates(c.ha, (m) => ENTITIES.every((id) => m.get(id)?.state !== 'unavailable'), 'the entities to come back');
    // Still paused (the switch's retained state was read back), nobody seen by the new process.
    t.true(c.run.agent.control.isPaused('living_room'));
    t.is(s.get('switch.fer_living_room_pause')?.state, 'on');
    t.is(s.get('sensor.fer_living_room_emotion')?.state, 'none');
    t.is(s.get('binary_sensor.fer_living_room_presence')?.state, 'off');
    t.is(s.get('sensor.fer_living_room_faces')?.state, '0');
    // The event entity shows the same last event: nothing was replayed, and coming back did not run the automation.
    t.is(s.get('event.fer_living_room_emotion')?.state, lastEvent);

    // Resumed from Home Assistant, the next sad event runs the automation exactly once more. It is also the barrier:
    // had coming back (or a replay) run the automation, that run would come before this one in the list.
    await c.ha.rest('POST', '/api/services/switch/turn_off', { entity_id: 'switch.fer_living_room_pause' });
    await waitFor('the agent to resume', () => !(c.run.agent as Agent).control.isPaused('living_room'), 15_000, 100);
    c.run.agent.bus.emit('event', { ...event('living_room', 11, 'sad', 'neutral', performance.now()), confidence: 0.9 });
    await waitFor('the automation to fire for the new event', () => c.fired.some((f, i) => i >= fired && Number(f.track) === 11), 15_000, 100);
    t.is(c.fired.length, fired + 1, JSON.stringify(c.fired.slice(fired)));
    t.like(c.fired[c.fired.length - 1], { emotion: 'sad', track: 11 });
  });

  test.serial('a model with other labels republishes discovery: Home Assistant takes the new emotion', async (t) => {
    t.timeout(60_000);
    const c = t.context;
    const a = c.run.agent as Agent;
    const labels = [...LABELS, 'contempt'];
    a.bus.emit('model', modelInfo(labels, '2.0.0'));
    await waitStates(
      c.ha,
      (m) =>
        JSON.stringify(m.get('sensor.fer_living_room_emotion')?.attributes.options) === JSON.stringify([...labels, 'none']) &&
        JSON.stringify(m.get('event.fer_living_room_emotion')?.attributes.event_types) === JSON.stringify([...labels, 'face_lost']) &&
        m.get('sensor.fer_e2e_model_version')?.state === '2.0.0',
      'the new labels in Home Assistant',
    );
    a.bus.emit('event', { ...event('living_room', 12, 'contempt', 'sad', performance.now()), confidence: 0.7 });
    const s = await waitStates(c.ha, (m) => m.get('event.fer_living_room_emotion')?.attributes.event_type === 'contempt', 'the new emotion as an event');
    t.like(s.get('event.fer_living_room_emotion')?.attributes, { track_id: 12 });
  });

  test.serial('Home Assistant restarting: the agent republishes discovery on its birth message, nothing fires again', async (t) => {
    t.timeout(240_000);
    const c = t.context;
    const a = c.run.agent as Agent;
    a.bus.emit('event', { ...event('living_room', 13, 'sad', 'contempt', performance.now()), confidence: 0.9 });
    const counter = async (): Promise<number> => Number((await c.ha.state('counter.fer_fired'))?.state);
    const fired = c.fired.length;
    await waitFor('the automation to run for track 13', () => c.fired.length === fired + 1, 15_000, 100);
    const before = await waitStates(c.ha, (m) => Number(m.get('counter.fer_fired')?.state) === fired + 1, 'the counter');
    const lastEvent = before.get('event.fer_living_room_emotion')?.state;
    const w = await Watcher.open(c.broker.url, ['homeassistant/device/fer_e2e_living_room/config']);
    try {
      await w.waitFor(() => true); // the retained config
      const configs = w.seen.length;
      await c.ha.restart();
      // Home Assistant says `online` on homeassistant/status; the agent answers with its discovery again.
      await w.waitFor(() => w.seen.length > configs, 30_000);
      const s = await waitStates(c.ha, (m) => ENTITIES.every((id) => m.has(id) && m.get(id)?.state !== 'unavailable'), 'the entities after the restart', 60_000);
      t.is(s.get('sensor.fer_living_room_emotion')?.state, 'none');
      t.is(s.get('event.fer_living_room_emotion')?.state, lastEvent);
      await sleep(3000);
      t.is(await counter(), fired + 1);
      // And it still works: a new event runs the automation once.
      await waitFor('the websocket sink to reconnect', () => a.ws.connected(), 30_000, 100);
      a.bus.emit('event', { ...event('living_room', 14, 'sad', 'sad', performance.now()), confidence: 0.9 });
      await waitStates(c.ha, (m) => Number(m.get('counter.fer_fired')?.state) === fired + 2, 'the automation to run for track 14');
      await sleep(1000);
      t.is(await counter(), fired + 2);
    } finally {
      await w.close();
    }
  });

  test.serial('the websocket sink refuses a bad token with a clear error', async (t) => {
    const bus = new Bus();
    await t.throwsAsync(startHomeAssistantWs({ url: t.context.ha.url, token: 'not-a-token', agentId: 'e2e', bus, log: silentLogger }), {
      message: /rejected the access token .*long-lived access token/,
    });
  });
}
