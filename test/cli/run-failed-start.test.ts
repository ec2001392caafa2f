/**
 * Issue 31 M1: a start that fails ends the process with the code systemd acts on. Home Assistant's websocket set but
 * no token is a configuration problem (78, EX_CONFIG: the unit's RestartPreventExitStatus); before, the embedded
 * broker and the health endpoint that had started kept the process up until systemd's start timeout.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { freePort } from '../helpers/mosquitto.js';

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string; timedOut: boolean }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FER_')));
  const proc = spawn(process.execPath, [path.join('dist', 'agent', 'cli', 'main.js'), 'run', ...args], { cwd: packageRoot, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      resolve({ code: null, stderr, timedOut: true });
    }, timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, timedOut: false });
    });
  });
}

test('a failed start (Home Assistant websocket without a token) stops what started and exits 78', async (t) => {
  const [broker, health] = [await freePort(), await freePort()];
  const r = await run(['--set', 'agent_id=failed-start', '--set', `mqtt.embedded_port=${broker}`, '--set', `health.port=${health}`, '--set', 'homeassistant.websocket_url=http://127.0.0.1:9', '--log-level', 'error'], 60_000);
  t.false(r.timedOut, `the process did not exit: ${r.stderr.slice(-1000)}`);
  t.is(r.code, 78, r.stderr.slice(-1000));
  t.regex(r.stderr, /homeassistant\.websocket_url is set but there is no token/);
});
