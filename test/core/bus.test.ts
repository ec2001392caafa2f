import test from 'ava';
import { Bus } from '../../agent/core/bus.js';
import { topicMatches } from '../../agent/core/topics.js';

test('listeners registered for an owner are removed together, and only those', (t) => {
  const bus = new Bus();
  const a = {};
  const b = {};
  const seen: string[] = [];
  bus.listen(a, 'paused', (p) => seen.push(`a:${p.cameraId}`));
  bus.listen(a, 'source', (s) => seen.push(`a-src:${s.cameraId}`));
  bus.listen(b, 'paused', (p) => seen.push(`b:${p.cameraId}`));
  t.is(bus.heldBy(a), 2);
  bus.emit('paused', { cameraId: 'x', paused: true });
  bus.release(a);
  t.is(bus.heldBy(a), 0);
  bus.emit('paused', { cameraId: 'y', paused: true });
  bus.emit('source', { cameraId: 'y', state: 'running', framesDropped: 0, framesCorrupt: 0 });
  t.deepEqual(seen, ['a:x', 'b:x', 'b:y']);
  t.is(bus.listenerCount('paused'), 1);
  t.is(bus.listenerCount('source'), 0);
});

test('MQTT filter matching: + is one level, a trailing # the rest (or nothing)', (t) => {
  t.true(topicMatches('fer/a/+/paused/set', 'fer/a/door/paused/set'));
  t.false(topicMatches('fer/a/+/paused/set', 'fer/a/door/paused'));
  t.false(topicMatches('fer/a/+/paused', 'fer/a/x/y/paused'));
  t.true(topicMatches('fer/#', 'fer/a/b'));
  t.true(topicMatches('fer/#', 'fer'));
  t.false(topicMatches('fer/#', 'other/a'));
  t.true(topicMatches('homeassistant/status', 'homeassistant/status'));
  t.false(topicMatches('homeassistant/status', 'homeassistant/status/x'));
});

test('a throwing listener is reported and skipped: the listeners after it still get every message', (t) => {
  // Issue 31 (Low): EventEmitter stops at the first throw, so the event was lost for every later listener (the
  // watchdog's among them) and the throw went into the frame loop that emitted it.
  const errors: string[] = [];
  const bus = new Bus((event, err) => errors.push(`${event}: ${(err as Error).message}`));
  const seen: string[] = [];
  bus.on('paused', () => {
    throw new Error('sink bug');
  });
  bus.on('paused', (p) => seen.push(`after:${p.cameraId}`));
  bus.once('paused', (p) => seen.push(`once:${p.cameraId}`));
  t.notThrows(() => bus.emit('paused', { cameraId: 'x', paused: true }));
  t.true(bus.emit('paused', { cameraId: 'y', paused: false }));
  t.deepEqual(seen, ['after:x', 'once:x', 'after:y'], 'every message reached the later listeners; once stays once');
  t.deepEqual(errors, ['paused: sink bug', 'paused: sink bug']);
  t.false(bus.emit('source', { cameraId: 'x', state: 'running', framesDropped: 0, framesCorrupt: 0 }), 'no listener: false, as EventEmitter');
});
