import v8 from 'node:v8';
import vm from 'node:vm';
import path from 'node:path';
import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { createCenterFaceDetector } from '../../agent/vision/centerface-detector.js';
import type { FaceDetector } from '../../agent/vision/face-detector.js';
import { iou } from '../../agent/core/geometry.js';
import { regionAround } from '../../agent/vision/region-plan.js';
import { ASTRONAUT_FACE, detection, expectedFaces, loadFrame, sampleFrameFiles, samplesDir } from './samples.js';

const astronaut = path.join(samplesDir, 'astronaut.jpg');
const camera = path.join(samplesDir, 'camera.jpg');

// One session for the file; ava runs this file's tests concurrently and the detector serialises them.
let shared: Promise<FaceDetector> | undefined;
const detector = (): Promise<FaceDetector> => (shared ??= createCenterFaceDetector({ detection, threads: 2 }));
test.after.always(async () => {
  if (shared) await (await shared).dispose();
});

test('the astronaut: one face, score >= 0.8, around the face measured by eye, landmarks in place', async (t) => {
  const frame = await loadFrame(astronaut);
  t.deepEqual([frame.width, frame.height], [512, 512], 'letterboxed into 320x256 with padding on the right');
  const faces = await (await detector()).detect(frame);
  t.is(faces.length, 1);
  const f = faces[0]!;
  t.true(f.score >= 0.8, `score ${f.score}`);
  t.true(iou(f.box, ASTRONAUT_FACE) >= 0.7, `box ${JSON.stringify(f.box)}`);
  const lm = f.landmarks!;
  t.is(lm.length, 5);
  for (const [x, y] of lm) t.true(x > f.box.x && x < f.box.x + f.box.width && y > f.box.y && y < f.box.y + f.box.height, `landmark ${x},${y} inside`);
  // Eyes (0, 1) above the nose (2) above the mouth corners (3, 4); left before right in the image.
  t.true(lm[0]![1] < lm[2]![1] && lm[1]![1] < lm[2]![1] && lm[2]![1] < lm[3]![1] && lm[2]![1] < lm[4]![1]);
  t.true(lm[0]![0] < lm[1]![0] && lm[3]![0] < lm[4]![0]);
});

test('a gray frame is detected like its RGB version', async (t) => {
  const det = await detector();
  const rgb = await det.detect(await loadFrame(camera));
  const grayFrame = await loadFrame(camera, { gray: true });
  t.is(grayFrame.channels, 1);
  const gray = await det.detect(grayFrame);
  t.is(rgb.length, 1);
  t.is(gray.length, 1);
  t.true(iou(rgb[0]!.box, gray[0]!.box) > 0.9);
  t.true(rgb[0]!.score > 0.7);
});

test('the demo frames: one face in each face frame (moving smoothly), none in the no-face frames', async (t) => {
  const det = await detector();
  const files = sampleFrameFiles();
  t.is(files.length, 32);
  let prev: { x: number; y: number; width: number; height: number } | undefined;
  for (const [i, file] of files.entries()) {
    const frame = await loadFrame(file, { seq: i });
    t.deepEqual([frame.width, frame.height, frame.channels], [640, 480, 3]);
    const faces = await det.detect(frame);
    const name = path.basename(file);
    t.is(faces.length, expectedFaces(i), `${name}: ${JSON.stringify(faces.map((f) => f.score))}`);
    if (faces.length === 1) {
      t.true(faces[0]!.score >= 0.7, `${name} score ${faces[0]!.score}`);
      if (prev && expectedFaces(i - 1) === 1) t.true(iou(prev, faces[0]!.box) > 0.6, `${name} jumped`);
      prev = faces[0]!.box;
    }
  }
});

test('overlapping detect calls give the same faces as one at a time', async (t) => {
  const det = await detector();
  const files = sampleFrameFiles().slice(8, 24);
  const frames = await Promise.all(files.map((f, i) => loadFrame(f, { seq: i })));
  const together = await Promise.all(frames.map((f) => det.detect(f)));
  for (const [i, f] of frames.entries()) t.deepEqual(await det.detect(f), together[i], path.basename(files[i]!));
});

