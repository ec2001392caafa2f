/** configs/*.example.json: valid for the agent's strict loader, every key explained in configs/README.md, rendered by install.sh's helper. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadConfig } from '../../agent/config/load.js';
import { REPO } from './bookworm-root.js';

const configs = path.join(REPO, 'configs');
const examples = readdirSync(configs).filter((f) => f.endsWith('.example.json')).sort();
const readme = readFileSync(path.join(configs, 'README.md'), 'utf8');

/** Leaf keys as the README writes them: `cameras[].source.type`, `mqtt.url`. */
function keys(v: unknown, prefix = ''): string[] {
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x !== 'object' || x === null)) return [prefix];
    return [...new Set(v.flatMap((x) => keys(x, `${prefix}[]`)))];
  }
  if (typeof v === 'object' && v !== null) return Object.entries(v).flatMap(([k, x]) => keys(x, prefix ? `${prefix}.${k}` : k));
  return [prefix];
}

function section(name: string): string {
  const start = readme.indexOf(`### \`${name}\``);
  if (start < 0) return '';
  const next = readme.indexOf('\n#', start + 4);
  return readme.slice(start, next < 0 ? undefined : next);
}

test('the five examples exist', (t) => {
  t.deepEqual(examples, ['demo.example.json', 'jetson-csi.example.json', 'pi-csi.example.json', 'rtsp.example.json', 'usb-webcam.example.json']);
});

for (const name of examples) {
  test(`${name} passes the agent's strict config loader`, (t) => {
    const cfg = loadConfig({ file: path.join(configs, name), env: {} });
    t.true(cfg.cameras.length >= 1);
    t.is(cfg.health.port, 9464);
  });

  test(`${name}: every key is explained in its README section`, (t) => {
    const text = section(name);
    t.not(text, '', `configs/README.md has no section for ${name}`);
    const missing = keys(JSON.parse(readFileSync(path.join(configs, name), 'utf8'))).filter((k) => !text.includes(`\`${k}\``));
    t.deepEqual(missing, []);
  });
}

function render(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [path.join(REPO, 'deploy/lib/render-config.mjs'), ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test('install.sh renders an example with the detected device, broker, state dir and health port, and the loader accepts it', (t) => {
  const r = render(['--example', path.join(configs, 'usb-webcam.example.json'), '--video-device', '/dev/video3', '--mqtt-url', 'mqtts://broker.lan:8883', '--mqtt-username', 'cam', '--state-dir', '/var/lib/fer-agent/models', '--health-port', '9100']);
  t.is(r.code, 0, r.err);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'config.json'), r.out);
  const cfg = loadConfig({ file: path.join(dir, 'config.json'), env: {} });
  t.is(cfg.cameras[0].source.path, '/dev/video3');
  t.deepEqual([cfg.mqtt.url, cfg.mqtt.username], ['mqtts://broker.lan:8883', 'cam']);
  t.is(cfg.model.state_dir, '/var/lib/fer-agent/models');
  t.deepEqual(cfg.health, { host: '127.0.0.1', port: 9100 });
});

test('the renderer refuses a device that is not /dev/videoN and a bad port, naming them', (t) => {
  const bad = render(['--example', path.join(configs, 'usb-webcam.example.json'), '--video-device', '/etc/passwd']);
  t.is(bad.code, 1);
  t.regex(bad.err, /--video-device "\/etc\/passwd" is invalid/);
  const port = render(['--example', path.join(configs, 'demo.example.json'), '--health-port', '70000']);
  t.is(port.code, 1);
  t.regex(port.err, /--health-port 70000 is invalid/);
});

test('install.sh refuses unknown options and kinds with usage errors, without needing root', (t) => {
  const run = (args: string[]): { status: number | null; stderr: string } => spawnSync(path.join(REPO, 'deploy/install.sh'), args, { encoding: 'utf8' });
  t.like(run(['--camera', 'thermal']), { status: 64 });
  t.regex(run(['--camera', 'thermal']).stderr, /--camera thermal is invalid/);
  t.like(run(['--frobnicate']), { status: 64 });
  t.regex(execFileSync(path.join(REPO, 'deploy/install.sh'), ['--help'], { encoding: 'utf8' }), /--uninstall/);
});
