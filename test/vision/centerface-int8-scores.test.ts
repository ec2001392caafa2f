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

test('a float32 threshold maps to the int8 score that the fit sends to it', (t) => {
  const { a, b } = CENTERFACE_INT8_SCORES;
  for (const thr of [0.1, 0.3, 0.5, 0.9]) {
    const q = int8ScoreThreshold(thr);
    t.true(Math.abs(a * logit(q) + b - logit(thr)) < 1e-9, `threshold ${thr} -> ${q}`);
  }
  // int8 scores lower, so its threshold is lower where detection happens: 0.3 on float32's scale is about 0.2.
  const at03 = int8ScoreThreshold(0.3);
  t.true(at03 > 0.18 && at03 < 0.23, `0.3 -> ${at03}`);
  t.true(int8ScoreThreshold(0.2) < at03 && at03 < int8ScoreThreshold(0.4), 'monotone');
  t.is(int8ScoreThreshold(0), 0);
  t.is(int8ScoreThreshold(1), 1);
  // Another fit (a file of its own) maps by its own numbers.
  t.true(Math.abs(int8ScoreThreshold(0.3, { sha256: 'x', a: 1, b: 0 }) - 0.3) < 1e-12);
});

test('the bundled int8 detector applies the mapped threshold; float32 and a model given by path take it as it is', async (t) => {
  const cfg = { ...detection, score_threshold: 0.3 };
  const int8 = await createCenterFaceDetector({ detection: { ...cfg, precision: 'int8' }, threads: 1 });
  const fp32 = await createCenterFaceDetector({ detection: { ...cfg, precision: 'fp32' }, threads: 1 });
  const byPath = await createCenterFaceDetector({ detection: { ...cfg, precision: 'int8' }, threads: 1, modelPath: centerfaceInt8ModelPath });
  t.teardown(async () => {
    for (const d of [int8, fp32, byPath]) await d.dispose();
  });
  t.is(int8.scoreThreshold, int8ScoreThreshold(0.3));
  t.is(fp32.scoreThreshold, 0.3);
  t.is(byPath.scoreThreshold, 0.3);
});
