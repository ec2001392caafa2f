/**
 * The model-update protocol over MQTT (written down in BUNDLE.md, "Transport over MQTT"), pure: topics, message
 * framing, status payloads and chunk reassembly. No I/O here; updates.ts (agent) and cli/model-cli.ts (workstation)
 * move the bytes.
 *
 * Every push message is one MQTT payload: a UTF-8 JSON header, a newline (0x0a), then raw bytes (chunks only).
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { FerError, type ReasonCode } from '../core/errors.js';
import type { ActiveInfo, UpdateResult } from './installer.js';

export const PUSH_PROTO = 'fer-model-push/1';
export const ROLLBACK_PROTO = 'fer-model-rollback/1';
export const STATUS_PROTO = 'fer-model-status/1';
export const TARGET_ALL = 'all';
export const DEFAULT_CHUNK_BYTES = 256 * 1024;
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
const MAX_HEADER_BYTES = 4096;

const ID_RE = /^[a-zA-Z0-9_-]{1,64}$/;
const TRANSFER_RE = /^[a-zA-Z0-9_-]{8,64}$/;
const SHA_RE = /^[0-9a-f]{64}$/;

// ---------------------------------------------------------------- topics

export function checkTarget(target: string, what = 'target'): string {
  if (!ID_RE.test(target)) throw new FerError('command_invalid', `${what} ${JSON.stringify(target)} is not an agent id, group or "all" (1-64 of a-z, A-Z, 0-9, _ or -)`);
  return target;
}

export const topics = {
  push: (base: string, target: string): string => `${base}/${checkTarget(target)}/model/push`,
  rollback: (base: string, target: string): string => `${base}/${checkTarget(target)}/model/rollback`,
  status: (base: string, agentId: string): string => `${base}/${checkTarget(agentId, 'agent id')}/model/status`,
  statusAll: (base: string): string => `${base}/+/model/status`,
};

/** Everything an agent listens to: its own id, each of its groups, and `all`. */
export function agentTargets(agentId: string, groups: readonly string[]): string[] {
  return [...new Set([agentId, ...groups, TARGET_ALL])].map((t) => checkTarget(t));
}

/** The target segment of a push/rollback topic, or null when the topic is not one. */
export function parseCommandTopic(base: string, topic: string): { target: string; kind: 'push' | 'rollback' } | null {
  if (!topic.startsWith(base + '/')) return null;
  const rest = topic.slice(base.length + 1).split('/');
  if (rest.length !== 3 || rest[1] !== 'model' || (rest[2] !== 'push' && rest[2] !== 'rollback') || !ID_RE.test(rest[0]!)) return null;
  return { target: rest[0]!, kind: rest[2] };
}

// ---------------------------------------------------------------- push messages

export interface BeginMessage {
  type: 'begin';
  transfer: string;
  /** Size and sha256 (hex) of the whole archive. */
  bytes: number;
  sha256: string;
  chunks: number;
  chunk_bytes: number;
  /** The pusher accepts a model whose labels differ from the running one's (`model push --allow-label-change`). */
  allow_label_change?: boolean;
}
export interface ChunkMessage {
  type: 'chunk';
  transfer: string;
  index: number;
  data: Uint8Array;
}
export interface EndMessage {
  type: 'end';
  transfer: string;
}
export interface FetchMessage {
  type: 'fetch';
  transfer: string;
  url: string;
  sha256: string;
  /** Size of the archive, when known (lets the agent refuse early). */
  bytes?: number;
  allow_label_change?: boolean;
}
export type PushMessage = BeginMessage | ChunkMessage | EndMessage | FetchMessage;

export function encodePushMessage(m: PushMessage): Uint8Array {
  const { data, ...head } = m as PushMessage & { data?: Uint8Array };
  const header = Buffer.from(JSON.stringify({ proto: PUSH_PROTO, ...head }) + '\n');
  return new Uint8Array(data ? Buffer.concat([header, data]) : header);
}

