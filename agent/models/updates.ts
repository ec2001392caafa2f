/**
 * The agent's side of model updates over MQTT: listens on `<base>/{agent_id,groups…,all}/model/{push,rollback}`,
 * reassembles chunked pushes or downloads `fetch` URLs, hands the archive to the installer and keeps the retained
 * `<base>/<agent_id>/model/status` up to date. Uses the agent's existing broker connection.
 */
import type { BrokerLink } from '../core/broker-link.js';
import { systemClock, type Clock } from '../core/clock.js';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { settleWithin } from '../core/settle.js';
import { fetchBundle } from './fetch.js';
import type { ModelInstaller, UpdateResult } from './installer.js';
import {
  agentTargets,
  buildStatus,
  decodePushMessage,
  decodeRollback,
  parseCommandTopic,
  Reassembler,
  topics,
  type ReassemblyOutcome,
  type RollbackCommand,
  type ReleaseState,
  type StatusPayload,
} from './transport.js';

/** The transfer id of a push message whose header is readable JSON, for answering a malformed one; else null. */
function transferIdOf(payload: Uint8Array): string | null {
  const nl = payload.indexOf(0x0a);
  try {
    const h = JSON.parse(Buffer.from(payload.subarray(0, nl < 0 ? Math.min(payload.length, 4096) : nl)).toString('utf8')) as { transfer?: unknown };
    return typeof h.transfer === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(h.transfer) ? h.transfer : null;
  } catch {
    return null;
  }
}

export interface UpdateServiceOptions {
  installer: ModelInstaller;
  agentId: string;
  groups: readonly string[];
  baseTopic: string;
  maxBundleBytes: number;
  log: Logger;
  clock?: Clock;
  /** A transfer with no message for this long is dropped (default 60 s). */
  transferIdleMs?: number;
  maxTransfers?: number;
  fetchTimeoutMs?: number;
  /** URL prefixes a `fetch` message may name (model.fetch_allow); none (the default): fetch messages are refused. */
  fetchAllow?: readonly string[];
  /** Where the agent stands against its release records (release-follower.ts), for the status. */
  release?: () => ReleaseState | null;
}

export class ModelUpdateService {
  private link: BrokerLink | null = null;
  private offLink: Array<() => void> = [];
  private readonly clock: Clock;
  private readonly reassembler: Reassembler;
  private readonly fetched: string[] = [];
  private readonly subscriptions: string[];
  private busy = 0;
  private fetching = 0;
  private latestVersion: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribeResults: (() => void) | null = null;
  private pending = new Set<Promise<unknown>>();
  /** Aborted by detach(): a download in flight must not hold the agent's stop for its whole timeout. */
  private cancel = new AbortController();

  constructor(private readonly o: UpdateServiceOptions) {
    this.clock = o.clock ?? systemClock;
    this.reassembler = new Reassembler({ maxBytes: o.maxBundleBytes, maxTransfers: o.maxTransfers ?? 2, idleTimeoutMs: o.transferIdleMs ?? 60_000 }, this.clock);
    const targets = agentTargets(o.agentId, o.groups);
    this.subscriptions = targets.flatMap((t) => [topics.push(o.baseTopic, t), topics.rollback(o.baseTopic, t)]);
  }

  get statusTopic(): string {
    return topics.status(this.o.baseTopic, this.o.agentId);
  }

  /** Subscribes (QoS 1) and publishes the current status; re-publishes it after every reconnect. */
  async attach(link: BrokerLink): Promise<void> {
    this.link = link;
    this.cancel = new AbortController();
    this.offLink = [
      link.onMessage((topic, payload, retained) => this.track(this.handleMessage(topic, payload, retained))),
      link.onConnect(() => this.track(this.onConnected(link))),
    ];
    this.unsubscribeResults = this.o.installer.onResult((r) => this.onResult(r));
    this.timer = setInterval(() => this.expire(), Math.min(5000, Math.max(100, (this.o.transferIdleMs ?? 60_000) / 4)));
    this.timer.unref();
    // Nothing here waits for the broker: with it down at boot, start-up goes on (frames flow) and the subscription is
    // made when the link connects. A subscribe while disconnected would reject and abort the agent's start.
    if (link.connected()) await this.onConnected(link);
  }

  /** On every connect: subscribe (a clean session forgets subscriptions), then the retained status. */
  private async onConnected(link: BrokerLink): Promise<void> {
    await link.subscribe(this.subscriptions);
    await this.publishStatus();
  }

