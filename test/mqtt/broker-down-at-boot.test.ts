/**
 * Issue 31 H2: a Pi that boots before its broker (a power cut, the Home Assistant box slower to come up) must
 * process frames at once and join the broker when it appears. With model updates on (`model.state_dir`), start-up
 * used to wait for the update link's first subscribe, which mqtt.js rejects when the first connect fails: the agent
 * then ran without ever processing a frame.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { Watcher } from './support.js';
import { bundledModelName } from '../helpers/bundled-model.js';

test('broker down at boot with model updates on: frames flow at once, and the agent joins the broker when it comes', async (t) => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  const broker = await startMosquitto();
  await broker.stopBroker(); // its port stays reserved for it; nothing listens yet
  const state = mkdtempSync(path.join(os.tmpdir(), 'fer-boot-'));
  const agentId = 'boot-h2';
  const proc = spawn(process.execPath, [path.join('dist', 'agent', 'cli', 'main.js'), 'run', '--mqtt-url', broker.url, '--set', `agent_id=${agentId}`, '--set', `model.state_dir=${state}`, '--log-level', 'warn'], {
    cwd: packageRoot,
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FER_'))),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let w: Watcher | undefined;
  try {
    // The stdout sink needs no broker: a debounced event there proves frames are processed while it is down.
    await waitFor('an event on stdout while the broker is down', () => /"event_type":"happy"/.test(stdout), 60_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; stdout: ${stdout.slice(-500)}; stderr: ${stderr.slice(-1500)}`);
    });
    t.is(proc.exitCode, null, 'the agent is still running');
    await broker.start();
    w = await Watcher.open(broker.url, [`fer/${agentId}/#`]);
    const status = await w.waitFor((s) => s.topic === `fer/${agentId}/model/status`, 30_000);
    t.true(status.payload.includes(`"active":{"name":"${bundledModelName}"`), 'the update feature subscribed and published its status once connected');
    await w.waitFor((s) => s.topic === `fer/${agentId}/demo/event`, 60_000);
    t.notRegex(stderr, /Connection closed/);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((resolve) => (proc.exitCode !== null ? resolve(undefined) : proc.once('exit', resolve)));
    await w?.close();
    await broker.stop();
    rmSync(state, { recursive: true, force: true });
  }
});
