import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { systemClock } from '../../agent/core/clock.js';
import { CameraFeed } from '../../agent/sources/camera-feed.js';
import { FfmpegSource, ffmpegArgs, inputKind, outputSize } from '../../agent/sources/ffmpeg-source.js';
import { ProcessSource, type ProcessSpec } from '../../agent/sources/process-source.js';
import { createSource, type SourceContext } from '../../agent/sources/source.js';
import { TestServer, colourIndex, colourJpeg, haveFfmpeg, makeVideo, mjpegHandler, take, tmpDir, waitFor } from './helpers.js';

const ctx = (extra: Partial<SourceContext> = {}): SourceContext => ({ cameraId: 'cam', log: silentLogger, clock: systemClock, ...extra });

test.before(() => {
  if (!haveFfmpeg()) throw new Error('these tests need ffmpeg on PATH (apt-get install -y ffmpeg)');
});

test('input kinds: V4L2 devices, URLs and files', (t) => {
  t.is(inputKind('/dev/video0'), 'device');
  t.is(inputKind('rtsp://cam.local/stream'), 'url');
  t.is(inputKind('http://user:pw@10.0.0.2/mjpg'), 'url');
  t.is(inputKind('clips/hall.mp4'), 'file');
});

test('ffmpeg args: realtime and looping for files, v4l2 for devices, fps and size filters, raw or MJPEG out', (t) => {
  const file = ffmpegArgs({ input: 'a.mp4', loop: true, fps: 5, output: { kind: 'raw', width: 320, height: 240 } });
  t.true(file.join(' ').includes('-stream_loop -1 -re -i a.mp4'));
  t.true(file.join(' ').endsWith('-vf fps=5,scale=320:240 -f rawvideo -pix_fmt rgb24 pipe:1'));
  const dev = ffmpegArgs({ input: '/dev/video2', deviceSize: { width: 640, height: 480 }, args: ['-input_format', 'mjpeg'], output: { kind: 'mjpeg' } });
  t.true(dev.join(' ').includes('-f v4l2 -video_size 640x480 -input_format mjpeg -i /dev/video2'));
  t.false(dev.includes('-re'));
  t.true(dev.join(' ').endsWith('-f mjpeg -q:v 3 pipe:1'));
  t.false(ffmpegArgs({ input: 'rtsp://x/y', output: { kind: 'mjpeg' } }).includes('-re'));
});

test('output size: configured, or native with a missing side filled in keeping the aspect ratio', (t) => {
  t.deepEqual(outputSize({ width: 320, height: 240 }), { width: 320, height: 240 });
  t.is(outputSize({ width: 320 }), undefined);
  t.deepEqual(outputSize({ width: 320 }, { width: 1280, height: 720 }), { width: 320, height: 180 });
  t.deepEqual(outputSize({ height: 90 }, { width: 1280, height: 720 }), { width: 160, height: 90 });
  t.deepEqual(outputSize({}, { width: 161, height: 121 }), { width: 162, height: 122 });
  // detection.max_frame_width: a larger camera is scaled down by ffmpeg; a smaller one, or a configured size, is not.
  t.deepEqual(outputSize({}, { width: 1920, height: 1080 }, 960), { width: 960, height: 540 });
  t.deepEqual(outputSize({}, { width: 640, height: 480 }, 960), { width: 640, height: 480 });
  t.deepEqual(outputSize({ width: 1280 }, { width: 1920, height: 1080 }, 960), { width: 1280, height: 720 });
});

test('ffmpeg on a video file: raw RGB frames at the configured size, and the stream ends with the file', async (t) => {
  const video = makeVideo(tmpDir(t), { width: 160, height: 120, rate: 25, seconds: 1 });
  const src = createSource('cam', { type: 'ffmpeg', path: video, width: 80, height: 60 }, silentLogger);
  t.is(src.description, `ffmpeg ${video}`);
  const frames = await take(src, 1000, 8000);
  t.true(frames.length >= 20 && frames.length <= 26, `${frames.length} frames`);
  const f = frames[3];
  if (f.kind !== 'raw') return t.fail('expected raw frames');
  t.like(f.frame, { cameraId: 'cam', width: 80, height: 60, channels: 3, seq: 3 });
  t.is(f.frame.data.length, 80 * 60 * 3);
  // testsrc is colourful: the frame is not blank.
  t.true(new Set(f.frame.data).size > 20);
  // Realtime pacing (-re): 1 s of video takes most of a second, not a burst.
  t.true(frames.at(-1)!.frame.monoMs - frames[0].frame.monoMs > 500);
});

test('ffmpeg probes the native size when none is configured, and the fps option thins frames', async (t) => {
  const video = makeVideo(tmpDir(t), { width: 96, height: 64, rate: 25, seconds: 1 });
  const frames = await take(createSource('cam', { type: 'ffmpeg', path: video }, silentLogger, { fps: 5 }), 1000, 8000);
  t.true(frames.length >= 4 && frames.length <= 7, `${frames.length} frames`);
  t.like(frames[0].frame, { width: 96, height: 64 });
});

