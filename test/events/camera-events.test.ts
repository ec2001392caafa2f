import test from 'ava';
import type { ClassifiedFace, EmotionEvent } from '../../agent/core/types.js';
import { CameraEvents } from '../../agent/events/camera-events.js';
import { box, classified, debounce, probs, rng, tracking } from '../tracking/faces.js';

const WALL0 = Date.UTC(2026, 10, 25, 12, 0, 0);

function step(ce: CameraEvents, faces: ClassifiedFace[], time: number) {
  return ce.process(faces, time, WALL0 + time);
}

test('noisy raw frames of one steady face: one event after smoothing and debouncing, then face_lost by tick', (t) => {
  const ce = new CameraEvents('kitchen', tracking, debounce);
  const rand = rng(3);
  const events: EmotionEvent[] = [];
  let id = 0;
  for (let time = 0; time < 8000; time += 100) {
    // Raw classifier output wobbles frame to frame, with an occasional wrong frame.
    const p = rand() < 0.15 ? probs({ sad: 0.7 }) : probs({ happy: 0.6 + rand() * 0.3 });
    const r = step(ce, [classified(box(100 + rand() * 4, 80 + rand() * 4, 64), p)], time);
    id ||= r.tracks[0].trackId;
    t.is(r.tracks[0].trackId, id);
    events.push(...r.events);
  }
  t.deepEqual(events.map((e) => [e.cameraId, e.trackId, e.eventType, e.previous]), [['kitchen', id, 'happy', 'none']]);
  t.deepEqual(ce.states().map((s) => [s.trackId, s.emotion]), [[id, 'happy']]);

  // Frames stop altogether (camera unplugged): only ticks arrive.
  t.deepEqual(ce.tick(9800, WALL0 + 9800), [], 'last seen at 7900: not lost yet');
  const lost = ce.tick(9900, WALL0 + 9900);
  t.deepEqual(lost.map((e) => [e.trackId, e.eventType, e.previous, e.heldMs]), [[id, 'face_lost', 'happy', 7900]]);
  t.deepEqual(ce.states(), []);
});

test('frames without faces also raise face_lost; the face coming back gets a new id and a fresh history', (t) => {
  const ce = new CameraEvents('hall', { ...tracking, max_missed_frames: 1000 }, debounce);
  const face = () => classified(box(200, 100, 80), probs({ happy: 0.9 }));
  let first = 0;
  for (let time = 0; time <= 2000; time += 100) first = step(ce, [face()], time).tracks[0].trackId;
  const lost: EmotionEvent[] = [];
  for (let time = 2100; time <= 4000; time += 100) lost.push(...step(ce, [], time).events);
  t.deepEqual(lost.map((e) => [e.monoMs, e.eventType]), [[4000, 'face_lost']]);
  // The tracker alone would still have matched (max_missed_frames is huge): the debouncer's verdict wins.
  const back: EmotionEvent[] = [];
  let again = 0;
  for (let time = 4100; time <= 5100; time += 100) {
    const r = step(ce, [face()], time);
    again = r.tracks[0].trackId;
    back.push(...r.events);
  }
  t.true(again > first);
  t.deepEqual(back.map((e) => [e.trackId, e.eventType, e.previous, e.monoMs]), [[again, 'happy', 'none', 5100]]);
});

test('two faces with different emotions crossing the frame keep separate ids and separate events', (t) => {
  const ce = new CameraEvents('living', tracking, debounce);
  const events: EmotionEvent[] = [];
  const ids = new Set<string>();
  for (let f = 0; f < 40; f++) {
    const r = step(ce, [classified(box(50 + f * 10, 100, 60), probs({ happy: 0.9 })), classified(box(450 - f * 10, 100, 60), probs({ surprise: 0.9 }))], f * 100);
    r.tracks.forEach((tr, i) => ids.add(`${i}:${tr.trackId}`));
    events.push(...r.events);
  }
  t.is(ids.size, 2, 'each face kept one id');
  t.deepEqual(events.map((e) => e.eventType).sort(), ['happy', 'surprise']);
  t.not(events[0].trackId, events[1].trackId);
});

test('flush ends all faces (model swap, shutdown)', (t) => {
  const ce = new CameraEvents('cam', tracking, debounce);
  for (let time = 0; time <= 1500; time += 100) step(ce, [classified(box(10, 10, 60), probs({ fear: 0.9 }))], time);
  t.deepEqual(ce.flush(1600, WALL0 + 1600).map((e) => [e.eventType, e.previous]), [['face_lost', 'fear']]);
  t.true(step(ce, [classified(box(10, 10, 60), probs({ fear: 0.9 }))], 1700).tracks[0].trackId > 1, 'a new track after the flush');
});
