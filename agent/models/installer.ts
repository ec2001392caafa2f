/**
 * The whole accept path for a new model, in order: size cap → unpack (archive checks) → manifest → signature /
 * trust → file hashes → engine entry → load on this agent's engine → input/label checks → self-test → install
 * (durable) → hot swap via `onActivate` → pointer. Any failure leaves the running model serving and yields an
 * UpdateResult with the reason; nothing here throws to the caller.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { FerError, errorMessage, type ReasonCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ClassifierLoader, EmotionClassifier } from '../emotion/classifier.js';
import { DEFAULT_MAX_ENTRIES, extractEntries, readArchive, type TarEntry } from './archive.js';
import { loadBundle, MANIFEST_FILE, type LoadedBundle } from './bundle.js';
import { engineEntryFor, parseManifest, resolvePrecision, toModelSpec, type Manifest, type PrecisionSetting } from './manifest.js';
import { runSelfTest } from './selftest.js';
import { checkNotDowngrade } from './version-order.js';

/** How two label lists differ ("[a,b] instead of [a,c]"), or null when they are the same in the same order. */
function labelsChanged(before: readonly string[], after: readonly string[]): string | null {
  if (before.length === after.length && before.every((l, i) => l === after[i])) return null;
  return `[${after.join(', ')}] instead of the running model's [${before.join(', ')}]`;
}
import { checkDeclaredShapes } from './shape-check.js';
import { checkSignature, SIGNATURE_FILE, type TrustPolicy } from './signing.js';
import type { InstalledModel, ModelStore, RollDirection } from './store.js';

/** What is running now. */
export interface ActiveInfo {
  name: string;
  version: string;
  /** sha256 of the active bundle's manifest.json. */
  sha256: string;
  /** `installed`: a pushed version from the store; `base`: config model.path (the bundled model by default). */
  source: 'installed' | 'base';
  tag: string | null;
  dir: string;
  labels: string[];
}

export interface UpdateResult {
  ok: boolean;
  action: 'install' | 'rollback';
  /** Transfer or request id this answers (null for local operations). */
  id: string | null;
  reason?: ReasonCode;
  message: string;
  /** The version that was offered, when its manifest could be read. */
  offered?: { name: string; version: string; sha256: string };
  /** What is serving after the operation (unchanged on failure). */
  active: ActiveInfo;
  /** Wall-clock time of the result (ms since epoch). */
  wallMs: number;
}

/**
 * The agent's hot swap: load the classifier from `bundleDir` first, switch between frames, dispose the old one.
 * Throwing means the swap did not happen and the old model still serves.
 */
export type ActivateHook = (bundleDir: string, manifest: Manifest) => Promise<void>;

export interface InstallerOptions {
  store: ModelStore;
  loader: ClassifierLoader;
  /** The concrete engine this agent runs ('onnxruntime', 'tfjs-node', 'tfjs-wasm'). */
  engine: string;
  threads: number;
  /** config model.precision; 'auto' when absent (int8 where the bundle has it, on onnxruntime). */
  precision?: PrecisionSetting;
  trust: TrustPolicy;
  maxBundleBytes: number;
  maxEntries?: number;
  /** config model.path: what runs when no installed version is usable, and the last rollback target. */
  baseBundleDir: string;
  onActivate: ActivateHook;
  onResult?: (r: UpdateResult) => void;
  log: Logger;
  clock?: Clock;
}

function infoOf(b: LoadedBundle, source: ActiveInfo['source'], tag: string | null): ActiveInfo {
  return { name: b.manifest.name, version: b.manifest.version, sha256: b.manifestSha256, source, tag, dir: b.dir, labels: [...b.manifest.labels] };
}

function asFerError(err: unknown, fallback: ReasonCode, prefix = ''): FerError {
  if (err instanceof FerError) return err;
  return new FerError(fallback, `${prefix}${errorMessage(err)}`, { cause: err });
}

export class ModelInstaller {
  private activeInfo: ActiveInfo | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private last: UpdateResult | null = null;
  private readonly clock: Clock;
  private readonly listeners = new Set<(r: UpdateResult) => void>();

