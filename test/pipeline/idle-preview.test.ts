/**
 * Idle gating on previews through the real pipeline (CenterFace + the bundled classifier on onnxruntime), with the
 * bench's 640x480 scenes and a camera clock at 10 frames/s: in an empty, still room only the frames the detector
 * runs on are decoded in full; the first frame with a face is decoded in full and its face found; the decisions are
 * those of the same pipeline fed full decodes; a live-view listener gets every frame whole.
 */
import test from 'ava';
import type { Frame, FrameResult } from '../../agent/core/types.js';
import { decodeFrame } from '../../agent/sources/decode.js';
import { stageEncoded, type StagedFrame } from '../../agent/sources/staged-frame.js';
import { scene } from '../bench/frames.js';
import { ManualClock } from '../helpers/clock.js';
import { soakPipeline } from '../soak/support.js';

const IDLE_MS = 1000;
const FRAME_MS = 100;

/** 24 frames: 14 of the empty room, then the astronaut walks in. */
async function frames(): Promise<Buffer[]> {
  const empty = await scene([]);
  const out: Buffer[] = Array.from({ length: 14 }, () => empty);
  for (let i = 0; i < 10; i++) out.push(await scene([{ which: 'astronaut', left: 120 + 8 * i, top: 110, side: 220 }]));
  return out;
}

async function runStaged(bytes: readonly Buffer[], watch: boolean): Promise<{ results: FrameResult[]; staged: StagedFrame[]; watched: Frame[] }> {
  const clock = new ManualClock();
  const p = await soakPipeline('onnxruntime', 'centerface', clock, { 'detection.idle_gating': true, 'detection.idle_interval_ms': IDLE_MS });
  const watched: Frame[] = [];
  if (watch) p.bus.on('frame', (f) => watched.push(f));
  const results: FrameResult[] = [];
  const staged: StagedFrame[] = [];
  try {
    for (const [i, b] of bytes.entries()) {
      clock.advance(FRAME_MS);
      const s = stageEncoded('cam', { seq: i, monoMs: clock.mono(), wallMs: clock.wall(), bytes: b });
      staged.push(s);
      results.push(await p.pipeline.processStaged(s));
    }
  } finally {
    await p.dispose();
  }
  return { results, staged, watched };
}

async function runFull(bytes: readonly Buffer[]): Promise<FrameResult[]> {
  const clock = new ManualClock();
  const p = await soakPipeline('onnxruntime', 'centerface', clock, { 'detection.idle_gating': true, 'detection.idle_interval_ms': IDLE_MS });
  const results: FrameResult[] = [];
  try {
    for (const [i, b] of bytes.entries()) {
      clock.advance(FRAME_MS);
      results.push(await p.pipeline.process(await decodeFrame('cam', { seq: i, monoMs: clock.mono(), wallMs: clock.wall(), bytes: b })));
    }
  } finally {
    await p.dispose();
  }
  return results;
}

test('a still room is decoded in full only where the detector runs; the face that walks in is found at once', async (t) => {
  t.timeout(120_000);
  const bytes = await frames();
  const { results, staged } = await runStaged(bytes, false);
  const skipped = results.map((r) => Boolean(r.detectorSkipped));
  t.deepEqual(staged.map((s) => s.fullDecoded), skipped.map((s) => !s), 'full decode exactly where the detector ran');
  // The first frame, then one every idle interval (10 frames at 100 ms), while the room is empty.
  t.deepEqual(skipped.slice(0, 14).flatMap((s, i) => (s ? [] : [i])), [0, 10]);
  t.false(skipped[14], 'the first frame with a face runs the detector');
  t.is(results[14]!.faces.length, 1, 'and finds the face');
  t.true(results.slice(14).every((r) => !r.detectorSkipped), 'a followed face keeps it running');
  t.true(results.every((r) => r.width === 640 && r.height === 480), 'skipped frames report the camera size');
  // A skipped frame still paid for its preview, and reports no face.
  t.true(results.filter((r) => r.detectorSkipped).every((r) => r.timings.decodeMs > 0 && r.faces.length === 0));
});

test('the decisions and faces are those of the same pipeline fed full decodes', async (t) => {
  t.timeout(120_000);
  const bytes = await frames();
  const staged = (await runStaged(bytes, false)).results;
  const full = await runFull(bytes);
  t.deepEqual(staged.map((r) => Boolean(r.detectorSkipped)), full.map((r) => Boolean(r.detectorSkipped)));
  t.deepEqual(staged.map((r) => r.faces.length), full.map((r) => r.faces.length));
});

test('while the live view listens, every frame is decoded in full and handed to it', async (t) => {
  t.timeout(120_000);
  const bytes = (await frames()).slice(0, 12);
  const { staged, watched, results } = await runStaged(bytes, true);
  t.true(staged.every((s) => s.fullDecoded));
  t.is(watched.length, bytes.length);
  t.true(watched.every((f) => f.width === 640 && f.height === 480));
  t.true(results.some((r) => r.detectorSkipped), 'the detector is still skipped on still frames');
});
