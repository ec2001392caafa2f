import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import type { ClassifiedFace } from '../../agent/core/types.js';
import { iou } from '../../agent/core/geometry.js';
import { FaceTracker } from '../../agent/tracking/tracker.js';
import { box, classified, probs, rng, tracking } from './faces.js';

const FRAME_MS = 100;

test('two faces get separate tracks and keep their ids while moving side by side', (t) => {
  const tr = new FaceTracker(tracking);
  let ids: number[] = [];
  for (let f = 0; f < 50; f++) {
    const dx = f * 6;
    const out = tr.update([classified(box(40 + dx, 100, 60)), classified(box(140 + dx, 110, 60))], f * FRAME_MS);
    if (f === 0) ids = out.map((o) => o.trackId);
    t.deepEqual(out.map((o) => o.trackId), ids, `frame ${f}`);
  }
  t.is(new Set(ids).size, 2);
});

for (const yOffset of [0, 20]) {
  test(`two faces crossing each other keep their ids (vertical offset ${yOffset}px)`, (t) => {
    const tr = new FaceTracker(tracking);
    let a = 0;
    let b = 0;
    for (let f = 0; f <= 40; f++) {
      // A goes right, B goes left; they overlap fully (offset 0) around frame 20.
      const faces = [classified(box(50 + f * 10, 100, 60)), classified(box(450 - f * 10, 100 + yOffset, 60))];
      // Detector output order says nothing about identity: alternate it.
      const order = f % 2 === 0 ? [0, 1] : [1, 0];
      const out = tr.update(order.map((i) => faces[i]), f * FRAME_MS);
      const idA = out[order.indexOf(0)].trackId;
      const idB = out[order.indexOf(1)].trackId;
      if (f === 0) [a, b] = [idA, idB];
      t.is(idA, a, `A at frame ${f}`);
      t.is(idB, b, `B at frame ${f}`);
    }
    t.not(a, b);
  });
}

test('ids stay stable over 200 frames of detector jitter and dropped detections', (t) => {
  const tr = new FaceTracker(tracking);
  const rand = rng(42);
  const anchors = [box(50, 60, 80), box(220, 70, 70), box(400, 50, 90)];
  const idOf = new Map<number, number>();
  for (let f = 0; f < 200; f++) {
    const faces: Array<{ anchor: number; face: ClassifiedFace }> = [];
    anchors.forEach((a, i) => {
      if (rand() < 0.1) return; // missed detection, well within max_missed_frames on average
      const j = () => (rand() - 0.5) * 10; // ±5 px on position and size
      faces.push({ anchor: i, face: classified({ x: a.x + j(), y: a.y + j(), width: a.width + j(), height: a.height + j() }) });
    });
    const out = tr.update(faces.map((x) => x.face), f * FRAME_MS);
    out.forEach((o, k) => {
      const anchor = faces[k].anchor;
      const expected = idOf.get(anchor) ?? o.trackId;
      idOf.set(anchor, expected);
      t.is(o.trackId, expected, `anchor ${anchor} frame ${f}`);
    });
  }
  t.is(new Set(idOf.values()).size, 3);
  t.deepEqual(tr.trackIds(), [...idOf.values()].sort((x, y) => x - y), 'no stray tracks were created');
});

test('a small face moving more than its own size per frame keeps its id (centre fallback)', (t) => {
  const tr = new FaceTracker(tracking);
  let prev = box(10, 100, 24);
  let id = 0;
  for (let f = 0; f < 15; f++) {
    const b = box(10 + f * 30, 100 + (f % 2) * 4, 24);
    if (f > 0) t.is(iou(prev, b), 0, 'no overlap between frames: IoU alone cannot follow it');
    const [o] = tr.update([classified(b)], f * FRAME_MS);
    if (f === 0) id = o.trackId;
    t.is(o.trackId, id, `frame ${f}`);
    prev = b;
  }
});