  constructor(private readonly o: InstallerOptions) {
    this.clock = o.clock ?? systemClock;
    if (o.onResult) this.listeners.add(o.onResult);
  }

  /** Calls `fn` with every result (install, rollback, success or not); returns an unsubscribe function. */
  onResult(fn: (r: UpdateResult) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Reports a failure that happened before the installer saw the bundle (transfer, download). */
  reportFailure(id: string | null, reason: ReasonCode, message: string): UpdateResult {
    return this.finish({ ok: false, action: 'install', id, reason, message, active: this.active });
  }

  get active(): ActiveInfo {
    if (!this.activeInfo) throw new Error('ModelInstaller.start() has not run');
    return this.activeInfo;
  }

  get lastResult(): UpdateResult | null {
    return this.last;
  }

  /**
   * Which bundle to load at startup: the last fully installed version, else the base bundle. The caller loads it
   * (this does not call onActivate).
   */
  async start(): Promise<{ dir: string; manifest: Manifest; info: ActiveInfo; skipped: Array<{ tag: string; reason: string }> }> {
    const r = await this.o.store.resolveActive();
    const b = r.active ? r.active.bundle : await loadBundle(this.o.baseBundleDir);
    this.activeInfo = infoOf(b, r.active ? 'installed' : 'base', r.active?.tag ?? null);
    return { dir: b.dir, manifest: b.manifest, info: this.activeInfo, skipped: r.skipped };
  }

  /** A bundle archive (.tar / .tar.gz) received over the network. */
  installArchive(bytes: Uint8Array, id: string | null = null, opts: { allowLabelChange?: boolean } = {}): Promise<UpdateResult> {
    return this.serial(() => this.runInstall(id, { forwardOnly: true, allowLabelChange: opts.allowLabelChange === true }, async (ctx) => {
      if (bytes.length > this.o.maxBundleBytes) {
        throw new FerError('model_too_large', `bundle is ${bytes.length} bytes; model.max_bundle_bytes is ${this.o.maxBundleBytes}`);
      }
      const entries = await readArchive(bytes, { maxBytes: this.o.maxBundleBytes, maxEntries: this.o.maxEntries ?? DEFAULT_MAX_ENTRIES });
      const manifest = this.manifestOf(entries, ctx);
      ctx.staging = await this.o.store.createStaging();
      await extractEntries(entries.filter((e) => e.path === MANIFEST_FILE || e.path === SIGNATURE_FILE || manifest.files[e.path] || e.path.startsWith('report/')), ctx.staging);
    }));
  }

  /**
   * A bundle directory on this machine (copied into the store first, so the source can go away). Whoever can put a
   * folder on the device and run this may also go back to an older version, unlike a push from the network.
   */
  installDir(dir: string, id: string | null = null): Promise<UpdateResult> {
    return this.serial(() => this.runInstall(id, { forwardOnly: false, allowLabelChange: true }, async (ctx) => {
      const src = await loadBundle(dir);
      ctx.offered = { name: src.manifest.name, version: src.manifest.version, sha256: src.manifestSha256 };
      ctx.staging = await this.o.store.createStaging();
      const names = [MANIFEST_FILE, ...(src.signature ? [SIGNATURE_FILE] : []), ...Object.keys(src.manifest.files)];
      for (const rel of names) {
        const to = path.join(ctx.staging, ...rel.split('/'));
        await mkdir(path.dirname(to), { recursive: true });
        await copyFile(path.join(src.dir, ...rel.split('/')), to);
      }
    }));
  }

  /** Goes back to the previous version (possibly the base model), or forward again after a rollback, hot-swapping it in. */
  rollback(id: string | null = null, direction: RollDirection = 'back'): Promise<UpdateResult> {
    return this.serial(async () => {
      const before = this.active;
      try {
        const r = await this.o.store.rollback(async (to) => {
          const b = to ? to.bundle : await loadBundle(this.o.baseBundleDir);
          await this.o.onActivate(b.dir, b.manifest);
          this.activeInfo = infoOf(b, to ? 'installed' : 'base', to?.tag ?? null);
        }, direction);
        const a = this.active;
        const verb = direction === 'back' ? 'rolled back' : 'rolled forward';
        return this.finish({ ok: true, action: 'rollback', id, message: `${verb} from ${r.from ?? 'base model'} to ${a.name} ${a.version}`, active: a });
      } catch (err) {
        const e = asFerError(err, 'io_failed', 'rollback failed: ');
        if (this.activeInfo !== before) await this.swapBack(before);
        return this.finish({ ok: false, action: 'rollback', id, reason: e.reason, message: e.message, active: this.active });
      }
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** The manifest entry of an archive, parsed, and a check that nothing unlisted rides along. */
  private manifestOf(entries: readonly TarEntry[], ctx: InstallContext): Manifest {
    const m = entries.find((e) => e.path === MANIFEST_FILE);
    if (!m) throw new FerError('model_archive_corrupt', `archive has no ${MANIFEST_FILE}`);
    const manifest = parseManifest(m.data);
    ctx.offered = { name: manifest.name, version: manifest.version, sha256: '' };
    for (const e of entries) {
      if (e.path !== MANIFEST_FILE && e.path !== SIGNATURE_FILE && !manifest.files[e.path] && !e.path.startsWith('report/')) {
        throw new FerError('model_archive_corrupt', `archive entry ${JSON.stringify(e.path)} is not listed in the manifest's files`);
      }
    }
    return manifest;
  }

  private async runInstall(id: string | null, o: { forwardOnly: boolean; allowLabelChange: boolean }, stage: (ctx: InstallContext) => Promise<void>): Promise<UpdateResult> {
    const ctx: InstallContext = { staging: null, offered: undefined };
    const before = this.active;
    // A holder, not a `let`: the finally block must see assignments made inside the try.
    const held: { c: EmotionClassifier | null } = { c: null };
    try {
      await stage(ctx);
      const staging = ctx.staging!;
      await this.o.store.stagingFilled();
      const bundle = await loadBundle(staging);
      const m = bundle.manifest;
      ctx.offered = { name: m.name, version: m.version, sha256: bundle.manifestSha256 };
      const sig = checkSignature(bundle.manifestBytes, bundle.signature, this.o.trust);
      if (o.forwardOnly) checkNotDowngrade(before, ctx.offered);
      if (!m.engines[engineEntryFor(this.o.engine)]) {
        throw new FerError('model_invalid', `manifest has no engines.${engineEntryFor(this.o.engine)}, which this agent's engine ${this.o.engine} needs`);
      }
      await checkDeclaredShapes(staging, m, this.o.engine);
      // After the shape check: a bundle whose labels do not fit its own model is broken, not a label change.
      const labelChange = labelsChanged(before.labels, m.labels);
      if (labelChange && !o.allowLabelChange) {
        throw new FerError('model_labels_changed', `${m.name} ${m.version} has labels ${labelChange}: automations keyed on the old labels would break; push it with --allow-label-change to accept`);
      }
      const precision = resolvePrecision(m, this.o.engine, this.o.precision ?? 'auto');
      try {
        held.c = await this.o.loader(staging, toModelSpec(m, precision), this.o.engine, this.o.threads);
      } catch (err) {
        throw asFerError(err, 'model_invalid', `model does not load on ${this.o.engine}: `);
      }
      const classifier = held.c;
      checkShape(classifier, m);
      let report;
      try {
        report = await runSelfTest(classifier, m);
      } catch (err) {
        // The only input the engine sees is the manifest's shape, so an engine error here means the shapes disagree.
        throw asFerError(err, 'model_shape_mismatch', `model rejects input [n,${m.input.channels},${m.input.height},${m.input.width}] on ${this.o.engine}: `);
      }
      held.c = null;
      await classifier.dispose();
      // The other ONNX form too (float beside int8): model.precision may be changed later, and a bundle must not
      // carry a model that would only fail then.
      const other = this.o.engine === 'onnxruntime' && m.engines.onnx_int8 ? (precision === 'int8' ? 'fp32' : 'int8') : null;
      if (other) {
        try {
          held.c = await this.o.loader(staging, toModelSpec(m, other), this.o.engine, this.o.threads);
        } catch (err) {
          throw asFerError(err, 'model_invalid', `the ${other} model does not load on ${this.o.engine}: `);
        }
        await runSelfTest(held.c, m);
        const c = held.c;
        held.c = null;
        await c.dispose();
      }
      let swapped = false;
      const installed: InstalledModel = await this.o.store.install(staging, bundle, async (inst) => {
        await this.o.onActivate(inst.dir, inst.bundle.manifest);
        swapped = true;
        this.activeInfo = infoOf(inst.bundle, 'installed', inst.tag);
      }).catch(async (err: unknown) => {
        if (swapped) await this.swapBack(before);
        throw err;
      });
      ctx.staging = null;
      this.activeInfo = infoOf(installed.bundle, 'installed', installed.tag);
      const a = this.active;
      const signedBy = sig.signed ? `signed by ${sig.keyId}` : 'unsigned (allowed by model.allow_unsigned)';
      const msg = before.sha256 === a.sha256
        ? `${a.name} ${a.version} is already active`
        : `installed ${a.name} ${a.version} (${signedBy}; self-test max difference ${report.maxDiff.toPrecision(2)} over ${report.cases} cases)` +
          (labelChange ? `; WARNING: labels changed to ${labelChange}, check automations keyed on the old ones` : '');
      return this.finish({ ok: true, action: 'install', id, message: msg, offered: ctx.offered, active: a });
    } catch (err) {
      const e = asFerError(err, 'io_failed');
      return this.finish({ ok: false, action: 'install', id, reason: e.reason, message: e.message, offered: ctx.offered, active: this.active });
    } finally {
      if (held.c) await held.c.dispose().catch(() => undefined);
      if (ctx.staging) await this.o.store.discardStaging(ctx.staging).catch(() => undefined);
    }
  }

  /** After a swap whose pointer update failed: put the previous model back so pointer and agent agree. */
  private async swapBack(before: ActiveInfo): Promise<void> {
    try {
      const b = await loadBundle(before.dir);
      await this.o.onActivate(b.dir, b.manifest);
      this.activeInfo = before;
    } catch (err) {
      this.o.log.error({ err: errorMessage(err), dir: before.dir }, 'could not swap the previous model back after a failed update');
    }
  }

  private finish(r: Omit<UpdateResult, 'wallMs'>): UpdateResult {
    const result: UpdateResult = { ...r, wallMs: this.clock.wall() };
    this.last = result;
    if (result.ok) this.o.log.info({ id: r.id, action: r.action, model: `${r.active.name} ${r.active.version}` }, result.message);
    else this.o.log.warn({ id: r.id, action: r.action, reason: r.reason, offered: r.offered?.version }, `model update rejected: ${result.message}`);
    for (const fn of this.listeners) {
      try {
        fn(result);
      } catch (err) {
        this.o.log.error({ err: errorMessage(err) }, 'model update result listener failed');
      }
    }
    return result;
  }
}

interface InstallContext {
  staging: string | null;
  offered: UpdateResult['offered'];
}

/** The loaded model must agree with its manifest on labels and input size. */
function checkShape(c: EmotionClassifier, m: Manifest): void {
  if (c.labels.length !== m.labels.length) {
    throw new FerError('model_shape_mismatch', `model on ${c.engine} has ${c.labels.length} labels; the manifest lists ${m.labels.length}`);
  }
  const i = c.spec.input;
  if (i.width !== m.input.width || i.height !== m.input.height || i.channels !== m.input.channels) {
    throw new FerError('model_shape_mismatch', `model on ${c.engine} takes ${i.width}x${i.height}x${i.channels}; the manifest says ${m.input.width}x${m.input.height}x${m.input.channels}`);
  }
}
