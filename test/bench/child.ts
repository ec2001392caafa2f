/**
 * Each benchmark part runs in its own Node process, so its peak RSS and CPU time are its own and one part's
 * memory or tfjs state cannot colour the next. Options go in as JSON on argv; the result comes back over IPC.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Runs `module` (a compiled .js beside this file) with `options`; resolves with what it sent. */
export function runChild<O, R>(moduleUrl: URL | string, options: O, timeoutMs = 15 * 60_000): Promise<R> {
  const file = moduleUrl instanceof URL ? fileURLToPath(moduleUrl) : moduleUrl;
  return new Promise<R>((resolve, reject) => {
    const child = fork(file, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, FER_LOG_LEVEL: process.env.FER_LOG_LEVEL ?? 'warn' } });
    let result: { ok: true; value: R } | { ok: false; error: string } | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (m) => (result = m as typeof result));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result?.ok) resolve(result.value);
      else reject(new Error(`${file} failed (exit ${code ?? signal}): ${result && !result.ok ? result.error : 'no result'}`));
    });
  });
}

/** The child side: when this module is the process's entry, run `main` with the options from argv and send back. */
export function childMain<O, R>(moduleUrl: string, main: (options: O) => Promise<R>): void {
  if (process.argv[1] !== fileURLToPath(moduleUrl) || !process.send) return;
  const options = JSON.parse(process.argv[2] ?? '{}') as O;
  main(options).then(
    (value) => process.send!({ ok: true, value }, () => process.exit(0)),
    (err: unknown) => {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.send!({ ok: false, error }, () => process.exit(1));
    },
  );
}