  /** Stops listening; cancels downloads in flight (nothing is reported for them) and waits for work already started
   * (an install in progress finishes), but not for the broker: over a half-open link it never answers. */
  async detach(): Promise<void> {
    const c = this.link;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribeResults?.();
    this.unsubscribeResults = null;
    for (const off of this.offLink) off();
    this.offLink = [];
    this.cancel.abort();
    // Not waited for: over a half-open link the broker never confirms, and the handlers are already gone.
    if (c?.connected()) void c.unsubscribe(this.subscriptions).catch(() => undefined);
    await Promise.allSettled([...this.pending]);
    this.link = null;
  }

  /** Resolves once every message handled so far has been fully processed (tests). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  status(): StatusPayload {
    return buildStatus({
      agentId: this.o.agentId,
      groups: this.o.groups,
      active: this.o.installer.active,
      last: this.o.installer.lastResult,
      latestVersion: this.latestVersion,
      inProgress: this.busy > 0 || this.reassembler.inProgress > 0,
      wallMs: this.clock.wall(),
      release: this.o.release?.() ?? null,
    });
  }

  async publishStatus(): Promise<void> {
    const c = this.link;
    if (!c?.connected()) return;
    try {
      // Stopping gives up waiting for the acknowledgement (the status is retained and published again at connect).
      await settleWithin(c.publish(this.statusTopic, JSON.stringify(this.status()), { qos: 1, retain: true }), Infinity, this.cancel.signal);
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'cannot publish model status');
    }
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => this.o.log.error({ err: errorMessage(err) }, 'model update handling failed'));
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  private onResult(r: UpdateResult): void {
    // A refused downgrade is not "an update available": Home Assistant's update entity would offer the old version.
    if (r.offered && r.reason !== 'model_downgrade') this.latestVersion = r.offered.version;
    this.track(this.publishStatus());
  }

  private expire(): void {
    for (const out of this.reassembler.expire()) this.track(this.outcome(out));
  }

  /** One MQTT message on a subscribed topic. Retained push/rollback messages are ignored (they would replay forever). */
  async handleMessage(topic: string, payload: Uint8Array, retained: boolean): Promise<void> {
    const t = parseCommandTopic(this.o.baseTopic, topic);
    if (!t || !this.subscriptions.includes(topic)) return;
    if (retained) {
      this.o.log.warn({ topic }, 'ignoring a retained model command; publish model pushes and rollbacks without retain');
      return;
    }
    if (t.kind === 'rollback') {
      let cmd: RollbackCommand;
      try {
        cmd = decodeRollback(payload);
      } catch (err) {
        this.o.installer.reportFailure(null, 'command_invalid', errorMessage(err));
        return;
      }
      await this.busyWith(() => this.o.installer.rollback(cmd.request, cmd.direction));
      return;
    }
    let m;
    try {
      m = decodePushMessage(payload);
    } catch (err) {
      // Answered, not only logged: the pusher sees why on the status topic instead of waiting for its timeout.
      this.o.log.warn({ topic, err: errorMessage(err) }, 'refusing a malformed model push message');
      this.o.installer.reportFailure(transferIdOf(payload), 'command_invalid', errorMessage(err));
      return;
    }
    if (m.type === 'fetch') {
      if (this.fetched.includes(m.transfer)) return;
      this.fetched.push(m.transfer);
      if (this.fetched.length > 64) this.fetched.shift();
      // Refused before any request, and without echoing the URL: what a refused URL would have answered (loopback
      // services, LAN hosts, content hashes) must not come back on the retained status.
      const allowed = fetchAllowed(m.url, this.o.fetchAllow ?? []);
      if (allowed !== true) {
        this.o.installer.reportFailure(m.transfer, 'command_invalid', allowed);
        return;
      }
      // Downloads share the transfer slots with chunked pushes (at most maxTransfers at once, each at most
      // max_bundle_bytes): a flood of fetch messages cannot grow the agent's memory.
      if (this.slotsFull(m.transfer)) return;
      if (m.bytes !== undefined && m.bytes > this.o.maxBundleBytes) {
        this.o.installer.reportFailure(m.transfer, 'model_too_large', `bundle is ${m.bytes} bytes; model.max_bundle_bytes is ${this.o.maxBundleBytes}`);
        return;
      }
      const f = m;
      this.fetching++; // held until the archive is installed: its bytes are in memory until then
      try {
        await this.busyWith(async () => {
          await this.publishStatus();
          let bytes: Uint8Array;
          try {
            bytes = await fetchBundle(f.url, {
              sha256: f.sha256,
              maxBytes: this.o.maxBundleBytes,
              timeoutMs: this.o.fetchTimeoutMs ?? 120_000,
              allowRedirect: (to) => fetchAllowed(to, this.o.fetchAllow ?? []) === true,
              signal: this.cancel.signal,
            });
          } catch (err) {
            // Stopped mid-download: not the push's fault, so no failure goes on the retained status, and the same
            // message sent again is fetched again.
            if (this.cancel.signal.aborted) {
              const i = this.fetched.indexOf(f.transfer);
              if (i >= 0) this.fetched.splice(i, 1);
              this.o.log.info({ transfer: f.transfer }, 'model download cancelled: the agent is stopping');
              return;
            }
            const e = err instanceof FerError ? err : new FerError('io_failed', errorMessage(err));
            this.o.installer.reportFailure(f.transfer, e.reason, e.message);
            return;
          }
          await this.o.installer.installArchive(bytes, f.transfer, { allowLabelChange: f.allow_label_change === true });
        });
      } finally {
        this.fetching--;
      }
      return;
    }
    // The reassembler bounds chunked transfers among themselves; downloads in progress count against the same slots.
    if (m.type === 'begin' && this.fetching > 0 && this.slotsFull(m.transfer)) return;
    const before = this.reassembler.inProgress;
    const out = this.reassembler.accept(m);
    if (this.reassembler.inProgress > before) await this.publishStatus();
    await this.outcome(out);
  }

