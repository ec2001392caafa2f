/**
 * Credentials inside URLs never come out: a camera URL and a broker URL with passwords (one containing "@"), given
 * through a config file, the environment and flags, are masked in `fer-agent config` and in every log line of a run
 * at trace level (the camera and the broker both fail, so their URLs reach error logs too).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { redactUrl } from '../../agent/sources/redact.js';

const run = promisify(execFile);
const cli = path.join(packageRoot, 'dist/agent/cli/main.js');
const SECRETS = ['p@ss', 'ss@127', 'cam-secret', 'broker-secret', 'env-secret', 'ha-token-value', 'admin:', 'fer:'];

function setup(): { file: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-secrets-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({
    cameras: [
      { id: 'door', source: { type: 'ffmpeg', url: 'rtsp://admin:p@ss@127.0.0.1:9/stream' }, fps: 2 },
      { id: 'yard', source: { type: 'http-snapshot', url: 'http://viewer:cam-secret@127.0.0.1:9/snap.jpg' }, fps: 2 },
    ],
    homeassistant: { websocket_url: 'ws://ha:env-secret@127.0.0.1:9/api/websocket' },
  }));
  return { file, env: { ...process.env, FER_LOG_LEVEL: 'trace', FER_HA_TOKEN: 'ha-token-value' } };
}

test('redactUrl hides the whole userinfo, "@" in the password included', (t) => {
  t.is(redactUrl('rtsp://admin:p@ss@host/x'), 'rtsp://***@host/x');
  t.is(redactUrl('see mqtt://u:pw@h:1883 and http://h/no-creds'), 'see mqtt://***@h:1883 and http://h/no-creds');
  t.is(redactUrl('{"url":"rtsp://a:b@c/d"}'), '{"url":"rtsp://***@c/d"}');
});

test('fer-agent config masks every URL credential from file, env and flags', async (t) => {
  const { file, env } = setup();
  const { stdout } = await run('node', [cli, 'config', '--config', file, '--mqtt-url', 'mqtt://fer:broker-secret@127.0.0.1:1'], { env });
  for (const s of SECRETS) t.false(stdout.includes(s), `config output contains ${s}`);
  t.true(stdout.includes('rtsp://***@127.0.0.1:9/stream'));
  t.true(stdout.includes('mqtt://***@127.0.0.1:1'));
});

test('a run at trace level logs no URL credential', async (t) => {
  t.timeout(60_000);
  const { file, env } = setup();
  const child = spawn('node', [cli, 'run', '--config', file, '--mqtt-url', 'mqtt://fer:broker-secret@127.0.0.1:1', '--log-level', 'trace'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Wait until both the broker and a camera have failed at least once (their URLs are then in the logs), then stop.
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline && !(/127\.0\.0\.1:1/.test(stderr) && /127\.0\.0\.1:9/.test(stderr))) await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  t.regex(stderr, /mqtt:\/\/\*\*\*@127\.0\.0\.1:1/, 'the broker URL is logged, masked');
  t.regex(stderr, /\*\*\*@127\.0\.0\.1:9/, 'a camera URL is logged, masked');
  for (const s of SECRETS) t.false(stderr.includes(s), `logs contain ${s}`);
});
