/**
 * Follow regions through the real pipeline (CenterFace int8 + the bundled classifier on onnxruntime), on scripted
 * 640x480 scenes built from the bundled public-domain portraits, with a camera clock at 30 frames/s:
 * between full searches the detector looks only around the followed faces and finds the same faces as a full search;
 * a second person is found by the next full search; a face that jumps is searched for in the whole frame at once.
 */
import test from 'ava';
import type { FrameResult } from '../../agent/core/types.js';
import { iou } from '../../agent/core/geometry.js';
import { AgentMetrics } from '../../agent/health/agent-metrics.js';
import { decodeFrame } from '../../agent/sources/decode.js';
import { scene, type HeadPlacement } from '../bench/frames.js';
import { ManualClock } from '../helpers/clock.js';
import { soakPipeline, type SoakPipeline } from '../soak/support.js';

const FRAME_MS = 33;
const FULL_INTERVAL_MS = 500;

async function pipelineWith(clock: ManualClock, follow: boolean): Promise<SoakPipeline> {
  return soakPipeline('onnxruntime', 'centerface', clock, { 'detection.follow_regions': follow, 'detection.full_interval_ms': FULL_INTERVAL_MS, 'detection.idle_gating': false });
}

/** Runs the scenes through a fresh pipeline, one frame every FRAME_MS. */
async function run(follow: boolean, scenes: readonly (readonly HeadPlacement[])[]): Promise<{ results: FrameResult[]; p: SoakPipeline }> {
  const clock = new ManualClock();
  const p = await pipelineWith(clock, follow);
  const results: FrameResult[] = [];
  for (const [i, heads] of scenes.entries()) {
    clock.advance(FRAME_MS);
    const frame = await decodeFrame('cam', { seq: i, monoMs: clock.mono(), wallMs: clock.wall(), bytes: await scene(heads) });
    results.push(await p.pipeline.process(frame));
  }
  return { results, p };
}

const argmax = (p: Float32Array): number => p.indexOf(Math.max(...p));

test('one face moving: regions between full searches, the same face and class as searching the whole frame', async (t) => {
  t.timeout(120_000);
  const scenes = Array.from({ length: 36 }, (_, i) => [{ which: 'astronaut' as const, left: 80 + 6 * i, top: 100 + 2 * Math.sin(i), side: 200 }]);
  const follow = await run(true, scenes);
  const whole = await run(false, scenes);
  t.teardown(async () => {
    await follow.p.dispose();
    await whole.p.dispose();
  });
  const regionFrames = follow.results.filter((r) => r.detectorRegions === 1).length;
  t.is(follow.results[0]!.detectorRegions, undefined, 'the first frame has nothing followed yet: a full search');
  t.true(regionFrames >= 0.8 * follow.results.length, `${regionFrames} of ${follow.results.length} frames searched regions`);
  t.false(whole.results.some((r) => r.detectorRegions), 'follow_regions false: always the whole frame');
  // A full search at least every full interval (plus the frame that crosses it).
  let lastFull = follow.results[0]!.monoMs;
  for (const r of follow.results) {
    if (!r.detectorRegions) lastFull = r.monoMs;
    t.true(r.monoMs - lastFull <= FULL_INTERVAL_MS + FRAME_MS, `frame ${r.seq}: ${r.monoMs - lastFull} ms since a full search`);
  }
  const ids = new Set(follow.results.flatMap((r) => r.faces.map((f) => f.trackId)));
  t.is(ids.size, 1, 'one track all along');
  let sameClass = 0;
  for (const [i, r] of follow.results.entries()) {
    const w = whole.results[i]!;
    t.is(r.faces.length, 1, `frame ${i}: one face`);
    t.is(w.faces.length, 1, `frame ${i}: one face in the full search`);
    const overlap = iou(r.faces[0]!.box, w.faces[0]!.box);
    t.true(overlap >= 0.8, `frame ${i}: IoU ${overlap.toFixed(3)} with the full search's box`);
    if (argmax(r.faces[0]!.emotion.probs) === argmax(w.faces[0]!.emotion.probs)) sameClass++;
  }
  t.true(sameClass >= 0.9 * follow.results.length, `same top class on ${sameClass} of ${follow.results.length} frames`);
  const camera = follow.results[0]!.cameraId;
  const metrics = new AgentMetrics(null, { cameraIds: [camera] });
  for (const r of follow.results) metrics.onResult(r);
  t.true(metrics.render().includes(`fer_detector_regions_total{camera="${camera}"} ${regionFrames}`), 'counted in /metrics');
  metrics.dispose();
});

test('a second person who appears while one is followed is found by the next full search', async (t) => {
  t.timeout(120_000);
  const first: HeadPlacement = { which: 'astronaut', left: 40, top: 120, side: 200 };
  const second: HeadPlacement = { which: 'cameraman', left: 400, top: 140, side: 200 };
  const APPEARS = 6;
  const scenes = Array.from({ length: 40 }, (_, i) => (i < APPEARS ? [first] : [first, second]));
  const { results, p } = await run(true, scenes);
  t.teardown(() => p.dispose());
  const appearedAt = results[APPEARS]!.monoMs;
  const found = results.findIndex((r) => r.faces.length === 2);
  t.true(found >= APPEARS, `found at frame ${found}`);
  const r = results[found]!;
  t.is(r.detectorRegions, undefined, 'found by a full search');
  t.true(r.monoMs - appearedAt <= FULL_INTERVAL_MS, `found ${r.monoMs - appearedAt} ms after appearing (full_interval_ms ${FULL_INTERVAL_MS})`);
  t.true(results.slice(found).every((x) => x.faces.length === 2), 'then followed in both regions');
  t.true(results.slice(found + 1).some((x) => x.detectorRegions === 2), 'two regions once both are followed');
});

test('a face that jumps across the frame is searched for in the whole frame on that same frame', async (t) => {
  t.timeout(120_000);
  const left: HeadPlacement = { which: 'astronaut', left: 30, top: 120, side: 180 };
  const right: HeadPlacement = { which: 'astronaut', left: 420, top: 150, side: 180 };
  const JUMP = 5;
  const scenes = Array.from({ length: 14 }, (_, i) => [i < JUMP ? left : right]);
  const { results, p } = await run(true, scenes);
  t.teardown(() => p.dispose());
  t.is(results[JUMP - 1]!.detectorRegions, 1, 'regions before the jump');
  const at = results[JUMP]!;
  t.is(at.detectorRegions, undefined, 'the region came back empty: the whole frame was searched');
  t.is(at.faces.length, 1);
  t.true(at.faces[0]!.box.x > 400, `found on the right at x=${at.faces[0]!.box.x.toFixed(0)}`);
  t.is(p.pipeline.regionMisses, 1);
  // The left track is missed from now on, so the whole frame is searched until the tracker lets it go
  // (tracking.max_missed_frames, 5); then the face on the right is followed by its region again.
  t.true(results.slice(JUMP + 1, JUMP + 3).every((r) => !r.detectorRegions), 'full searches while the old track is missed');
  t.is(results.at(-1)!.detectorRegions, 1, 'followed by its region again');
});
