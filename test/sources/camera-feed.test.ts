import test from 'ava';
import type { SourceStatus } from '../../agent/core/bus.js';
import type { Clock } from '../../agent/core/clock.js';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { backoffMs } from '../../agent/core/backoff.js';
import { CameraFeed } from '../../agent/sources/camera-feed.js';
import { PushQueue } from '../../agent/sources/push-queue.js';
import type { FrameSource, SourceFrame } from '../../agent/sources/source.js';
import { colourIndex, colourJpeg, delay, waitFor } from './helpers.js';

/** A source the test drives by hand: each open() starts a new connection fed by push(). */
class ManualSource implements FrameSource {
  readonly description = 'manual';
  private q = new PushQueue<SourceFrame>(1_000_000);
  private seq = 0;
  push(bytes: Uint8Array): void {
    this.q.push({ kind: 'encoded', frame: { seq: this.seq++, monoMs: performance.now(), wallMs: Date.now(), bytes } });
  }
  open(signal: AbortSignal): AsyncIterable<SourceFrame> {
    const q = new PushQueue<SourceFrame>(1_000_000);
    signal.addEventListener('abort', () => q.end());
    this.q = q;
    return q;
  }
}

/** A source whose n-th connection runs script(n). */
class ScriptedSource implements FrameSource {
  readonly description = 'scripted';
  opens = 0;
  constructor(private readonly script: (n: number, signal: AbortSignal) => AsyncGenerator<SourceFrame>) {}
  open(signal: AbortSignal): AsyncIterable<SourceFrame> {
    return this.script(this.opens++, signal);
  }
}

/** Stays connected until aborted (holding a timer so the test process does not run out of work and exit). */
function hangUntilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => undefined, 1000);
    signal.addEventListener('abort', () => {
      clearInterval(keepAlive);
      resolve();
    });
  });
}

const jpegs = Promise.all(Array.from({ length: 20 }, (_, i) => colourJpeg(i)));
const garbage = Uint8Array.from({ length: 100 }, (_, i) => (i * 31) % 256);

function rawFrame(seq: number, w = 512, h = 512): SourceFrame {
  return { kind: 'raw', frame: { cameraId: 'x', seq, monoMs: performance.now(), wallMs: Date.now(), width: w, height: h, channels: 3, data: new Uint8Array(w * h * 3).fill(seq % 256) } };
}

test('backoff doubles from the base up to the cap', (t) => {
  t.deepEqual([0, 1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, { baseMs: 500, capMs: 30_000, jitter: 0 })), [500, 1000, 2000, 4000, 8000, 16000, 30000]);
  t.is(backoffMs(1000, { baseMs: 500, capMs: 30_000, jitter: 0 }), 30_000);
});

test('a consumer that comes late gets the newest frame; older ones are dropped and counted', async (t) => {
  const frames = await jpegs;
  const src = new ManualSource();
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 1000, log: silentLogger }).start();
  t.teardown(() => feed.stop());
  await waitFor('running', () => feed.stats().state === 'connecting');
  for (let i = 0; i < 10; i++) src.push(frames[i]);
  await waitFor('10 frames received', () => feed.stats().received === 10);
  const f = await feed.next();
  t.is(f?.seq, 9);
  t.is(f?.cameraId, 'cam');
  t.is(colourIndex(f!.data), 9);
  t.like(feed.stats(), { dropped: 9, handedOut: 1, state: 'running' });
  t.true(feed.stats().lastDecodeMs! >= 0);
  for (let i = 10; i < 15; i++) src.push(frames[i]);
  await waitFor('15 frames received', () => feed.stats().received === 15);
  const g = await feed.next();
  t.is(g?.seq, 14);
  t.is(colourIndex(g!.data), 14);
  t.is(feed.stats().dropped, 13);
});

test('stale frames are never decoded: corrupt frames that were replaced do not count as corrupt', async (t) => {
  const frames = await jpegs;
  const src = new ManualSource();
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 1000, log: silentLogger }).start();
  t.teardown(() => feed.stop());
  for (let i = 0; i < 4; i++) src.push(garbage);
  src.push(frames[5]);
  await waitFor('5 frames received', () => feed.stats().received === 5);
  const f = await feed.next();
  t.is(colourIndex(f!.data), 5);
  t.like(feed.stats(), { corrupt: 0, dropped: 4 });
});

