/**
 * `doctor`, `classify` and `eval` check and use the model `run` would serve: with model.state_dir holding an
 * installed pushed version, that version (not model.path), unless --model names another; reading it changes nothing.
 */
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { loadConfig } from '../../agent/config/load.js';
import { silentLogger } from '../../agent/core/log.js';
import { bundledModelDir, packageRoot } from '../../agent/core/paths.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { servingBundleDir } from '../../agent/models/runtime.js';
import { ModelStore } from '../../agent/models/store.js';
import { bundleCopy, tempDir } from '../models/support.js';
import { bundledNamePattern } from '../helpers/bundled-model.js';

const run = promisify(execFile);
const cli = path.join(packageRoot, 'dist/agent/cli/main.js');

async function stateWith(versions: string[]): Promise<{ stateDir: string; store: ModelStore }> {
  const stateDir = tempDir('fer-serving-');
  const store = new ModelStore({ stateDir, keepVersions: 3, log: silentLogger });
  for (const v of versions) {
    const staging = await store.createStaging();
    cpSync(bundleCopy(v), staging, { recursive: true });
    await store.install(staging, await loadBundle(staging), async () => undefined);
  }
  return { stateDir, store };
}

test('servingBundleDir: the installed version when there is one, else model.path; a damaged active one is passed over without repairing anything', async (t) => {
  const { stateDir, store } = await stateWith(['1.1.0', '1.2.0']);
  const cfg = (dir: string) => loadConfig({ env: {}, skipDefaultFile: true, overrides: { 'model.state_dir': dir } });
  const s = await servingBundleDir(cfg(stateDir), silentLogger);
  t.is(s.source, 'installed');
  t.is((await loadBundle(s.dir)).manifest.version, '1.2.0');
  t.deepEqual(await servingBundleDir(cfg(''), silentLogger), { dir: bundledModelDir, source: 'base' });
  t.is((await servingBundleDir(cfg(tempDir('fer-empty-')), silentLogger)).source, 'base');

  const pointer = readFileSync(path.join(store.root, 'current'), 'utf8');
  const active = (await store.readPointer()).active!;
  truncateSync(path.join(store.root, active, 'manifest.json'), 5);
  const after = await servingBundleDir(cfg(stateDir), silentLogger);
  t.is((await loadBundle(after.dir)).manifest.version, '1.1.0', 'the previous intact version, as run would choose');
  t.is(readFileSync(path.join(store.root, 'current'), 'utf8'), pointer, 'the pointer is untouched');
});

test('doctor and classify use the installed version run would serve; --model chooses another', async (t) => {
  t.timeout(120_000);
  const { stateDir } = await stateWith(['1.3.0']);
  const common = ['--set', `model.state_dir=${stateDir}`, '--mqtt-url', '', '--engine', 'onnxruntime', '--log-level', 'error'];
  const doctor = async (extra: string[]) => {
    const r = await run('node', [cli, 'doctor', '--json', '--timeout', '4000', ...common, ...extra]).catch((e: { stdout: string }) => e);
    return (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Array<{ name: string; detail: string; ok: boolean }>).find((c) => c.name === 'model')!;
  };
  const served = await doctor([]);
  t.true(served.ok, served.detail);
  t.regex(served.detail, /^parity-fixture@1\.3\.0 /);
  t.regex((await doctor(['--model', bundledModelDir])).detail, new RegExp(`^${bundledNamePattern}@`));

  const image = path.join(packageRoot, 'agent/assets/samples');
  const c = await run('node', [cli, 'classify', image, ...common]);
  const first = JSON.parse(c.stdout.trim().split('\n')[0]!) as { model: string };
  t.is(first.model, 'parity-fixture@1.3.0');
});

test('doctor names the score threshold the detector applies, on the int8 model\'s scale where int8 runs', async (t) => {
  t.timeout(120_000);
  const detector = async (precision: string) => {
    const r = await run('node', [cli, 'doctor', '--json', '--timeout', '4000', '--mqtt-url', '', '--engine', 'onnxruntime', '--log-level', 'error',
      '--set', 'model.state_dir=', '--set', `detection.precision=${precision}`, '--set', 'detection.score_threshold=0.3']).catch((e: { stdout: string }) => e);
    return (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Array<{ name: string; detail: string }>).find((c) => c.name === 'detector')!.detail;
  };
  t.regex(await detector('int8'), /score threshold 0\.3 \(0\.2\d\d on the int8 model's scale\)$/);
  t.regex(await detector('fp32'), /score threshold 0\.3$/);
});
