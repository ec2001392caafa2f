/**
 * Issue 31: onnxruntime-node (1.2x and later, Linux) keeps telemetry: a persistent device id and a SQLite queue of
 * events (OS, runtime, sessions) under ~/.cache/Microsoft/DeveloperTools/.onnxruntime/, uploaded over HTTPS where it
 * can. The agent promises that nothing leaves the device, so it turns that off (ORT_DISABLE_TELEMETRY, set before the
 * native library loads); this checks that a real run of CenterFace and the classifier writes nothing there.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';

const run = promisify(execFile);

test('classifying with onnxruntime (CenterFace + classifier) writes no telemetry into the home folder', async (t) => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'fer-home-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.XDG_CACHE_HOME;
  delete env.ORT_DISABLE_TELEMETRY;
  const frame = path.join(packageRoot, 'agent', 'assets', 'samples', 'astronaut.jpg');
  const { stdout } = await run(process.execPath, [path.join(packageRoot, 'dist/agent/cli/main.js'), 'classify', frame, '--engine', 'onnxruntime'], { env, timeout: 120_000 });
  t.regex(stdout, /"emotion":"happy"/, 'the run classified the face');
  t.false(existsSync(path.join(home, '.cache', 'Microsoft')), `onnxruntime wrote ${path.join(home, '.cache', 'Microsoft')}`);
});
