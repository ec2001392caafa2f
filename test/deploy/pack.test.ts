/**
 * The package as a user installs it: `npm pack`, then `npm install -g` of the tarball into a temporary prefix, gives a
 * working `fer-agent` with the bundled model, detector and sample frames, run from outside the checkout.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { bundledNamePattern } from '../helpers/bundled-model.js';

const run = promisify(execFile);

test('npm pack + npm install -g of the tarball gives a working fer-agent', async (t) => {
  t.timeout(10 * 60_000, 'npm install fetches the dependencies when its cache lacks them');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-pack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false' };
  // --ignore-scripts: `npm test` has built dist/ already, and rebuilding it here would race the other tests.
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: packageRoot, env, maxBuffer: 1 << 24 });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  t.truthy(tgz, 'npm pack wrote a tarball');
  const { stdout: listing } = await run('tar', ['tzf', path.join(dir, tgz!)], { maxBuffer: 1 << 24 });
  const files = listing.split('\n');
  for (const f of ['package/dist/agent/cli/main.js', 'package/agent/assets/models/fer-default/manifest.json', 'package/agent/assets/models/fer-default/model.int8.onnx', 'package/agent/assets/centerface/centerface.int8.onnx', 'package/configs/default.json']) {
    t.true(files.includes(f), `${f} is in the package`);
  }
  t.false(files.some((f) => f.startsWith('package/dist/test/') || f.startsWith('package/test/') || f.startsWith('package/training/')), 'no tests or training code');

  const prefix = path.join(dir, 'prefix');
  await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', path.join(dir, tgz!)], { cwd: dir, env, maxBuffer: 1 << 24, timeout: 9 * 60_000 });
  const bin = path.join(prefix, 'bin', 'fer-agent');
  const help = await run(bin, ['--help'], { cwd: dir });
  t.regex(help.stdout, /usage: fer-agent <command>/);
  const sample = path.join(prefix, 'lib', 'node_modules', 'fer-edge', 'agent', 'assets', 'samples', 'astronaut.jpg');
  const { stdout } = await run(bin, ['classify', sample, '--log-level', 'error'], { cwd: dir });
  const line = JSON.parse(stdout.trim().split('\n').pop()!) as { model: string; engine: string; faces: Array<{ emotion: string }> };
  t.regex(line.model, new RegExp(`^${bundledNamePattern}@`));
  t.is(line.engine, 'onnxruntime');
  t.is(line.faces[0]?.emotion, 'happy');

  // What is installed is what was tested (issue 33 item 9): every runtime dependency at the version the lockfile
  // pins, not the newest its range allows (the tarball once resolved onnxruntime-node 1.31.1 for the lock's 1.30.0).
  const lock = JSON.parse(readFileSync(path.join(packageRoot, 'npm-shrinkwrap.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const deps = Object.keys((JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
  const installedRoot = path.join(prefix, 'lib', 'node_modules', 'fer-edge', 'node_modules');
  for (const dep of deps) {
    const installed = (JSON.parse(readFileSync(path.join(installedRoot, dep, 'package.json'), 'utf8')) as { version: string }).version;
    t.is(installed, lock.packages[`node_modules/${dep}`]?.version ?? 'not in the lockfile', `${dep} installed at the locked version`);
  }
});

test('a packed tarball in the checkout stays out of git status', async (t) => {
  const { stdout } = await run('git', ['check-ignore', 'fer-edge-0.1.0.tgz'], { cwd: packageRoot });
  t.is(stdout.trim(), 'fer-edge-0.1.0.tgz');
});
