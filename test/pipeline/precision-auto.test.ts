/**
 * `model.precision: auto` on onnxruntime: the bundled model's int8 and float forms are checked against each other and
 * timed on this machine, the decision is cached in the state folder, and a cached decision is used as it stands.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadConfig } from '../../agent/config/load.js';
import { bundledModelDir } from '../../agent/core/paths.js';
import { silentLogger } from '../../agent/core/log.js';
import type { PrecisionDecision } from '../../agent/engines/precision-choice.js';
import { setupClassifier } from '../../agent/pipeline/classifier-setup.js';

test('auto measures once, caches the decision in the state folder, and obeys the cached decision', async (t) => {
  const state = mkdtempSync(path.join(os.tmpdir(), 'fer-precision-'));
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const cfg = loadConfig({ skipDefaultFile: true, env: {}, overrides: { engine: 'onnxruntime', 'model.state_dir': state } });
  const first = await setupClassifier(cfg, bundledModelDir, silentLogger);
  await first.classifier.dispose();
  const d = first.precisionDecision;
  t.truthy(d, 'auto decided');
  t.true(d!.agrees, 'the bundled int8 model picks float32\'s class on its self-test faces');
  t.true(d!.fp32Ms > 0 && d!.int8Ms > 0);
  t.is(first.classifier.spec.precision, d!.precision);
  t.is(d!.precision, d!.int8Ms <= 0.9 * d!.fp32Ms ? 'int8' : 'fp32');

  // The cache holds it; flip it and the next start obeys without measuring (the timings stay the cached ones).
  const file = path.join(state, 'precision.json');
  const cached = JSON.parse(readFileSync(file, 'utf8')) as { decisions: Record<string, PrecisionDecision> };
  t.deepEqual(Object.values(cached.decisions), [d]);
  const other = d!.precision === 'int8' ? 'fp32' : 'int8';
  cached.decisions[d!.key] = { ...d!, precision: other, fp32Ms: 123 };
  writeFileSync(file, JSON.stringify(cached));
  const second = await setupClassifier(cfg, bundledModelDir, silentLogger);
  await second.classifier.dispose();
  t.is(second.classifier.spec.precision, other);
  t.is(second.precisionDecision?.fp32Ms, 123);

  // fp32 or int8 set explicitly: no measurement, no decision.
  const fixed = await setupClassifier(loadConfig({ skipDefaultFile: true, env: {}, overrides: { engine: 'onnxruntime', 'model.precision': 'fp32' } }), bundledModelDir, silentLogger);
  await fixed.classifier.dispose();
  t.is(fixed.precisionDecision, null);
  t.is(fixed.classifier.spec.precision, 'fp32');
});
