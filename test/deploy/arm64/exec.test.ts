/** exec, which runs every emulated check: a run stopped at its time bound says so, so it is not read as the program failing. */
import test from 'ava';
import { exec } from './arm64-runtime.js';

test('a run killed at its bound says it was, with the bound', async (t) => {
  const r = await exec(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { cwd: process.cwd(), timeoutMs: 300 });
  t.not(r.code, 0);
  t.regex(r.stderr, /killed \(SIGTERM\) at its 0\.3 s bound/);
});

test('a run that fails on its own is not reported as killed', async (t) => {
  const r = await exec(process.execPath, ['-e', 'process.exit(3)'], { cwd: process.cwd(), timeoutMs: 60_000 });
  t.is(r.code, 3);
  t.notRegex(r.stderr, /killed/);
});
