/**
 * A real GStreamer pipeline through the gstreamer source. Needs gst-launch-1.0 with the base and good plugins
 * (apt-get install -y gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good); skipped where it is
 * not installed (the missing-binary error is tested in camera-programs.test.ts).
 */
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { waitFor } from '../helpers/wait.js';
import { silentLogger } from '../../agent/core/log.js';
import { CameraFeed } from '../../agent/sources/camera-feed.js';
import { createSource } from '../../agent/sources/source.js';

const haveGst = spawnSync('gst-inspect-1.0', ['jpegenc'], { stdio: 'ignore' }).status === 0 && spawnSync('gst-inspect-1.0', ['videotestsrc'], { stdio: 'ignore' }).status === 0;
const gstTest = haveGst ? test : test.skip;

gstTest('a raw-video pipeline (with quoted caps) gets jpegenc ! fdsink appended and yields frames', async (t) => {
  const pipeline = `videotestsrc is-live=true pattern=ball ! "video/x-raw, width=(int)80, height=(int)60, framerate=(fraction)30/1"`;
  const feed = new CameraFeed({ cameraId: 'g', source: createSource('g', { type: 'gstreamer', pipeline }, silentLogger), fps: 100, log: silentLogger });
  t.teardown(() => feed.stop());
  for (let i = 0; i < 5; i++) t.like(await feed.next(), { width: 80, height: 60, channels: 3 });
  t.is(feed.stats().corrupt, 0);
});

gstTest('a pipeline that fails to start is a source failure with gst-launch output', async (t) => {
  const feed = new CameraFeed({ cameraId: 'g', source: createSource('g', { type: 'gstreamer', pipeline: 'no_such_element_xyz' }, silentLogger), fps: 5, log: silentLogger, backoff: { baseMs: 10 } }).start();
  t.teardown(() => feed.stop());
  await waitFor('the feed to report the failure', () => feed.stats().state === 'failed', 30_000);
  t.regex(feed.stats().lastError ?? '', /^gst-launch-1\.0 exited with code \d+.*no_such_element_xyz/);
});