test('region search: the astronaut found in a region around it like in the whole frame; batched regions equal one at a time', async (t) => {
  const det = await detector();
  const frame = await loadFrame(astronaut);
  const [whole] = await det.detect(frame);
  if (!whole) return t.fail('no face in the whole frame');
  const around = regionAround(whole.box, frame.width, frame.height);
  const corner = { x: 0, y: frame.height - 160, width: 160, height: 160 };
  const shifted = { ...around, x: Math.max(0, around.x - 30) };
  const batched = await det.detectRegions!(frame, [around, corner, shifted]);
  t.is(batched.length, 3);
  t.is(batched[0]!.length, 1, 'the face in its region');
  t.true(iou(batched[0]![0]!.box, whole.box) >= 0.8, `IoU ${iou(batched[0]![0]!.box, whole.box).toFixed(3)} with the whole-frame box`);
  t.true(batched[0]![0]!.landmarks![0]![0] > around.x, 'landmarks in frame pixels');
  t.deepEqual(batched[1], [], 'nothing in an empty corner');
  for (const [i, r] of [around, corner, shifted].entries()) {
    const alone = (await det.detectRegions!(frame, [r]))[0]!;
    t.is(alone.length, batched[i]!.length);
    alone.forEach((f, k) => t.true(iou(f.box, batched[i]![k]!.box) > 0.999, `region ${i}: batched and alone agree`));
  }
  t.deepEqual(await det.detectRegions!(frame, []), []);
  const err = await t.throwsAsync(det.detectRegions!({ ...frame, data: frame.data.subarray(1) }, [around]), { instanceOf: FerError });
  t.is(err?.reason, 'frame_corrupt');
});

test('max_faces, min_face_px and score_threshold from the config apply', async (t) => {
  const frame = await loadFrame(astronaut);
  const strict = await createCenterFaceDetector({ detection: { ...detection, score_threshold: 0.97 }, threads: 1 });
  const tinyOnly = await createCenterFaceDetector({ detection: { ...detection, min_face_px: 200 }, threads: 1 });
  const none = await createCenterFaceDetector({ detection: { ...detection, max_faces: 0 }, threads: 1 });
  try {
    t.deepEqual(await strict.detect(frame), []);
    t.deepEqual(await tinyOnly.detect(frame), []);
    t.deepEqual(await none.detect(frame), []);
  } finally {
    await Promise.all([strict.dispose(), tinyOnly.dispose(), none.dispose()]);
  }
});

test('a corrupt frame is refused with frame_corrupt; a missing model with model_invalid', async (t) => {
  const frame = await loadFrame(astronaut);
  const err = await t.throwsAsync((await detector()).detect({ ...frame, data: frame.data.subarray(1) }), { instanceOf: FerError });
  t.is(err?.reason, 'frame_corrupt');
  const bad = await t.throwsAsync(createCenterFaceDetector({ detection, threads: 1, modelPath: '/nonexistent/centerface.onnx' }), { instanceOf: FerError });
  t.is(bad?.reason, 'model_invalid');
  t.regex(bad?.message ?? '', /nonexistent\/centerface\.onnx/);
});

test('memory stays bounded over 300 detections', async (t) => {
  // gc without --expose-gc on the worker's command line (ava's nodeArguments are shared by every test file).
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const det = await createCenterFaceDetector({ detection, threads: 2 });
  try {
    const frames = await Promise.all(sampleFrameFiles().slice(0, 20).map((f, i) => loadFrame(f, { seq: i })));
    for (let i = 0; i < 30; i++) await det.detect(frames[i % frames.length]!);
    gc();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 300; i++) await det.detect(frames[i % frames.length]!);
    gc();
    const growthMb = (process.memoryUsage().rss - before) / 2 ** 20;
    t.log(`RSS growth over 300 detections: ${growthMb.toFixed(1)} MB`);
    t.true(growthMb < 40, `RSS grew ${growthMb.toFixed(1)} MB`);
  } finally {
    await det.dispose();
  }
});