function invalid(msg: string): never {
  throw new FerError('command_invalid', `model push message ${msg}`);
}

function flag(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') invalid(`field ${field} = ${JSON.stringify(v)} is not true or false`);
  return v;
}

function nat(v: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) invalid(`field ${field} = ${JSON.stringify(v)} is not an integer in [0, ${max}]`);
  return v;
}

/** Parses and validates one push payload; throws FerError('command_invalid') naming the bad field. */
export function decodePushMessage(payload: Uint8Array): PushMessage {
  const nl = payload.indexOf(0x0a);
  if (nl === -1 || nl > MAX_HEADER_BYTES) invalid(`has no JSON header line within ${MAX_HEADER_BYTES} bytes`);
  let h: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(0, nl)));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    h = v as Record<string, unknown>;
  } catch (err) {
    return invalid(`header is not a JSON object: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (h.proto !== PUSH_PROTO) invalid(`proto = ${JSON.stringify(h.proto)} is not ${JSON.stringify(PUSH_PROTO)}`);
  const transfer = h.transfer;
  if (typeof transfer !== 'string' || !TRANSFER_RE.test(transfer)) invalid(`field transfer = ${JSON.stringify(transfer)} is not 8-64 of a-z, A-Z, 0-9, _ or -`);
  const body = payload.subarray(nl + 1);
  if (h.type !== 'chunk' && body.length > 0) invalid(`of type ${String(h.type)} carries ${body.length} unexpected bytes`);
  const sha = (v: unknown): string => (typeof v === 'string' && SHA_RE.test(v) ? v : invalid(`field sha256 = ${JSON.stringify(v)} is not 64 lowercase hex digits`));
  switch (h.type) {
    case 'begin': {
      const bytes = nat(h.bytes, 'bytes');
      const chunkBytes = nat(h.chunk_bytes, 'chunk_bytes', MAX_CHUNK_BYTES);
      if (chunkBytes === 0) invalid('field chunk_bytes = 0 must be positive');
      const chunks = nat(h.chunks, 'chunks');
      if (chunks !== Math.max(1, Math.ceil(bytes / chunkBytes))) invalid(`field chunks = ${chunks} does not fit bytes ${bytes} / chunk_bytes ${chunkBytes}`);
      const m: BeginMessage = { type: 'begin', transfer, bytes, sha256: sha(h.sha256), chunks, chunk_bytes: chunkBytes };
      if (h.allow_label_change !== undefined) m.allow_label_change = flag(h.allow_label_change, 'allow_label_change');
      return m;
    }
    case 'chunk':
      return { type: 'chunk', transfer, index: nat(h.index, 'index'), data: body };
    case 'end':
      return { type: 'end', transfer };
    case 'fetch': {
      const url = h.url;
      let ok = false;
      try {
        const u = new URL(String(url));
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && typeof url === 'string' && url.length <= 2048;
      } catch {
        ok = false;
      }
      if (!ok) invalid(`field url = ${JSON.stringify(url)} is not an http(s) URL`);
      const m: FetchMessage = { type: 'fetch', transfer, url: url as string, sha256: sha(h.sha256) };
      if (h.bytes !== undefined) m.bytes = nat(h.bytes, 'bytes');
      if (h.allow_label_change !== undefined) m.allow_label_change = flag(h.allow_label_change, 'allow_label_change');
      return m;
    }
    default:
      return invalid(`type = ${JSON.stringify(h.type)} is not begin, chunk, end or fetch`);
  }
}

/** The messages that carry `archive` as transfer `transfer`: begin, chunks, end. */
export function* chunkTransfer(archive: Uint8Array, transfer: string, chunkBytes = DEFAULT_CHUNK_BYTES, opts: { allowLabelChange?: boolean } = {}): Generator<PushMessage> {
  const chunks = Math.max(1, Math.ceil(archive.length / chunkBytes));
  const sha256 = createHash('sha256').update(archive).digest('hex');
  yield { type: 'begin', transfer, bytes: archive.length, sha256, chunks, chunk_bytes: chunkBytes, ...(opts.allowLabelChange ? { allow_label_change: true } : {}) };
  for (let i = 0; i < chunks; i++) yield { type: 'chunk', transfer, index: i, data: archive.subarray(i * chunkBytes, (i + 1) * chunkBytes) };
  yield { type: 'end', transfer };
}

// ---------------------------------------------------------------- rollback command

export interface RollbackCommand {
  request: string | null;
  /** back (the default): the previous version; forward: undo the last rollback. */
  direction: 'back' | 'forward';
}

export function encodeRollback(request: string, direction: RollbackCommand['direction'] = 'back'): string {
  return JSON.stringify(direction === 'back' ? { proto: ROLLBACK_PROTO, request } : { proto: ROLLBACK_PROTO, request, direction });
}

/** An empty payload is a rollback without a request id (handy from Home Assistant or mosquitto_pub). */
export function decodeRollback(payload: Uint8Array): RollbackCommand {
  if (payload.length === 0) return { request: null, direction: 'back' };
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw new FerError('command_invalid', 'model rollback payload is neither empty nor JSON');
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  if (o.proto !== ROLLBACK_PROTO) throw new FerError('command_invalid', `model rollback proto = ${JSON.stringify(o.proto)} is not ${JSON.stringify(ROLLBACK_PROTO)}`);
  if (o.request !== undefined && (typeof o.request !== 'string' || !TRANSFER_RE.test(o.request))) {
    throw new FerError('command_invalid', `model rollback request = ${JSON.stringify(o.request)} is not 8-64 of a-z, A-Z, 0-9, _ or -`);
  }
  if (o.direction !== undefined && o.direction !== 'back' && o.direction !== 'forward') {
    throw new FerError('command_invalid', `model rollback direction = ${JSON.stringify(o.direction)} is not "back" or "forward"`);
  }
  return { request: (o.request as string | undefined) ?? null, direction: (o.direction as RollbackCommand['direction'] | undefined) ?? 'back' };
}

// ---------------------------------------------------------------- status

/** Where this agent stands against its desired state; carried in the retained model status as `release`. */
export interface ReleaseState {
  id: string;
  target: string;
  version: string;
  /** pending: not acted on yet; fetching / installing; converged: running it; ahead: running a newer version;
   *  refused: will not run it (reason); failed: tried and failed (reason; retried at the next connect when transient). */
  state: 'pending' | 'fetching' | 'installing' | 'converged' | 'ahead' | 'refused' | 'failed';
  reason: ReasonCode | null;
  message: string;
  at: string;
}


export interface StatusPayload {
  proto: typeof STATUS_PROTO;
  agent_id: string;
  groups: string[];
  active: { name: string; version: string; sha256: string; source: ActiveInfo['source']; tag: string | null };
  /** For Home Assistant's update entity: the running version and the newest one offered to this agent. */
  installed_version: string;
  latest_version: string;
  title: string;
  release_summary: string;
  in_progress: boolean;
  last_update: {
    id: string | null;
    action: UpdateResult['action'];
    ok: boolean;
    reason: ReasonCode | null;
    message: string;
    offered: UpdateResult['offered'] | null;
    at: string;
  } | null;
  /** Where the agent stands against its release records (desired state); null before any record was seen. */
  release?: ReleaseState | null;
  updated_at: string;
}

export function buildStatus(opts: {
  agentId: string;
  groups: readonly string[];
  active: ActiveInfo;
  last: UpdateResult | null;
  latestVersion: string | null;
  inProgress: boolean;
  wallMs: number;
  release?: ReleaseState | null;
}): StatusPayload {
  const { active, last } = opts;
  const summary = last ? `${last.ok ? 'ok' : `rejected (${last.reason})`}: ${last.message}` : '';
  return {
    proto: STATUS_PROTO,
    agent_id: opts.agentId,
    groups: [...opts.groups],
    active: { name: active.name, version: active.version, sha256: active.sha256, source: active.source, tag: active.tag },
    installed_version: active.version,
    latest_version: opts.latestVersion ?? active.version,
    title: active.name,
    // Home Assistant keeps at most 255 characters here.
    release_summary: summary.length > 255 ? summary.slice(0, 252) + '...' : summary,
    in_progress: opts.inProgress,
    last_update: last
      ? {
          id: last.id,
          action: last.action,
          ok: last.ok,
          reason: last.reason ?? null,
          message: last.message,
          offered: last.offered ?? null,
          at: new Date(last.wallMs).toISOString(),
        }
      : null,
    release: opts.release ?? null,
    updated_at: new Date(opts.wallMs).toISOString(),
  };
}

/** Reads a status payload from the wire (the push CLI uses it); null when it is not one. */
export function parseStatus(payload: Uint8Array): StatusPayload | null {
  try {
    const v = JSON.parse(Buffer.from(payload).toString('utf8')) as Partial<StatusPayload>;
    if (v?.proto !== STATUS_PROTO || typeof v.agent_id !== 'string' || typeof v.active !== 'object' || !Array.isArray(v.groups)) return null;
    return v as StatusPayload;
  } catch {
    return null;
  }
}

/** Whether a push to `target` reaches the agent that published `status`. */
export function statusMatchesTarget(status: Pick<StatusPayload, 'agent_id' | 'groups'>, target: string): boolean {
  return target === TARGET_ALL || status.agent_id === target || status.groups.includes(target);
}

// ---------------------------------------------------------------- reassembly

export interface ReassemblyLimits {
  /** Largest archive accepted (model.max_bundle_bytes). */
  maxBytes: number;
  /** Transfers in progress at once; more are refused. */
  maxTransfers: number;
  /** A transfer with no message for this long is dropped. */
  idleTimeoutMs: number;
  /**
   * When every slot is taken, a transfer with no message for this long gives its slot to a new `begin` (default
   * 5 s; a real push sends its chunks back to back), so two `begin`s followed by nothing cannot block updates.
   */
  stallMs?: number;
}

export type ReassemblyOutcome =
  | { kind: 'progress'; transfer: string; received: number; chunks: number; evicted?: ReassemblyOutcome }
  | { kind: 'ignored'; transfer: string; why: string }
  | { kind: 'complete'; transfer: string; data: Uint8Array; allowLabelChange: boolean }
  | { kind: 'failed'; transfer: string; reason: ReasonCode; message: string };

interface Transfer {
  begin: BeginMessage;
  buf: Uint8Array;
  have: Uint8Array;
  received: number;
  ended: boolean;
  lastMono: number;
}

/**
 * Puts chunked transfers back together. Tolerates duplicate chunks and messages (QoS 1 redelivers), chunks in any
 * order after `begin`, and `end` before the last chunk; refuses oversize transfers at `begin`; checks the sha256 of
 * the whole; forgets idle transfers. Remembers recently finished ids so late duplicates do nothing.
 */
export class Reassembler {
  private readonly active = new Map<string, Transfer>();
  private readonly finished: string[] = [];

  constructor(private readonly limits: ReassemblyLimits, private readonly clock: Clock) {}

  get inProgress(): number {
    return this.active.size;
  }

  private finish(id: string): void {
    this.active.delete(id);
    this.finished.push(id);
    if (this.finished.length > 64) this.finished.shift();
  }

  private fail(id: string, reason: ReasonCode, message: string): ReassemblyOutcome {
    this.finish(id);
    return { kind: 'failed', transfer: id, reason, message: `transfer ${id}: ${message}` };
  }

  accept(m: Exclude<PushMessage, FetchMessage>): ReassemblyOutcome {
    const id = m.transfer;
    if (this.finished.includes(id)) return { kind: 'ignored', transfer: id, why: 'transfer already finished' };
    const t = this.active.get(id);
    const now = this.clock.mono();
    if (m.type === 'begin') {
      if (t) {
        const same = t.begin.bytes === m.bytes && t.begin.sha256 === m.sha256 && t.begin.chunk_bytes === m.chunk_bytes;
        return same ? { kind: 'ignored', transfer: id, why: 'duplicate begin' } : this.fail(id, 'model_transfer_refused', 'a second begin with different size or hash');
      }
      if (m.bytes > this.limits.maxBytes) return this.fail(id, 'model_too_large', `bundle is ${m.bytes} bytes; model.max_bundle_bytes is ${this.limits.maxBytes}`);
      const evicted: ReassemblyOutcome[] = [];
      if (this.active.size >= this.limits.maxTransfers) {
        const stale = [...this.active.entries()].filter(([, x]) => now - x.lastMono >= (this.limits.stallMs ?? 5000)).sort((a, b) => a[1].lastMono - b[1].lastMono)[0];
        if (!stale) return this.fail(id, 'model_transfer_refused', `refused: ${this.active.size} other transfers are in progress; try again when they are done`);
        evicted.push(this.fail(stale[0], 'model_archive_corrupt', `stalled for ${Math.round((now - stale[1].lastMono) / 1000)} s with ${stale[1].received} of ${stale[1].begin.chunks} chunks; its slot went to transfer ${id}`));
      }
      this.active.set(id, { begin: m, buf: new Uint8Array(m.bytes), have: new Uint8Array(m.chunks), received: 0, ended: false, lastMono: now });
      return { kind: 'progress', transfer: id, received: 0, chunks: m.chunks, ...(evicted.length ? { evicted: evicted[0] } : {}) };
    }
    if (!t) return { kind: 'ignored', transfer: id, why: `${m.type} for a transfer whose begin was not seen` };
    t.lastMono = now;
    if (m.type === 'chunk') {
      const { chunks, chunk_bytes: cb, bytes } = t.begin;
      if (m.index >= chunks) return this.fail(id, 'model_archive_corrupt', `chunk index ${m.index} is beyond the ${chunks} announced`);
      const want = m.index === chunks - 1 ? bytes - cb * (chunks - 1) : cb;
      if (m.data.length !== want) return this.fail(id, 'model_archive_corrupt', `chunk ${m.index} has ${m.data.length} bytes; expected ${want}`);
      if (t.have[m.index]) return { kind: 'ignored', transfer: id, why: `duplicate chunk ${m.index}` };
      t.buf.set(m.data, m.index * cb);
      t.have[m.index] = 1;
      t.received++;
    } else {
      t.ended = true;
    }
    if (t.ended && t.received === t.begin.chunks) {
      const sha = createHash('sha256').update(t.buf).digest('hex');
      if (sha !== t.begin.sha256) return this.fail(id, 'model_hash_mismatch', `received bundle has sha256 ${sha}; begin announced ${t.begin.sha256}`);
      this.finish(id);
      return { kind: 'complete', transfer: id, data: t.buf, allowLabelChange: t.begin.allow_label_change === true };
    }
    return { kind: 'progress', transfer: id, received: t.received, chunks: t.begin.chunks };
  }

  /** Drops transfers idle for longer than the limit; call periodically. */
  expire(): ReassemblyOutcome[] {
    const now = this.clock.mono();
    const out: ReassemblyOutcome[] = [];
    for (const [id, t] of [...this.active]) {
      if (now - t.lastMono > this.limits.idleTimeoutMs) {
        out.push(this.fail(id, 'model_archive_corrupt', `incomplete after ${Math.round(this.limits.idleTimeoutMs / 1000)} s without data: ${t.received} of ${t.begin.chunks} chunks${t.ended ? '' : ', no end'}`));
      }
    }
    return out;
  }

  /** The progress of one transfer, if in progress. */
  progress(id: string): { received: number; chunks: number } | null {
    const t = this.active.get(id);
    return t ? { received: t.received, chunks: t.begin.chunks } : null;
  }
}
