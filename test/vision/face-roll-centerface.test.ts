/**
 * Roll alignment through the real detector at its default 480x352: CenterFace's eye landmarks on the astronaut
 * turned by sharp give the turn (within 8 degrees: its landmarks lean towards upright, about 20 for 25 one way), and the
 * crop levelled by it looks like the upright face's crop again (the classifier input, not a model output, so a
 * retrained model cannot change the verdict).
 */
import path from 'node:path';
import sharp from 'sharp';
import test from 'ava';
import type { Frame } from '../../agent/core/types.js';
import { Preprocessor } from '../../agent/emotion/preprocess.js';
import { createCenterFaceDetector } from '../../agent/vision/centerface-detector.js';
import { faceRoll } from '../../agent/vision/face-roll.js';
import { detection, loadFrame, samplesDir } from './samples.js';

const astronaut = path.join(samplesDir, 'astronaut.jpg');

async function turned(degrees: number): Promise<Frame> {
  // sharp turns clockwise for positive angles: on screen (y down) the eye on the right goes lower, a positive roll.
  const { data, info } = await sharp(astronaut).rotate(degrees, { background: { r: 128, g: 128, b: 128 } }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { cameraId: 't', seq: 0, monoMs: 0, wallMs: 0, width: info.width, height: info.height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

function correlation(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

test('the astronaut turned by ±25 degrees: the eye landmarks give the turn, and the levelled crop matches the upright one', async (t) => {
  const det = await createCenterFaceDetector({ detection: { ...detection, input_width: 480, input_height: 352 }, threads: 1 });
  t.teardown(() => det.dispose());
  const pre = new Preprocessor({
    labels: ['a'], input: { width: 48, height: 48, channels: 1 }, preprocessing: { scale: 1 / 255, mean: [0.5], std: [0.25] }, output: 'probabilities',
    faceCrop: { margin: 0.05, square: true }, precision: 'fp32', onnxFile: 'model.onnx', tfjsFile: 'tfjs/model.json',
  });
  const upFrame = await loadFrame(astronaut);
  const [up] = await det.detect(upFrame);
  t.truthy(up, 'the upright face is found');
  // Raw eye-line angles (no threshold) measure the turn; the crops use the agent's default threshold.
  const upAngle = faceRoll(up!, 0);
  t.log(`upright: the eye line is at ${((upAngle * 180) / Math.PI).toFixed(1)} degrees`);
  const upCrop = pre.run(upFrame, [up!.box], [faceRoll(up!)]).slice();
  for (const angle of [25, -25]) {
    const frame = await turned(angle);
    const faces = await det.detect(frame);
    t.is(faces.length, 1, `turned ${angle}`);
    const roll = faceRoll(faces[0]!);
    const measured = ((faceRoll(faces[0]!, 0) - upAngle) * 180) / Math.PI;
    t.log(`turned ${angle}: the landmarks say ${measured.toFixed(1)} from upright`);
    t.true(Math.abs(measured - angle) < 8, `turned ${angle}: the landmarks say ${measured.toFixed(1)}`);
    const levelled = correlation(pre.run(frame, [faces[0]!.box], [roll]).slice(), upCrop);
    const plain = correlation(pre.run(frame, [faces[0]!.box]).slice(), upCrop);
    t.log(`turned ${angle}: levelled ${levelled.toFixed(3)}, plain ${plain.toFixed(3)}`);
    t.true(levelled > 0.75 && levelled > plain + 0.3, `turned ${angle}: levelled ${levelled.toFixed(3)} vs plain ${plain.toFixed(3)}`);
  }
});
