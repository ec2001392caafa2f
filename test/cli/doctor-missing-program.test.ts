/**
 * Issue 33 item 10: `doctor` waited out its whole timeout before saying that a camera's program (ffmpeg) is not
 * installed. It now says so as soon as the source reports it: with --timeout 60000 the check ends long before.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';

test('doctor names a missing camera program at once, not after its timeout', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-doctor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin); // PATH holds only this empty folder: no ffmpeg (the CLI itself runs by absolute path)
  const cfg = path.join(dir, 'c.json');
  writeFileSync(cfg, JSON.stringify({ cameras: [{ id: 'door', source: { type: 'ffmpeg', url: 'rtsp://127.0.0.1:9/x' } }] }));
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FER_'))), PATH: bin };
  const t0 = Date.now();
  const out = await new Promise<string>((resolve) => {
    execFile(process.execPath, [path.join('dist', 'agent', 'cli', 'main.js'), 'doctor', '--config', cfg, '--mqtt-url', '', '--timeout', '60000'], { cwd: packageRoot, env, timeout: 120_000 }, (_e, so, se) => resolve(so + se));
  });
  const line = out.split('\n').find((l) => l.includes('camera door')) ?? '';
  t.regex(line, /FAIL camera door +ffmpeg: ffmpeg not found on PATH: install ffmpeg/);
  t.true(Date.now() - t0 < 45_000, `doctor took ${Date.now() - t0} ms: it waited for its 60 s camera timeout`);
});
