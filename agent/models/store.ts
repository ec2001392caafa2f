/**
 * Installed model versions under `<state_dir>/models/`:
 *
 *   <name>-<version>-<sha8>/   a complete bundle plus `.installed` (written last, fsynced, before the rename)
 *   .staging-<pid>-<rand>/     an install in progress; never referenced, removed on the next start
 *   current                    JSON pointer {active, history, forward}: replaced atomically (temp + fsync + rename +
 *                              fsync dir)
 *   .lock                      cross-process lock (agent vs. `fer-agent model rollback`), stale when its pid is dead
 *
 * `active: null` means the base model (config model.path). A version is used only if its folder carries a marker
 * matching its manifest and every file still verifies, so an install cut off at any point (or a folder damaged
 * later) leaves the previous version in charge: resolveActive() walks back through the history to the first
 * complete one and repairs the pointer.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { loadBundle, type LoadedBundle } from './bundle.js';
import { atomicReplace, fsyncDir, fsyncTree, writeFileDurable } from './fsutil.js';
import { acquireLock, isPidAlive } from './lock-file.js';
import { versionTag } from './manifest.js';

export const MARKER_FILE = '.installed';
const POINTER_FILE = 'current';
const LOCK_FILE = '.lock';
const POINTER_FORMAT = 'fer-edge-models/1';
const TAG_RE = /^[a-z0-9._-]{1,64}-[0-9A-Za-z.+-]{1,80}-[0-9a-f]{8}$/;

/** Points where a crash test may stop the process (see test/models/store-crash.test.ts). */
export type StoreStep =
  | 'staging-created'
  | 'staging-filled'
  | 'marker-written'
  | 'tree-synced'
  | 'installed-renamed'
  | 'pointer-temp-written'
  | 'pointer-renamed'
  | 'pruned';

export interface InstalledModel {
  tag: string;
  dir: string;
  bundle: LoadedBundle;
}

export interface Pointer {
  /** Tag of the active version; null: the base model from config. */
  active: string | null;
  /** Previously active versions, most recent first (null: the base model). */
  history: Array<string | null>;
  /** Versions rolled back from, most recent first: what `rollback --forward` returns to. A new install clears it. */
  forward: Array<string | null>;
}

export type RollDirection = 'back' | 'forward';

export interface Resolution {
  /** null: no installed version is usable; run the base model. */
  active: InstalledModel | null;
  /** Versions passed over and why (incomplete install, damaged files). */
  skipped: Array<{ tag: string; reason: string }>;
}

export interface StoreOptions {
  stateDir: string;
  keepVersions: number;
  log: Logger;
  /** Called at each durable step; crash tests kill the process here. */
  onStep?: (step: StoreStep) => Promise<void> | void;
}

interface Marker {
  manifest_sha256: string;
  tag: string;
  installed_at: string;
}

export class ModelStore {
  readonly root: string;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly ownStaging = new Set<string>();

  constructor(private readonly opts: StoreOptions) {
    this.root = path.join(opts.stateDir, 'models');
  }

  private async step(s: StoreStep): Promise<void> {
    await this.opts.onStep?.(s);
  }

  /** Serialises store changes within this process and across processes (lock file). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      await mkdir(this.root, { recursive: true });
      const file = path.join(this.root, LOCK_FILE);
      const release = await acquireLock(file, {
        // A full disk: the lock is ours all the same (the file exists); only stale-lock detection loses the pid.
        // Failing here would stop the agent from even reading which model is installed.
        onPidNotWritten: (err) => this.opts.log.warn({ file, err: errorMessage(err) }, 'cannot write the pid into the model store lock'),
      });
      try {
        return await fn();
      } finally {
        await release();
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  // ---------------------------------------------------------------- pointer

  async readPointer(): Promise<Pointer> {
    const file = path.join(this.root, POINTER_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { active: null, history: [], forward: [] };
      throw new FerError('io_failed', `${file} cannot be read: ${errorMessage(err)}`);
    }
    try {
      const v = JSON.parse(text) as { format?: unknown; active?: unknown; history?: unknown; forward?: unknown };
      // `forward` came later: a pointer written before it has none.
      const forward = v.forward ?? [];
      const okTag = (t: unknown): t is string | null => t === null || (typeof t === 'string' && TAG_RE.test(t));
      if (v.format !== POINTER_FORMAT || !okTag(v.active) || !Array.isArray(v.history) || !v.history.every(okTag)
        || !Array.isArray(forward) || !forward.every(okTag)) throw new Error('unexpected content');
      return { active: v.active, history: v.history, forward };
    } catch (err) {
      // Cannot happen with atomic replacement, but a hand-edited file must not stop the agent: use the base model.
      this.opts.log.error({ file, err: errorMessage(err) }, 'model pointer file is damaged; falling back to the base model');
      return { active: null, history: [], forward: [] };
    }
  }

  private async writePointer(p: Pointer): Promise<void> {
    const text = JSON.stringify({ format: POINTER_FORMAT, active: p.active, history: p.history, forward: p.forward }, null, 2) + '\n';
    await atomicReplace(path.join(this.root, POINTER_FILE), text, (s) => this.step(s as StoreStep));
  }

  // ---------------------------------------------------------------- reading versions

  /** A version folder, only if complete and intact. */
  async open(tag: string): Promise<InstalledModel> {
    if (!TAG_RE.test(tag)) throw new FerError('model_invalid', `installed version name ${JSON.stringify(tag)} is malformed`);
    const dir = path.join(this.root, tag);
    let marker: Marker;
    try {
      marker = JSON.parse(await readFile(path.join(dir, MARKER_FILE), 'utf8')) as Marker;
    } catch (err) {
      throw new FerError('model_invalid', `installed version ${tag} is incomplete (no valid ${MARKER_FILE}: ${errorMessage(err)})`);
    }
    const bundle = await loadBundle(dir);
    if (marker.manifest_sha256 !== bundle.manifestSha256 || marker.tag !== tag || versionTag(bundle.manifest, bundle.manifestSha256) !== tag) {
      throw new FerError('model_invalid', `installed version ${tag}: ${MARKER_FILE} does not match its manifest`);
    }
    return { tag, dir, bundle };
  }

