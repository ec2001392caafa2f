import test from 'ava';
import { eventToJson, eventToJsonLine } from '../../agent/events/event-json.js';

const event = { cameraId: 'kitchen', trackId: 7, eventType: 'happy', previous: 'neutral', confidence: 0.876543, heldMs: 1234.6, wallMs: Date.UTC(2026, 10, 25, 12, 0, 1, 234), monoMs: 98765 };

test('snake_case fields, ISO timestamp, rounded numbers', (t) => {
  t.deepEqual(eventToJson(event), {
    camera: 'kitchen',
    track_id: 7,
    event_type: 'happy',
    previous: 'neutral',
    confidence: 0.8765,
    held_ms: 1235,
    timestamp: '2026-11-25T12:00:01.234Z',
  });
});

test('one line of JSON that parses back to the same object', (t) => {
  const line = eventToJsonLine(event);
  t.false(line.includes('\n'));
  t.deepEqual(JSON.parse(line), eventToJson(event));
});

test('a broken wall clock does not throw', (t) => {
  t.is(eventToJson({ ...event, wallMs: Number.NaN }).timestamp, '1970-01-01T00:00:00.000Z');
});
