import path from 'node:path';
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { createFaceApiDetector } from '../../agent/vision/faceapi-detector.js';
import type { FaceDetector } from '../../agent/vision/face-detector.js';
import { iou } from '../../agent/core/geometry.js';
import { ASTRONAUT_FACE, detection, expectedFaces, loadFrame, sampleFrameFiles, samplesDir } from './samples.js';

const astronaut = path.join(samplesDir, 'astronaut.jpg');
const centre = (b: { x: number; y: number; width: number; height: number }): [number, number] => [b.x + b.width / 2, b.y + b.height / 2];
const inside = ([x, y]: [number, number], b: { x: number; y: number; width: number; height: number }): boolean => x > b.x && x < b.x + b.width && y > b.y && y < b.y + b.height;

// Tests in this file share face-api's module-level nets; run them one after another.
let tiny: FaceDetector | undefined;
test.before(async () => {
  tiny = await createFaceApiDetector({ detection: { ...detection, detector: 'tiny' }, backend: 'wasm' });
});
test.after.always(async () => {
  await tiny?.dispose();
});

test.serial('tiny detector on wasm finds the astronaut face', async (t) => {
  t.is(tf.getBackend(), 'wasm');
  const faces = await tiny!.detect(await loadFrame(astronaut));
  t.is(faces.length, 1, JSON.stringify(faces));
  const f = faces[0]!;
  t.true(f.score >= 0.5, `score ${f.score}`);
  // Tiny boxes are looser than CenterFace's: require mutual centre containment and a fair overlap.
  t.true(inside(centre(f.box), ASTRONAUT_FACE) && inside(centre(ASTRONAUT_FACE), f.box), `box ${JSON.stringify(f.box)}`);
  t.true(iou(f.box, ASTRONAUT_FACE) >= 0.4, `iou ${iou(f.box, ASTRONAUT_FACE)}`);
});

test.serial('tiny detector: a gray frame works and a no-face frame has no face', async (t) => {
  const files = sampleFrameFiles();
  const noFace = files.findIndex((_, i) => expectedFaces(i) === 0);
  t.deepEqual(await tiny!.detect(await loadFrame(files[noFace]!)), []);
  const gray = await loadFrame(astronaut, { gray: true });
  const faces = await tiny!.detect(gray);
  t.is(faces.length, 1);
  t.true(inside(centre(faces[0]!.box), ASTRONAUT_FACE));
});

test.serial('tensor count stays flat over 200 frames', async (t) => {
  const frames = await Promise.all(sampleFrameFiles().slice(0, 10).map((f, i) => loadFrame(f, { seq: i })));
  for (const f of frames) await tiny!.detect(f);
  const before = tf.memory().numTensors;
  let found = 0;
  for (let i = 0; i < 200; i++) found += (await tiny!.detect(frames[i % frames.length]!)).length;
  t.is(tf.memory().numTensors, before);
  t.true(found >= 190, `faces found in ${found} of 200 face frames`);
});

test.serial('SSD MobileNet v1 finds the astronaut face, and disposing it leaves the tiny detector working', async (t) => {
  const ssd = await createFaceApiDetector({ detection: { ...detection, detector: 'ssd' }, model: 'ssd' });
  const frame = await loadFrame(astronaut);
  try {
    t.is(ssd.name, 'ssd');
    const faces = await ssd.detect(frame);
    t.is(faces.length, 1);
    t.true(faces[0]!.score >= 0.8);
    t.true(iou(faces[0]!.box, ASTRONAUT_FACE) >= 0.6, JSON.stringify(faces[0]!.box));
  } finally {
    await ssd.dispose();
  }
  t.is((await tiny!.detect(frame)).length, 1);
});
