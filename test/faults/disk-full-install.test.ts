/**
 * The disk fills up while a model is being installed: model.state_dir is a small tmpfs (needs root to mount). One
 * bundle installs through the agent's real update path (ModelUpdates → ModelInstaller → ModelStore, onnxruntime),
 * then the tmpfs is filled and a second valid bundle is pushed: it is rejected with a reason naming the lack of
 * space, leaves no partial version behind, the first one stays active (also for a fresh store, as after a restart
 * once space is freed), and then the same push installs. A second test pins a known bug: with the disk still full,
 * a fresh store cannot resolve the installed version at all (see the comment there).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { silentLogger } from '../../agent/core/log.js';
import type { ModelInstaller } from '../../agent/models/installer.js';
import { ModelUpdates } from '../../agent/models/runtime.js';
import { ModelStore } from '../../agent/models/store.js';
import { testConfig } from '../mqtt/support.js';
import { bundleCopy, fixtureBundle, makeKey, sign, tarOf } from '../models/support.js';
import { tmpDir } from './support.js';

function mountTmpfs(dir: string, size = '12m'): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

/** Why this machine cannot run the test (null: it can): found by trying to mount a tmpfs. */
function mountProblem(): string | null {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-mount-probe-'));
  try {
    mountTmpfs(dir, '1m');
    unmount(dir);
    return null;
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return `mounting a tmpfs is not permitted here (mount -t tmpfs failed${stderr ? `: ${stderr}` : ''}); run as root with CAP_SYS_ADMIN`;
  } finally {
    rmdirSync(dir);
  }
}

/** Writes `file` until the file system says ENOSPC; returns the bytes written. */
function fillUp(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const chunk of [1 << 20, 4096, 512, 1]) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          written += writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

interface FullDiskRig {
  stateDir: string;
  cfg: ReturnType<typeof testConfig>;
  installer: ModelInstaller;
  activations: string[];
  v1Tag: string;
  v2: string;
  filler: string;
}

/** A tmpfs state dir with 1.0.0 installed through the agent's update path, then filled to the last byte. */
async function fullDisk(t: ExecutionContext): Promise<FullDiskRig> {
  const stateDir = tmpDir(t, 'fer-diskfull-');
  mountTmpfs(stateDir);
  // Teardowns run last-registered first: unmount before the folder is removed.
  t.teardown(() => unmount(stateDir));
  const key = makeKey(tmpDir(t, 'fer-diskfull-keys-'));
  const v1 = bundleCopy('1.0.0');
  const v2 = bundleCopy('2.0.0');
  sign(v1, key);
  sign(v2, key);
  t.teardown(() => {
    for (const b of [v1, v2]) rmSync(path.dirname(b), { recursive: true, force: true });
  });
  const cfg = testConfig({ 'mqtt.url': '', 'model.path': fixtureBundle(), 'model.state_dir': stateDir, 'model.trusted_keys': [key.pubFile] });
  const updates = ModelUpdates.fromConfig(cfg, silentLogger);
  if (!updates) throw new Error('ModelUpdates.fromConfig returned null with model.state_dir set');
  t.is((await updates.startupModel()).source, 'base');
  const activations: string[] = [];
  const installer = await updates.enable({ engine: 'onnxruntime', activate: async (_dir, m) => void activations.push(m.version) });
  const first = await installer.installArchive(tarOf(v1), 'push-1');
  t.true(first.ok, first.message);
  const v1Tag = installer.active.tag ?? '';
  t.regex(v1Tag, /^parity-fixture-1\.0\.0-[0-9a-f]{8}$/);

  const filler = path.join(stateDir, 'filler.bin');
  const filled = fillUp(filler);
  t.true(filled > 1 << 20, `only ${filled} bytes fitted: the tmpfs was not the 12 MiB one`);
  t.is(statfsSync(stateDir).bavail, 0, 'the tmpfs still has free blocks after filling it');
  return { stateDir, cfg, installer, activations, v1Tag, v2, filler };
}

const TITLE = 'disk full during a model install: rejected with the reason, nothing partial, old version stays, retry works';
const BUG_TITLE = 'on a still-full disk the installed version is still resolved and the agent can start on it';
const problem = mountProblem();

if (problem) {
  console.warn(`disk-full install tests skipped: ${problem}`);
  test.skip(`${TITLE} (skipped: ${problem})`, () => {});
  test.skip(`${BUG_TITLE} (skipped: ${problem})`, () => {});
} else {
  test.serial(TITLE, async (t) => {
    const { stateDir, cfg, installer, activations, v1Tag, v2, filler } = await fullDisk(t);
    const modelsDir = path.join(stateDir, 'models');

    // The network push (archive) and a local install (folder copy) both hit the full disk.
    const pushed = await installer.installArchive(tarOf(v2), 'push-2');
    const copied = await installer.installDir(v2, 'local-2');
    for (const r of [pushed, copied]) {
      t.log(`${r.id}: ${r.reason}: ${r.message}`);
      t.false(r.ok, `install ${r.id} succeeded on a full disk: ${r.message}`);
      t.is(r.reason, 'io_failed');
      t.regex(r.message, /ENOSPC|no space left/i);
      t.is(r.offered?.version, '2.0.0');
      t.is(r.active.version, '1.0.0');
      t.is(r.active.tag, v1Tag);
    }
    t.is(installer.active.tag, v1Tag);
    t.deepEqual(activations, ['1.0.0']);
    // Nothing partial: no staging folder, no folder for 2.0.0; only the installed 1.0.0 and the pointer.
    const left = readdirSync(modelsDir).filter((n) => n !== 'current');
    t.deepEqual(left, [v1Tag], `left in ${modelsDir}: ${left.join(', ')}`);

    rmSync(filler);
    // What the failed installs left on disk: a fresh store (an agent restart) resolves 1.0.0, intact.
    const fresh = await new ModelStore({ stateDir, keepVersions: 3, log: silentLogger }).resolveActive();
    t.is(fresh.active?.tag, v1Tag);
    t.deepEqual(fresh.skipped, []);
    t.like(await ModelUpdates.fromConfig(cfg, silentLogger)!.startupModel(), { source: 'installed', manifest: { version: '1.0.0' } });

    const retry = await installer.installArchive(tarOf(v2), 'push-3');
    t.true(retry.ok, retry.message);
    t.is(retry.active.version, '2.0.0');
    t.deepEqual(activations, ['1.0.0', '2.0.0']);
    const after = await new ModelStore({ stateDir, keepVersions: 3, log: silentLogger }).resolveActive();
    t.is(after.active?.bundle.manifest.version, '2.0.0');
    t.is(after.active?.tag ?? null, installer.active.tag);
  });

  // The store lock's pid needs a free block; a full disk must not stop the agent from reading what is installed.
  test.serial(BUG_TITLE, async (t) => {
    const { stateDir, cfg, v1Tag } = await fullDisk(t);
    const fresh = await new ModelStore({ stateDir, keepVersions: 3, log: silentLogger }).resolveActive();
    t.is(fresh.active?.tag, v1Tag);
    t.like(await ModelUpdates.fromConfig(cfg, silentLogger)!.startupModel(), { source: 'installed', manifest: { version: '1.0.0' } });
  });
}
