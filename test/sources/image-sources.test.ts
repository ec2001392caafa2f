import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { CameraFeed } from '../../agent/sources/camera-feed.js';
import { decodeFrame } from '../../agent/sources/decode.js';
import { sortImageNames } from '../../agent/sources/image-sources.js';
import { createSource, type SourceFrame } from '../../agent/sources/source.js';
import { colourIndex, colourJpeg, delay, take, tmpDir } from './helpers.js';

async function indexOf(sf: SourceFrame): Promise<number> {
  if (sf.kind !== 'encoded') throw new Error('expected an encoded frame');
  return colourIndex((await decodeFrame('c', sf.frame)).data);
}

async function writeFrames(dir: string, names: string[]): Promise<void> {
  for (const [i, n] of names.entries()) writeFileSync(path.join(dir, n), await colourJpeg(i + 1));
}

test('image names sort with numbers compared as numbers; other files are ignored', (t) => {
  t.deepEqual(sortImageNames(['f10.jpg', 'f2.jpg', 'notes.txt', 'f1.PNG', '.hidden.jpg', 'a.webp']), ['a.webp', 'f1.PNG', 'f2.jpg', 'f10.jpg']);
});

test('dir: yields images in name order, then ends when not looping', async (t) => {
  const dir = tmpDir(t);
  // Written out of order: the source must sort (f2 before f10).
  await writeFrames(dir, ['f10.jpg', 'f2.jpg', 'f1.jpg']);
  const src = createSource('c', { type: 'dir', path: dir, interval_ms: 0 }, silentLogger);
  const frames = await take(src, 10);
  t.deepEqual(await Promise.all(frames.map(indexOf)), [3, 2, 1]);
  t.deepEqual(frames.map((f) => f.frame.seq), [0, 1, 2]);
});

test('dir: loop starts over after the last image', async (t) => {
  const dir = tmpDir(t);
  await writeFrames(dir, ['a.jpg', 'b.jpg']);
  const frames = await take(createSource('c', { type: 'dir', path: dir, loop: true, interval_ms: 0 }, silentLogger), 5);
  t.deepEqual(await Promise.all(frames.map(indexOf)), [1, 2, 1, 2, 1]);
});

test('dir: paces images at the camera fps', async (t) => {
  const dir = tmpDir(t);
  await writeFrames(dir, ['a.jpg']);
  const frames = await take(createSource('c', { type: 'dir', path: dir, loop: true }, silentLogger, { fps: 20 }), 6);
  const span = frames[5].frame.monoMs - frames[0].frame.monoMs;
  // 5 gaps of 50 ms; generous bounds, this is not a speed test.
  t.true(span >= 5 * 50 - 5, `span ${span} ms`);
});

test('dir: an empty folder fails with a message naming it', async (t) => {
  const dir = tmpDir(t);
  const err = await t.throwsAsync(take(createSource('c', { type: 'dir', path: dir }, silentLogger), 1), { instanceOf: FerError });
  t.is((err as FerError).reason, 'source_failed');
  t.true(err!.message.includes(dir) && err!.message.includes('no images'));
});

test('file: one image once, or again and again when looping', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'snap.jpg');
  writeFileSync(file, await colourJpeg(7));
  const once = await take(createSource('c', { type: 'file', path: file }, silentLogger), 5);
  t.is(once.length, 1);
  t.is(await indexOf(once[0]), 7);
  const looped = await take(createSource('c', { type: 'file', path: file, loop: true, interval_ms: 1 }, silentLogger), 3);
  t.deepEqual(await Promise.all(looped.map(indexOf)), [7, 7, 7]);
});

test('file: a missing file fails naming the path', async (t) => {
  const file = path.join(tmpDir(t), 'nope.jpg');
  const err = await t.throwsAsync(take(createSource('c', { type: 'file', path: file }, silentLogger), 1), { instanceOf: FerError });
  t.true(err!.message.includes(file));
});

test('feed over a non-looping dir hands out every image even to a slow consumer, then null, and ends stopped', async (t) => {
  const dir = tmpDir(t);
  await writeFrames(dir, ['1.jpg', '2.jpg', '3.jpg', '4.jpg']);
  // The dir paces at 50 fps but the consumer takes 100 ms per frame: stored images wait for it instead of dropping.
  const feed = new CameraFeed({ cameraId: 'c', source: createSource('c', { type: 'dir', path: dir }, silentLogger, { fps: 50 }), fps: 50, log: silentLogger });
  t.teardown(() => feed.stop());
  const got: number[] = [];
  for (let f = await feed.next(); f; f = await feed.next()) {
    got.push(colourIndex(f.data));
    await delay(100);
  }
  t.deepEqual(got, [1, 2, 3, 4]);
  t.like(feed.stats(), { state: 'stopped', received: 4, handedOut: 4, dropped: 0, lastError: 'source ended' });
});

test('dir: a FIFO, a symlink to /dev/zero and a sparse 1.5 GB file are refused, counted, and never block the camera', async (t) => {
  t.timeout(60_000);
  const { execFileSync } = await import('node:child_process');
  const { symlinkSync, openSync, ftruncateSync, closeSync } = await import('node:fs');
  const dir = tmpDir(t);
  await writeFrames(dir, ['a.jpg', 'e.jpg']);
  symlinkSync('/dev/zero', path.join(dir, 'b.jpg'));
  execFileSync('mkfifo', [path.join(dir, 'c.jpg')]);
  const fd = openSync(path.join(dir, 'd.jpg'), 'w');
  ftruncateSync(fd, 1.5 * 1024 ** 3); // sparse: no disk used, but a reader that trusts it would allocate 1.5 GB
  closeSync(fd);
  const rssBefore = process.memoryUsage().rss;
  const src = createSource('c', { type: 'dir', path: dir, interval_ms: 0 }, silentLogger);
  const frames = await take(src, 10);
  t.deepEqual(await Promise.all(frames.map(indexOf)), [1, 2], 'the two real images, in order');
  t.is(src.discarded, 3);
  t.true(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'nothing big was read');
});

test('file: a FIFO or device as the camera file fails with a message naming it, at once', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const dir = tmpDir(t);
  const fifo = path.join(dir, 'z.jpg');
  execFileSync('mkfifo', [fifo]);
  for (const [file, what] of [[fifo, 'a FIFO'], ['/dev/zero', 'a character device']] as const) {
    const err = await t.throwsAsync(take(createSource('c', { type: 'file', path: file, interval_ms: 0 }, silentLogger), 1), { instanceOf: FerError });
    t.is(err?.reason, 'source_failed');
    t.true(err!.message.includes(`${file} is ${what}, not a regular file`), err!.message);
  }
});
