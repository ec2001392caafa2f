import test from 'ava';
import {
  cameraEntityId,
  deviceDiscovery,
  emotionSensor,
  legacyDiscovery,
  pauseSwitch,
  removeDiscoveryMessages,
  slug,
  type DiscoveryContext,
} from '../../agent/homeassistant/discovery.js';
import { CameraStateModel } from '../../agent/mqtt/camera-state.js';
import { DiagnosticsModel } from '../../agent/mqtt/diagnostics.js';
import { agentTopics } from '../../agent/core/topics.js';
import { CAMERAS, LABELS, face, result } from '../mqtt/support.js';
import { checkComponent, checkDeviceMessage } from './ha-schema.js';

function ctx(over: Partial<DiscoveryContext> = {}): DiscoveryContext {
  return {
    prefix: 'homeassistant',
    agentId: 'pi-kitchen',
    topics: agentTopics('fer', 'pi-kitchen'),
    labels: LABELS,
    cameras: CAMERAS,
    origin: { name: 'fer-edge', sw: '0.1.0', url: 'https://example.org/fer-edge' },
    cpuTemperature: true,
    ...over,
  };
}

type Cmp = Record<string, unknown>;
const parse = (payload: string): { dev: Cmp; o: Cmp; cmps: Record<string, Cmp> } => JSON.parse(payload) as { dev: Cmp; o: Cmp; cmps: Record<string, Cmp> };

test('every device message passes the documented schema of each platform', (t) => {
  const msgs = deviceDiscovery(ctx());
  t.is(msgs.length, 1 + CAMERAS.length);
  const problems = msgs.flatMap((m) => checkDeviceMessage(m.topic, m.payload));
  t.deepEqual(problems, []);
});

test('the checker is not vacuous: broken components are reported', (t) => {
  const bad = { ...emotionSensor(ctx(), 'living_room'), unit_of_measurement: '%', colour: 'red' };
  const problems = checkComponent(bad, 'sensor', 'x', true);
  t.true(problems.some((p) => /options cannot be used with state_class or unit_of_measurement/.test(p)));
  t.true(problems.some((p) => /key colour not documented/.test(p)));
  const noCmd = { ...pauseSwitch(ctx(), 'living_room'), command_topic: undefined };
  delete noCmd.command_topic;
  t.true(checkComponent(noCmd, 'switch', 'x', true).some((p) => /command_topic is required/.test(p)));
  t.true(checkDeviceMessage('homeassistant/device/a/config', JSON.stringify({ dev: { name: 'x' }, o: {}, cmps: {} })).length >= 3);
});

test('each camera device has the six entities, with the model labels as options and event types', (t) => {
  const msgs = deviceDiscovery(ctx());
  const cam = parse(msgs.find((m) => m.topic === 'homeassistant/device/fer_pi_kitchen_living_room/config')?.payload ?? '{}');
  t.deepEqual(Object.values(cam.cmps).map((c) => `${String(c.platform)}:${String(c.default_entity_id)}`).sort(), [
    'binary_sensor:binary_sensor.fer_living_room_presence',
    'event:event.fer_living_room_emotion',
    'sensor:sensor.fer_living_room_confidence',
    'sensor:sensor.fer_living_room_emotion',
    'sensor:sensor.fer_living_room_faces',
    'switch:switch.fer_living_room_pause',
  ]);
  t.deepEqual(cam.cmps.emotion.options, [...LABELS, 'none']);
  t.deepEqual(cam.cmps.emotion_event.event_types, [...LABELS, 'face_lost']);
  t.is(cam.cmps.emotion_event.state_topic, 'fer/pi-kitchen/living_room/event');
  t.is(cam.cmps.pause.command_topic, 'fer/pi-kitchen/living_room/paused/set');
  t.is(cam.dev.via_device, 'fer_pi_kitchen');
  t.deepEqual(cam.o, { name: 'fer-edge', sw: '0.1.0', url: 'https://example.org/fer-edge' });
  for (const c of Object.values(cam.cmps)) t.deepEqual(c.availability, [{ topic: 'fer/pi-kitchen/availability', payload_available: 'online', payload_not_available: 'offline' }]);
});

test('the agent device carries the diagnostics; CPU temperature only where the board has one', (t) => {
  const agent = parse(deviceDiscovery(ctx())[0].payload);
  t.deepEqual(Object.keys(agent.cmps).sort(), ['cpu_temperature', 'engine', 'events_dropped', 'fps', 'latency', 'model_version']);
  for (const c of Object.values(agent.cmps)) t.is(c.entity_category, 'diagnostic');
  const noTemp = parse(deviceDiscovery(ctx({ cpuTemperature: false }))[0].payload);
  t.false('cpu_temperature' in noTemp.cmps);
});