test('next() waits for a new frame, skips corrupt ones (truncated, random, empty) and goes on', async (t) => {
  const frames = await jpegs;
  const src = new ManualSource();
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 1000, log: silentLogger, corruptWarnIntervalMs: 0 }).start();
  t.teardown(() => feed.stop());
  src.push(frames[1]);
  t.is(colourIndex((await feed.next())!.data), 1);
  const pending = feed.next();
  const truncated = frames[2].subarray(0, frames[2].length >> 1);
  for (const [i, bad] of [truncated, garbage, new Uint8Array(0)].entries()) {
    src.push(bad);
    // Pushed one at a time, each taken (and found corrupt) before the next arrives.
    await waitFor('the bad frame taken', () => feed.stats().received === i + 2 && feed.stats().corrupt + feed.stats().dropped === i + 1);
  }
  src.push(frames[3]);
  const f = await pending;
  t.is(colourIndex(f!.data), 3);
  t.like(feed.stats(), { corrupt: 3, dropped: 0, handedOut: 2 });
});

test('nextStaged() hands frames out undecoded: a preview, the full frame on demand, corrupt ones counted once', async (t) => {
  const frames = await jpegs;
  const src = new ManualSource();
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 1000, log: silentLogger, corruptWarnIntervalMs: 0 }).start();
  t.teardown(() => feed.stop());
  src.push(frames[5]);
  const s = (await feed.nextStaged())!;
  t.like(s, { cameraId: 'cam', seq: 0, fullDecoded: false, decodeFailed: false });
  t.is(s.decodeMs(), 0, 'nothing decoded yet');
  const p = await s.preview(16, 12);
  t.deepEqual([p.width, p.height], [16, 12]);
  t.is(colourIndex(p.data), 5, 'the preview shows the frame');
  t.false(s.fullDecoded);
  const f = await s.full();
  t.is(colourIndex(f.data), 5);
  t.true(s.fullDecoded);
  t.is(await s.full(), f, 'decoded once');
  t.is(feed.stats().lastDecodeMs, s.decodeMs());
  src.push(garbage);
  const bad = (await feed.nextStaged())!;
  await t.throwsAsync(bad.preview(16, 12), { message: /camera cam frame 1 is not a decodable image/ });
  await t.throwsAsync(bad.full());
  t.true(bad.decodeFailed);
  t.like(feed.stats(), { corrupt: 1, handedOut: 2 }, 'one corrupt frame, however many decodes of it failed');
});

test('fps caps how often next() returns, even with a source that is much faster', async (t) => {
  const src = new ScriptedSource(async function* (_n, signal) {
    for (let seq = 0; !signal.aborted; seq++) {
      yield rawFrame(seq, 8, 8);
      await delay(1);
    }
  });
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 10, log: silentLogger });
  t.teardown(() => feed.stop());
  await feed.next();
  const start = performance.now();
  let n = 0;
  let prev = start;
  let minGap = Infinity;
  while (performance.now() - start < 1000) {
    await feed.next();
    const now = performance.now();
    minGap = Math.min(minGap, now - prev);
    prev = now;
    n++;
  }
  // 10 fps over ~1 s: about 10; generous margins, this is not a speed test.
  t.true(n >= 3 && n <= 12, `handed out ${n}`);
  t.true(minGap >= 95, `min gap ${minGap} ms`);
  t.true(feed.stats().dropped > 0);
});

test('a slow consumer always gets a newer frame, drops grow, and memory stays bounded', async (t) => {
  // ~0.8 MB raw frames every ms or so; queueing them would cost hundreds of MB within the test.
  const src = new ScriptedSource(async function* (_n, signal) {
    for (let seq = 0; !signal.aborted; seq++) {
      yield rawFrame(seq);
      await delay(1);
    }
  });
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 1000, log: silentLogger });
  t.teardown(() => feed.stop());
  await feed.next();
  const mem = (): number => process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed;
  const before = mem();
  let peak = before;
  let lastSeq = -1;
  const drops: number[] = [];
  for (let i = 0; i < 8; i++) {
    await delay(100); // the slow consumer
    const received = feed.stats().received;
    const f = (await feed.next())!;
    // The newest frame at the time of asking (or one that arrived since), never an old one.
    t.true(f.seq >= received - 1, `got seq ${f.seq}, ${received} had been received`);
    t.true(f.seq > lastSeq + 1, `seq ${f.seq} after ${lastSeq}: frames in between must have been dropped`);
    lastSeq = f.seq;
    drops.push(feed.stats().dropped);
    peak = Math.max(peak, mem());
  }
  t.true(drops.every((d, i) => i === 0 || d > drops[i - 1]), `dropped: ${drops.join(',')}`);
  const received = feed.stats().received;
  t.true(received > 100, `received ${received}`);
  t.log(`grew ${((peak - before) / 1048576).toFixed(0)} MB, received ${received}`);
  t.true(peak - before < 150 * 1024 * 1024, `memory grew by ${((peak - before) / 1048576).toFixed(0)} MB over ${received} frames of 0.8 MB`);
});