test('a camera wider than max_frame_width is scaled down by ffmpeg before the pipe', async (t) => {
  const video = makeVideo(tmpDir(t), { width: 192, height: 108, rate: 25, seconds: 1 });
  const frames = await take(createSource('cam', { type: 'ffmpeg', path: video }, silentLogger, { fps: 5, maxWidth: 96 }), 1000, 8000);
  t.true(frames.length >= 2, `${frames.length} frames`);
  const f = frames[0]!;
  if (f.kind !== 'raw') return t.fail('expected raw frames');
  t.like(f.frame, { width: 96, height: 54 });
  t.is(f.frame.data.length, 96 * 54 * 3);
});

/** ffmpeg's own test source as MJPEG on stdout: the MJPEG path of ProcessSource with a real program. */
class LavfiMjpeg extends ProcessSource {
  readonly description = 'lavfi';
  constructor(private readonly extra: string[] = [], private readonly programs = ['ffmpeg']) {
    super(ctx());
  }
  protected spec(): Promise<ProcessSpec> {
    return Promise.resolve({
      programs: this.programs,
      args: ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=30', ...this.extra, '-f', 'mjpeg', '-q:v', '3', 'pipe:1'],
      installHint: 'install it',
      output: { kind: 'mjpeg' },
      finite: false,
    });
  }
}

test('MJPEG from a real program is split into decodable JPEGs', async (t) => {
  const src = new LavfiMjpeg();
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 100, log: silentLogger });
  t.teardown(() => feed.stop());
  for (let i = 0; i < 5; i++) {
    const f = await feed.next();
    t.like(f, { width: 64, height: 48, channels: 3 });
  }
  t.is(feed.stats().corrupt, 0);
  t.is(src.discarded, 0);
});

test('a program that exits is a source failure naming it, with its stderr', async (t) => {
  const err = await t.throwsAsync(take(new LavfiMjpeg(['-vf', 'no_such_filter']), 1), { instanceOf: FerError });
  t.is((err as FerError).reason, 'source_failed');
  t.regex(err!.message, /^ffmpeg exited with code \d+: .*no_such_filter/);
});

test('a missing program is a source failure naming it and how to install it', async (t) => {
  const err = await t.throwsAsync(take(new LavfiMjpeg([], ['fer-no-such-tool', 'fer-no-such-tool2']), 1), { instanceOf: FerError });
  t.is(err!.message, 'fer-no-such-tool or fer-no-such-tool2 not found on PATH: install it');
});

test('killing ffmpeg mid-stream: the feed reports the failure, restarts it and frames resume', async (t) => {
  const video = makeVideo(tmpDir(t), { width: 64, height: 48, rate: 25, seconds: 2 });
  const src = new FfmpegSource({ type: 'ffmpeg', path: video, loop: true, width: 64, height: 48 }, ctx());
  const states: string[] = [];
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 50, log: silentLogger, backoff: { baseMs: 50 }, onStatus: (s) => states.push(s.state) });
  t.teardown(() => feed.stop());
  const before = await feed.next();
  t.truthy(before);
  const pid = src.pid!;
  t.true(pid > 0);
  process.kill(pid, 'SIGKILL');
  await waitFor('a reconnect', () => feed.stats().reconnects >= 1);
  t.regex(feed.stats().lastError ?? '', /ffmpeg exited on signal SIGKILL/);
  const after = await feed.next();
  t.true(after!.seq > before!.seq);
  await waitFor('running again', () => feed.stats().state === 'running');
  t.not(src.pid, pid);
  t.deepEqual(states.slice(0, 5), ['connecting', 'running', 'failed', 'connecting', 'running']);
});

test('ffmpeg reads a live MJPEG-over-HTTP stream', async (t) => {
  const frames = await Promise.all(Array.from({ length: 10 }, (_, i) => colourJpeg(i + 5, 64, 48)));
  const server = new TestServer(mjpegHandler((i) => frames[i % frames.length], 30));
  const port = await server.listen();
  t.teardown(() => server.close());
  const src = createSource('cam', { type: 'ffmpeg', url: `http://127.0.0.1:${port}/stream`, width: 64, height: 48 }, silentLogger);
  const feed = new CameraFeed({ cameraId: 'cam', source: src, fps: 100, log: silentLogger });
  t.teardown(() => feed.stop());
  const seen = new Set<number>();
  for (let i = 0; i < 6; i++) {
    const f = (await feed.next())!;
    t.like(f, { width: 64, height: 48 });
    seen.add(colourIndex(f.data));
  }
  // Frames carry the served colours (5..14) and change over time.
  t.true([...seen].every((c) => c >= 4 && c <= 15), `colours ${[...seen].join(',')}`);
  t.true(seen.size >= 2);
});
