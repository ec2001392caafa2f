import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadConfig, maskedConfig, resolveCameras } from '../../agent/config/load.js';
import { FerError } from '../../agent/core/errors.js';
import { sampleFramesDir, bundledModelDir } from '../../agent/core/paths.js';

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'fer-config-'));

function rejects(t: import('ava').ExecutionContext, fn: () => unknown, ...parts: string[]): void {
  const err = t.throws(fn, { instanceOf: FerError });
  t.is(err?.reason, 'config_invalid');
  for (const p of parts) t.true(err!.message.includes(p), `message ${JSON.stringify(err!.message)} lacks ${JSON.stringify(p)}`);
}

test('defaults are the embedded demo: bundled frames, bundled model, embedded broker', (t) => {
  const cfg = loadConfig({ env: {} });
  t.is(cfg.model.path, bundledModelDir);
  t.is(cfg.cameras.length, 1);
  t.is(cfg.cameras[0]!.source.type, 'dir');
  t.is(cfg.cameras[0]!.source.path, sampleFramesDir);
  t.is(cfg.mqtt.url, 'embedded');
});

test('layers: file over defaults, env over file, overrides (flags) over env', (t) => {
  const f = path.join(tmp(), 'c.json');
  writeFileSync(f, JSON.stringify({ engine: 'tfjs-wasm', threads: 2, debounce: { min_duration_ms: 500 } }));
  const fromFile = loadConfig({ file: f, env: {} });
  t.is(fromFile.engine, 'tfjs-wasm');
  t.is(fromFile.debounce.min_duration_ms, 500);
  t.is(fromFile.debounce.cooldown_ms, 3000, 'keys the file does not name keep their defaults');
  const fromEnv = loadConfig({ file: f, env: { FER_ENGINE: 'onnxruntime' } });
  t.is(fromEnv.engine, 'onnxruntime');
  const fromFlags = loadConfig({ file: f, env: { FER_ENGINE: 'onnxruntime' }, overrides: { engine: 'auto' } });
  t.is(fromFlags.engine, 'auto');
});

test('an invalid value names the key, the value and what is allowed', (t) => {
  rejects(t, () => loadConfig({ env: {}, overrides: { 'debounce.min_confidence': 3 } }), 'debounce.min_confidence', '3', '[0, 1]');
  rejects(t, () => loadConfig({ env: { FER_ENGINE: 'gpu' } }), 'engine', 'gpu', 'onnxruntime');
  rejects(t, () => loadConfig({ env: {}, overrides: { 'no.such.key': 1 } }), 'no.such.key');
});

test('camera entries are checked key by key', (t) => {
  rejects(t, () => loadConfig({ env: {}, overrides: { cameras: [{ id: 'a', source: { type: 'webcam' } }] } }), 'cameras[0].source.type', 'webcam', 'ffmpeg');
  rejects(t, () => loadConfig({ env: {}, overrides: { cameras: [{ id: 'a b', source: { type: 'dir' } }] } }), 'cameras[0].id');
  rejects(t, () => loadConfig({ env: {}, overrides: { cameras: [{ id: 'a', source: { type: 'http-snapshot' } }] } }), 'cameras[0].source.url');
  rejects(t, () => loadConfig({ env: {}, overrides: { cameras: [{ id: 'a', source: { type: 'dir' } }, { id: 'a', source: { type: 'dir' } }] } }), 'used twice');
  rejects(t, () => loadConfig({ env: {}, overrides: { cameras: [{ id: 'a', source: { type: 'dir' }, fps: 0 }] } }), 'cameras[0].fps');
  rejects(t, () => loadConfig({ env: {}, overrides: { cameras: [{ id: 'a', source: { type: 'dir' }, debounce: { min_confidence: 2 } }] } }), 'cameras[0].debounce.min_confidence');
});

test('a config file that is not JSON is named with the parse error', (t) => {
  const f = path.join(tmp(), 'bad.json');
  writeFileSync(f, '{ "engine": ');
  rejects(t, () => loadConfig({ file: f, env: {} }), f, 'not valid JSON');
  rejects(t, () => loadConfig({ file: path.join(tmp(), 'missing.json'), env: {} }), 'missing.json', 'cannot be read');
});

test('per-camera overrides merge over the global settings', (t) => {
  const cfg = loadConfig({ env: {}, overrides: { cameras: [{ id: 'door', source: { type: 'dir' }, fps: 2, debounce: { cooldown_ms: 10 } }, { id: 'hall', source: { type: 'dir' } }] } });
  const [door, hall] = resolveCameras(cfg);
  t.is(door!.debounce.cooldown_ms, 10);
  t.is(door!.debounce.min_duration_ms, cfg.debounce.min_duration_ms);
  t.is(door!.fps, 2);
  t.is(hall!.debounce.cooldown_ms, cfg.debounce.cooldown_ms);
});

test('secrets come from *_file paths and are masked when shown', (t) => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'pw'), 's3cret\n');
  const cfg = loadConfig({ env: { FER_MQTT_PASSWORD_FILE: path.join(dir, 'pw') } });
  t.is(cfg.mqtt.password, 's3cret');
  t.is(maskedConfig(cfg).mqtt.password, '***');
  rejects(t, () => loadConfig({ env: { FER_MQTT_PASSWORD_FILE: path.join(dir, 'nope') } }), 'mqtt.password_file', 'nope');
});

test('systemd credentials are used when no password or token is configured', (t) => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'mqtt_password'), 'from-systemd\n');
  t.is(loadConfig({ env: { CREDENTIALS_DIRECTORY: dir } }).mqtt.password, 'from-systemd');
  t.is(loadConfig({ env: { CREDENTIALS_DIRECTORY: dir, FER_MQTT_PASSWORD: 'explicit' } }).mqtt.password, 'explicit');
  t.is(loadConfig({ env: { CREDENTIALS_DIRECTORY: dir } }).homeassistant.token, '', 'no ha_token file: no token');
});

test('switches read 0/1, yes/no, on/off from the environment and refuse anything else', (t) => {
  // convict's Boolean reads every string but "false" as true, so FER_STDOUT=0 used to switch stdout on.
  t.false(loadConfig({ skipDefaultFile: true, env: { FER_STDOUT: '0' } }).sinks.stdout.enabled);
  t.false(loadConfig({ skipDefaultFile: true, env: { FER_STDOUT: 'off' } }).sinks.stdout.enabled);
  t.true(loadConfig({ skipDefaultFile: true, env: { FER_STDOUT: 'Yes' } }).sinks.stdout.enabled);
  const err = t.throws(() => loadConfig({ skipDefaultFile: true, env: { FER_STDOUT: 'nope' } }), { instanceOf: FerError });
  t.regex(err.message, /sinks\.stdout\.enabled.*true or false/);
});