test('a distant new face is a new track, not a jump of an old one', (t) => {
  const tr = new FaceTracker(tracking);
  const [a] = tr.update([classified(box(10, 10, 30))], 0);
  const out = tr.update([classified(box(400, 300, 30))], FRAME_MS);
  t.not(out[0].trackId, a.trackId);
});

test('a track survives max_missed_frames empty frames, and a face after that gets a new, never reused id', (t) => {
  const tr = new FaceTracker({ ...tracking, max_missed_frames: 3 });
  const face = classified(box(100, 100, 60));
  let time = 0;
  const step = (faces: ClassifiedFace[]) => tr.update(faces, (time += FRAME_MS));
  const [first] = step([face]);
  for (let i = 0; i < 3; i++) t.deepEqual(step([]), []);
  t.is(step([face])[0].trackId, first.trackId, 'missed exactly 3 frames: same track');
  for (let i = 0; i < 4; i++) step([]);
  t.deepEqual(tr.trackIds(), [], 'missed 4 frames: dropped');
  const [again] = step([face]);
  t.true(again.trackId > first.trackId);
  t.is(again.age, 1);
});

test('forget() drops a track so the same face starts a new one', (t) => {
  const tr = new FaceTracker(tracking);
  const face = classified(box(100, 100, 60));
  const [a] = tr.update([face], 0);
  tr.forget(a.trackId);
  const [b] = tr.update([face], FRAME_MS);
  t.true(b.trackId > a.trackId);
});

test('output follows input order; age counts frames seen; probabilities are smoothed per track', (t) => {
  const tr = new FaceTracker(tracking);
  const happy = probs({ happy: 1, angry: 0, disgust: 0, fear: 0, sad: 0, surprise: 0, neutral: 0 });
  const sad = probs({ sad: 1, angry: 0, disgust: 0, fear: 0, happy: 0, surprise: 0, neutral: 0 });
  const first = tr.update([classified(box(0, 0, 50), happy), classified(box(300, 0, 50), sad)], 0);
  t.deepEqual([...first[0].smoothed], [...happy]);
  const second = tr.update([classified(box(302, 1, 50), happy), classified(box(1, 1, 50), happy)], FRAME_MS);
  t.is(second[0].trackId, first[1].trackId, 'input order, not track order');
  t.is(second[1].trackId, first[0].trackId);
  t.is(second[0].age, 2);
  // Track 2 was sad, now sees happy: 0.4 of the new frame, 0.6 of the old average.
  t.true(Math.abs(second[0].smoothed[3] - 0.4) < 1e-6);
  t.true(Math.abs(second[0].smoothed[4] - 0.6) < 1e-6);
  t.true(Math.abs(second[1].smoothed[3] - 1) < 1e-6);
  t.deepEqual([...second[0].emotion.probs], [...happy], 'raw probabilities are left as they were');
});

test('new labels (model swap) restart a track\'s average', (t) => {
  const tr = new FaceTracker(tracking);
  tr.update([classified(box(0, 0, 50), probs({ happy: 1 }))], 0);
  const labels = ['negative', 'positive'] as const;
  const [o] = tr.update([{ box: box(0, 0, 50), score: 0.9, emotion: { labels, probs: new Float32Array([0.3, 0.7]) } }], FRAME_MS);
  t.deepEqual([...o.smoothed].map((v) => Math.round(v * 10) / 10), [0.3, 0.7]);
});

test('invalid tracking settings are config errors naming the key', (t) => {
  for (const [bad, key] of [
    [{ ...tracking, smoothing: 0 }, 'tracking.smoothing'],
    [{ ...tracking, iou_threshold: 0 }, 'tracking.iou_threshold'],
    [{ ...tracking, max_missed_frames: -1 }, 'tracking.max_missed_frames'],
  ] as const) {
    const err = t.throws(() => new FaceTracker(bad), { instanceOf: FerError });
    t.true(err?.message.includes(key));
  }
});
