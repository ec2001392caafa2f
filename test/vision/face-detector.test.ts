import test from 'ava';
import type { DetectedFace, Frame } from '../../agent/core/types.js';
import { frameProblem, selectFaces } from '../../agent/vision/face-detector.js';

const face = (size: number, score = 0.9, w = size): DetectedFace => ({ box: { x: 0, y: 0, width: w, height: size }, score });

test('selectFaces drops faces under min_face_px (shorter side) and keeps the largest max_faces, largest first', (t) => {
  const faces = [face(30), face(100, 0.6), face(23, 0.99), face(50, 0.9, 20), face(60)];
  const out = selectFaces(faces, { min_face_px: 24, max_faces: 2 });
  t.deepEqual(out.map((f) => f.box.height), [100, 60]);
  t.deepEqual(selectFaces(faces, { min_face_px: 24, max_faces: 8 }).map((f) => f.box.height), [100, 60, 30]);
  t.is(faces.length, 5, 'input untouched');
});

test('frameProblem names size, channel and buffer-length mismatches', (t) => {
  const ok: Frame = { cameraId: 'c', seq: 0, monoMs: 0, wallMs: 0, width: 4, height: 2, channels: 3, data: new Uint8Array(24) };
  t.is(frameProblem(ok), undefined);
  t.regex(frameProblem({ ...ok, data: new Uint8Array(23) }) ?? '', /23 bytes, expected 4x2x3/);
  t.regex(frameProblem({ ...ok, width: 0 }) ?? '', /0x2/);
  t.regex(frameProblem({ ...ok, channels: 4 as 3 }) ?? '', /4 channels/);
});
