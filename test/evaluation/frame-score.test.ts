import test from 'ava';
import { FrameScore, pickFace, truthBoxFromName } from '../../agent/evaluation/frame-score.js';

const face = (x: number, y: number, s: number, score = 0.9) => ({ box: { x, y, width: s, height: s }, score });

test('truthBoxFromName reads the _b<x>-<y>-<w>-<h> suffix and nothing else', (t) => {
  t.deepEqual(truthBoxFromName('00012_b120-80-96-90.jpg'), { x: 120, y: 80, width: 96, height: 90 });
  t.is(truthBoxFromName('00012.jpg'), null);
  t.is(truthBoxFromName('00012_b1-2-0-5.jpg'), null, 'an empty box is no box');
  t.is(truthBoxFromName('b1-2-3-4.jpg'), null);
});

test('pickFace: the detection over the true face, not a bigger or surer one elsewhere', (t) => {
  const truth = { x: 100, y: 100, width: 50, height: 50 };
  const elsewhere = face(300, 300, 120, 0.99);
  const onFace = face(105, 102, 45, 0.6);
  t.is(pickFace([elsewhere, onFace], truth), onFace);
  t.is(pickFace([elsewhere], truth), null, 'a false positive elsewhere is a miss');
  t.is(pickFace([elsewhere, onFace], null), elsewhere, 'without a truth box: the highest score');
  t.is(pickFace([], null), null);
});

test('FrameScore: a missed face counts as wrong overall but not among found faces', (t) => {
  const s = new FrameScore(['happy', 'sad']);
  const truth = { x: 0, y: 0, width: 100, height: 100 };
  const onFace = { box: { x: 10, y: 0, width: 80, height: 90 }, score: 1 };
  s.add(0, onFace, 0, truth, [onFace, face(200, 200, 30)]); // found, right; one false positive
  s.add(1, null, null, truth, [face(300, 300, 30)]); // missed; one false positive
  s.add(0, face(0, 0, 10), 1); // found, wrong
  s.add(1, face(0, 0, 10), 1); // found, right
  const r = s.summary();
  t.is(r.frames, 4);
  t.is(r.found, 3);
  t.is(r.false_positives, 2);
  t.is(r.detection_recall, 0.75);
  t.is(r.accuracy_found, 2 / 3);
  t.is(r.accuracy, 0.5);
  t.deepEqual(r.per_class, [
    { label: 'happy', frames: 2, found: 2, recall: 0.5 },
    { label: 'sad', frames: 2, found: 1, recall: 0.5 },
  ]);
  // the one frame with a truth box: centre 0.0 right, -0.05 down (box ends 5 px higher), 0.8 x 0.9 of the face
  t.deepEqual(r.box_vs_truth, { dx: 0, dy: -0.05, width: 0.8, height: 0.9, n: 1 });
});
