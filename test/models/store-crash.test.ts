/**
 * Crash safety: a child process installing (or rolling back) a model is SIGKILLed at each durable step; afterwards
 * the store must resolve the previous version (before the pointer rename) or the new one (after it), never a
 * partial one, clean its leftovers, and accept the next install.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { silentLogger } from '../../agent/core/log.js';
import { loadClassifier } from '../../agent/emotion/load-classifier.js';
import { packBundle } from '../../agent/models/archive.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { ModelInstaller } from '../../agent/models/installer.js';
import { loadTrustPolicy } from '../../agent/models/signing.js';
import { ModelStore, type StoreStep } from '../../agent/models/store.js';
import { bundleCopy, fixtureBundle, makeKey, sign, tempDir } from './support.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crash-child.js');
const key = makeKey();

async function archiveOf(version: string): Promise<string> {
  const dir = bundleCopy(version);
  sign(dir, key);
  const file = path.join(tempDir(), `${version}.tar.gz`);
  writeFileSync(file, await packBundle(await loadBundle(dir)));
  return file;
}

function installer(stateDir: string): ModelInstaller {
  return new ModelInstaller({
    store: new ModelStore({ stateDir, keepVersions: 3, log: silentLogger }),
    loader: loadClassifier,
    engine: 'onnxruntime',
    threads: 1,
    trust: loadTrustPolicy([key.pubFile], false),
    maxBundleBytes: 8 << 20,
    baseBundleDir: fixtureBundle(),
    onActivate: async () => undefined,
    log: silentLogger,
  });
}

/** Runs the child; returns how it ended. */
function runChild(stateDir: string, step: StoreStep, action: 'install' | 'rollback', archive?: string): { signal: NodeJS.Signals | null; stdout: string } {
  const r = spawnSync(process.execPath, [child, stateDir, fixtureBundle(), key.pubFile, step, action, ...(archive ? [archive] : [])], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  if (r.status !== null && r.status !== 0) throw new Error(`crash child failed (${r.status}): ${r.stderr}`);
  return { signal: r.signal, stdout: r.stdout };
}

async function activeAfterRestart(stateDir: string): Promise<{ version: string; leftovers: string[] }> {
  const i = installer(stateDir);
  const s = await i.start();
  const root = path.join(stateDir, 'models');
  const leftovers = readdirSync(root).filter((n) => n.startsWith('.staging') || n.startsWith('.current.tmp') || n === '.lock');
  return { version: s.info.version, leftovers };
}

const installSteps: Array<[StoreStep, string]> = [
  ['staging-created', '1.0.0'],
  ['staging-filled', '1.0.0'],
  ['marker-written', '1.0.0'],
  ['tree-synced', '1.0.0'],
  ['installed-renamed', '1.0.0'],
  ['pointer-temp-written', '1.0.0'],
  ['pointer-renamed', '2.0.0'],
  ['pruned', '2.0.0'],
];

test('install killed at each step: restart runs the last fully installed version', async (t) => {
  const v1 = await archiveOf('1.0.0');
  const v2 = await archiveOf('2.0.0');
  for (const [step, expected] of installSteps) {
    const stateDir = tempDir('fer-crash-');
    const setup = installer(stateDir);
    await setup.start();
    const first = await setup.installArchive(new Uint8Array(readFileSync(v1)));
    t.true(first.ok, first.message);
    const r = runChild(stateDir, step, 'install', v2);
    t.is(r.signal, 'SIGKILL', `child reached ${step} and was killed there (stdout: ${r.stdout})`);
    const after = await activeAfterRestart(stateDir);
    t.is(after.version, expected, `killed at ${step}`);
    t.deepEqual(after.leftovers, [], `leftovers cleared after a kill at ${step}`);
    // The store still works: the interrupted update can simply be pushed again.
    const again = installer(stateDir);
    await again.start();
    const res = await again.installArchive(new Uint8Array(readFileSync(v2)));
    t.true(res.ok, `${step}: ${res.message}`);
    t.is((await activeAfterRestart(stateDir)).version, '2.0.0');
  }
});

test('rollback killed before / after the pointer rename: old or previous version, never neither', async (t) => {
  const v1 = await archiveOf('1.0.0');
  const v2 = await archiveOf('2.0.0');
  for (const [step, expected] of [['pointer-temp-written', '2.0.0'], ['pointer-renamed', '1.0.0'], ['pruned', '1.0.0']] as Array<[StoreStep, string]>) {
    const stateDir = tempDir('fer-crash-');
    const i = installer(stateDir);
    await i.start();
    t.true((await i.installArchive(new Uint8Array(readFileSync(v1)))).ok);
    t.true((await i.installArchive(new Uint8Array(readFileSync(v2)))).ok);
    const r = runChild(stateDir, step, 'rollback');
    t.is(r.signal, 'SIGKILL', step);
    t.is((await activeAfterRestart(stateDir)).version, expected, `rollback killed at ${step}`);
  }
});
