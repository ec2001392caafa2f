/**
 * Where onnxruntime-node cannot load, `engine: auto` falls back to tfjs-wasm and the agent still runs end to end:
 * the real CLI, with onnxruntime made unresolvable by a loader hook (test/engines/fixtures/no-onnxruntime.mjs).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';

const run = promisify(execFile);
const cli = path.join(packageRoot, 'dist/agent/cli/main.js');
const hide = path.join(packageRoot, 'test/engines/fixtures/no-onnxruntime.mjs');

test('without onnxruntime-node, --help works and run gives events on tfjs-wasm', async (t) => {
  t.timeout(180_000);
  const help = await run('node', ['--import', hide, cli, 'run', '--help']);
  t.regex(help.stdout, /usage/i);
  const { stdout, stderr } = await run('node', [
    '--import', hide, cli, 'run', '--mqtt-url', '', '--log-level', 'info',
    '--set', 'cameras=[{"id":"demo","source":{"type":"dir","loop":false},"fps":10}]',
    '--set', 'debounce.min_duration_ms=300',
  ], { timeout: 170_000, maxBuffer: 1 << 24 });
  t.regex(stderr, /"engine":"onnxruntime".*engine not used|engine not used.*"engine":"onnxruntime"/);
  t.regex(stderr, /"engine":"tfjs-wasm"[^\n]*classifier loaded|classifier loaded[^\n]*"engine":"tfjs-wasm"/);
  const events = stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event_type: string });
  t.true(events.some((e) => e.event_type !== 'face_lost'), stdout);
});
