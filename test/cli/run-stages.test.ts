/**
 * Issue 33 item 2: `npm test` runs every stage and reports each; a failing stage does not hide the ones after it,
 * a stage that needs a failed one is reported as not run, and the exit code says whether all passed.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';

function run(stages: string[][]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [path.join('test', 'run-stages.mjs')], { cwd: packageRoot, env: { ...process.env, FER_TEST_STAGES: JSON.stringify(stages) }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

test('every stage runs after a failure, each is reported, dependants are not run, and the exit code is 1', (t) => {
  const r = run([
    ['build', 'exit 3'],
    ['ava', 'echo AVA-RAN', 'build'],
    ['ruff', 'echo RUFF-RAN'],
    ['pytest', 'echo PYTEST-RAN'],
  ]);
  t.is(r.code, 1);
  t.notRegex(r.out, /AVA-RAN/);
  t.regex(r.out, /RUFF-RAN/);
  t.regex(r.out, /PYTEST-RAN/);
  t.regex(r.out, /build: FAILED \(exit 3\)/);
  t.regex(r.out, /ava: not run \(build failed\)/);
  t.regex(r.out, /ruff: passed\n {2}pytest: passed\n/);
  t.regex(r.out, /stages: 2 passed, 2 failed\n$/);
});

test('all stages passing: exit 0', (t) => {
  const r = run([['a', 'true'], ['b', 'true', 'a']]);
  t.is(r.code, 0);
  t.regex(r.out, /stages: 2 passed, 0 failed\n$/);
});
