/**
 * Broken frames through real sources into the real pipeline: corrupt, truncated, zero-size and 900-megapixel
 * frames (and, over HTTP, a part over the 16 MiB frame cap) are skipped and counted with a reason; the good frames
 * around them are all processed; nothing throws out of the frame loop.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { DEFAULT_MAX_FRAME_BYTES } from '../../agent/sources/mjpeg-splitter.js';
import { startHarness } from './pipeline-harness.js';
import { MjpegCamera, brokenFrames, faceJpeg, memoryLogger, tmpDir, waitFor } from './support.js';

/** Each broken frame's rejection was logged with its reason. */
function reasonsLogged(lines: Array<Record<string, unknown>>): string[] {
  return lines.filter((l) => l.msg === 'corrupt frame skipped').map((l) => String(l.err));
}

test('dir source: every broken frame is skipped and counted, every good frame is processed', async (t) => {
  t.timeout(60_000);
  const dir = tmpDir(t);
  const broken = brokenFrames();
  const names: string[] = [];
  let good = 0;
  // good, broken, good, broken, ... good
  for (let i = 0; i <= broken.length; i++) {
    const g = `${String(2 * i).padStart(4, '0')}.jpg`;
    writeFileSync(path.join(dir, g), faceJpeg(i));
    names.push(g);
    good++;
    if (i < broken.length) {
      const b = `${String(2 * i + 1).padStart(4, '0')}.jpg`;
      writeFileSync(path.join(dir, b), broken[i]!.bytes);
      names.push(b);
    }
  }
  writeFileSync(path.join(dir, 'notes.txt'), 'not an image: the dir source ignores it');
  const { log, lines } = memoryLogger();
  const h = await startHarness({ type: 'dir', path: dir, loop: false, interval_ms: 250 }, log);
  t.teardown(() => h.stop());
  await h.running; // a non-looping dir ends after one pass

  const stats = h.feed.stats();
  t.log(stats);
  t.is(stats.received, names.length);
  t.is(h.pipeline.errors, 0, 'no frame failed inside the pipeline');
  if (stats.dropped === 0) {
    t.is(stats.corrupt, broken.length);
    t.is(h.pipeline.frames, good);
  } else {
    // Only if this machine is so loaded that a frame waited more than 250 ms: then it was replaced, not decoded.
    t.is(stats.corrupt + h.pipeline.frames + stats.dropped, names.length);
  }
  t.true(h.results.every((r) => r.faces.length === 1), 'good frames still give their face');
  const reasons = reasonsLogged(lines());
  for (const b of broken) t.true(reasons.some((r) => b.reason.test(r)), `${b.name}: reason logged (${reasons.join(' | ')})`);
  const last = h.statuses[h.statuses.length - 1]!;
  t.is(last.state, 'stopped');
  t.is(last.framesCorrupt, stats.corrupt + stats.discarded);
});

test('HTTP MJPEG: broken parts and an oversized part are skipped and counted; the stream goes on', async (t) => {
  t.timeout(90_000);
  const broken = brokenFrames();
  const oversized = Buffer.alloc(DEFAULT_MAX_FRAME_BYTES + 1024, 0xff);
  const script = [faceJpeg(0), ...broken.flatMap((b, i) => [b.bytes, faceJpeg(i + 1)]), oversized, faceJpeg(7)];
  const cam = new MjpegCamera(script, [faceJpeg(8), faceJpeg(9)], 250);
  await cam.start();
  t.teardown(() => cam.kill());
  const { log, lines } = memoryLogger();
  const h = await startHarness({ type: 'http-snapshot', url: cam.url, timeout_ms: 5000 }, log);
  t.teardown(() => h.stop());

  await waitFor('the script played and two more good frames were processed', () => cam.scriptDone && h.pipeline.frames >= 2 + broken.length + 2, 60_000);
  const stats = h.feed.stats();
  t.log(stats);
  t.is(h.pipeline.errors, 0);
  t.is(stats.discarded, 1, 'the part over the frame cap was discarded by the splitter');
  if (stats.dropped === 0) t.is(stats.corrupt, broken.length);
  else t.true(stats.corrupt + stats.dropped >= broken.length);
  t.is(stats.reconnects, 0, 'broken frames are not a reason to reconnect');
  t.true(h.results.every((r) => r.faces.length === 1));
  const reasons = reasonsLogged(lines());
  for (const b of broken) if (stats.dropped === 0) t.true(reasons.some((r) => b.reason.test(r)), `${b.name}: reason logged`);
});
