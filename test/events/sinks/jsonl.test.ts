import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { EmotionEvent } from '../../../agent/core/types.js';
import { eventPayload } from '../../../agent/events/payloads.js';
import { schemaProblems } from '../../helpers/schemas.js';
import { JsonlSink } from '../../../agent/events/sinks/jsonl.js';

const base: EmotionEvent = { cameraId: 'porch', trackId: 1, eventType: 'happy', previous: 'none', confidence: 0.8, heldMs: 1000, wallMs: Date.UTC(2026, 10, 25, 12), monoMs: 1000 };
const ev = (trackId: number): EmotionEvent => ({ ...base, trackId, eventId: `pi-${trackId}` });
const eventToJson = (e: EmotionEvent) => eventPayload(e, 'fer-agent', () => 'unused');

async function tmp(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fer-jsonl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function lines(file: string): Promise<unknown[]> {
  return (await readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
}

test('creates the parent directory and appends one JSON line per event, in order', async (t) => {
  const file = path.join(await tmp(t), 'a', 'b', 'events.jsonl');
  const sink = new JsonlSink(file);
  await sink.start();
  // Not awaited one by one: order must still hold.
  for (let i = 1; i <= 20; i++) void sink.onEvent(ev(i));
  await sink.stop();
  const got = await lines(file);
  t.deepEqual(got, Array.from({ length: 20 }, (_, i) => eventToJson(ev(i + 1))));
  for (const g of got) t.deepEqual(schemaProblems('event', g), []);
  t.is(sink.errors, 0);
});

test('appends to an existing file', async (t) => {
  const file = path.join(await tmp(t), 'events.jsonl');
  await writeFile(file, JSON.stringify({ old: true }) + '\n');
  const sink = new JsonlSink(file);
  await sink.start();
  await sink.onEvent(ev(1));
  await sink.stop();
  t.deepEqual(await lines(file), [{ old: true }, eventToJson(ev(1))]);
});

test('recovers after its directory is removed', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'logs', 'events.jsonl');
  const sink = new JsonlSink(file);
  await sink.start();
  await sink.onEvent(ev(1));
  await rm(path.join(dir, 'logs'), { recursive: true });
  await sink.onEvent(ev(2));
  await sink.onEvent(ev(3));
  await sink.stop();
  t.deepEqual(await lines(file), [eventToJson(ev(2)), eventToJson(ev(3))]);
  t.is(sink.errors, 0);
});

test('a path that cannot be written is logged and counted, never thrown; writing resumes once it can', async (t) => {
  const dir = await tmp(t);
  const blocker = path.join(dir, 'not-a-dir');
  await writeFile(blocker, 'a file where a directory should be');
  const file = path.join(blocker, 'events.jsonl');
  const sink = new JsonlSink(file);
  await t.notThrowsAsync(sink.start());
  await t.notThrowsAsync(sink.onEvent(ev(1)));
  await t.notThrowsAsync(sink.onEvent(ev(2)));
  t.is(sink.errors, 2);
  t.is(sink.lost, 2);
  await rm(blocker);
  await sink.onEvent(ev(3));
  await sink.stop();
  t.deepEqual(await lines(file), [eventToJson(ev(3))]);
  t.is(sink.errors, 2);
});

test('stop flushes queued events and later events are ignored', async (t) => {
  const file = path.join(await tmp(t), 'events.jsonl');
  const sink = new JsonlSink(file);
  await sink.start();
  void sink.onEvent(ev(1));
  void sink.onEvent(ev(2));
  await sink.stop();
  await sink.onEvent(ev(3));
  t.deepEqual(await lines(file), [eventToJson(ev(1)), eventToJson(ev(2))]);
});
