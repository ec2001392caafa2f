/**
 * The int8 CenterFace finds the same faces as the float one (each box IoU >= 0.8) on the sample photos, the demo
 * frames and generated frames (the sample faces pasted at several sizes and places on generated scenes, brighter
 * and darker), at the default and a larger detector input.
 *
 * Int8 moves scores by a few hundredths, so a face the float model scores right at the threshold can fall on either
 * side (a 35-pixel face: 0.53 float, 0.34 int8). The rule: a face either model scores at least MARGIN above the
 * threshold must be found by the other at the threshold; faces nearer the threshold are left to the frame-set
 * measurement (`fer-agent eval --frames`, docs/model.md), where int8, with its threshold mapped to float32's scale
 * (centerface-int8-scores.ts), finds about as many faces as float.
 */
import path from 'node:path';
import sharp from 'sharp';
import test from 'ava';
import type { DetectionConfig } from '../../agent/config/schema.js';
import { iou } from '../../agent/core/geometry.js';
import type { DetectedFace, Frame } from '../../agent/core/types.js';
import { createCenterFaceDetector } from '../../agent/vision/centerface-detector.js';
import type { FaceDetector } from '../../agent/vision/face-detector.js';
import { detection, loadFrame, sampleFrameFiles, samplesDir } from './samples.js';

async function generatedFrames(): Promise<Frame[]> {
  const out: Frame[] = [];
  const faces = [
    { file: 'astronaut.jpg', box: { left: 150, top: 20, width: 150, height: 190 } },
    { file: 'camera.jpg', box: { left: 170, top: 80, width: 120, height: 150 } },
  ];
  let seq = 0;
  for (const [i, f] of faces.entries()) {
    for (const [size, x, y, gain] of [[70, 40, 300, 1], [120, 420, 60, 0.6], [180, 250, 200, 1.2]] as const) {
      const w = 640;
      const h = 480;
      const bg = Buffer.alloc(w * h * 3);
      for (let p = 0; p < w * h; p++) bg.fill(Math.round(60 + 100 * ((p % w) / w) + 40 * i), p * 3, p * 3 + 3);
      const face = await sharp(path.join(samplesDir, f.file)).extract(f.box).resize({ height: size }).toBuffer();
      const { data, info } = await sharp(bg, { raw: { width: w, height: h, channels: 3 } })
        .composite([{ input: face, left: x, top: y }])
        .linear(gain, 0)
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      out.push({ cameraId: 'gen', seq: seq++, monoMs: 0, wallMs: 0, width: info.width, height: info.height, channels: 3, data: new Uint8Array(data) });
    }
  }
  return out;
}

const MARGIN = 0.15;

/** Faces of `a` scored clearly above the threshold that `b` does not have (IoU >= 0.8). */
function missing(a: DetectedFace[], b: DetectedFace[], threshold: number, what: string): string | null {
  for (const f of a.filter((x) => x.score >= threshold + MARGIN)) {
    const best = Math.max(0, ...b.map((g) => iou(f.box, g.box)));
    if (best < 0.8) return `${what} face scored ${f.score.toFixed(3)} has IoU ${best.toFixed(3)} with the nearest face of the other model`;
  }
  return null;
}

for (const size of [[320, 256], [640, 480]] as const) {
  test(`int8 CenterFace finds the same faces as the float model at ${size[0]}x${size[1]}`, async (t) => {
    t.timeout(120_000);
    const cfg: DetectionConfig = { ...detection, input_width: size[0], input_height: size[1] };
    const float: FaceDetector = await createCenterFaceDetector({ detection: { ...cfg, precision: 'fp32' }, threads: 1 });
    const int8: FaceDetector = await createCenterFaceDetector({ detection: { ...cfg, precision: 'int8' }, threads: 1 });
    t.teardown(async () => {
      await float.dispose();
      await int8.dispose();
    });
    const frames = [
      await loadFrame(path.join(samplesDir, 'astronaut.jpg')),
      await loadFrame(path.join(samplesDir, 'camera.jpg')),
      ...(await Promise.all(sampleFrameFiles().map((f, i) => loadFrame(f, { seq: i })))),
      ...(await generatedFrames()),
    ];
    let faces = 0;
    for (const [i, frame] of frames.entries()) {
      const a = await float.detect(frame);
      const b = await int8.detect(frame);
      faces += a.filter((x) => x.score >= cfg.score_threshold + MARGIN).length;
      const problem = missing(a, b, cfg.score_threshold, 'a float') ?? missing(b, a, cfg.score_threshold, 'an int8');
      t.is(problem, null, `frame ${i}: ${problem}`);
    }
    t.true(faces >= 28, `the frames hold faces to compare (${faces})`);
  });
}
