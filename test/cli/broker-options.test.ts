/**
 * Issue 31 ("defined once"): the operator's commands build their MQTT client options with the agent's own
 * mqtt/connection.ts, so they get the same checks and the same explanations: a refused login says which settings
 * to look at (it was mqtt.js's bare "Not authorized"), and TLS files on a plain mqtt:// URL are refused by name.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';

const run = promisify(execFile);
const main = path.join(packageRoot, 'dist', 'agent', 'cli', 'main.js');
type Failed = { code?: number; stderr?: string };

test('a refused login names the settings to check, without the password; TLS files on mqtt:// are refused', async (t) => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients');
  const broker = await startMosquitto({ passwords: { fer: 'right-password' } });
  t.teardown(() => broker.stop());
  const url = `mqtt://fer:wrong-password@127.0.0.1:${broker.port}`;
  const e = (await t.throwsAsync(run(process.execPath, [main, 'fleet', 'status', '--mqtt-url', url]))) as Failed;
  t.regex(e.stderr ?? '', /refused the login .*check mqtt\.username and mqtt\.password/);
  t.false((e.stderr ?? '').includes('wrong-password'), e.stderr);
  const tls = (await t.throwsAsync(run(process.execPath, [main, 'model', 'status', '--mqtt-url', broker.url, '--ca-file', '/etc/hostname']))) as Failed;
  t.regex(tls.stderr ?? '', /is not TLS; use mqtts:\/\//);
});

test('release: a --timeout-s that is not a positive number is refused before anything is published', async (t) => {
  const e = (await t.throwsAsync(run(process.execPath, [main, 'model', 'release', path.join(packageRoot, 'agent', 'assets', 'models', 'fer-default'), '--to', 'all', '--unsigned', '--wait', '--timeout-s', 'abc', '--mqtt-url', 'mqtt://127.0.0.1:1']))) as Failed;
  t.is(e.code, 78);
  t.regex(e.stderr ?? '', /--timeout-s = "abc" is invalid: expected a positive number/);
});
