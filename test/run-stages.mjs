#!/usr/bin/env node
// `npm test`: every stage runs, even after one fails, and each is reported; the exit code is non-zero if any failed.
// (Chained with &&, a failing ava stage hid that ruff, mypy and pytest never ran.) A stage that needs another's
// output says so: the TypeScript tests need the build, and are reported as not run when it failed.
// FER_TEST_STAGES (JSON [[name, command, needs?], ...]) replaces the stages: test/cli/run-stages.test.ts uses it.
import { spawnSync } from 'node:child_process';

const DEFAULT = [
  ['build', 'npm run build --silent'],
  ['depcheck', 'npm run depcheck --silent', 'build'],
  ['ava', 'npm run test:ts --silent', 'build'],
  // Ten agent processes and three brokers: alone, not beside the other test files on a 2-core box.
  ['fleet', 'npm run test:fleet --silent', 'build'],
  ['ruff', 'cd training && ruff check --config pyproject.toml . ../agent/assets'],
  ['mypy', 'cd training && mypy'],
  ['pytest', 'python3 -m pytest -q training/tests'],
];
const stages = process.env.FER_TEST_STAGES ? JSON.parse(process.env.FER_TEST_STAGES) : DEFAULT;
const results = new Map();
for (const [name, command, needs] of stages) {
  if (needs && results.get(needs) !== 'passed') {
    results.set(name, `not run (${needs} failed)`);
    continue;
  }
  process.stdout.write(`\n=== ${name}: ${command}\n`);
  const t0 = Date.now();
  const r = spawnSync(command, { shell: true, stdio: 'inherit' });
  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  results.set(name, r.status === 0 ? 'passed' : `FAILED (exit ${r.status ?? r.signal}) after ${secs} s`);
}
process.stdout.write('\n=== npm test: every stage\n');
for (const [name, result] of results) process.stdout.write(`  ${name}: ${result}\n`);
const failed = [...results.values()].filter((r) => r !== 'passed').length;
process.stdout.write(`stages: ${results.size - failed} passed, ${failed} failed\n`);
process.exitCode = failed ? 1 : 0;