test('a failing source is reopened with exponential backoff, capped, and frames resume', async (t) => {
  const frames = await jpegs;
  const delays: number[] = [];
  const src = new ScriptedSource(async function* (n, signal) {
    if (n < 5) throw new FerError('source_failed', `camera unplugged (try ${n})`);
    yield { kind: 'encoded', frame: { seq: 0, monoMs: 0, wallMs: 0, bytes: frames[7] } };
    await hangUntilAborted(signal);
  });
  const statuses: SourceStatus[] = [];
  const feed = new CameraFeed({
    cameraId: 'cam',
    source: src,
    fps: 100,
    log: silentLogger,
    backoff: { baseMs: 500, capMs: 3000 },
    sleep: async (ms, signal) => {
      if (signal?.aborted) return;
      delays.push(ms);
    },
    onStatus: (s) => statuses.push(s),
  });
  t.teardown(() => feed.stop());
  const f = await feed.next();
  t.is(colourIndex(f!.data), 7);
  t.deepEqual(delays.slice(0, 5), [500, 1000, 2000, 3000, 3000]);
  t.like(feed.stats(), { reconnects: 5, state: 'running', lastError: 'camera unplugged (try 4)' });
  const failed = statuses.filter((s) => s.state === 'failed');
  t.is(failed.length, 5);
  t.is(failed[0].reason, 'camera unplugged (try 0)');
  t.is(statuses.at(-1)?.state, 'running');
});

test('the backoff starts again at the base after a healthy period', async (t) => {
  let now = 0;
  const clock: Clock = { mono: () => now, wall: () => now };
  const frames = await jpegs;
  const delays: number[] = [];
  const src = new ScriptedSource(async function* (n, signal) {
    if (n === 2 || n === 3) {
      yield { kind: 'encoded', frame: { seq: 0, monoMs: now, wallMs: now, bytes: frames[1] } };
      now += n === 2 ? 60_000 : 10; // connection 2 is healthy for a minute, connection 3 only briefly
    }
    if (n < 5) throw new Error(`drop ${n}`);
    await hangUntilAborted(signal);
  });
  const feed = new CameraFeed({
    cameraId: 'cam',
    source: src,
    fps: 1000,
    log: silentLogger,
    clock,
    backoff: { baseMs: 100, capMs: 10_000, healthyMs: 30_000 },
    sleep: async (ms, signal) => {
      if (!signal?.aborted) delays.push(ms);
    },
  }).start();
  t.teardown(() => feed.stop());
  await waitFor('five failures', () => delays.length >= 5);
  // 0,1 fail at once; 2 was healthy so its failure resets to the base; 3 was short so 4 keeps doubling.
  t.deepEqual(delays, [100, 200, 100, 200, 400]);
});

test('stop() wakes a waiting next() with null, stops the source and reports stopped', async (t) => {
  let aborted = false;
  const src = new ScriptedSource(async function* (_n, signal) {
    await hangUntilAborted(signal);
    aborted = true;
  });
  const statuses: string[] = [];
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 5, log: silentLogger, onStatus: (s) => statuses.push(s.state) });
  const pending = feed.next();
  await delay(20);
  await feed.stop();
  t.is(await pending, null);
  t.is(await feed.next(), null);
  t.true(aborted);
  t.is(feed.stats().state, 'stopped');
  t.deepEqual(statuses, ['connecting', 'stopped']);
});

test('an aborted next() signal returns null without stopping the feed', async (t) => {
  const frames = await jpegs;
  const src = new ManualSource();
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 1000, log: silentLogger });
  t.teardown(() => feed.stop());
  const ctrl = new AbortController();
  const pending = feed.next(ctrl.signal);
  ctrl.abort();
  t.is(await pending, null);
  src.push(frames[4]);
  t.is(colourIndex((await feed.next())!.data), 4);
});

