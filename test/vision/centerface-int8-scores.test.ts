/**
 * `detection.score_threshold` means float32's scale: the bundled int8 CenterFace compares its lower scores with the
 * threshold mapped through the fit of the two models, and the fit names the int8 file it was made for.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import test from 'ava';
import { centerfaceInt8ModelPath } from '../../agent/core/paths.js';
import { createCenterFaceDetector } from '../../agent/vision/centerface-detector.js';
import { CENTERFACE_INT8_SCORES, int8ScoreThreshold } from '../../agent/vision/centerface-int8-scores.js';
import { detection } from './samples.js';

const logit = (p: number): number => Math.log(p / (1 - p));

test('the fit belongs to the bundled int8 file (re-quantizing it needs a new fit_int8_scores.py run)', (t) => {
  t.is(createHash('sha256').update(readFileSync(centerfaceInt8ModelPath)).digest('hex'), CENTERFACE_INT8_SCORES.sha256);
});

test('a float32 threshold maps to the int8 score that the fit sends to it, at each input size', (t) => {
  const { sizes } = CENTERFACE_INT8_SCORES;
  t.deepEqual(sizes.map((e) => e.pixels), [...sizes.map((e) => e.pixels)].sort((x, y) => x - y), 'smallest first');
  // At a size fitted, its own a and b; the default 480x352 is one.
  for (const [w, h] of [[256, 192], [480, 352], [800, 608]] as const) {
    const { a, b } = sizes.find((e) => e.pixels === w * h)!;
    for (const thr of [0.1, 0.3, 0.5, 0.9]) {
      const q = int8ScoreThreshold(thr, w, h);
      t.true(Math.abs(a * logit(q) + b - logit(thr)) < 1e-9, `${w}x${h}: threshold ${thr} -> ${q}`);
    }
  }
  const at = (w: number, h: number, thr = 0.3): number => int8ScoreThreshold(thr, w, h);
  for (const [w, h] of [[256, 192], [448, 320], [480, 352], [640, 480]] as const) t.true(at(w, h, 0.2) < at(w, h) && at(w, h) < at(w, h, 0.4), `monotone at ${w}x${h}`);
  // int8 scores lower, the more so the larger the input: 0.3 on float32's scale is about 0.2 at the default 480x352.
  t.true(at(480, 352) > 0.17 && at(480, 352) < 0.23, `0.3 -> ${at(480, 352)}`);
  t.true(at(320, 256) > at(480, 352) && at(480, 352) > at(640, 480), 'a larger input maps lower');
  // Between two sizes fitted, between their thresholds (448x320 lies between 416x320 and 480x352).
  const between = at(448, 320);
  t.true(Math.min(at(416, 320), at(480, 352)) <= between && between <= Math.max(at(416, 320), at(480, 352)), `448x320 -> ${between}`);
  // Sizes run as CenterFace runs them (multiples of 32), and outside the sizes fitted take the nearest end.
  t.is(at(470, 350), at(480, 352));
  t.is(at(128, 128), at(256, 192));
  t.is(at(1920, 1088), at(800, 608));
  t.is(int8ScoreThreshold(0, 480, 352), 0);
  t.is(int8ScoreThreshold(1, 480, 352), 1);
  // Another fit (a file of its own) maps by its own numbers.
  t.true(Math.abs(int8ScoreThreshold(0.3, 480, 352, { sha256: 'x', sizes: [{ pixels: 1, a: 1, b: 0 }] }) - 0.3) < 1e-12);
});

test('the bundled int8 detector applies the mapped threshold; float32 and a model given by path take it as it is', async (t) => {
  const cfg = { ...detection, score_threshold: 0.3 };
  const int8 = await createCenterFaceDetector({ detection: { ...cfg, precision: 'int8' }, threads: 1 });
  const fp32 = await createCenterFaceDetector({ detection: { ...cfg, precision: 'fp32' }, threads: 1 });
  const byPath = await createCenterFaceDetector({ detection: { ...cfg, precision: 'int8' }, threads: 1, modelPath: centerfaceInt8ModelPath });
  t.teardown(async () => {
    for (const d of [int8, fp32, byPath]) await d.dispose();
  });
  t.is(int8.scoreThreshold, int8ScoreThreshold(0.3, detection.input_width, detection.input_height));
  // Follow regions run at their own input size (region_input square), so their threshold maps at that size.
  t.is(int8.regionScoreThreshold, int8ScoreThreshold(0.3, detection.region_input, detection.region_input));
  t.not(int8.regionScoreThreshold, int8.scoreThreshold);
  t.is(fp32.scoreThreshold, 0.3);
  t.is(fp32.regionScoreThreshold, 0.3);
  t.is(byPath.scoreThreshold, 0.3);
});