  private async outcome(out: ReassemblyOutcome): Promise<void> {
    if (out.kind === 'progress' && out.evicted) await this.outcome(out.evicted);
    if (out.kind === 'ignored') {
      this.o.log.debug({ transfer: out.transfer, why: out.why }, 'model push message ignored');
    } else if (out.kind === 'failed') {
      this.o.installer.reportFailure(out.transfer, out.reason, out.message);
    } else if (out.kind === 'complete') {
      this.o.log.info({ transfer: out.transfer, bytes: out.data.length }, 'model bundle received; verifying');
      await this.busyWith(() => this.o.installer.installArchive(out.data, out.transfer, { allowLabelChange: out.allowLabelChange }));
    }
  }

  /** All transfer slots taken (downloads and chunked transfers together): refuses `transfer` and says so. */
  private slotsFull(transfer: string): boolean {
    const slots = this.o.maxTransfers ?? 2;
    if (this.fetching + this.reassembler.inProgress < slots) return false;
    this.o.installer.reportFailure(transfer, 'model_transfer_refused', `refused: ${slots} transfers are in progress; try again when they are done`);
    return true;
  }

  /** Marks work in progress (in_progress in the status) and publishes the status once it is done. */
  private async busyWith(fn: () => Promise<unknown>): Promise<void> {
    this.busy++;
    try {
      await fn();
    } finally {
      this.busy--;
      await this.publishStatus();
    }
  }
}

/**
 * true when `url` starts with one of the allowed prefixes (compared on the parsed URL, so `http://a.example@evil/`,
 * a prefix without its host's end, `..` segments or a prefix's name run on cannot be abused); else why not, without
 * echoing the URL.
 */
export function fetchAllowed(url: string, allow: readonly string[]): true | string {
  if (allow.length === 0) return 'this agent does not accept fetch messages (model.fetch_allow is empty)';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'the fetch URL is not a URL';
  }
  if (u.username || u.password) return 'the fetch URL carries credentials; it is not in model.fetch_allow';
  const href = u.href;
  for (const p of allow) {
    let pu: URL;
    try {
      pu = new URL(p);
    } catch {
      continue;
    }
    // Same origin, and the path under the prefix's path. A prefix that does not end in '/' ends at a path segment:
    // https://h/models allows /models and /models/x, not /models-private (an admin reads a prefix as a folder).
    if (pu.origin !== u.origin || !href.startsWith(pu.href)) continue;
    const rest = href.slice(pu.href.length);
    if (pu.href.endsWith('/') || rest === '' || /^[/?#]/.test(rest)) return true;
  }
  return 'the fetch URL is not in model.fetch_allow';
}
