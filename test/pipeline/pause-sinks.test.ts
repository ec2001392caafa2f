/**
 * Issue 33 item 3: with a camera paused, stdout still printed the face_lost that ended its tracks, which MQTT never
 * published. Pause is one rule now, applied where events are made: nothing about a paused camera reaches any sink.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { silentLogger } from '../../agent/core/log.js';
import { packageRoot } from '../../agent/core/paths.js';
import type { EmotionEvent } from '../../agent/core/types.js';
import { startHarness } from '../faults/pipeline-harness.js';
import { waitFor } from '../helpers/wait.js';

test('pausing a camera with a face in view raises no event on the bus, not even the face_lost that ends its track', async (t) => {
  // One face, frame after frame: its track lives long enough to raise an event.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-pause-'));
  copyFileSync(path.join(packageRoot, 'agent', 'assets', 'samples', 'astronaut.jpg'), path.join(dir, 'astronaut.jpg'));
  const h = await startHarness({ type: 'dir', path: dir, loop: true }, silentLogger);
  t.teardown(() => h.stop());
  const events: EmotionEvent[] = [];
  h.bus.on('event', (e) => events.push(e));
  await waitFor('a first emotion event', () => events.some((e) => e.eventType !== 'face_lost'), 60_000);
  h.pipeline.setPaused(true);
  const before = events.length;
  // The agent's idle timer: the open tracks end once their faces have been gone long enough.
  await waitFor('the paused camera to end its open tracks', () => {
    h.pipeline.idleTick();
    return !h.pipeline.hasOpenTracks();
  }, 30_000, 100);
  t.deepEqual(events.slice(before).map((e) => e.eventType), [], 'no event after the pause');
});
