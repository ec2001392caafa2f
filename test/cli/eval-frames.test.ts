/**
 * `fer-agent eval --frames` on a small frame set with known answers: the public-domain astronaut portrait (a
 * smiling face the shipped model calls happy), the same photo with a true box where there is no face, and an
 * empty generated scene. Runs the real CLI: decode, CenterFace, crop, the shipped classifier.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { int8ScoreThreshold } from '../../agent/vision/centerface-int8-scores.js';

const run = promisify(execFile);
const cli = path.join(packageRoot, 'dist/agent/cli/main.js');
const astronaut = path.join(packageRoot, 'agent/assets/samples/astronaut.jpg');

async function frameSet(): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-frames-'));
  for (const l of ['happy', 'sad']) mkdirSync(path.join(dir, l));
  copyFileSync(astronaut, path.join(dir, 'happy', 'a_b180-56-93-122.jpg'));
  copyFileSync(astronaut, path.join(dir, 'happy', 'b_b0-400-60-60.jpg')); // the true face is said to be where none is
  const w = 320;
  const h = 240;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) px.fill(40 + ((i % w) * 150) / w, i * 3, i * 3 + 3);
  await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg().toFile(path.join(dir, 'sad', 'empty.jpg'));
  return dir;
}

test('eval --frames: found, missed and misplaced faces, per-class recall, box alignment, one JSON line', async (t) => {
  t.timeout(120_000);
  const dir = await frameSet();
  const { stdout } = await run('node', [cli, 'eval', '--frames', dir, '--log-level', 'error']);
  const lines = stdout.trim().split('\n');
  const j = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown> & { per_class: Array<Record<string, unknown>>; box_vs_truth: Record<string, number> };
  t.is(j.mode, 'frames');
  t.is(typeof j.flip_tta, 'boolean', 'the JSON line says whether flip TTA ran');
  t.is(j.frames, 3);
  t.is(j.found, 1);
  t.is(j.accuracy_found, 1);
  t.is(j.accuracy, 1 / 3);
  t.deepEqual(j.per_class.find((c) => c.label === 'happy'), { label: 'happy', frames: 2, found: 1, recall: 0.5 });
  t.deepEqual(j.per_class.find((c) => c.label === 'sad'), { label: 'sad', frames: 1, found: 0, recall: 0 });
  t.is(j.box_vs_truth.n, 1);
  t.true(Math.abs(j.box_vs_truth.dx) < 0.1 && Math.abs(j.box_vs_truth.width - 1) < 0.15);
  t.regex(lines[1]!, /frames 3, faces found 1 \(33\.33%\), accuracy among found 100\.00%, overall 33\.33%/);
});

test('eval --frames reports the threshold the detector applies: the int8 CenterFace maps the configured one', async (t) => {
  t.timeout(180_000);
  const dir = await frameSet();
  const result = async (precision: string): Promise<{ head: string; detection: Record<string, unknown> }> => {
    const { stdout } = await run('node', [cli, 'eval', '--frames', dir, '--log-level', 'error', '--set', `detection.precision=${precision}`, '--set', 'detection.score_threshold=0.4', '--set', 'detection.input_width=320', '--set', 'detection.input_height=256']);
    const lines = stdout.trim().split('\n');
    return { head: lines[0]!, detection: (JSON.parse(lines[lines.length - 1]!) as { detection: Record<string, unknown> }).detection };
  };
  const int8 = await result('int8');
  t.is(int8.detection.score_threshold, 0.4);
  t.is(int8.detection.applied_score_threshold, int8ScoreThreshold(0.4, 320, 256));
  t.true(int8ScoreThreshold(0.4, 320, 256) < 0.4);
  t.true(int8.head.includes(`score >= 0.4 (${int8ScoreThreshold(0.4, 320, 256).toFixed(3)} on the int8 model's scale)`), int8.head);
  const fp32 = await result('fp32');
  t.is(fp32.detection.applied_score_threshold, 0.4);
  t.regex(fp32.head, /score >= 0\.4, min face/);
});

test('eval --frames refuses a folder that is not a label, and a folder without frames', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-frames-bad-'));
  mkdirSync(path.join(dir, 'hapy'));
  const e1 = await t.throwsAsync(run('node', [cli, 'eval', '--frames', dir, '--log-level', 'error']));
  t.regex(String((e1 as { stderr?: string }).stderr), /subfolder "hapy" is not a model label \(did you mean happy\?\)/);
  const empty = mkdtempSync(path.join(os.tmpdir(), 'fer-frames-empty-'));
  mkdirSync(path.join(empty, 'happy'));
  const e2 = await t.throwsAsync(run('node', [cli, 'eval', '--frames', empty, '--log-level', 'error']));
  t.regex(String((e2 as { stderr?: string }).stderr), /no images in one subfolder per label/);
  const e3 = await t.throwsAsync(run('node', [cli, 'eval', '--frames', empty, '--data', 'x.csv']));
  t.is((e3 as { code?: number }).code, 2, 'either --data or --frames, not both');
});
