import { appendFileSync, cpSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { loadClassifier } from '../../agent/emotion/load-classifier.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { resolvePrecision, toModelSpec } from '../../agent/models/manifest.js';
import { preprocessPixels, runSelfTest } from '../../agent/models/selftest.js';
import { checkDeclaredShapes } from '../../agent/models/shape-check.js';
import { bundleCopy, fixtureBundle, flipByte, tempDir } from './support.js';

test('the fixture bundle loads: manifest, hashes, sha256 of the manifest', async (t) => {
  const b = await loadBundle(fixtureBundle());
  t.is(b.manifest.name, 'parity-fixture');
  t.regex(b.manifestSha256, /^[0-9a-f]{64}$/);
  t.is(b.signature, null);
});

test('a changed file is a hash mismatch naming the file', async (t) => {
  const dir = bundleCopy('1.0.0');
  flipByte(path.join(dir, 'model.onnx'), 500);
  const err = await t.throwsAsync(loadBundle(dir), { instanceOf: FerError });
  t.is(err?.reason, 'model_hash_mismatch');
  t.regex(err!.message, /files\["model\.onnx"\] has sha256 [0-9a-f]{64}; the manifest says/);
});

test('a file of the wrong size is a hash mismatch; a missing one is invalid', async (t) => {
  const dir = bundleCopy('1.0.0');
  appendFileSync(path.join(dir, 'tfjs', 'model.json'), ' ');
  const err = await t.throwsAsync(loadBundle(dir), { instanceOf: FerError });
  t.is(err?.reason, 'model_hash_mismatch');
  t.regex(err!.message, /tfjs\/model\.json.*bytes; the manifest says/);
  rmSync(path.join(dir, 'tfjs', 'model.json'));
  await t.throwsAsync(loadBundle(dir), { message: /files\["tfjs\/model\.json"\] is listed in the manifest but missing/ });
});

test('symlinks inside a bundle are refused (they could point anywhere)', async (t) => {
  const dir = bundleCopy('1.0.0');
  const outside = path.join(tempDir(), 'model.onnx');
  writeFileSync(outside, 'x');
  rmSync(path.join(dir, 'model.onnx'));
  symlinkSync(outside, path.join(dir, 'model.onnx'));
  await t.throwsAsync(loadBundle(dir), { message: /not a regular file/ });
  const dir2 = bundleCopy('1.0.0');
  // A folder symlink with identical files behind it: the content matches, the location does not.
  const elsewhere = path.join(tempDir(), 'tfjs');
  cpSync(path.join(dir2, 'tfjs'), elsewhere, { recursive: true });
  rmSync(path.join(dir2, 'tfjs'), { recursive: true });
  symlinkSync(elsewhere, path.join(dir2, 'tfjs'));
  await t.throwsAsync(loadBundle(dir2), { message: /resolves outside the bundle/ });
});

test('preprocessPixels: (p*scale - mean)/std, interleaved RGB → planar CHW', (t) => {
  const m = { input: { width: 2, height: 1, channels: 3 as const }, preprocessing: { scale: 0.5, mean: [0, 1, 2], std: [1, 2, 4] } };
  const out = new Float32Array(6);
  preprocessPixels(new Uint8Array([10, 20, 30, 40, 50, 60]), m, out);
  // R plane, G plane, B plane.
  t.deepEqual([...out], [5, 20, (10 - 1) / 2, (25 - 1) / 2, (15 - 2) / 4, (30 - 2) / 4]);
  t.throws(() => preprocessPixels(new Uint8Array(5), m, out), { instanceOf: FerError });
});

for (const engine of ['onnxruntime', 'tfjs-wasm']) {
  test(`self-test passes on ${engine} and fails, naming case and label, when an expectation is off`, async (t) => {
    const b = await loadBundle(fixtureBundle());
    await checkDeclaredShapes(b.dir, b.manifest, engine);
    const c = await loadClassifier(b.dir, toModelSpec(b.manifest), engine, 1);
    try {
      const r = await runSelfTest(c, b.manifest);
      t.is(r.cases, b.manifest.selftest.cases.length);
      t.true(r.maxDiff <= b.manifest.selftest.tolerance);
      const off = structuredClone(b.manifest);
      off.selftest.cases[1]!.expected[3] = off.selftest.cases[1]!.expected[3]! + 0.01;
      const err = await t.throwsAsync(runSelfTest(c, off), { instanceOf: FerError });
      t.is(err?.reason, 'model_selftest_failed');
      t.regex(err!.message, /case 1 label happy/);
    } finally {
      await c.dispose();
    }
  });
}

test('declared shapes: an input size or label count the model does not have is a shape mismatch', async (t) => {
  const b = await loadBundle(fixtureBundle());
  for (const engine of ['onnxruntime', 'tfjs-wasm']) {
    const wide = structuredClone(b.manifest);
    wide.input.width = 64;
    const e1 = await t.throwsAsync(checkDeclaredShapes(b.dir, wide, engine), { instanceOf: FerError });
    t.is(e1?.reason, 'model_shape_mismatch', engine);
    t.regex(e1!.message, /input shape .*48.* does not match the manifest's .*64/);
    const fewer = structuredClone(b.manifest);
    fewer.labels = fewer.labels.slice(0, 6);
    const e2 = await t.throwsAsync(checkDeclaredShapes(b.dir, fewer, engine), { instanceOf: FerError });
    t.regex(e2!.message, /output shape \[\?,7\] does not match the manifest's \[\?,6\]/, engine);
  }
});

test('fer-agent model verify checks hashes, signature and the self-test; model pack writes a readable archive', async (t) => {
  const { modelPackCommand, modelVerifyCommand } = await import('../../agent/cli/model-cli.js');
  const { readArchive } = await import('../../agent/models/archive.js');
  const { silentLogger } = await import('../../agent/core/log.js');
  const { makeKey, sign } = await import('./support.js');
  const { readFileSync } = await import('node:fs');
  const key = makeKey();
  const dir = bundleCopy('1.0.0');
  sign(dir, key);
  t.is(await modelVerifyCommand([dir, '--trusted-key', key.pubFile, '--engine', 'onnxruntime'], silentLogger), 0);
  await t.throwsAsync(modelVerifyCommand([dir, '--trusted-key', makeKey().pubFile, '--no-selftest'], silentLogger), { message: /not in model\.trusted_keys/ });
  const out = path.join(tempDir(), 'b.fer');
  t.is(await modelPackCommand([dir, '--out', out], silentLogger), 0);
  const entries = await readArchive(new Uint8Array(readFileSync(out)), { maxBytes: 8 << 20, maxEntries: 64 });
  t.deepEqual(entries.map((e) => e.path), ['manifest.json', 'signature.json', 'model.int8.onnx', 'model.onnx', 'tfjs/group1-shard1of1.bin', 'tfjs/model.json']);
  flipByte(path.join(dir, 'model.onnx'), 4000);
  await t.throwsAsync(modelVerifyCommand([dir, '--no-selftest'], silentLogger), { message: /has sha256/ });
});

test('the int8 model of a bundle loads on onnxruntime, passes its own self-test, and is checked by its own cases', async (t) => {
  const b = await loadBundle(fixtureBundle());
  t.truthy(b.manifest.engines.onnx_int8, 'the fixture bundle carries an int8 model');
  await checkDeclaredShapes(b.dir, b.manifest, 'onnxruntime');
  const spec = toModelSpec(b.manifest, resolvePrecision(b.manifest, 'onnxruntime', 'auto'));
  t.is(spec.precision, 'int8');
  const c = await loadClassifier(b.dir, spec, 'onnxruntime', 1);
  try {
    const r = await runSelfTest(c, b.manifest);
    t.true(r.maxDiff <= b.manifest.engines.onnx_int8!.selftest.tolerance);
    // The float model's expectations are not the int8 model's: tampering with the int8 cases is what fails it.
    const off = structuredClone(b.manifest);
    off.engines.onnx_int8!.selftest.cases[0]!.expected[0] = off.engines.onnx_int8!.selftest.cases[0]!.expected[0]! + 0.2;
    const err = await t.throwsAsync(runSelfTest(c, off), { instanceOf: FerError });
    t.is(err?.reason, 'model_selftest_failed');
    t.regex(err!.message, /case 0 label angry \(int8\)/);
    // An expected top class that the host does not pick, by a clear lead, fails on the class, whatever the tolerance.
    const other = structuredClone(b.manifest);
    const st = other.engines.onnx_int8!.selftest;
    st.tolerance = 0.4;
    const exp = st.cases[1]!.expected;
    const top = exp.indexOf(Math.max(...exp));
    const swapped = (top + 1) % exp.length;
    exp.fill(0);
    exp[swapped] = 1;
    const err2 = await t.throwsAsync(runSelfTest(c, other), { instanceOf: FerError });
    t.is(err2?.reason, 'model_selftest_failed');
    t.regex(err2!.message, new RegExp(`case 1 \\(int8\\): onnxruntime picks ${other.labels[top]} .*expected ${other.labels[swapped]} \\(1\\)`));
  } finally {
    await c.dispose();
  }
});

test('a broken int8 model file is caught by the shape check even when the float model is fine', async (t) => {
  const dir = bundleCopy('1.0.0');
  const m = (await loadBundle(dir)).manifest;
  const wide = structuredClone(m);
  wide.engines.onnx_int8!.input = 'no-such-input';
  const err = await t.throwsAsync(checkDeclaredShapes(dir, wide, 'onnxruntime'), { instanceOf: FerError });
  t.is(err?.reason, 'model_shape_mismatch');
  t.regex(err!.message, /model\.int8\.onnx has no input "no-such-input"/);
});
