/**
 * `fer-agent eval` against what the training side reported for the same bundle (manifest training.metrics), on
 * PublicTest of ../shared/datasets/fer2013 when it is there, on both engines (issue 10: within 0.5 points).
 * The format and failure paths run everywhere on a small generated CSV.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { bundledModelDir, packageRoot } from '../../agent/core/paths.js';

const run = promisify(execFile);
const cli = path.join(packageRoot, 'dist/agent/cli/main.js');
const dataset = path.resolve(packageRoot, '..', 'shared', 'datasets', 'fer2013', 'fer2013.csv.gz');

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

test('eval reads plain and gzipped CSV, reports malformed rows, and ends with one JSON line', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-eval-'));
  const rows = ['emotion,pixels,Usage'];
  for (let i = 0; i < 20; i++) rows.push(`${i % 7},${Array.from({ length: 2304 }, (_, j) => (j * (i + 3)) % 256).join(' ')},PublicTest`);
  rows.push('3,1 2 3,PublicTest'); // too few pixels
  rows.push(`x,${Array.from({ length: 2304 }, () => 0).join(' ')},PublicTest`); // bad label
  rows.push(`2,${Array.from({ length: 2304 }, () => 9).join(' ')},Training`); // other usage
  const csv = path.join(dir, 'small.csv');
  writeFileSync(csv, rows.join('\n') + '\n');
  writeFileSync(csv + '.gz', gzipSync(readFileSync(csv)));
  for (const file of [csv, csv + '.gz']) {
    const { stdout } = await run('node', [cli, 'eval', '--data', file, '--log-level', 'error']);
    const j = lastJson(stdout);
    t.is(j.n, 20);
    t.is(j.skipped, 2);
    t.is(j.engine, 'onnxruntime');
    t.true(typeof j.accuracy === 'number' && j.accuracy >= 0 && j.accuracy <= 1);
  }
  const err = await t.throwsAsync(run('node', [cli, 'eval', '--data', csv, '--usage', 'PrivateTest', '--log-level', 'error']));
  t.regex(String((err as { stderr?: string }).stderr), /no rows with Usage=PrivateTest/);
});

const metrics = (JSON.parse(readFileSync(path.join(bundledModelDir, 'manifest.json'), 'utf8')) as { training?: { metrics?: Record<string, number> } }).training?.metrics ?? {};

// The agent's flip TTA (model.flip_tta) mirrors the preprocessed crop, as the training report's flip TTA mirrors the
// image: the two must agree as closely as the plain figures do.
// Each case pins the form (precision, flip TTA) whose figure it compares: what `auto` picks differs by CPU class.
const cases = [
  { engine: 'onnxruntime', flags: ['--set', 'model.precision=int8'], flip: false, metric: 'public_test_accuracy_int8', precision: 'int8' },
  { engine: 'onnxruntime', flags: ['--set', 'model.precision=fp32'], flip: false, metric: 'public_test_accuracy', precision: 'fp32' },
  { engine: 'tfjs-wasm', flags: [], flip: false, metric: 'public_test_accuracy', precision: 'fp32' },
  { engine: 'onnxruntime', flags: ['--set', 'model.precision=fp32'], flip: true, metric: 'public_test_accuracy_flip_tta', precision: 'fp32' },
  { engine: 'onnxruntime', flags: ['--set', 'model.precision=int8'], flip: true, metric: 'public_test_accuracy_int8_flip_tta', precision: 'int8' },
];

for (const { engine, flags: extra, flip, metric, precision } of cases) {
  const reported = metrics[metric];
  const name = `eval of the bundled model on PublicTest matches the training report within 0.5 points (${engine} ${precision}${flip ? ', flip TTA' : ''})`;
  if (!existsSync(dataset) || reported === undefined) {
    const why = existsSync(dataset) ? `the bundled manifest has no training.metrics.${metric}` : `${dataset} is absent`;
    if (process.env.CI) {
      // CI always has ../shared beside the clone and a bundle with its report: a skip there would hide a regression.
      test(name, (t) => t.fail(`cannot compare: ${why}`));
    } else {
      test.skip(`${name} (skipped: ${why})`, () => undefined);
    }
    continue;
  }
  test(name, async (t) => {
    t.timeout(240_000);
    // flip_tta is pinned both ways: its default (auto) turns it on where it gains on Validation and is cheap enough.
    const flags = [...extra, '--set', `model.flip_tta=${flip}`];
    const { stdout } = await run('node', [cli, 'eval', '--data', dataset, '--usage', 'PublicTest', '--engine', engine, ...flags, '--log-level', 'error'], { maxBuffer: 1 << 24 });
    const j = lastJson(stdout);
    t.is(j.engine, engine);
    t.is(j.precision, precision);
    t.is(j.flip_tta, flip, 'the JSON line says which form ran');
    t.true((j.n as number) > 3000);
    t.true(Math.abs((j.accuracy as number) - reported) <= 0.005, `agent ${j.accuracy} vs training ${reported}`);
  });
}