test('unique ids are unique, also between two agents with the same cameras', (t) => {
  const ids = (agentId: string): string[] =>
    deviceDiscovery(ctx({ agentId, topics: agentTopics('fer', agentId) })).flatMap((m) => Object.values(parse(m.payload).cmps).map((c) => String(c.unique_id)));
  const one = ids('a1');
  t.is(new Set(one).size, one.length);
  const all = [...one, ...ids('a2')];
  t.is(new Set(all).size, all.length);
});

test('entity ids are valid Home Assistant ids for any camera id', (t) => {
  t.is(cameraEntityId('sensor', 'Hall-2', 'emotion'), 'sensor.fer_hall_2_emotion');
  t.is(slug('--Ä b--'), 'b');
  t.is(slug('___'), 'x');
});

test('value templates read keys that the state and diagnostics payloads really have', (t) => {
  const model = new CameraStateModel('living_room');
  model.onResult(result('living_room', 1, 100, [face(1, 'happy', 0.9)]));
  const state = model.snapshot() as unknown as Record<string, unknown>;
  const diag = new DiagnosticsModel(['living_room']).snapshot(0, 0, { cpuTempC: 50, queued: 0, dropped: 0, uptimeS: 1 }) as unknown as Record<string, unknown>;
  const c = ctx();
  const payloadFor = (topic: string): Record<string, unknown> | undefined =>
    topic === c.topics.diagnostics ? diag : topic.endsWith('/state') ? state : undefined;
  let checked = 0;
  for (const m of deviceDiscovery(c)) {
    for (const [id, comp] of Object.entries(parse(m.payload).cmps)) {
      const tpl = comp.value_template as string | undefined;
      if (!tpl) continue;
      const body = payloadFor(String(comp.state_topic));
      t.truthy(body, `${id}: templated topic ${String(comp.state_topic)}`);
      for (const [, key] of tpl.matchAll(/value_json\.(\w+)/g)) {
        t.true(key in (body ?? {}), `${id}: ${tpl} reads ${key}`);
        checked++;
      }
    }
  }
  t.true(checked >= 10);
});

test('legacy discovery: one documented config per entity, with device and origin, no platform key', (t) => {
  const msgs = legacyDiscovery(ctx());
  t.is(msgs.length, 6 + 6 * CAMERAS.length);
  const problems: string[] = [];
  for (const m of msgs) {
    const match = /^homeassistant\/(sensor|binary_sensor|switch|event)\/([a-zA-Z0-9_-]+)\/([a-zA-Z0-9_-]+)\/config$/.exec(m.topic);
    if (!match) {
      problems.push(`${m.topic}: bad legacy topic`);
      continue;
    }
    problems.push(...checkComponent(JSON.parse(m.payload) as Record<string, unknown>, match[1], m.topic, false));
  }
  t.deepEqual(problems, []);
  t.true(msgs.some((m) => m.topic === 'homeassistant/switch/fer_pi_kitchen_living_room/pause/config'));
});

test('removal empties every discovery topic of both kinds', (t) => {
  const removal = removeDiscoveryMessages(ctx({ cpuTemperature: false }));
  const topics = new Set(removal.map((m) => m.topic));
  for (const m of [...deviceDiscovery(ctx()), ...legacyDiscovery(ctx())]) t.true(topics.has(m.topic), m.topic);
  t.true(removal.every((m) => m.payload === ''));
});

test('a model with other labels changes the options and event types', (t) => {
  const cam = parse(deviceDiscovery(ctx({ labels: ['happy', 'sad', 'none'] }))[1].payload);
  t.deepEqual(cam.cmps.emotion.options, ['happy', 'sad', 'none']);
  t.deepEqual(cam.cmps.emotion_event.event_types, ['happy', 'sad', 'none', 'face_lost']);
});

test('with model updates and the live view on, the agent device has an update entity and links to the live view', (t) => {
  const msgs = deviceDiscovery(ctx({ modelStatusTopic: 'fer/pi/model/status', configurationUrl: 'http://pi.local:8090/' }));
  for (const m of msgs) t.deepEqual(checkDeviceMessage(m.topic, m.payload), [], m.topic);
  const agent = parse(msgs[0]!.payload);
  const update = agent.cmps.model_update as Record<string, unknown>;
  t.is(update.platform, 'update');
  t.is(update.state_topic, 'fer/pi/model/status');
  t.regex(String(update.value_template), /installed_version.*latest_version/);
  t.is((agent.dev as Record<string, unknown>).configuration_url, 'http://pi.local:8090/');
  t.regex(String((parse(msgs[1]!.payload).dev as Record<string, unknown>).configuration_url), /^http:\/\/pi\.local:8090\/#camera=/);
  const plain = parse(deviceDiscovery(ctx())[0]!.payload);
  t.false('model_update' in plain.cmps);
  t.false('configuration_url' in (plain.dev as Record<string, unknown>));
});
