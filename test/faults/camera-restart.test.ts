/**
 * The camera dies mid-stream (connections reset, port refusing) and comes back on the same address: the agent's
 * feed reports `failed` with the reason, retries with backoff, and the pipeline processes frames again without
 * having thrown or stopped.
 */
import test from 'ava';
import { startHarness } from './pipeline-harness.js';
import { MjpegCamera, faceJpeg, memoryLogger, waitFor } from './support.js';

test('HTTP MJPEG camera dies and returns: the pipeline resumes on its own', async (t) => {
  t.timeout(90_000);
  const cam = new MjpegCamera([], [faceJpeg(0), faceJpeg(1), faceJpeg(2)], 100);
  await cam.start();
  t.teardown(() => cam.kill().catch(() => undefined));
  const { log, lines } = memoryLogger();
  const h = await startHarness({ type: 'http-snapshot', url: cam.url, timeout_ms: 3000 }, log);
  t.teardown(() => h.stop());

  await waitFor('frames before the failure', () => h.pipeline.frames >= 3);
  await cam.kill();
  await waitFor('the feed to report the failure', () => h.statuses.some((s) => s.state === 'failed'));
  // Counted in reconnect attempts, not wall time: after two refused ones, any frame taken before the failure has
  // long finished; two more refused attempts must bring no frame.
  await waitFor('two refused reconnects', () => h.feed.stats().reconnects >= 2, 30_000);
  const before = h.pipeline.frames;
  const attempts = h.feed.stats().reconnects;
  await waitFor('two more refused reconnects', () => h.feed.stats().reconnects >= attempts + 2, 30_000);
  t.is(h.pipeline.frames, before, 'no frames while the camera is down');
  await cam.revive();
  await waitFor('frames after the camera came back', () => h.pipeline.frames >= before + 3, 30_000);

  const stats = h.feed.stats();
  t.true(stats.reconnects >= 2, `reconnected after refused attempts (${stats.reconnects})`);
  t.is(h.pipeline.errors, 0);
  const states = h.statuses.map((s) => s.state);
  const failedAt = states.indexOf('failed');
  t.true(failedAt > 0 && states.indexOf('running', failedAt) > failedAt, `running → failed → running (${states.join(', ')})`);
  const failed = h.statuses.find((s) => s.state === 'failed')!;
  t.truthy(failed.reason, 'the failure says why');
  t.true(lines().some((l) => l.msg === 'source is back'), 'the recovery is logged');
  t.true(h.results.slice(-3).every((r) => r.faces.length === 1), 'frames after the return are processed normally');
});
