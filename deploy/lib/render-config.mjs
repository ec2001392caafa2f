#!/usr/bin/env node
// Renders /etc/fer-agent/config.json for deploy/install.sh from a configs/*.example.json: the detected V4L2
// device for a USB webcam, the broker URL and user, the state folder for pushed models, the health port.
// Prints the JSON on stdout. Kept in plain JavaScript so it runs before the TypeScript build exists.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    example: { type: 'string' },
    'video-device': { type: 'string' },
    'state-dir': { type: 'string' },
    'health-port': { type: 'string' },
    'mqtt-url': { type: 'string' },
    'mqtt-username': { type: 'string' },
  },
  strict: true,
});

function fail(message) {
  process.stderr.write(`render-config: ${message}\n`);
  process.exit(1);
}

if (!values.example) fail('--example FILE is required');
let cfg;
try {
  cfg = JSON.parse(readFileSync(values.example, 'utf8'));
} catch (err) {
  fail(`${values.example} cannot be read as JSON: ${err instanceof Error ? err.message : String(err)}`);
}

const device = values['video-device'];
if (device) {
  if (!/^\/dev\/video\d+$/.test(device)) fail(`--video-device ${JSON.stringify(device)} is invalid: expected /dev/videoN`);
  for (const cam of cfg.cameras ?? []) {
    if (cam.source?.type === 'ffmpeg' && typeof cam.source.path === 'string' && cam.source.path.startsWith('/dev/video')) cam.source.path = device;
  }
}
if (values['mqtt-url'] !== undefined) cfg.mqtt = { ...cfg.mqtt, url: values['mqtt-url'] };
if (values['mqtt-username'] !== undefined) cfg.mqtt = { ...cfg.mqtt, username: values['mqtt-username'] };
if (values['state-dir']) cfg.model = { ...cfg.model, state_dir: values['state-dir'] };
if (values['health-port'] !== undefined) {
  const port = Number(values['health-port']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--health-port ${values['health-port']} is invalid: expected 0-65535`);
  cfg.health = { host: '127.0.0.1', ...cfg.health, port };
}
process.stdout.write(JSON.stringify(cfg, null, 2) + '\n');
