/**
 * The agent's side of releases (desired state, BUNDLE.md "Releases"): holds the retained release record of each of
 * its targets (its id, its groups, `all`), and converges on the newest one whenever it connects and whenever one of
 * those records changes: fetch the archive (retained chunks or a URL), check it, install it through the same accept
 * path as a push, report. Refused records (forged, untrusted, stale, a downgrade) are reported, never acted on.
 */
import { readFile } from 'node:fs/promises';
import type { BrokerLink } from '../core/broker-link.js';
import { systemClock, type Clock } from '../core/clock.js';
import { FerError, errorMessage, type ReasonCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { settleWithin } from '../core/settle.js';
import { fetchBundle } from './fetch.js';
import { atomicReplace } from './fsutil.js';
import type { ModelInstaller, UpdateResult } from './installer.js';
import { decodeRelease, isStale, newestRecord, planRelease, releaseTopics, type ReleaseBody } from './release-record.js';
import type { TrustPolicy } from './signing.js';
import { agentTargets, Reassembler, type ReleaseState } from './transport.js';
import { fetchAllowed } from './updates.js';

export interface ReleaseFollowerOptions {
  installer: ModelInstaller;
  agentId: string;
  groups: readonly string[];
  baseTopic: string;
  trust: TrustPolicy;
  maxBundleBytes: number;
  /** `<state_dir>/releases.json`: the newest seq accepted per target, so a replayed older record is refused after a restart too. */
  stateFile: string;
  fetchAllow: readonly string[];
  log: Logger;
  clock?: Clock;
  /** Chunk download given up after this long without a chunk (default 30 s); retried at the next connect. */
  blobIdleMs?: number;
  fetchTimeoutMs?: number;
  /** The release state changed: re-publish the status. */
  onChange: () => void;
}

/** How long a finished chunk download waits for the broker to confirm its unsubscribe. */
const UNSUBSCRIBE_WAIT_MS = 2000;

/** Failures worth retrying at the next connect: the bytes did not arrive; nothing was wrong with the release. */
const TRANSIENT: ReadonlySet<ReasonCode> = new Set<ReasonCode>(['io_failed', 'model_archive_corrupt', 'model_transfer_refused', 'broker_unavailable']);

export class ReleaseFollower {
  private link: BrokerLink | null = null;
  private off: Array<() => void> = [];
  private readonly records = new Map<string, ReleaseBody>();
  private seen = new Map<string, number>();
  /** Release ids tried, with the reason they failed (null: they did not fail). */
  private readonly tried = new Map<string, ReasonCode | null>();
  private readonly subscriptions: string[];
  private readonly clock: Clock;
  private current: ReleaseState | null = null;
  private chain: Promise<void> = Promise.resolve();
  private blob: { prefix: string; accept: (index: number, data: Uint8Array) => void } | null = null;
  /** Aborted by detach(): a download in flight (a URL, or chunks that stopped coming) must not hold the agent's stop. */
  private cancel = new AbortController();

  constructor(private readonly o: ReleaseFollowerOptions) {
    this.clock = o.clock ?? systemClock;
    this.subscriptions = agentTargets(o.agentId, o.groups).map((t) => releaseTopics.record(o.baseTopic, t));
  }

  get state(): ReleaseState | null {
    return this.current;
  }

  async attach(link: BrokerLink): Promise<void> {
    this.link = link;
    this.cancel = new AbortController();
    try {
      const v = JSON.parse(await readFile(this.o.stateFile, 'utf8')) as { seen?: Record<string, number> };
      this.seen = new Map(Object.entries(v.seen ?? {}).filter(([, n]) => Number.isSafeInteger(n)));
    } catch {
      this.seen = new Map(); // none yet (or unreadable: the broker's records are checked against their signatures anyway)
    }
    this.off = [
      link.onMessage((topic, payload) => this.onMessage(topic, payload)),
      link.onConnect(() => void this.onConnected(link)),
    ];
    if (link.connected()) await this.onConnected(link);
  }

  /** Every connect: subscribe again (the retained records arrive), and retry a release whose bytes did not arrive. */
  private async onConnected(link: BrokerLink): Promise<void> {
    for (const [id, reason] of this.tried) if (reason && TRANSIENT.has(reason)) this.tried.delete(id);
    try {
      await link.subscribe(this.subscriptions);
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'cannot subscribe to release records');
      return;
    }
    this.reconcile();
  }

  /** Stops following; a download in flight is cancelled, reported nowhere, and tried again at the next attach. */
  async detach(): Promise<void> {
    for (const f of this.off) f();
    this.off = [];
    const l = this.link;
    this.cancel.abort();
    // Not waited for: over a half-open link the broker never confirms, and the handlers are already gone.
    if (l?.connected()) void l.unsubscribe(this.subscriptions).catch(() => undefined);
    await this.idle();
    this.link = null;
  }

  /** Resolves when the work queued so far is done (tests, shutdown). */
  async idle(): Promise<void> {
    let c: Promise<void>;
    do {
      c = this.chain;
      await c;
    } while (c !== this.chain);
  }

  private onMessage(topic: string, payload: Uint8Array): void {
    if (this.blob && topic.startsWith(this.blob.prefix)) {
      const index = Number(topic.slice(this.blob.prefix.length));
      if (Number.isSafeInteger(index) && index >= 0) this.blob.accept(index, payload);
      return;
    }
    const i = this.subscriptions.indexOf(topic);
    if (i < 0) return;
    const target = agentTargets(this.o.agentId, this.o.groups)[i]!;
    if (payload.length === 0) {
      // Withdrawn (the operator cleared it): nothing to converge to for this target; what runs stays.
      this.records.delete(target);
      return;
    }
    let body: ReleaseBody;
    try {
      body = decodeRelease(payload, target, this.o.trust).body;
    } catch (err) {
      const e = err instanceof FerError ? err : new FerError('release_invalid', errorMessage(err));
      this.o.log.warn({ topic, reason: e.reason, err: e.message }, 'release record refused');
      this.report(null, target, '?', 'refused', e.reason, e.message);
      return;
    }
    if (isStale(body, this.seen)) {
      const msg = `release ${body.id} (${body.name} ${body.version}, seq ${body.seq}) is older than the release already accepted for ${target} (seq ${this.seen.get(target)}): a replayed record`;
      this.o.log.warn({ topic, release: body.id }, 'stale release record refused');
      this.report(body.id, target, body.version, 'refused', 'release_stale', msg);
      return;
    }
    this.records.set(target, body);
    if (this.seen.get(target) !== body.seq) {
      this.seen.set(target, body.seq);
      void atomicReplace(this.o.stateFile, JSON.stringify({ format: 'fer-edge-releases/1', seen: Object.fromEntries(this.seen) }) + '\n')
        .catch((err: unknown) => this.o.log.warn({ err: errorMessage(err), file: this.o.stateFile }, 'cannot record the release seen'));
    }
    this.reconcile();
  }

  /** Queues one convergence step (serial: one release at a time). */
  private reconcile(): void {
    this.chain = this.chain.then(() => this.step()).catch((err: unknown) => this.o.log.error({ err: errorMessage(err) }, 'release reconciliation failed'));
  }

  private async step(): Promise<void> {
    if (this.cancel.signal.aborted) return;
    const record = newestRecord([...this.records.values()]);
    if (!record) return;
    const plan = planRelease(record, this.o.installer.active);
    if (plan.action === 'converged' || plan.action === 'ahead') {
      const active = this.o.installer.active;
      this.setState(record, plan.action, null, `running ${active.name} ${active.version}`);
      return;
    }
    if (plan.action === 'refuse') {
      if (this.current?.id !== record.id || this.current.state !== 'refused') this.report(record.id, record.target, record.version, 'refused', plan.reason, plan.message);
      return;
    }
    if (this.tried.has(record.id)) return; // done with it until something changes (a transient failure: next connect)
    const link = this.link;
    if (!link?.connected()) return;
    this.tried.set(record.id, null);
    // Bounded: only the newest release ids matter (an old one is never the newest record again).
    if (this.tried.size > 64) this.tried.delete(this.tried.keys().next().value as string);
    this.setState(record, 'fetching', null, `fetching ${record.source.bytes} bytes`);
    this.o.log.info({ release: record.id, version: record.version, bytes: record.source.bytes, from: record.source.kind }, 'fetching release');
    let bytes: Uint8Array;
    try {
      bytes = record.source.kind === 'chunks' ? await this.fetchChunks(link, record) : await this.fetchUrl(record);
    } catch (err) {
      if (this.cancel.signal.aborted) {
        this.tried.delete(record.id);
        this.o.log.info({ release: record.id }, 'release download cancelled: the agent is stopping');
        return;
      }
      const e = err instanceof FerError ? err : new FerError('io_failed', errorMessage(err));
      this.tried.set(record.id, e.reason);
      this.report(record.id, record.target, record.version, 'failed', e.reason, e.message);
      return;
    }
    this.setState(record, 'installing', null, `installing ${record.name} ${record.version}`);
    const r: UpdateResult = await this.o.installer.installArchive(bytes, record.id, { allowLabelChange: record.allow_label_change });
    this.tried.set(record.id, r.ok ? null : (r.reason ?? 'model_invalid'));
    if (r.ok) this.setState(record, 'converged', null, r.message);
    else this.setState(record, 'failed', r.reason ?? null, r.message);
  }

  /** Reads the retained chunks of the record's archive (subscribe, collect, unsubscribe), checked by size and sha256. */
  private async fetchChunks(link: BrokerLink, record: ReleaseBody): Promise<Uint8Array> {
    const src = record.source;
    if (src.kind !== 'chunks') throw new Error('not a chunked release');
    if (src.bytes > this.o.maxBundleBytes) throw new FerError('model_too_large', `release ${record.id} is ${src.bytes} bytes; model.max_bundle_bytes is ${this.o.maxBundleBytes}`);
    const idleMs = this.o.blobIdleMs ?? 30_000;
    const r = new Reassembler({ maxBytes: this.o.maxBundleBytes, maxTransfers: 1, idleTimeoutMs: idleMs }, this.clock);
    r.accept({ type: 'begin', transfer: record.id, bytes: src.bytes, sha256: src.sha256, chunks: src.chunks, chunk_bytes: src.chunk_bytes });
    r.accept({ type: 'end', transfer: record.id });
    const filter = releaseTopics.blobAll(this.o.baseTopic, src.sha256);
    const signal = this.cancel.signal;
    let onCancel: (() => void) | null = null;
    try {
      return await new Promise<Uint8Array>((resolve, reject) => {
        let timer = setTimeout(() => onIdle(), idleMs);
        onCancel = (): void => {
          clearTimeout(timer);
          reject(new FerError('io_failed', `release ${record.id}: cancelled`));
        };
        if (signal.aborted) onCancel();
        signal.addEventListener('abort', onCancel, { once: true });
        const onIdle = (): void => {
          const p = r.progress(record.id);
          reject(new FerError('model_archive_corrupt', `release ${record.id}: ${p?.received ?? 0} of ${src.chunks} chunks arrived within ${Math.round(idleMs / 1000)} s (are the retained chunks on this broker?)`));
        };
        this.blob = {
          prefix: filter.slice(0, -1),
          accept: (index, data) => {
            clearTimeout(timer);
            timer = setTimeout(onIdle, idleMs);
            const out = r.accept({ type: 'chunk', transfer: record.id, index, data });
            if (out.kind === 'complete') {
              clearTimeout(timer);
              resolve(out.data);
            } else if (out.kind === 'failed') {
              clearTimeout(timer);
              reject(new FerError(out.reason, out.message));
            }
          },
        };
        link.subscribe([filter]).catch((err: unknown) => {
          clearTimeout(timer);
          reject(new FerError('broker_unavailable', `cannot subscribe to the chunks of release ${record.id}: ${errorMessage(err)}`));
        });
      });
    } finally {
      if (onCancel) signal.removeEventListener('abort', onCancel);
      this.blob = null;
      // Bounded: a half-open link never answers, and the next release (or the agent's stop) waits behind this one.
      if (link.connected()) await settleWithin(link.unsubscribe([filter]), UNSUBSCRIBE_WAIT_MS, signal).catch(() => undefined);
    }
  }

  private async fetchUrl(record: ReleaseBody): Promise<Uint8Array> {
    const src = record.source;
    if (src.kind !== 'url') throw new Error('not a URL release');
    const allowed = fetchAllowed(src.url, this.o.fetchAllow);
    if (allowed !== true) throw new FerError('command_invalid', `release ${record.id}: ${allowed}`);
    return fetchBundle(src.url, {
      sha256: src.sha256,
      maxBytes: this.o.maxBundleBytes,
      timeoutMs: this.o.fetchTimeoutMs ?? 120_000,
      allowRedirect: (to) => fetchAllowed(to, this.o.fetchAllow) === true,
      signal: this.cancel.signal,
    });
  }

  private setState(record: ReleaseBody, state: ReleaseState['state'], reason: ReasonCode | null, message: string): void {
    const same = this.current && this.current.id === record.id && this.current.state === state && this.current.reason === reason;
    this.current = { id: record.id, target: record.target, version: record.version, state, reason, message, at: new Date(this.clock.wall()).toISOString() };
    if (!same) this.o.onChange();
  }

  /** A refusal or failure: in the release state and, like a refused push, as the status's last_update. */
  private report(id: string | null, target: string, version: string, state: 'refused' | 'failed', reason: ReasonCode, message: string): void {
    this.current = { id: id ?? '?', target, version, state, reason, message, at: new Date(this.clock.wall()).toISOString() };
    this.o.installer.reportFailure(id, reason, message); // the status is re-published by the update service
  }
}
