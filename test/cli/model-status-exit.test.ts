/**
 * Issue 31 (Low): `fer-agent model status` answered, then stayed alive for 10 s on a barrier timer nobody cleared.
 * The command must exit as soon as it has answered: well within those 10 s.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';

test('model status exits once it has answered, not 10 s later', async (t) => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FER_')));
  const proc = spawn(process.execPath, [path.join('dist', 'agent', 'cli', 'main.js'), 'model', 'status', '--mqtt-url', broker.url, '--base-topic', 'exit-test'], { cwd: packageRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let answeredAt = 0;
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    answeredAt ||= Date.now();
  });
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = await new Promise<{ code: number | null; at: number } | null>((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      resolve(null);
    }, 30_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, at: Date.now() });
    });
  });
  t.truthy(exited, `model status did not exit within 30 s: ${out}`);
  t.true(answeredAt > 0, `model status printed nothing: ${out}`);
  // The barrier's timer was 10 s; anything near it means the process waited on it after answering.
  t.true(exited!.at - answeredAt < 8000, `exited ${exited!.at - answeredAt} ms after answering`);
});
