/**
 * Desired state for a fleet (`fer-model-release/1`, BUNDLE.md "Releases"), pure: the signed, retained record that
 * says which bundle a target (an agent id, a group, or `all`) should run, where its bytes are, and the rule an agent
 * applies to the records it holds. No I/O here: release-follower.ts (agent) and cli/release-cli.ts (operator) move
 * the bytes.
 *
 * Wire form: `{"proto":"fer-model-release/1","body":"<JSON text>","signature":{...}|null}`. The signature covers the
 * UTF-8 bytes of `body` exactly as sent, so no JSON canonicalisation is needed.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { FerError, errorMessage } from '../core/errors.js';
import { keyIdOf, type SignatureFile, type TrustPolicy } from './signing.js';
import { checkTarget, MAX_CHUNK_BYTES } from './transport.js';
import { compareVersions } from './version-order.js';

export const RELEASE_PROTO = 'fer-model-release/1';
const SHA_RE = /^[0-9a-f]{64}$/;
const RELEASE_ID_RE = /^[a-zA-Z0-9_-]{8,64}$/;
const MAX_RECORD_BYTES = 8192;

export const releaseTopics = {
  /** Retained: the desired state of one target. */
  record: (base: string, target: string): string => `${base}/${checkTarget(target)}/model/release`,
  recordAll: (base: string): string => `${base}/+/model/release`,
  /** Retained: chunk i of an archive, addressed by its sha256 so a record can only ever name the bytes it signed. */
  blobChunk: (base: string, sha256: string, index: number): string => `${base}/_blob/${sha256}/${index}`,
  blobAll: (base: string, sha256: string): string => `${base}/_blob/${sha256}/+`,
};

/** Where the archive's bytes are: retained chunks on the broker, or an http(s) URL (model.fetch_allow applies). */
export type ReleaseSource =
  | { kind: 'chunks'; sha256: string; bytes: number; chunks: number; chunk_bytes: number }
  | { kind: 'url'; sha256: string; bytes: number; url: string };

export interface ReleaseBody {
  /** Unique per release; agents answer with it as `last_update.id`. */
  id: string;
  target: string;
  /** Issue time in ms since the epoch: per target, a record with a smaller seq than one already seen is stale. */
  seq: number;
  issued_at: string;
  name: string;
  version: string;
  /** sha256 of the bundle's manifest.json (what an agent's status reports as `active.sha256`). */
  manifest_sha256: string;
  source: ReleaseSource;
  allow_label_change: boolean;
}

export interface ReleaseRecord {
  body: ReleaseBody;
  /** Key that signed the record; null for an unsigned one (accepted only with model.allow_unsigned). */
  keyId: string | null;
}

function bad(msg: string): never {
  throw new FerError('release_invalid', `release record ${msg}`);
}

function str(o: Record<string, unknown>, k: string, re?: RegExp): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length === 0 || v.length > 2048 || (re && !re.test(v))) bad(`field ${k} = ${JSON.stringify(v)?.slice(0, 80)} is invalid`);
  return v;
}

