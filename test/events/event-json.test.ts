import test from 'ava';
import { EVENT_SCHEMA, eventIdFactory, eventPayload } from '../../agent/events/payloads.js';
import { schemaProblems } from '../helpers/schemas.js';

const event = { cameraId: 'kitchen', trackId: 7, eventType: 'happy', previous: 'neutral', confidence: 0.876543, heldMs: 1234.6, wallMs: Date.UTC(2026, 10, 25, 12, 0, 1, 234), monoMs: 98765 };

test('one event shape: versioned, snake_case, ISO time and epoch ms, rounded numbers; it conforms to event.v1.json', (t) => {
  const p = eventPayload(event, 'pi', eventIdFactory('pi', 0));
  t.deepEqual(p, {
    schema: EVENT_SCHEMA,
    event_type: 'happy',
    previous: 'neutral',
    track_id: 7,
    confidence: 0.877,
    held_s: 1.235,
    time: '2026-11-25T12:00:01.234Z',
    ts: Date.UTC(2026, 10, 25, 12, 0, 1, 234),
    camera: 'kitchen',
    agent: 'pi',
    event_id: 'pi-0-1',
  });
  t.deepEqual(schemaProblems('event', p), []);
});

test('the id stamped by the pipeline wins over the sink\'s own numbering', (t) => {
  t.is(eventPayload({ ...event, eventId: 'pi-abc-9' }, 'pi', () => 'other').event_id, 'pi-abc-9');
});

test('the schema catches what an automation would trip on', (t) => {
  const p = eventPayload(event, 'pi', () => 'x-1');
  t.true(schemaProblems('event', { ...p, held_ms: 1235 }).length > 0, 'an unknown key');
  t.true(schemaProblems('event', { ...p, schema: 2 }).length > 0, 'another version');
  const { confidence: _c, ...withoutConfidence } = p;
  t.true(schemaProblems('event', withoutConfidence).length > 0, 'a missing key');
});

test('a broken wall clock does not throw', (t) => {
  t.is(eventPayload({ ...event, wallMs: Number.NaN }, 'pi', () => 'x-1').time, '1970-01-01T00:00:00.000Z');
});
