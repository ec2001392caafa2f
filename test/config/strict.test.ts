/**
 * Config errors a person can act on, caught at load time and naming the key: wrong types from files and flags,
 * out-of-range numbers (the same limits globally and per camera), typos with a suggestion, JSON syntax errors with
 * line and column, a cameras object instead of a list, camera ids that collide in Home Assistant.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadConfig } from '../../agent/config/load.js';
import { FerError } from '../../agent/core/errors.js';

function file(content: unknown): string {
  const f = path.join(mkdtempSync(path.join(os.tmpdir(), 'fer-cfg-')), 'c.json');
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return f;
}

function fails(t: import('ava').ExecutionContext, load: () => unknown, re: RegExp): void {
  const err = t.throws(load, { instanceOf: FerError });
  t.is(err?.reason, 'config_invalid');
  t.regex(err!.message, re);
}

const cam = (extra: object = {}) => ({ id: 'door', source: { type: 'dir' }, ...extra });

test('a string where a number or a switch belongs is an error naming the key (file and --set)', (t) => {
  fails(t, () => loadConfig({ env: {}, file: file({ debounce: { min_duration_ms: '1s' } }) }), /debounce\.min_duration_ms = "1s" is invalid: expected a number/);
  fails(t, () => loadConfig({ env: {}, file: file({ threads: '2' }) }), /threads = "2" is invalid: expected a number/);
  fails(t, () => loadConfig({ env: {}, file: file({ sinks: { stdout: { enabled: 'yes' } } }) }), /sinks\.stdout\.enabled = "yes" is invalid: expected true or false/);
  fails(t, () => loadConfig({ env: {}, overrides: { 'debounce.cooldown_ms': '3s' } }), /debounce\.cooldown_ms = "3s" is invalid: expected a number/);
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: [cam({ fps: '5' })] }) }), /cameras\[0\]\.fps = "5"/);
  // The environment is text by nature: a number there is still read as one.
  t.is(loadConfig({ env: { FER_THREADS: '2' } }).threads, 2);
});

test('numbers out of range are refused at load, with the same limits globally and per camera', (t) => {
  for (const [key, v] of [['detection.input_width', 100000], ['detection.input_width', 0], ['tracking.smoothing', 0], ['threads', 0], ['threads', 1000], ['model.max_bundle_bytes', 0], ['debounce.min_duration_ms', 1e308]] as const) {
    fails(t, () => loadConfig({ env: {}, overrides: { [key]: v } }), new RegExp(`${key.replace('.', '\\.')}.*(in \\[|expected)`));
  }
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: [cam({ detection: { input_width: 0 } })] }) }), /cameras\[0\]\.detection\.input_width = 0 is invalid: expected an integer in \[64, 4096\]/);
  fails(t, () => loadConfig({ env: {}, overrides: { 'detection.input_width': 0 } }), /expected an integer in \[64, 4096\]/);
  fails(t, () => loadConfig({ env: { FER_THREADS: '0' } }), /threads/);
  // What run would refuse when it builds topics is refused by the loader, so `fer-agent config` refuses it too.
  fails(t, () => loadConfig({ env: {}, overrides: { 'mqtt.base_topic': 'fer/#' } }), /mqtt\.base_topic: expected topic levels without \+, #/);
});

test('an unknown key suggests the nearest known one', (t) => {
  fails(t, () => loadConfig({ env: {}, file: file({ mqtt: { usrname: 'x' } }) }), /mqtt\.usrname: unknown configuration key \(did you mean mqtt\.username\?\)/);
  fails(t, () => loadConfig({ env: {}, overrides: { 'debounce.min_duraton_ms': 5 } }), /did you mean debounce\.min_duration_ms\?/);
  fails(t, () => loadConfig({ env: {}, overrides: { 'zzz.qqq': 5 } }), /zzz\.qqq: unknown configuration key$/);
});

test('JSON syntax errors give line and column; cameras must be a list; colliding camera ids are refused', (t) => {
  fails(t, () => loadConfig({ env: {}, file: file('{\n  "threads": 2,\n  "engine": "auto"\n  "log_level": "info"\n}') }), /not valid JSON at line 4, column 3/);
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: { id: 'door', source: { type: 'dir' } } }) }), /cameras = .* expected a list of cameras/);
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: [cam({ id: 'Front-Door' }), cam({ id: 'front_door' })] }) }), /camera ids "Front-Door" and "front_door" are the same Home Assistant entity id \(front_door\)/);
});

test('every global detection, tracking and debounce key can be overridden per camera, checked by the same rule', async (t) => {
  const { schema } = await import('../../agent/config/schema.js');
  for (const group of ['detection', 'tracking', 'debounce'] as const) {
    const defaults = Object.fromEntries(Object.entries(schema[group] as Record<string, { default: unknown }>).map(([k, e]) => [k, e.default]));
    const cfg = loadConfig({ env: {}, file: file({ cameras: [cam({ [group]: defaults })] }) });
    t.deepEqual(cfg.cameras[0]![group], defaults, `${group}: every key accepted`);
  }
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: [cam({ detection: { detector: 'yolo' } })] }) }), /cameras\[0\]\.detection\.detector = "yolo" is invalid: expected one of auto, /);
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: [cam({ detection: { idle_gating: 'sometimes' } })] }) }), /cameras\[0\]\.detection\.idle_gating/);
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: [cam({ tracking: { smoothing: 0 } })] }) }), /cameras\[0\]\.tracking\.smoothing = 0 is invalid/);
});

test('keys named like Object.prototype members are unknown keys, in files, overrides and cameras', (t) => {
  // Issue 31 (Low): `schema[k]` found Object.prototype.constructor and friends, so these passed the check.
  for (const k of ['constructor', 'toString', 'hasOwnProperty']) {
    fails(t, () => loadConfig({ file: file({ [k]: 1 }), env: {} }), new RegExp(`(^|: )${k}: unknown configuration key`));
    fails(t, () => loadConfig({ file: file({ mqtt: { [k]: 1 } }), env: {} }), new RegExp(`(^|: )mqtt\\.${k}: unknown configuration key`));
    fails(t, () => loadConfig({ skipDefaultFile: true, env: {}, overrides: { [`detection.${k}`]: 1 } }), new RegExp(`detection\\.${k}: unknown configuration key`));
  }
  // JSON.parse makes "__proto__" an own key of the parsed object: it is refused by name, not merged into a prototype.
  const proto = path.join(mkdtempSync(path.join(os.tmpdir(), 'fer-cfg-')), 'p.json');
  writeFileSync(proto, '{"__proto__": {"engine": "tfjs-wasm"}}');
  fails(t, () => loadConfig({ file: proto, env: {} }), /(^|: )__proto__: unknown configuration key/);
  const cam = [{ id: 'a', source: { type: 'dir', path: '/tmp' }, constructor: 1 }];
  fails(t, () => loadConfig({ skipDefaultFile: true, env: { FER_CAMERAS: JSON.stringify(cam) } }), /cameras\[0\]\.constructor.*unknown key/);
});

test('a camera error names the path and the value only, with a did-you-mean at every level', (t) => {
  // Issue 33 item 8: `"fps": "5"` printed the whole cameras list as the value, and `widht` had no suggestion.
  const secret = 'rtsp://admin:hunter2@cam.local/stream';
  const cams = (c: object) => [{ id: 'door', source: { type: 'ffmpeg', url: secret }, ...c }];
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: cams({ fps: '5' }) }) }), /^invalid configuration: cameras\[0\]\.fps = "5" is invalid: expected a number in \[0\.1, 240\]$/);
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: [{ id: 'door', source: { type: 'ffmpeg', url: secret, widht: 640 } }] }) }), /cameras\[0\]\.source\.widht = 640 is invalid: unknown key \(did you mean width\?\)/);
  fails(t, () => loadConfig({ env: {}, file: file({ cameras: cams({ detection: { min_face_pix: 3 } }) }) }), /cameras\[0\]\.detection\.min_face_pix = 3 is invalid: unknown key \(did you mean min_face_px\?\)/);
  const err = t.throws(() => loadConfig({ env: {}, file: file({ cameras: cams({ fps: '5' }) }) }));
  t.false(err!.message.includes('hunter2'), err!.message);
  t.false(err!.message.includes('value was'), err!.message);
});
