/**
 * Issue 33 item 6: `eval` on folders. A flat folder said "no rows with Usage=PublicTest", a missing path was a raw
 * ENOENT, a folder of whole photos was scored as face crops and reported as "PublicTest". Each wrong fit is now
 * refused with what the mode expects and what to run instead.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { evalInputProblem, type PathFacts } from '../../agent/evaluation/eval-input.js';

const run = promisify(execFile);
const LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
const facts = (f: Partial<PathFacts>): PathFacts => ({ exists: true, isDir: true, subdirs: [], topImages: 0, labelImages: 0, medianShortSide: null, ...f });

test('each mode accepts what it expects and names the fix for the rest', (t) => {
  t.is(evalInputProblem('data', 'x.csv', facts({ isDir: false }), LABELS, 48), null, 'a CSV for --data');
  t.is(evalInputProblem('data', 'crops', facts({ subdirs: ['happy', 'sad'], labelImages: 40, medianShortSide: 48 }), LABELS, 48), null);
  t.is(evalInputProblem('frames', 'frames', facts({ subdirs: ['happy'], labelImages: 3, medianShortSide: 480 }), LABELS, 48), null);
  t.regex(evalInputProblem('data', 'nope', facts({ exists: false }), LABELS, 48)!, /--data nope: no such file or folder/);
  t.regex(evalInputProblem('data', 'flat', facts({ topImages: 12 }), LABELS, 48)!, /flat folder of 12 images.*one subfolder per label \(angry, /);
  t.regex(evalInputProblem('data', 'photos', facts({ subdirs: ['happy'], labelImages: 5, medianShortSide: 512 }), LABELS, 48)!, /whole photos.*Use --frames photos.*--crops/);
  t.is(evalInputProblem('data', 'photos', facts({ subdirs: ['happy'], labelImages: 5, medianShortSide: 512 }), LABELS, 48, true), null, '--crops: as asked');
  t.regex(evalInputProblem('frames', 'a.csv', facts({ isDir: false }), LABELS, 48)!, /is a file; --frames needs a folder.*goes to --data/);
  t.regex(evalInputProblem('frames', 'd', facts({ subdirs: ['happy', 'joy'], labelImages: 2 }), LABELS, 48)!, /subfolder "joy" is not a model label/);
});

test('the command: a flat folder and a missing path are usage errors (exit 2) that say what --data expects', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-eval-in-'));
  const flat = path.join(dir, 'flat');
  mkdirSync(flat);
  copyFileSync(path.join(packageRoot, 'agent', 'assets', 'samples', 'astronaut.jpg'), path.join(flat, 'a.jpg'));
  const main = path.join(packageRoot, 'dist', 'agent', 'cli', 'main.js');
  for (const [arg, want] of [[flat, /is a flat folder of 1 image: .* subfolder per label/], [path.join(dir, 'missing'), /no such file or folder/]] as const) {
    const e = (await t.throwsAsync(run(process.execPath, [main, 'eval', '--data', arg, '--log-level', 'error']))) as { code?: number; stderr?: string };
    t.is(e.code, 2, e.stderr);
    t.regex(e.stderr ?? '', want);
  }
});
