import test from 'ava';
import { backoffMs } from '../../agent/core/backoff.js';
import { checkBrokerUrl, connectionOptions, describeConnectError, isSettingsError } from '../../agent/mqtt/connection.js';
import { eventIdFactory, eventPayload } from '../../agent/events/payloads.js';
import { agentTopics, validateBaseTopic } from '../../agent/core/topics.js';
import { event, testConfig } from './support.js';

test('topics under <base>/<agent>, per camera, and back from a topic to its camera', (t) => {
  const tp = agentTopics('home/fer', 'pi');
  t.is(tp.availability, 'home/fer/pi/availability');
  t.deepEqual(tp.camera('hall-2'), { state: 'home/fer/pi/hall-2/state', event: 'home/fer/pi/hall-2/event', paused: 'home/fer/pi/hall-2/paused', pausedSet: 'home/fer/pi/hall-2/paused/set', snapshot: 'home/fer/pi/hall-2/snapshot' });
  t.deepEqual(tp.pausedCamera('home/fer/pi/hall-2/paused/set'), { cameraId: 'hall-2', set: true });
  t.deepEqual(tp.pausedCamera('home/fer/pi/hall-2/paused'), { cameraId: 'hall-2', set: false });
  t.is(tp.pausedCamera('home/fer/pi/hall-2/state'), undefined);
  t.is(tp.pausedCamera('other/pi/x/paused'), undefined);
});

test('a base topic with wildcards or empty levels is a config error naming mqtt.base_topic', (t) => {
  for (const bad of ['', 'fer/#', 'a//b', '+', '/fer']) t.throws(() => validateBaseTopic(bad), { message: /mqtt\.base_topic/ });
  t.notThrows(() => validateBaseTopic('fer'));
});

test('connection options: client id, keepalive, Last Will, no mqtt.js reconnect or offline QoS 0 queue', (t) => {
  const cfg = testConfig({ 'mqtt.keepalive_s': 17, 'mqtt.username': 'u', 'mqtt.password': 'p' });
  const { options } = connectionOptions(cfg.mqtt, 'pi', 'mqtt://broker:1883', 'fer/pi/availability');
  t.like(options, { clientId: 'fer-pi', keepalive: 17, clean: true, reconnectPeriod: 0, queueQoSZero: false, username: 'u', password: 'p' });
  t.like(options.will, { topic: 'fer/pi/availability', qos: 1, retain: true });
  t.is(String(options.will?.payload), 'offline');
  t.throws(() => connectionOptions({ ...cfg.mqtt, ca_file: '/x.pem' }, 'pi', 'mqtt://broker', undefined), { message: /not TLS; use mqtts/ });
  t.throws(() => checkBrokerUrl('http://broker'), { message: /mqtt\.url .* protocol http:/ });
  t.throws(() => checkBrokerUrl('broker:1883x'), { message: /mqtt\.url/ });
});

test('backoff doubles from 1 s to a 30 s cap, with jitter below the nominal delay', (t) => {
  t.deepEqual([0, 1, 2, 5, 10].map((a) => backoffMs(a, {}, () => 1)), [1000, 2000, 4000, 30_000, 30_000]);
  t.is(backoffMs(0, {}, () => 0), 800);
});

test('connect errors name the settings to check', (t) => {
  const refused = Object.assign(new Error('Connection refused: Not authorized'), { code: 5 });
  t.true(isSettingsError(refused));
  t.regex(describeConnectError(refused, 'mqtt://b').message, /refused the login .*mqtt\.username/);
  const tls = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  t.true(isSettingsError(tls));
  t.regex(describeConnectError(tls, 'mqtts://b').message, /mqtt\.ca_file/);
  t.false(isSettingsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
});

test('event payload: the documented keys, rounded; ids unique', (t) => {
  const next = eventIdFactory('pi', 1_700_000_000_000);
  const p = eventPayload({ ...event('cam', 3, 'happy', 'neutral', 5, 1_700_000_000_123), heldMs: 1234.6 }, 'pi', next);
  t.deepEqual(p, {
    schema: 1,
    event_type: 'happy', previous: 'neutral', track_id: 3, confidence: 0.812, held_s: 1.235,
    time: '2023-11-14T22:13:20.123Z', ts: 1_700_000_000_123, camera: 'cam', agent: 'pi', event_id: 'pi-loyw3v28-1',
  });
  t.not(next(), next());
});
