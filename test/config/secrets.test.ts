/**
 * Credentials inside URLs never come out: a camera URL and a broker URL with passwords (one containing "@"), given
 * through a config file, the environment and flags, are masked in `fer-agent config` and in every log line of a run
 * at trace level (the camera and the broker both fail, so their URLs reach error logs too).
 * And secrets given every way (config file, environment, flags, systemd credentials) to agents that do connect to a
 * real Mosquitto appear nowhere: not in their logs at trace level, not on any MQTT topic (discovery included), not
 * in /metrics, /healthz or the live view's /config.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { redactUrl } from '../../agent/core/redact.js';
import mqtt from 'mqtt';
import { freePort, startMosquitto } from '../helpers/mosquitto.js';

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

const BROKER_PW = 'broker-pw-7';
const LIVE_SECRETS = [BROKER_PW, 'p@ss', 'ss@127', 'ws-secret', 'ha-token-value', 'web-token-secret', 'admin:'];

async function text(url: string): Promise<string> {
  const r = await fetch(url);
  return `${r.status} ${await r.text()}`;
}

test('secrets given every way appear in no log, MQTT topic, metric or page of running agents', async (t) => {
  t.timeout(180_000);
  const broker = await startMosquitto({ passwords: { fer: BROKER_PW } });
  const seen: string[] = [];
  const watcher = await mqtt.connectAsync(broker.url, { username: 'fer', password: BROKER_PW, reconnectPeriod: 0 });
  watcher.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString()}`));
  await watcher.subscribeAsync('#', { qos: 1 });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-live-secrets-'));
  const creds = path.join(dir, 'credentials');
  mkdirSync(creds);
  writeFileSync(path.join(creds, 'mqtt_password'), BROKER_PW + '\n');
  const plainUrl = broker.url;
  const userUrl = broker.url.replace('mqtt://', `mqtt://fer:${BROKER_PW}@`);
  // One agent per way the broker password arrives; every agent also gets a camera URL with a password, a Home
  // Assistant URL and token, and a live-view token.
  const ways: Array<{ id: string; mqtt: Record<string, unknown>; env: NodeJS.ProcessEnv; flags: string[] }> = [
    { id: 'via-file', mqtt: { url: plainUrl, username: 'fer', password: BROKER_PW }, env: {}, flags: [] },
    { id: 'via-env', mqtt: { url: plainUrl, username: 'fer' }, env: { FER_MQTT_PASSWORD: BROKER_PW }, flags: [] },
    { id: 'via-flag', mqtt: {}, env: {}, flags: ['--mqtt-url', userUrl] },
    { id: 'via-creds', mqtt: { url: plainUrl, username: 'fer' }, env: { CREDENTIALS_DIRECTORY: creds }, flags: [] },
  ];
  const agents = await Promise.all(ways.map(async (w) => {
    const health = await freePort();
    const web = await freePort();
    const file = path.join(dir, `${w.id}.json`);
    writeFileSync(file, JSON.stringify({
      agent_id: w.id,
      cameras: [
        { id: 'hall', source: { type: 'dir', path: '', loop: true }, fps: 4 },
        { id: 'door', source: { type: 'ffmpeg', url: 'rtsp://admin:p@ss@127.0.0.1:9/stream' }, fps: 2 },
      ],
      mqtt: w.mqtt,
      homeassistant: { websocket_url: 'ws://ha:ws-secret@127.0.0.1:9/api/websocket' },
      health: { port: health },
      web: { enabled: true, port: web, token: 'web-token-secret' },
      threads: 1,
    }));
    const env = { ...process.env, FER_HA_TOKEN: 'ha-token-value', ...w.env };
    const child = spawn('node', [cli, 'run', '--config', file, '--log-level', 'trace', ...w.flags], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    return { ...w, child, health, web, log: () => out };
  }));
  try {
    // Every agent online, its discovery published and a state of its working camera out: then collect the pages.
    const deadline = Date.now() + 120_000;
    const ready = (id: string): boolean => seen.some((m) => m === `fer/${id}/availability online`)
      && seen.some((m) => m.startsWith('homeassistant/') && m.includes(id)) && seen.some((m) => m.startsWith(`fer/${id}/hall/state `));
    while (Date.now() < deadline && !agents.every((a) => ready(a.id))) await new Promise((r) => setTimeout(r, 250));
    for (const a of agents) t.true(ready(a.id), `${a.id} connected with its password and published: ${a.log().slice(-1500)}`);
    const pages: string[] = [];
    for (const a of agents) {
      pages.push(await text(`http://127.0.0.1:${a.health}/metrics`), await text(`http://127.0.0.1:${a.health}/healthz`));
      const config = await text(`http://127.0.0.1:${a.web}/config?token=web-token-secret`);
      t.regex(config, /^200 /, 'the live view served /config');
      t.regex(config, /rtsp:\/\/\*\*\*@127\.0\.0\.1:9\/stream/, 'with the camera URL masked');
      pages.push(config);
    }
    t.true(pages.some((p) => p.includes('fer_frames')), 'metrics were read');
    // A broker round trip as a barrier: whatever the agents published before it has reached the watcher.
    await watcher.publishAsync('barrier/secrets', 'x', { qos: 1 });
    const barrierDeadline = Date.now() + 10_000;
    while (Date.now() < barrierDeadline && !seen.includes('barrier/secrets x')) await new Promise((r) => setTimeout(r, 50));
    t.true(seen.some((m) => m.startsWith('homeassistant/')), 'discovery was seen');
    for (const secret of LIVE_SECRETS) {
      for (const m of seen) t.false(m.includes(secret), `MQTT message contains ${secret}: ${m.slice(0, 200)}`);
      for (const p of pages) t.false(p.includes(secret), `a page contains ${secret}`);
    }
  } finally {
    for (const a of agents) a.child.kill('SIGTERM');
    await Promise.all(agents.map((a) => new Promise((r) => (a.child.exitCode !== null ? r(null) : a.child.once('exit', r)))));
    await watcher.endAsync();
    await broker.stop();
  }
  for (const a of agents) {
    for (const secret of LIVE_SECRETS) t.false(a.log().includes(secret), `${a.id}'s logs contain ${secret}`);
  }
});
