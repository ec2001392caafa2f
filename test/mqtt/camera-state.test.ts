import test from 'ava';
import { CameraStateModel, shouldPublish, stateBody, stateKey } from '../../agent/mqtt/camera-state.js';
import { event, face, result } from './support.js';

test('nobody there: emotion none, confidence 0', (t) => {
  const m = new CameraStateModel('cam');
  t.like(m.snapshot(), { camera: 'cam', emotion: 'none', confidence: 0, faces: 0, paused: false, tracks: [] });
});

test('before the debouncer settles, the smoothed label shows; once an event fired, the settled emotion wins', (t) => {
  const m = new CameraStateModel('cam');
  m.onResult(result('cam', 1, 0, [face(1, 'happy', 0.55)]));
  t.like(m.snapshot(), { emotion: 'happy', confidence: 0.55, faces: 1 });
  t.false(m.snapshot().tracks[0].settled);
  m.onEvent(event('cam', 1, 'sad', 'none', 0));
  // Frames may wobble towards happy, but the debounced state is sad: the state agrees with the events.
  m.onResult(result('cam', 2, 10, [face(1, 'happy', 0.5)]));
  const s = m.snapshot();
  t.is(s.emotion, 'sad');
  t.true(s.tracks[0].settled);
  t.is(s.confidence, Math.round((0.5 / 6) * 1000) / 1000);
});

test('the largest face is the dominant one; face_lost forgets a track; other cameras are ignored', (t) => {
  const m = new CameraStateModel('cam');
  m.onResult(result('cam', 1, 0, [face(1, 'happy', 0.9, 50), face(2, 'fear', 0.8, 120)]));
  t.is(m.snapshot().emotion, 'fear');
  m.onResult(result('other', 1, 0, []));
  t.is(m.snapshot().faces, 2);
  m.onEvent(event('cam', 2, 'face_lost', 'fear', 0));
  t.deepEqual(m.snapshot().tracks.map((x) => x.track_id), [1]);
});

test('paused: nobody shown, paused true', (t) => {
  const m = new CameraStateModel('cam');
  m.onResult(result('cam', 1, 0, [face(1, 'happy', 0.9)]));
  m.setPaused(true, 5);
  t.like(m.snapshot(), { paused: true, faces: 0, emotion: 'none', ts: 5 });
});

test('publishing: at once on a meaningful change, confidences at most every interval, nothing when only time moved', (t) => {
  const m = new CameraStateModel('cam');
  m.onResult(result('cam', 1, 0, [face(1, 'happy', 0.9)], 1000));
  const a = m.snapshot();
  const last = { key: stateKey(a), body: stateBody(a), monoMs: 0 };
  m.onResult(result('cam', 2, 0, [face(1, 'happy', 0.9)], 2000));
  const sameButLater = m.snapshot();
  t.false(shouldPublish(last, { key: stateKey(sameButLater), body: stateBody(sameButLater) }, 5000, 1000));
  m.onResult(result('cam', 3, 0, [face(1, 'happy', 0.8)], 3000));
  const drift = m.snapshot();
  t.false(shouldPublish(last, { key: stateKey(drift), body: stateBody(drift) }, 500, 1000));
  t.true(shouldPublish(last, { key: stateKey(drift), body: stateBody(drift) }, 1000, 1000));
  m.onResult(result('cam', 4, 0, [face(1, 'sad', 0.8)], 4000));
  const changed = m.snapshot();
  t.true(shouldPublish(last, { key: stateKey(changed), body: stateBody(changed) }, 1, 1000));
  t.true(shouldPublish(undefined, { key: 'x', body: 'y' }, 0, 1000));
});
