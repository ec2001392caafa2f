/** The per-class checks run the candidate FER_CANDIDATE_MODEL names, and refuse one that names no bundle. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { modelUnderTest } from './candidate-model.js';

test('unset or empty FER_CANDIDATE_MODEL keeps the bundled default', (t) => {
  t.deepEqual(modelUnderTest({}).args, []);
  t.deepEqual(modelUnderTest({ FER_CANDIDATE_MODEL: '' }).args, []);
});

test('FER_CANDIDATE_MODEL naming a bundle passes it to classify as an absolute --model', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-candidate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'manifest.json'), '{}');
  const rel = path.relative(process.cwd(), dir);
  const m = modelUnderTest({ FER_CANDIDATE_MODEL: rel });
  t.deepEqual(m.args, ['--model', dir]);
  t.true(m.label.includes(dir));
});

test('FER_CANDIDATE_MODEL naming no bundle is refused, naming the variable and the folder', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-candidate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const e = t.throws(() => modelUnderTest({ FER_CANDIDATE_MODEL: dir }));
  t.regex(e?.message ?? '', /FER_CANDIDATE_MODEL=.*no manifest\.json/);
});
