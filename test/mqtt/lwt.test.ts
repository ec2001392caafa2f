/** Last Will: when the agent process dies without a goodbye, the broker marks it offline (retained). */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';
import { Watcher } from './support.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'agent-child.js');

test('killing the agent process publishes the Last Will: availability offline, retained', async (t) => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  const broker = await startMosquitto();
  const w = await Watcher.open(broker.url, ['fer/lwt-agent/availability']);
  const proc = spawn(process.execPath, [child], { env: { ...process.env, FER_TEST_BROKER: broker.url, FER_TEST_AGENT: 'lwt-agent' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child agent not ready: ${stderr}`)), 15_000);
      proc.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => reject(new Error(`child agent exited (${code}): ${stderr}`)));
    });
    await w.waitFor((s) => s.payload === 'online');
    const from = w.seen.length;
    proc.kill('SIGKILL');
    const off = await w.waitFor((s) => s.payload === 'offline', 10_000, from);
    t.is(off.topic, 'fer/lwt-agent/availability');
    // Retained: a newcomer sees offline too.
    const late = await Watcher.open(broker.url, ['fer/lwt-agent/availability']);
    const s = await late.waitFor(() => true);
    t.is(s.payload, 'offline');
    t.true(s.retain);
    await late.close();
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await w.close();
    await broker.stop();
  }
});
