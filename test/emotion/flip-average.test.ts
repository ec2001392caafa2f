/**
 * Flip test-time augmentation (model.flip_tta): the mirror is exact, the wrapper averages the two views of each
 * face, and its answer no longer depends on which way the face was mirrored. Runs the shipped model on
 * onnxruntime, on the astronaut's face and on the demo frames' faces.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadConfig } from '../../agent/config/load.js';
import { assetsDir, bundledModelDir } from '../../agent/core/paths.js';
import { silentLogger } from '../../agent/core/log.js';
import { FlipAveragingClassifier, mirrorImages } from '../../agent/emotion/flip-average.js';
import { loadClassifier } from '../../agent/emotion/load-classifier.js';
import { Preprocessor } from '../../agent/emotion/preprocess.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { toModelSpec } from '../../agent/models/manifest.js';
import { setupClassifier } from '../../agent/pipeline/classifier-setup.js';
import { bundledFlipTtaWord } from '../helpers/bundled-model.js';
import { ASTRONAUT_FACE, loadFrame } from '../vision/samples.js';

test('mirrorImages reverses every row of every channel of every image', (t) => {
  // 2 images x 2 channels x 2 rows x 3 columns, values = their index
  const src = Float32Array.from({ length: 24 }, (_, i) => i);
  const dst = new Float32Array(24);
  mirrorImages(src, 2, 2, 2, 3, dst);
  t.deepEqual(Array.from(dst), [2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9, 14, 13, 12, 17, 16, 15, 20, 19, 18, 23, 22, 21]);
  t.throws(() => mirrorImages(src, 3, 2, 2, 3, dst), { instanceOf: RangeError, message: /fewer than 3 images/ });
});

async function faceInputs(pre: Preprocessor): Promise<Float32Array> {
  // The astronaut's face at three framings, so the batch holds faces the model is unsure about too.
  const frame = await loadFrame(path.join(assetsDir, 'samples', 'astronaut.jpg'));
  const b = ASTRONAUT_FACE;
  // The last is lopsided (the face's left half and the background beside it), so its two views surely disagree.
  const boxes = [b, { ...b, x: b.x - 12, width: b.width + 10 }, { ...b, y: b.y + 15, height: b.height - 20 }, { ...b, x: b.x - 60, width: b.width }];
  return Float32Array.from(pre.run(frame, boxes));
}

test('the flip wrapper averages the two views and is the same for a face and its mirror image', async (t) => {
  const bundle = await loadBundle(bundledModelDir);
  const spec = toModelSpec(bundle.manifest);
  const inner = await loadClassifier(bundle.dir, spec, 'onnxruntime', 1);
  t.teardown(() => inner.dispose());
  const flip = new FlipAveragingClassifier(inner);
  const x = await faceInputs(new Preprocessor(spec));
  const n = x.length / (48 * 48);
  const k = spec.labels.length;
  const mirrored = new Float32Array(x.length);
  mirrorImages(x, n, 1, 48, 48, mirrored);

  const plain = await inner.classify(x, n);
  const plainMirror = await inner.classify(mirrored, n);
  const averaged = await flip.classify(x, n);
  const averagedMirror = await flip.classify(mirrored, n);
  t.is(averaged.length, n * k);
  let maxDiffPlain = 0;
  for (let i = 0; i < n * k; i++) {
    t.true(Math.abs(averaged[i]! - (plain[i]! + plainMirror[i]!) / 2) < 1e-6, `entry ${i}`);
    t.true(Math.abs(averaged[i]! - averagedMirror[i]!) < 1e-6, `entry ${i}: mirror-invariant`);
    maxDiffPlain = Math.max(maxDiffPlain, Math.abs(plain[i]! - plainMirror[i]!));
  }
  // The two views really differ for this model, so the checks above are not comparing a thing with itself.
  t.true(maxDiffPlain > 1e-4, `plain and mirrored predictions differ by ${maxDiffPlain}`);
  for (let i = 0; i < n; i++) {
    const row = averaged.subarray(i * k, (i + 1) * k);
    t.true(Math.abs(row.reduce((a, v) => a + v, 0) - 1) < 1e-4, `row ${i} sums to 1`);
  }
  t.deepEqual(Array.from(await flip.classify(x, 0)), []);
  t.is(flip.engine, 'onnxruntime');
  t.deepEqual(flip.labels, inner.labels);
});

test('model.flip_tta wraps the classifier the agent loads; auto by default, decided from the bundled model\'s release word and Validation figures', async (t) => {
  // auto's outcome depends on this CPU's timings (flip-choice.test.ts covers each branch); what holds everywhere is
  // that the bundled model carries its Validation figures, so the choice is made on them and the wrapper follows it,
  // unless its release said runtime.flip_tta off (a net whose two passes miss the speed target), which auto obeys.
  const byAuto = bundledFlipTtaWord === 'off' ? ([false, /runtime\.flip_tta off/] as const) : ([undefined, /Validation \d+\.\d+ % → \d+\.\d+ % with flip TTA/] as const);
  for (const [flipTta, wrapped, why] of [[undefined, ...byAuto], [true, true, /set/], [false, false, /set/]] as const) {
    const overrides: Record<string, unknown> = { engine: 'onnxruntime', 'mqtt.url': '' };
    if (flipTta !== undefined) overrides['model.flip_tta'] = flipTta;
    const cfg = loadConfig({ skipDefaultFile: true, env: {}, overrides });
    t.is(cfg.model.flip_tta, flipTta ?? 'auto');
    const m = await setupClassifier(cfg, cfg.model.path, silentLogger);
    t.is(m.classifier instanceof FlipAveragingClassifier, m.flipTta.on, `flip_tta=${flipTta}`);
    if (wrapped !== undefined) t.is(m.flipTta.on, wrapped);
    t.regex(m.flipTta.why, why);
    await m.classifier.dispose();
  }
  for (const [word, value] of [['true', true], ['1', true], ['ON', true], ['false', false], ['0', false], ['no', false], ['auto', 'auto'], [' AUTO ', 'auto']] as const) {
    t.is(loadConfig({ skipDefaultFile: true, env: { FER_FLIP_TTA: word }, overrides: {} }).model.flip_tta, value, `FER_FLIP_TTA=${word}`);
  }
  // convict's own Boolean would read this as true; ours names the key instead.
  t.throws(() => loadConfig({ skipDefaultFile: true, env: { FER_FLIP_TTA: 'sometimes' }, overrides: {} }), { message: /model\.flip_tta.*auto, true or false/ });
  t.throws(() => loadConfig({ skipDefaultFile: true, env: {}, overrides: { 'model.flip_tta': 'sometimes' } }), { message: /model\.flip_tta/ });
});

test("a bundle whose manifest says runtime.flip_tta off is run without the mirror under auto, and with it when set", async (t) => {
  // The bundled model with the release's word added (a wider net whose two passes miss the speed target says this).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-flip-off-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(bundledModelDir, dir, { recursive: true });
  const file = path.join(dir, 'manifest.json');
  writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as object), runtime: { flip_tta: 'off' } }));
  for (const [setting, on] of [['auto', false], [true, true]] as const) {
    const cfg = loadConfig({ skipDefaultFile: true, env: {}, overrides: { engine: 'onnxruntime', 'mqtt.url': '', 'model.flip_tta': setting } });
    const m = await setupClassifier(cfg, dir, silentLogger);
    t.is(m.flipTta.on, on, m.flipTta.why);
    t.is(m.classifier instanceof FlipAveragingClassifier, on);
    if (setting === 'auto') t.regex(m.flipTta.why, /runtime\.flip_tta off/);
    await m.classifier.dispose();
  }
});
