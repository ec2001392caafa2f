/**
 * Cross-language parity: PyTorch (training side) vs onnxruntime-node and tfjs-wasm (agent side), on a small
 * exported net with randomised BatchNorm, to 1e-4. Then the shipped model on real face crops: both engine
 * families must give the same classes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { packageRoot, bundledModelDir, sampleFramesDir } from '../../agent/core/paths.js';
import { loadClassifier } from '../../agent/emotion/load-classifier.js';
import { Preprocessor } from '../../agent/emotion/preprocess.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { toModelSpec } from '../../agent/models/manifest.js';
import { preprocessPixels } from '../../agent/models/selftest.js';
import { decodeFrame } from '../../agent/sources/decode.js';
import { createCenterFaceDetector } from '../../agent/vision/centerface-detector.js';
import { detection } from '../vision/samples.js';

const fixture = mkdtempSync(path.join(os.tmpdir(), 'fer-parity-'));
execFileSync('python3', [path.join(packageRoot, 'training/tools/make_parity_fixture.py'), fixture], { stdio: 'pipe' });
const parity = JSON.parse(readFileSync(path.join(fixture, 'parity.json'), 'utf8')) as { inputs_b64: string[]; expected: number[][] };

for (const engine of ['onnxruntime', 'tfjs-wasm'] as const) {
  test(`${engine} matches PyTorch to 1e-4 on the parity fixture`, async (t) => {
    const b = await loadBundle(path.join(fixture, 'bundle'));
    const c = await loadClassifier(b.dir, toModelSpec(b.manifest), engine, 1);
    const per = 48 * 48;
    const x = new Float32Array(parity.inputs_b64.length * per);
    parity.inputs_b64.forEach((s, i) => preprocessPixels(new Uint8Array(Buffer.from(s, 'base64')), b.manifest, x, i * per));
    const probs = await c.classify(x, parity.inputs_b64.length);
    await c.dispose();
    let max = 0;
    parity.expected.forEach((row, i) => row.forEach((v, j) => (max = Math.max(max, Math.abs(v - probs[i * row.length + j]!)))));
    t.true(max < 1e-4, `max abs difference ${max}`);
    t.is(probs.length, parity.expected.length * parity.expected[0]!.length);
  });
}

test('the shipped model gives the same classes on onnxruntime and tfjs-wasm for real face crops', async (t) => {
  const b = await loadBundle(bundledModelDir);
  const spec = toModelSpec(b.manifest);
  const det = await createCenterFaceDetector({ detection, threads: 1 });
  const pre = new Preprocessor(spec);
  const files = ['0001.jpg', '0005.jpg', '0010.jpg', '0021.jpg', '0025.jpg', '0030.jpg'];
  const crops: Float32Array[] = [];
  for (const f of files) {
    const frame = await decodeFrame('t', { seq: 0, monoMs: 0, wallMs: 0, bytes: readFileSync(path.join(sampleFramesDir, f)) });
    const faces = await det.detect(frame);
    if (faces.length) crops.push(Float32Array.from(pre.run(frame, faces.map((x) => x.box))));
  }
  await det.dispose();
  t.true(crops.length >= 4, `faces found in ${crops.length} frames`);
  const input = new Float32Array(crops.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of crops) {
    input.set(c, o);
    o += c.length;
  }
  const n = input.length / (48 * 48);
  const results: Float32Array[] = [];
  for (const engine of ['onnxruntime', 'tfjs-wasm']) {
    const c = await loadClassifier(b.dir, spec, engine, 1);
    results.push(await c.classify(input, n));
    await c.dispose();
  }
  const k = spec.labels.length;
  for (let i = 0; i < n; i++) {
    const a = Array.from(results[0]!.subarray(i * k, (i + 1) * k));
    const w = Array.from(results[1]!.subarray(i * k, (i + 1) * k));
    t.is(a.indexOf(Math.max(...a)), w.indexOf(Math.max(...w)), `face ${i}: classes differ`);
    for (let j = 0; j < k; j++) t.true(Math.abs(a[j]! - w[j]!) < 1e-3, `face ${i} label ${j}: ${a[j]} vs ${w[j]}`);
  }
});
