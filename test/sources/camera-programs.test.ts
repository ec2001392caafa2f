/**
 * gstreamer / rpicam-vid / raspistill: their command lines, and the error when the program is not installed.
 * PATH is pointed at an empty folder for this file (ava runs each test file in its own process), so the
 * missing-binary case is the same on every machine.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { CameraFeed } from '../../agent/sources/camera-feed.js';
import { gstreamerArgs, splitPipeline } from '../../agent/sources/gstreamer-source.js';
import { rpicamArgs } from '../../agent/sources/rpicam-source.js';
import { createSource } from '../../agent/sources/source.js';
import type { SourceConfig } from '../../agent/config/schema.js';
import { take, waitFor } from './helpers.js';

process.env.PATH = mkdtempSync(path.join(os.tmpdir(), 'fer-empty-path-'));

test('pipelines split like a shell would: quotes group, backslashes escape', (t) => {
  t.deepEqual(splitPipeline(`v4l2src device=/dev/video0 ! video/x-raw,width=640 ! videoconvert`), ['v4l2src', 'device=/dev/video0', '!', 'video/x-raw,width=640', '!', 'videoconvert']);
  t.deepEqual(splitPipeline(`textoverlay text="hello world" ! x\\ y 'a b'`), ['textoverlay', 'text=hello world', '!', 'x y', 'a b']);
  t.throws(() => splitPipeline('a "b'), { instanceOf: FerError, message: /unclosed " quote/ });
});

test('a pipeline is completed to write JPEGs to stdout unless it ends in a sink', (t) => {
  t.deepEqual(gstreamerArgs('videotestsrc ! videoconvert'), ['-q', 'videotestsrc', '!', 'videoconvert', '!', 'jpegenc', '!', 'fdsink', 'fd=1']);
  t.deepEqual(gstreamerArgs('v4l2src ! jpegenc quality=80'), ['-q', 'v4l2src', '!', 'jpegenc', 'quality=80', '!', 'fdsink', 'fd=1']);
  t.deepEqual(gstreamerArgs('v4l2src ! image/jpeg,width=1280'), ['-q', 'v4l2src', '!', 'image/jpeg,width=1280', '!', 'fdsink', 'fd=1']);
  t.deepEqual(gstreamerArgs('videotestsrc ! jpegenc ! fdsink fd=1'), ['-q', 'videotestsrc', '!', 'jpegenc', '!', 'fdsink', 'fd=1']);
  t.throws(() => gstreamerArgs('   '), { message: /empty/ });
});

test('rpicam-vid runs forever writing MJPEG to stdout at the asked size and rate', (t) => {
  t.deepEqual(rpicamArgs({ type: 'rpicam', width: 640, height: 480, args: ['--hflip'] }, 5), ['-t', '0', '--codec', 'mjpeg', '--nopreview', '-o', '-', '--width', '640', '--height', '480', '--framerate', '5', '--hflip']);
});

const missing: Array<[SourceConfig, RegExp]> = [
  [{ type: 'gstreamer', pipeline: 'videotestsrc' }, /^gst-launch-1\.0 not found on PATH: install GStreamer/],
  [{ type: 'rpicam' }, /^rpicam-vid or libcamera-vid not found on PATH: install rpicam-apps/],
  [{ type: 'raspistill' }, /^raspistill not found on PATH/],
  [{ type: 'ffmpeg', path: '/dev/video0', width: 640, height: 480 }, /^ffmpeg not found on PATH: install ffmpeg/],
];

for (const [cfg, message] of missing) {
  test(`${cfg.type}: a missing program is a clear source_failed error naming it`, async (t) => {
    const err = await t.throwsAsync(take(createSource('cam', cfg, silentLogger), 1), { instanceOf: FerError, message });
    t.is((err as FerError).reason, 'source_failed');
  });
}

test('a feed on a missing program reports failed with the reason and keeps retrying', async (t) => {
  const feed = new CameraFeed({ cameraId: 'cam', source: createSource('cam', { type: 'rpicam' }, silentLogger), fps: 5, log: silentLogger, backoff: { baseMs: 10, capMs: 20 } }).start();
  t.teardown(() => feed.stop());
  await waitFor('two retries', () => feed.stats().reconnects >= 2);
  t.regex(feed.stats().lastError ?? '', /rpicam-vid or libcamera-vid not found/);
});
