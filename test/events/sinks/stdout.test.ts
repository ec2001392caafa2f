import { PassThrough, Writable } from 'node:stream';
import test from 'ava';
import type { EmotionEvent } from '../../../agent/core/types.js';
import { eventPayload } from '../../../agent/events/payloads.js';
import { StdoutSink } from '../../../agent/events/sinks/stdout.js';
import { schemaProblems } from '../../helpers/schemas.js';

const happy: EmotionEvent = { cameraId: 'kitchen', trackId: 3, eventType: 'happy', previous: 'neutral', confidence: 0.87, heldMs: 1200, wallMs: Date.UTC(2026, 10, 25, 12, 0, 1, 234), monoMs: 5000, eventId: 'pi-1' };
const lost: EmotionEvent = { ...happy, eventType: 'face_lost', previous: 'happy', confidence: 0.9, heldMs: 12_300 };

function capture(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
  const stream: PassThrough & { isTTY?: boolean } = new PassThrough();
  stream.isTTY = isTTY;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

test('not a terminal: one JSON object per line, the versioned event schema', (t) => {
  const { stream, text } = capture(false);
  const sink = new StdoutSink({ stream, agentId: 'pi' });
  sink.onEvent(happy);
  sink.onEvent(lost);
  const lines = text().split('\n');
  t.is(lines.length, 3);
  t.is(lines[2], '');
  t.deepEqual(JSON.parse(lines[0]), eventPayload(happy, 'pi', () => 'unused'));
  for (const l of lines.slice(0, 2)) t.deepEqual(schemaProblems('event', JSON.parse(l)), [], l);
  t.is(JSON.parse(lines[1]).event_type, 'face_lost');
});

test('a terminal: one coloured human line per event', (t) => {
  const { stream, text } = capture(true);
  const sink = new StdoutSink({ stream, color: true });
  sink.onEvent(happy);
  sink.onEvent(lost);
  const [a, b] = text().trimEnd().split('\n');
  t.regex(a, /\[kitchen\] #3 .*happy.* ← neutral 87% .*held 1\.2s/);
  t.true(a.includes('\x1b[33mhappy\x1b[0m'), 'happy is yellow');
  t.regex(b, /#3 .*face_lost.*was happy, present 12\.3s/);
  t.throws(() => JSON.parse(a));
});

test('a terminal without colour (NO_COLOR) has no escape codes', (t) => {
  const { stream, text } = capture(true);
  new StdoutSink({ stream, color: false }).onEvent(happy);
  t.false(text().includes('\x1b['));
  t.regex(text(), /^\d\d:\d\d:\d\d\.\d{3} \[kitchen\] #3 happy ← neutral 87% \(held 1\.2s\)\n$/);
});

test('a broken stdout (closed pipe) is counted, not thrown', async (t) => {
  const stream = new Writable({
    write(_chunk, _enc, cb) {
      const err = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      cb(err);
    },
  });
  const sink = new StdoutSink({ stream, pretty: false });
  t.notThrows(() => sink.onEvent(happy));
  await new Promise((r) => setImmediate(r));
  t.is(sink.errors, 1);
});
