import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { ModelStore, MARKER_FILE, type InstalledModel } from '../../agent/models/store.js';
import { bundleCopy, tempDir } from './support.js';

const versions = new Map<string, string>();
/** One bundle folder per version, made once. */
function bundleOf(version: string): string {
  if (!versions.has(version)) versions.set(version, bundleCopy(version));
  return versions.get(version)!;
}

async function install(store: ModelStore, version: string, swap: (m: InstalledModel) => Promise<void> = async () => undefined): Promise<InstalledModel> {
  const staging = await store.createStaging();
  cpSync(bundleOf(version), staging, { recursive: true });
  return store.install(staging, await loadBundle(staging), swap);
}

async function activeVersion(store: ModelStore): Promise<string | null> {
  const r = await store.resolveActive();
  return r.active ? r.active.bundle.manifest.version : null;
}

function versionDirs(store: ModelStore): string[] {
  return readdirSync(store.root).filter((n) => n.startsWith('parity-fixture-')).map((n) => n.split('-')[2]!).sort();
}

const newStore = (keep = 3, stateDir = tempDir('fer-state-')): ModelStore => new ModelStore({ stateDir, keepVersions: keep, log: silentLogger });

test('a fresh store runs the base model; installs become active, the swap runs before the pointer changes', async (t) => {
  const store = newStore();
  t.is(await activeVersion(store), null);
  const swapped: string[] = [];
  const m = await install(store, '1.0.0', async (x) => {
    swapped.push(x.bundle.manifest.version);
    t.is((await store.readPointer()).active, null, 'pointer still old while swapping');
  });
  t.deepEqual(swapped, ['1.0.0']);
  t.true(existsSync(path.join(m.dir, MARKER_FILE)));
  t.is(await activeVersion(store), '1.0.0');
  t.deepEqual(await store.readPointer(), { active: m.tag, history: [null], forward: [] });
});

test('rollback walks back through versions to the base model, then refuses', async (t) => {
  const store = newStore();
  for (const v of ['1.0.0', '1.1.0', '1.2.0']) await install(store, v);
  const seen: Array<string | null> = [];
  const swap = async (to: InstalledModel | null): Promise<void> => void seen.push(to?.bundle.manifest.version ?? null);
  t.is((await store.rollback(swap)).to?.bundle.manifest.version, '1.1.0');
  t.is(await activeVersion(store), '1.1.0');
  await store.rollback(swap);
  t.is(await activeVersion(store), '1.0.0');
  t.is((await store.rollback(swap)).to, null);
  t.is(await activeVersion(store), null);
  t.deepEqual(seen, ['1.1.0', '1.0.0', null]);
  const err = await t.throwsAsync(store.rollback(swap), { instanceOf: FerError });
  t.is(err?.reason, 'command_invalid');
  // The versions rolled back from stay installed (within keep_versions) so the rollbacks can be undone.
  t.deepEqual(versionDirs(store), ['1.0.0', '1.1.0', '1.2.0']);
});

