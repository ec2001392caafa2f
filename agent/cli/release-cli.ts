/**
 * The operator's desired-state commands (BUNDLE.md "Releases"):
 *   fer-agent model release <bundle-dir|archive> --to <agent|group|all> --key PRIVATE.key [--fetch-url URL] [--wait]
 *   fer-agent model withdraw --to <agent|group|all>
 * A release is a signed, retained record per target plus, unless --fetch-url names where the archive is served,
 * the archive as retained chunks addressed by its sha256. Agents converge on it whenever they connect, so the
 * command does not need them online; --wait reports the ones it can see.
 */
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { FerError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { sha256Hex } from '../models/fsutil.js';
import { decodeRelease, encodeRelease, releaseTopics, type ReleaseBody, type ReleaseSource } from '../models/release-record.js';
import { keyIdOf, loadPrivateKey } from '../models/signing.js';
import { checkTarget, DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, statusMatchesTarget, type ReleaseState, type StatusPayload } from '../models/transport.js';
import { parseFlags } from './args.js';
import { brokerArgs, brokerOptions, connectBroker, out, readRetained, str, StatusWatch } from './broker-client.js';
import { readBundleArg, type BundleArg } from './bundle-arg.js';

type CliHandler = (argv: string[], log: Logger) => Promise<number>;
const USAGE = 2;
export const FINAL_STATES: ReadonlySet<ReleaseState['state']> = new Set(['converged', 'ahead', 'refused', 'failed']);

/** The record bodies on the broker now, by target (signatures are the agents' business; the CLI reads fields only). */
async function currentRecords(client: MqttClient, base: string): Promise<Map<string, ReleaseBody>> {
  const out = new Map<string, ReleaseBody>();
  for (const [topic, payload] of await readRetained(client, releaseTopics.recordAll(base))) {
    const target = topic.slice(base.length + 1).split('/')[0]!;
    try {
      out.set(target, decodeRelease(payload, target, { keys: [], allowUnsigned: true }).body);
    } catch {
      // Signed: read the body without checking the signature (the operator's own record, or junk to overwrite).
      try {
        const o = JSON.parse(payload.toString('utf8')) as { body?: string };
        const b = JSON.parse(o.body ?? '') as ReleaseBody;
        if (b && typeof b.seq === 'number' && b.source && typeof b.source.sha256 === 'string') out.set(target, b);
      } catch {
        /* not a record */
      }
    }
  }
  return out;
}

/** Clears the retained chunks of `old` when no remaining record names them (a target holds at most one blob). */
async function clearBlob(client: MqttClient, base: string, old: ReleaseBody, records: Map<string, ReleaseBody>): Promise<void> {
  if (old.source.kind !== 'chunks') return;
  const sha = old.source.sha256;
  if ([...records.values()].some((r) => r.source.sha256 === sha)) return;
  for (let i = 0; i < old.source.chunks; i++) await client.publishAsync(releaseTopics.blobChunk(base, sha, i), Buffer.alloc(0), { qos: 1, retain: true });
}

export interface ReleaseInput {
  bundle: BundleArg;
  key: KeyObject | null;
  chunkBytes: number;
  url: string | undefined;
  allowLabelChange: boolean;
}

/** The bundle, key and transport options of `model release` / `model rollout` (checked: the key signed the bundle). */
export async function releaseInput(values: Record<string, unknown>, bundlePath: string): Promise<ReleaseInput> {
  const bundle = await readBundleArg(bundlePath, 256 * 1024 * 1024);
  const keyFile = str(values.key);
  const key = keyFile ? loadPrivateKey(keyFile) : null;
  if (key) {
    const kid = keyIdOf(createPublicKey(key));
    if (bundle.signedBy !== kid) throw new FerError('model_untrusted', `the bundle is ${bundle.signedBy ? `signed by key ${bundle.signedBy}` : 'unsigned'}, not by --key ${kid}: sign it first (fer-agent model sign <bundle> --key ${keyFile})`);
  }
  const chunkBytes = Math.round(Number(str(values['chunk-kb']) ?? DEFAULT_CHUNK_BYTES / 1024) * 1024);
  if (!Number.isFinite(chunkBytes) || chunkBytes <= 0 || chunkBytes > MAX_CHUNK_BYTES) throw new FerError('config_invalid', `--chunk-kb = ${JSON.stringify(values['chunk-kb'])} is not in (0, ${MAX_CHUNK_BYTES / 1024}]`);
  return { bundle, key, chunkBytes, url: str(values['fetch-url']), allowLabelChange: values['allow-label-change'] === true };
}

/**
 * Publishes the release of `input` to `to`: the archive's retained chunks (unless a record already names them, or a
 * URL serves them), then the signed retained record; clears the chunks of the record it replaces when nothing else
 * names them.
 */
export async function publishRelease(client: MqttClient, base: string, input: ReleaseInput, to: string): Promise<ReleaseBody> {
  const { bundle: b, chunkBytes } = input;
  const sha256 = sha256Hex(b.archive);
  const source: ReleaseSource = input.url
    ? { kind: 'url', sha256, bytes: b.archive.length, url: input.url }
    : { kind: 'chunks', sha256, bytes: b.archive.length, chunks: Math.max(1, Math.ceil(b.archive.length / chunkBytes)), chunk_bytes: chunkBytes };
  const records = await currentRecords(client, base);
  const old = records.get(to);
  const now = Date.now();
  const body: ReleaseBody = {
    id: `rel-${now.toString(36)}-${randomBytes(4).toString('hex')}`,
    target: to,
    // Agents refuse a smaller seq than one they accepted for this target: keep it rising even if clocks differ.
    seq: Math.max(now, (old?.seq ?? 0) + 1),
    issued_at: new Date(now).toISOString(),
    name: b.name,
    version: b.version,
    manifest_sha256: b.manifestSha256,
    source,
    allow_label_change: input.allowLabelChange,
  };
  // Bytes first, then the record: a broker (or a bridge) delivers one client's messages in order, so an agent that
  // sees the record finds the chunks already retained.
  const sameChunks = [...records.values()].some((r) => r.source.kind === 'chunks' && r.source.sha256 === sha256 && r.source.chunk_bytes === chunkBytes);
  if (source.kind === 'chunks' && !sameChunks) {
    for (let i = 0; i < source.chunks; i++) {
      await client.publishAsync(releaseTopics.blobChunk(base, sha256, i), Buffer.from(b.archive.subarray(i * chunkBytes, (i + 1) * chunkBytes)), { qos: 1, retain: true });
    }
  }
  await client.publishAsync(releaseTopics.record(base, to), encodeRelease(body, input.key), { qos: 1, retain: true });
  records.set(to, body);
  if (old && old.source.sha256 !== sha256) await clearBlob(client, base, old, records);
  return body;
}

/** Clears a target's record (agents keep what runs) and the chunks nothing else names; the withdrawn record or null. */
export async function withdrawRelease(client: MqttClient, base: string, to: string): Promise<ReleaseBody | null> {
  const records = await currentRecords(client, base);
  const old = records.get(to) ?? null;
  await client.publishAsync(releaseTopics.record(base, to), Buffer.alloc(0), { qos: 1, retain: true });
  records.delete(to);
  if (old) await clearBlob(client, base, old, records);
  return old;
}


export const modelReleaseCommand: CliHandler = async (argv, log) => {
  const { values, positionals } = parseFlags(argv, {
    ...brokerOptions,
    to: { type: 'string' },
    key: { type: 'string' },
    unsigned: { type: 'boolean' },
    'fetch-url': { type: 'string' },
    'chunk-kb': { type: 'string' },
    'allow-label-change': { type: 'boolean' },
    wait: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const to = str(values.to);
  if (values.help || positionals.length !== 1 || !to || (!str(values.key) && !values.unsigned)) {
    out('usage: fer-agent model release <bundle-dir|archive> --to <agent_id|group|all> --key PRIVATE.key [--mqtt-url URL]');
    out('         [--fetch-url URL] [--chunk-kb 256] [--allow-label-change] [--wait [--timeout-s 300]] [--unsigned] [--config FILE]');
    out('  Retained desired state: agents converge on it whenever they connect. --key signs the record (the bundle\'s key).');
    return values.help ? 0 : USAGE;
  }
  checkTarget(to);
  const timeoutS = Number(str(values['timeout-s']) ?? 300);
  // A bad value must not make the wait spin forever (NaN never reaches a deadline).
  if (!(timeoutS > 0)) throw new FerError('config_invalid', `--timeout-s = ${JSON.stringify(values['timeout-s'])} is invalid: expected a positive number`);
  const input = await releaseInput(values, positionals[0]!);
  const broker = await brokerArgs(values);
  const client = await connectBroker(broker);
  try {
    const watch = new StatusWatch(client, broker.base);
    if (values.wait) await watch.start();
    const body = await publishRelease(client, broker.base, input, to);
    watch.isAnswer = (s: StatusPayload) => s.release?.id === body.id && FINAL_STATES.has(s.release.state);
    const src = body.source;
    log.info({ release: body.id, target: to, bytes: src.bytes }, 'release published');
    out(`released ${body.name} ${body.version} to ${to} as ${body.id} (${src.bytes} bytes, sha256 ${src.sha256}, ${src.kind === 'chunks' ? `${src.chunks} retained chunks` : 'fetched from its URL'}${input.key ? '' : ', unsigned'})`);
    if (!values.wait) return 0;
    // Answers that came in before isAnswer was set (a fast agent) are in known.
    for (const s of watch.known.values()) if (watch.isAnswer(s)) watch.answers.set(s.agent_id, s);
    const expected = (): string[] => [...watch.known.values()].filter((s) => statusMatchesTarget(s, to)).map((s) => s.agent_id).sort();
    await watch.waitFor(expected, timeoutS * 1000);
    return reportRelease(expected(), watch.answers);
  } finally {
    await client.endAsync();
  }
};

/** One line per agent the target reaches: its release state; exit 0 all converged, 1 any refused/failed, 2 missing. */
export function reportRelease(expected: string[], answers: ReadonlyMap<string, StatusPayload>): number {
  let bad = 0;
  let missing = 0;
  for (const a of expected) {
    const r = answers.get(a)?.release;
    if (!r) {
      missing++;
      out(`${a}: not converged yet (offline, or still working): it converges when it next connects`);
    } else if (r.state === 'converged' || r.state === 'ahead') out(`${a}: ${r.state}: ${r.message}`);
    else {
      bad++;
      out(`${a}: ${r.state} [${r.reason}]: ${r.message}`);
    }
  }
  if (expected.length === 0) out(`no agent known on this broker answers to the target yet: agents converge when they connect`);
  return bad > 0 ? 1 : missing > 0 || expected.length === 0 ? 2 : 0;
}

export const modelWithdrawCommand: CliHandler = async (argv, log) => {
  const { values } = parseFlags(argv, { ...brokerOptions, to: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  const to = str(values.to);
  if (values.help || !to) {
    out('usage: fer-agent model withdraw --to <agent_id|group|all> [--mqtt-url URL]   (clears the target\'s release record; agents keep what runs)');
    return values.help ? 0 : USAGE;
  }
  checkTarget(to);
  const broker = await brokerArgs(values);
  const client = await connectBroker(broker);
  try {
    const old = await withdrawRelease(client, broker.base, to);
    log.info({ target: to }, 'release withdrawn');
    out(old ? `withdrew ${old.name} ${old.version} (${old.id}) from ${to}` : `no release record for ${to}`);
    return 0;
  } finally {
    await client.endAsync();
  }
};