  /**
   * The version to run: the pointer's active one if intact, else the most recent intact one from its history,
   * else the base model (null). Repairs the pointer when it had to pass over a version, and clears leftovers.
   */
  async resolveActive(): Promise<Resolution> {
    return this.exclusive(async () => {
      await this.removeLeftovers();
      const p = await this.readPointer();
      const chain = [p.active, ...p.history];
      const skipped: Resolution['skipped'] = [];
      for (let i = 0; i < chain.length; i++) {
        const tag = chain[i]!;
        if (tag === null) return this.settle(p, chain, i, null, skipped);
        let m: InstalledModel;
        try {
          m = await this.open(tag);
        } catch (err) {
          skipped.push({ tag, reason: errorMessage(err) });
          this.opts.log.warn({ version: tag, err: errorMessage(err) }, 'installed model version is not usable; trying the previous one');
          continue;
        }
        return this.settle(p, chain, i, m, skipped);
      }
      return this.settle(p, chain, chain.length, null, skipped);
    });
  }

  /**
   * The version resolveActive() would choose, without repairing or pruning anything (no lock, no writes): for
   * commands that check or use the model a running agent serves (`doctor`, `classify`, `eval`).
   */
  async peekActive(): Promise<InstalledModel | null> {
    const p = await this.readPointer();
    for (const tag of [p.active, ...p.history]) {
      if (tag === null) return null;
      try {
        return await this.open(tag);
      } catch {
        continue;
      }
    }
    return null;
  }

  private async settle(p: Pointer, chain: Array<string | null>, i: number, active: InstalledModel | null, skipped: Resolution['skipped']): Promise<Resolution> {
    if (i > 0) await this.writePointer({ active: active?.tag ?? null, history: chain.slice(i + 1), forward: p.forward });
    await this.prune();
    return { active, skipped };
  }