test('rollback goes both ways: forward undoes rollbacks in order, up to the newest, then refuses', async (t) => {
  const store = newStore();
  for (const v of ['1.0.0', '1.1.0', '1.2.0']) await install(store, v);
  const seen: Array<string | null> = [];
  const swap = async (to: InstalledModel | null): Promise<void> => void seen.push(to?.bundle.manifest.version ?? null);
  await store.rollback(swap);
  await store.rollback(swap);
  await store.rollback(swap);
  t.is(await activeVersion(store), null);
  t.is((await store.rollback(swap, 'forward')).to?.bundle.manifest.version, '1.0.0');
  t.is((await store.rollback(swap, 'forward')).to?.bundle.manifest.version, '1.1.0');
  // Back once more from the middle, then all the way forward.
  t.is((await store.rollback(swap)).to?.bundle.manifest.version, '1.0.0');
  t.is((await store.rollback(swap, 'forward')).to?.bundle.manifest.version, '1.1.0');
  const last = await store.rollback(swap, 'forward');
  t.is(last.to?.bundle.manifest.version, '1.2.0');
  t.deepEqual(seen, [ '1.1.0', '1.0.0', null, '1.0.0', '1.1.0', '1.0.0', '1.1.0', '1.2.0']);
  const err = await t.throwsAsync(store.rollback(swap, 'forward'), { instanceOf: FerError });
  t.is(err?.reason, 'command_invalid');
  t.regex(err?.message ?? '', /no later model version to roll forward to \(active: parity-fixture-1\.2\.0-/);
  // Going back is as it was: the whole history is still there.
  t.is((await store.rollback(swap)).to?.bundle.manifest.version, '1.1.0');
  t.is((await store.rollback(swap)).to?.bundle.manifest.version, '1.0.0');
  t.is((await store.rollback(swap)).to, null);
});

test('a new install after a rollback clears the forward list and removes what only it kept', async (t) => {
  const store = newStore();
  for (const v of ['1.0.0', '1.1.0', '1.2.0']) await install(store, v);
  await store.rollback(async () => undefined);
  t.deepEqual(versionDirs(store), ['1.0.0', '1.1.0', '1.2.0']);
  await install(store, '1.3.0');
  const p = await store.readPointer();
  t.deepEqual(p.forward, []);
  t.deepEqual(versionDirs(store), ['1.0.0', '1.1.0', '1.3.0']);
  await t.throwsAsync(store.rollback(async () => undefined, 'forward'), { message: /no later model version/ });
});

test('versions move between the lists, never more than 1 + keep_versions on disk; an unusable forward version is skipped', async (t) => {
  const store = newStore(2);
  for (const v of ['1.0.0', '1.1.0', '1.2.0']) await install(store, v);
  await store.rollback(async () => undefined);
  await store.rollback(async () => undefined);
  t.is(await activeVersion(store), '1.0.0');
  t.is((await store.readPointer()).forward.length, 2);
  t.deepEqual(versionDirs(store), ['1.0.0', '1.1.0', '1.2.0']);
  // Damage 1.1.0: forward skips it and lands on 1.2.0.
  const [tag] = (await store.readPointer()).forward;
  truncateSync(path.join(store.root, tag!, 'manifest.json'), 10);
  const seen: string[] = [];
  t.is((await store.rollback(async (to) => void seen.push(to?.bundle.manifest.version ?? 'base'), 'forward')).to?.bundle.manifest.version, '1.2.0');
  t.deepEqual(seen, ['1.2.0'], 'the damaged version was never swapped in');
  t.deepEqual((await store.readPointer()).forward, []);
  t.is((await store.rollback(async () => undefined)).to?.bundle.manifest.version, '1.0.0');
});

test('a pointer written before the forward list existed still reads', async (t) => {
  const store = newStore();
  const m = await install(store, '1.0.0');
  writeFileSync(path.join(store.root, 'current'), JSON.stringify({ format: 'fer-edge-models/1', active: m.tag, history: [null] }));
  t.deepEqual(await store.readPointer(), { active: m.tag, history: [null], forward: [] });
  t.is(await activeVersion(store), '1.0.0');
});

test('keeps the active version plus keep_versions previous ones', async (t) => {
  const store = newStore(2);
  for (const v of ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0']) await install(store, v);
  t.deepEqual(versionDirs(store), ['1.2.0', '1.3.0', '1.4.0']);
  const p = await store.readPointer();
  t.is(p.history.length, 2);
  await store.rollback(async () => undefined);
  await store.rollback(async () => undefined);
  t.is(await activeVersion(store), '1.2.0');
  await t.throwsAsync(store.rollback(async () => undefined), { message: /no previous model version/ });
});

test('a failing swap leaves the previous version active and removes the new folder', async (t) => {
  const store = newStore();
  await install(store, '1.0.0');
  await t.throwsAsync(install(store, '2.0.0', async () => {
    throw new Error('engine refused');
  }), { message: 'engine refused' });
  t.is(await activeVersion(store), '1.0.0');
  t.deepEqual(versionDirs(store), ['1.0.0']);
});

test('installing the active version again changes nothing and does not swap', async (t) => {
  const store = newStore();
  await install(store, '1.0.0');
  let swaps = 0;
  await install(store, '1.0.0', async () => void swaps++);
  t.is(swaps, 0);
  t.deepEqual((await store.readPointer()).history, [null]);
});

test('re-installing an older version moves it to the front without duplicating it in the history', async (t) => {
  const store = newStore();
  const a = await install(store, '1.0.0');
  const b = await install(store, '1.1.0');
  await install(store, '1.0.0');
  t.deepEqual(await store.readPointer(), { active: a.tag, history: [b.tag, null], forward: [] });
});

test('startup passes over a damaged or incomplete active version and repairs the pointer', async (t) => {
  const store = newStore();
  const v1 = await install(store, '1.0.0');
  const v2 = await install(store, '1.1.0');
  // As after a power cut that kept the names but not the data of a file.
  truncateSync(path.join(v2.dir, 'model.onnx'), 0);
  const r = await store.resolveActive();
  t.is(r.active?.tag, v1.tag);
  t.is(r.skipped[0]?.tag, v2.tag);
  t.regex(r.skipped[0]!.reason, /model\.onnx/);
  t.deepEqual(await store.readPointer(), { active: v1.tag, history: [null], forward: [] });
  t.false(existsSync(v2.dir));

  // A folder without its completeness marker is never used either.
  const v3 = await install(store, '1.2.0');
  rmSync(path.join(v3.dir, MARKER_FILE));
  t.is(await activeVersion(store), '1.0.0');
});

test('startup clears leftovers: dead staging folders, pointer temp files, unreferenced versions', async (t) => {
  const store = newStore();
  await install(store, '1.0.0');
  const deadStaging = path.join(store.root, '.staging-999999999-abcdef');
  mkdirSync(deadStaging);
  writeFileSync(path.join(deadStaging, 'model.onnx'), 'partial');
  writeFileSync(path.join(store.root, '.current.tmp-1-x'), '{"half');
  cpSync(bundleOf('1.0.0'), path.join(store.root, 'parity-fixture-9.0.0-00000000'), { recursive: true });
  t.is(await activeVersion(store), '1.0.0');
  t.false(existsSync(deadStaging));
  t.false(existsSync(path.join(store.root, '.current.tmp-1-x')));
  t.deepEqual(versionDirs(store), ['1.0.0']);
});

test('a damaged pointer file falls back to the base model instead of stopping the agent', async (t) => {
  const store = newStore();
  await install(store, '1.0.0');
  writeFileSync(path.join(store.root, 'current'), '{"format":"nope"}');
  t.is(await activeVersion(store), null);
});

test('a stale lock from a dead process is taken over; a live one is waited for', async (t) => {
  const store = newStore();
  mkdirSync(store.root, { recursive: true });
  writeFileSync(path.join(store.root, '.lock'), '999999999');
  t.is(await activeVersion(store), null);
  t.false(existsSync(path.join(store.root, '.lock')));
  // Held by a live process (this one, pretending to be another) until released.
  writeFileSync(path.join(store.root, '.lock'), String(process.ppid));
  let done = false;
  const p = store.resolveActive().then(() => (done = true));
  await new Promise((r) => setTimeout(r, 300));
  t.false(done);
  rmSync(path.join(store.root, '.lock'));
  await p;
  t.true(done);
});

test('fer-agent model rollback --state-dir works on a stopped agent\'s store', async (t) => {
  const { modelRollbackCommand } = await import('../../agent/cli/model-cli.js');
  const stateDir = tempDir('fer-state-');
  const store = newStore(3, stateDir);
  await install(store, '1.0.0');
  await install(store, '1.1.0');
  t.is(await modelRollbackCommand(['--state-dir', stateDir], silentLogger), 0);
  t.is(await activeVersion(store), '1.0.0');
  t.is(await modelRollbackCommand(['--state-dir', stateDir], silentLogger), 0);
  t.is(await activeVersion(store), null);
  await t.throwsAsync(modelRollbackCommand(['--state-dir', stateDir], silentLogger), { message: /no previous model version/ });
  t.is(await modelRollbackCommand(['--forward', '--state-dir', stateDir], silentLogger), 0);
  t.is(await activeVersion(store), '1.0.0');
});