function nat(o: Record<string, unknown>, k: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(`field ${k} = ${JSON.stringify(v)} is not an integer in [0, ${max}]`);
  return v;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function parseSource(v: unknown): ReleaseSource {
  const s = obj(v, 'field source');
  const sha256 = str(s, 'sha256', SHA_RE);
  const bytes = nat(s, 'bytes');
  if (s.kind === 'chunks') {
    const chunkBytes = nat(s, 'chunk_bytes', MAX_CHUNK_BYTES);
    const chunks = nat(s, 'chunks');
    if (chunkBytes === 0 || chunks !== Math.max(1, Math.ceil(bytes / chunkBytes))) bad(`field source.chunks = ${chunks} does not fit bytes ${bytes} / chunk_bytes ${chunkBytes}`);
    return { kind: 'chunks', sha256, bytes, chunks, chunk_bytes: chunkBytes };
  }
  if (s.kind === 'url') {
    const url = str(s, 'url');
    let ok = false;
    try {
      const u = new URL(url);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) bad('field source.url is not an http(s) URL');
    return { kind: 'url', sha256, bytes, url };
  }
  return bad(`field source.kind = ${JSON.stringify(s.kind)} is not "chunks" or "url"`);
}

/** Validates a body's fields (also what the CLI runs before signing). */
export function parseReleaseBody(v: unknown): ReleaseBody {
  const o = obj(v, 'body');
  const target = str(o, 'target');
  try {
    checkTarget(target);
  } catch (err) {
    bad(errorMessage(err));
  }
  const version = str(o, 'version', /^\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/);
  if (typeof o.allow_label_change !== 'boolean') bad(`field allow_label_change = ${JSON.stringify(o.allow_label_change)} is not true or false`);
  return {
    id: str(o, 'id', RELEASE_ID_RE),
    target,
    seq: nat(o, 'seq'),
    issued_at: str(o, 'issued_at'),
    name: str(o, 'name', /^[a-z0-9._-]{1,64}$/),
    version,
    manifest_sha256: str(o, 'manifest_sha256', SHA_RE),
    source: parseSource(o.source),
    allow_label_change: o.allow_label_change,
  };
}

/** The wire payload of a record; signed with `key` (the bundle's signing key), or unsigned when key is null. */
export function encodeRelease(body: ReleaseBody, key: KeyObject | null): string {
  const text = JSON.stringify(parseReleaseBody(body));
  const signature: SignatureFile | null = key
    ? { algorithm: 'ed25519', key_id: keyIdOf(createPublicKey(key)), signature: sign(null, Buffer.from(text), key).toString('base64') }
    : null;
  return JSON.stringify({ proto: RELEASE_PROTO, body: text, signature });
}

/**
 * Parses and authenticates a record that arrived on `topic` for `target`. Throws FerError: release_invalid (malformed,
 * or a record for another target replayed here), model_untrusted (unsigned without allow_unsigned, or an unknown
 * key), model_signature_invalid (the body was changed after signing).
 */
export function decodeRelease(payload: Uint8Array, target: string, trust: TrustPolicy): ReleaseRecord {
  if (payload.length > MAX_RECORD_BYTES) bad(`is ${payload.length} bytes; at most ${MAX_RECORD_BYTES}`);
  let outer: Record<string, unknown>;
  try {
    outer = obj(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)), 'payload');
  } catch (err) {
    if (err instanceof FerError) throw err;
    return bad(`is not JSON: ${errorMessage(err)}`);
  }
  if (outer.proto !== RELEASE_PROTO) bad(`proto = ${JSON.stringify(outer.proto)} is not ${JSON.stringify(RELEASE_PROTO)}`);
  if (typeof outer.body !== 'string') bad('has no body text');
  let bodyJson: unknown;
  try {
    bodyJson = JSON.parse(outer.body);
  } catch (err) {
    return bad(`body is not JSON: ${errorMessage(err)}`);
  }
  const body = parseReleaseBody(bodyJson);
  // The target is inside what was signed: a record for a canary group re-published on `all` is refused.
  if (body.target !== target) bad(`${body.id} names target ${JSON.stringify(body.target)} but arrived on the topic of ${JSON.stringify(target)}`);
  const sig = outer.signature;
  if (sig === null || sig === undefined) {
    if (!trust.allowUnsigned) throw new FerError('model_untrusted', `release record ${body.id} is unsigned and model.allow_unsigned is false`);
    return { body, keyId: null };
  }
  const s = obj(sig, 'field signature');
  if (s.algorithm !== 'ed25519' || typeof s.key_id !== 'string' || typeof s.signature !== 'string') bad(`${body.id} has a malformed signature`);
  const key = trust.keys.find((k) => k.keyId === s.key_id);
  if (!key) throw new FerError('model_untrusted', `release record ${body.id} is signed by key ${s.key_id}, which is not in model.trusted_keys (trusted: ${trust.keys.map((k) => k.keyId).join(', ') || 'none'})`);
  if (!verify(null, Buffer.from(outer.body), key.key, Buffer.from(s.signature, 'base64'))) {
    throw new FerError('model_signature_invalid', `release record ${body.id}: the signature by key ${s.key_id} does not match its body (forged or altered)`);
  }
  return { body, keyId: s.key_id };
}

// ---------------------------------------------------------------- the rule an agent applies

/** What an agent does about the newest record among its targets. */
export type ReleasePlan =
  | { action: 'install'; record: ReleaseBody }
  /** Already running it (same manifest). */
  | { action: 'converged'; record: ReleaseBody }
  /** Running a newer version than the record asks for: installs only move forward. */
  | { action: 'ahead'; record: ReleaseBody }
  | { action: 'refuse'; record: ReleaseBody; reason: 'model_downgrade'; message: string };

/**
 * Of the records an agent holds (one per target: its id, its groups, `all`), the one it converges to is the newest
 * version (ties: the latest seq). Installs only move forward, so an older record than another target's can only be
 * refused; taking the newest makes the answer independent of which record arrived first.
 */
export function newestRecord(records: readonly ReleaseBody[]): ReleaseBody | null {
  let best: ReleaseBody | null = null;
  for (const r of records) {
    if (!best) best = r;
    else {
      const c = compareVersions(r.version, best.version);
      if (c > 0 || (c === 0 && r.seq > best.seq)) best = r;
    }
  }
  return best;
}

export function planRelease(record: ReleaseBody, active: { name: string; version: string; sha256: string }): ReleasePlan {
  if (record.manifest_sha256 === active.sha256) return { action: 'converged', record };
  const c = compareVersions(record.version, active.version);
  if (c < 0) return { action: 'ahead', record };
  if (c === 0) {
    return { action: 'refuse', record, reason: 'model_downgrade', message: `release ${record.id} offers ${record.name} ${record.version} with another manifest than the running ${active.name} ${active.version}` };
  }
  return { action: 'install', record };
}

/**
 * A record older (smaller seq) than one this agent already accepted for the same target is a replay: someone
 * re-published an old, validly signed record to hold agents back or undo a newer release.
 */
export function isStale(record: ReleaseBody, seenSeq: ReadonlyMap<string, number>): boolean {
  const seen = seenSeq.get(record.target);
  return seen !== undefined && record.seq < seen;
}
