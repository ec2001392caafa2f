/**
 * Issue 31 (Low): the broker password given in --mqtt-url was printed in clear by `model status | rollback | push`,
 * `ha remove` and `doctor` (the running agent masks it). Each is run against a closed port, so each reports the
 * broker: none may print the password.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { bundledModelDir, packageRoot } from '../../agent/core/paths.js';
import { freePort } from '../helpers/mosquitto.js';

const PASSWORD = 'n0t-f0r-y0ur-eyes';

function cli(args: string[]): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FER_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join('dist', 'agent', 'cli', 'main.js'), ...args], { cwd: packageRoot, env, timeout: 60_000 }, (_err, stdout, stderr) => resolve(stdout + stderr));
  });
}

test('CLI commands never print the broker password from --mqtt-url', async (t) => {
  const url = `mqtt://fer:${PASSWORD}@127.0.0.1:${await freePort()}`;
  const runs = [
    ['model', 'status', '--mqtt-url', url],
    ['model', 'rollback', '--to', 'all', '--mqtt-url', url],
    ['model', 'push', bundledModelDir, '--to', 'all', '--mqtt-url', url],
    ['ha', 'remove', '--mqtt-url', url],
    ['doctor', '--mqtt-url', url, '--timeout', '2000'],
  ];
  for (const args of runs) {
    const out = await cli(args);
    t.false(out.includes(PASSWORD), `${args.slice(0, 2).join(' ')} printed the password: ${out.slice(-600)}`);
    t.regex(out, /mqtt:\/\/\*\*\*@127\.0\.0\.1|127\.0\.0\.1/, `${args.slice(0, 2).join(' ')} says which broker: ${out.slice(-600)}`);
  }
});