  /** Removes staging folders of dead processes, stray pointer temp files and unreferenced version folders. */
  private async removeLeftovers(): Promise<void> {
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      const staging = /^\.staging-(\d+)-/.exec(name);
      // Our own pid may be reused across boots (pid 1 in a container): only folders this instance made are live.
      const pid = Number(staging?.[1]);
      if (staging && !this.ownStaging.has(name) && (pid === process.pid || !isPidAlive(pid))) {
        await rm(path.join(this.root, name), { recursive: true, force: true });
      } else if (name.startsWith(`.${POINTER_FILE}.tmp-`)) {
        await rm(path.join(this.root, name), { force: true });
      }
    }
  }

  /** Deletes version folders the pointer no longer references (active, kept history, versions rolled back from). */
  private async prune(): Promise<void> {
    const p = await this.readPointer();
    const keep = new Set([p.active, ...p.history, ...p.forward].filter((t): t is string => t !== null));
    for (const name of await readdir(this.root)) {
      if (TAG_RE.test(name) && !keep.has(name)) {
        await rm(path.join(this.root, name), { recursive: true, force: true });
        this.opts.log.info({ version: name }, 'removed old model version');
      }
    }
    await fsyncDir(this.root);
    await this.step('pruned');
  }

  async list(): Promise<{ pointer: Pointer; installed: string[] }> {
    const pointer = await this.readPointer();
    const installed = (await readdir(this.root).catch(() => [] as string[])).filter((n) => TAG_RE.test(n)).sort();
    return { pointer, installed };
  }

  // ---------------------------------------------------------------- installing

  /** A fresh folder to unpack an incoming bundle into. */
  async createStaging(): Promise<string> {
    await mkdir(this.root, { recursive: true });
    const dir = path.join(this.root, `.staging-${process.pid}-${randomBytes(6).toString('hex')}`);
    await mkdir(dir);
    this.ownStaging.add(path.basename(dir));
    await this.step('staging-created');
    return dir;
  }

  async discardStaging(dir: string): Promise<void> {
    if (path.dirname(dir) !== this.root || !path.basename(dir).startsWith('.staging-')) throw new Error(`${dir} is not a staging folder`);
    await rm(dir, { recursive: true, force: true });
    this.ownStaging.delete(path.basename(dir));
  }

  /** Signals that the caller finished writing the staging folder (a crash-test point). */
  async stagingFilled(): Promise<void> {
    await this.step('staging-filled');
  }

  /**
   * Installs a verified staging folder and makes it active, all under the store lock:
   * marker → fsync everything → rename into place → `swap` (the caller's hot swap; throwing aborts) → pointer.
   * A crash anywhere before the pointer rename leaves the previous version active on restart. If that version
   * is already installed and intact, the staging folder is dropped and the installed one is used.
   */
  async install(staging: string, bundle: LoadedBundle, swap: (m: InstalledModel) => Promise<void>): Promise<InstalledModel> {
    const tag = versionTag(bundle.manifest, bundle.manifestSha256);
    return this.exclusive(async () => {
      const dir = path.join(this.root, tag);
      let installed: InstalledModel | null = null;
      try {
        installed = await this.open(tag);
      } catch {
        await rm(dir, { recursive: true, force: true });
      }
      if (installed) {
        await this.discardStaging(staging);
      } else {
        const marker: Marker = { manifest_sha256: bundle.manifestSha256, tag, installed_at: new Date().toISOString() };
        await writeFileDurable(path.join(staging, MARKER_FILE), JSON.stringify(marker) + '\n');
        await this.step('marker-written');
        await fsyncTree(staging);
        await this.step('tree-synced');
        await rename(staging, dir);
        this.ownStaging.delete(path.basename(staging));
        await fsyncDir(this.root);
        await this.step('installed-renamed');
        installed = { tag, dir, bundle: { ...bundle, dir } };
      }
      const p = await this.readPointer();
      if (p.active === tag) return installed;
      try {
        await swap(installed);
      } catch (err) {
        await this.prune();
        throw err;
      }
      const history = [p.active, ...p.history].filter((t) => t !== tag).slice(0, Math.max(0, this.opts.keepVersions));
      // A new version starts a new line of history: the versions rolled back from are no longer "forward".
      await this.writePointer({ active: tag, history, forward: [] });
      await this.prune();
      return installed;
    });
  }

  /**
   * back: to the most recent intact previous version (null: the base model); the version left goes on the
   * forward list. forward: undoes a rollback, to the most recent intact version rolled back from. `swap` is called
   * with the target before the pointer changes. Throws command_invalid when there is nowhere to go.
   */
  async rollback(swap: (to: InstalledModel | null) => Promise<void>, direction: RollDirection = 'back'): Promise<{ from: string | null; to: InstalledModel | null }> {
    return this.exclusive(async () => {
      const p = await this.readPointer();
      const keep = Math.max(0, this.opts.keepVersions);
      const candidates = direction === 'back' ? p.history : p.forward;
      for (let i = 0; i < candidates.length; i++) {
        const tag = candidates[i]!;
        let to: InstalledModel | null = null;
        if (tag !== null) {
          try {
            to = await this.open(tag);
          } catch (err) {
            this.opts.log.warn({ version: tag, err: errorMessage(err) }, `${direction === 'back' ? 'previous' : 'later'} model version is not usable; skipping it`);
            continue;
          }
        }
        await swap(to);
        const rest = candidates.slice(i + 1);
        await this.writePointer(direction === 'back'
          ? { active: tag, history: rest, forward: [p.active, ...p.forward].slice(0, keep) }
          : { active: tag, history: [p.active, ...p.history].slice(0, keep), forward: rest });
        await this.prune();
        return { from: p.active, to };
      }
      const active = p.active ?? 'base model';
      throw new FerError('command_invalid', direction === 'back'
        ? `no previous model version to roll back to (active: ${active})`
        : `no later model version to roll forward to (active: ${active}; only a rollback can be undone)`);
    });
  }
}