test('a source that sends nothing usable is warned about once, and its discarded frames reach the status as they grow', async (t) => {
  const { Writable } = await import('node:stream');
  const pino = (await import('pino')).default;
  const lines: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => void (lines.push(c.toString()), cb()) }));
  let discarded = 0;
  const grow = setInterval(() => (discarded += 3), 20);
  t.teardown(() => clearInterval(grow));
  // Like an MJPEG stream whose parts never end: connected, bytes flowing, no frame ever.
  const source = {
    description: 'never-ending part',
    get discarded() {
      return discarded;
    },
    async *open(signal: AbortSignal) {
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      yield* [];
    },
  };
  const statuses: number[] = [];
  const feed = new CameraFeed({ cameraId: 'cam', source, fps: 5, log, watchIntervalMs: 30, silenceWarnMs: 200, onStatus: (s) => statuses.push(s.framesCorrupt) }).start();
  t.teardown(() => feed.stop());
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !(lines.some((l) => l.includes('no frame from the source')) && statuses.filter((n) => n > 0).length >= 3)) await delay(20);
  const warnings = lines.filter((l) => l.includes('no frame from the source for a while'));
  t.is(warnings.length, 1, 'warned once');
  t.regex(warnings[0]!, /"discarded":\d+/);
  t.true(statuses.filter((n) => n > 0).length >= 3, `counts reported as they grew: ${statuses.join(',')}`);
  t.true(statuses.every((n, i) => i === 0 || n >= statuses[i - 1]!));
});

/** A stored-image source: counts its reads and records how many frames the consumer had taken at each read. */
class CountingPullSource implements FrameSource {
  readonly description = 'counting pull source';
  readonly pull = true;
  reads = 0;
  readonly takenAtRead: number[] = [];
  constructor(
    private readonly jpeg: Uint8Array,
    private readonly taken: () => number,
  ) {}
  async *open(signal: AbortSignal, demand?: () => Promise<void>): AsyncGenerator<SourceFrame> {
    for (let seq = 0; !signal.aborted; seq++) {
      if (demand) await demand();
      this.reads++;
      this.takenAtRead.push(this.taken());
      yield { kind: 'encoded', frame: { seq, monoMs: performance.now(), wallMs: Date.now(), bytes: this.jpeg } };
    }
  }
}

test('a stored-image source reads each image when the consumer asks for it, not ahead (it does not age in the slot)', async (t) => {
  let taken = 0;
  const src = new CountingPullSource(await colourJpeg(1), () => taken);
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 1000, log: silentLogger });
  for (let i = 0; i < 5; i++) {
    const f = await feed.next();
    t.truthy(f);
    taken++;
    // The consumer works on the frame for a while (many event-loop turns): a source reading ahead would read now.
    for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r));
    t.is(src.reads, taken, `after frame ${i}: no image read before it was asked for`);
  }
  // Each read happened when every earlier frame had been taken.
  t.deepEqual(src.takenAtRead, [0, 1, 2, 3, 4]);
  await feed.stop();
});

test('frame timings: the wait before work began and the work add up to capture → result', async (t) => {
  const { timingsOf } = await import('../../agent/pipeline/camera-pipeline.js');
  // Captured at 100, decoded for 5 ms until 180, detect until 200, classify until 210, result at 212.
  const tm = timingsOf(100, 180, 200, 210, 212, 5);
  t.deepEqual(tm, { decodeMs: 5, detectMs: 20, classifyMs: 10, waitMs: 75, processMs: 37, totalMs: 112 });
  t.is(tm.waitMs + tm.processMs, tm.totalMs);
});

test('a dir source read on demand still honours an explicit source.interval_ms (a slideshow slower than the fps)', async (t) => {
  const { writeFileSync } = await import('node:fs');
  const path = await import('node:path');
  const { createSource } = await import('../../agent/sources/source.js');
  const { tmpDir } = await import('./helpers.js');
  const dir = tmpDir(t);
  for (let i = 0; i < 3; i++) writeFileSync(path.join(dir, `${i}.jpg`), await colourJpeg(i));
  const src = createSource('cam', { type: 'dir', path: dir, loop: true, interval_ms: 150 }, silentLogger, { fps: 1000 });
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 1000, log: silentLogger });
  const stamps: number[] = [];
  for (let i = 0; i < 4; i++) stamps.push((await feed.next())!.monoMs);
  await feed.stop();
  // A lower bound only (a slow machine only makes the gaps longer): without the interval they were a file read apart.
  for (let i = 1; i < stamps.length; i++) t.true(stamps[i]! - stamps[i - 1]! >= 140, `gap ${stamps[i]! - stamps[i - 1]!} ms`);
});
