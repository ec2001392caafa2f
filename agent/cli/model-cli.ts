/**
 * Command handlers for model updates (dispatched by modelCli below, from agent/cli/main.ts), each `(argv, log) => exit code`:
 *   fer-agent keys generate --out DIR [--name NAME]
 *   fer-agent model sign <bundle-dir> --key PRIVATE.key
 *   fer-agent model verify <bundle-dir|archive> [--trusted-key PUB]... [--no-selftest]
 *   fer-agent model pack <bundle-dir> --out FILE.fer
 *   fer-agent model push <bundle-dir|archive> --to <agent|group|all> [--mqtt-url URL] [--fetch-url URL]
 *   fer-agent model rollback [--forward] [--agent ID | --to TARGET] [--mqtt-url URL] | [--state-dir DIR]
 *   fer-agent model status [--agent ID] [--mqtt-url URL]
 *   fer-agent model release | withdraw | rollout ...   (desired state: release-cli.ts, rollout-cli.ts)
 * Results go to stdout, diagnostics to the log. Exit codes: 0 ok, 1 rejected/failed, 2 no answer or a usage mistake.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { AgentConfig } from '../config/schema.js';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { parseFlags, type Parsed } from './args.js';
import { readBundleArg } from './bundle-arg.js';
import { modelReleaseCommand, modelWithdrawCommand } from './release-cli.js';
import { modelRolloutCommand } from './rollout-cli.js';
import { brokerArgs, brokerOptions, connectBroker, expectedAgents, out, report, str, StatusWatch } from './broker-client.js';
import { packBundle } from '../models/archive.js';
import { loadBundle } from '../models/bundle.js';
import { atomicReplace, sha256Hex } from '../models/fsutil.js';
import { engineEntryFor, selfTestFor, toModelSpec, type Precision } from '../models/manifest.js';
import { runSelfTest } from '../models/selftest.js';
import { checkDeclaredShapes } from '../models/shape-check.js';
import { checkSignature, generateSigningKeyPair, loadPrivateKey, parseTrustedKey, signManifest, SIGNATURE_FILE, type TrustedKey } from '../models/signing.js';
import { ModelStore } from '../models/store.js';
import {
  chunkTransfer,
  checkTarget,
  DEFAULT_CHUNK_BYTES,
  encodePushMessage,
  encodeRollback,
  MAX_CHUNK_BYTES,
  statusMatchesTarget,
  TARGET_ALL,
  topics,
  type PushMessage,
} from '../models/transport.js';

export type CliHandler = (argv: string[], log: Logger) => Promise<number>;

/** The exit code of every usage mistake, as for the other fer-agent commands. */
const USAGE = 2;

/** The same parser and the same usage errors (exit 2) as every other command (cli/args.ts). */
function flags(argv: string[], options: NonNullable<ParseArgsConfig['options']>): Parsed {
  return parseFlags(argv, { ...options, help: { type: 'boolean', short: 'h' } });
}

function positiveNumber(v: unknown, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new FerError('config_invalid', `${flag} = ${JSON.stringify(v)} is invalid: expected a positive number`);
  return n;
}

// ---------------------------------------------------------------- keys generate

export const keysGenerateCommand: CliHandler = async (argv, log) => {
  const { values } = flags(argv, { out: { type: 'string' }, name: { type: 'string' } });
  const dir = str(values.out);
  if (values.help || !dir) {
    out('usage: fer-agent keys generate --out DIR [--name NAME]   (writes NAME.key, private, and NAME.pub)');
    return values.help ? 0 : USAGE;
  }
  const name = str(values.name) ?? 'fer-model-signing';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new FerError('config_invalid', `--name = ${JSON.stringify(name)} is invalid: expected a file name`);
  const k = generateSigningKeyPair();
  await mkdir(dir, { recursive: true });
  const keyFile = path.join(dir, `${name}.key`);
  const pubFile = path.join(dir, `${name}.pub`);
  try {
    // 'wx': never overwrite an existing key (that would orphan every bundle signed with it).
    await writeFile(keyFile, k.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(pubFile, k.publicKeyPem, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    throw new FerError('io_failed', `cannot write the key pair in ${dir} (an existing key is never overwritten): ${errorMessage(err)}`);
  }
  log.info({ keyId: k.keyId, keyFile, pubFile }, 'signing key pair generated');
  out(`key id:      ${k.keyId}`);
  out(`private key: ${keyFile}   (keep it on the workstation; sign with: fer-agent model sign <bundle> --key ${keyFile})`);
  out(`public key:  ${pubFile}`);
  out(`agents trust it with config model.trusted_keys: ["${k.publicKeyRaw}"]  (or the path of ${path.basename(pubFile)})`);
  return 0;
};

// ---------------------------------------------------------------- model sign

export const modelSignCommand: CliHandler = async (argv, log) => {
  const { values, positionals } = flags(argv, { key: { type: 'string' } });
  const keyFile = str(values.key);
  if (values.help || positionals.length !== 1 || !keyFile) {
    out('usage: fer-agent model sign <bundle-dir> --key PRIVATE.key   (writes <bundle-dir>/signature.json)');
    return values.help ? 0 : USAGE;
  }
  const bundle = await loadBundle(positionals[0]!);
  const sig = signManifest(bundle.manifestBytes, loadPrivateKey(keyFile));
  await atomicReplace(path.join(bundle.dir, SIGNATURE_FILE), JSON.stringify(sig, null, 2) + '\n');
  log.info({ bundle: bundle.dir, keyId: sig.key_id }, 'bundle signed');
  out(`signed ${bundle.manifest.name} ${bundle.manifest.version} (manifest sha256 ${bundle.manifestSha256}) with key ${sig.key_id}`);
  return 0;
};

// ---------------------------------------------------------------- model pack

export const modelPackCommand: CliHandler = async (argv, log) => {
  const { values, positionals } = flags(argv, { out: { type: 'string' } });
  const file = str(values.out);
  if (values.help || positionals.length !== 1 || !file) {
    out('usage: fer-agent model pack <bundle-dir> --out FILE.fer   (the single-file form, e.g. to serve for --fetch-url)');
    return values.help ? 0 : USAGE;
  }
  const b = await loadBundle(positionals[0]!);
  const archive = await packBundle(b);
  await writeFile(file, archive, { flag: 'wx' });
  log.info({ file, bytes: archive.length }, 'bundle packed');
  out(`${file}: ${b.manifest.name} ${b.manifest.version}, ${archive.length} bytes, sha256 ${sha256Hex(archive)}${b.signature ? `, signed by ${b.signature.key_id}` : ', unsigned'}`);
  return 0;
};

// ---------------------------------------------------------------- model verify

export const modelVerifyCommand: CliHandler = async (argv, log) => {
  const { values, positionals } = flags(argv, {
    'trusted-key': { type: 'string', multiple: true },
    engine: { type: 'string' },
    'no-selftest': { type: 'boolean' },
  });
  if (values.help || positionals.length !== 1) {
    out('usage: fer-agent model verify <bundle-dir> [--trusted-key PUB]... [--engine E] [--no-selftest]');
    return values.help ? 0 : USAGE;
  }
  const b = await loadBundle(positionals[0]!);
  out(`manifest ok: ${b.manifest.name} ${b.manifest.version}, ${b.manifest.labels.length} labels, input ${b.manifest.input.width}x${b.manifest.input.height}x${b.manifest.input.channels}`);
  out(`files ok: ${Object.keys(b.manifest.files).length} files match their sha256`);
  const keys: TrustedKey[] = ((values['trusted-key'] as string[] | undefined) ?? []).map((k, i) => parseTrustedKey(k, i));
  if (keys.length > 0) {
    const s = checkSignature(b.manifestBytes, b.signature, { keys, allowUnsigned: false });
    out(`signature ok: signed by trusted key ${s.keyId}`);
  } else {
    out(b.signature ? `signature present (key ${b.signature.key_id}); pass --trusted-key to check it` : 'unsigned: agents accept it only with model.allow_unsigned');
  }
  if (values['no-selftest']) return 0;
  const { selectEngine } = await import('../engines/select.js');
  const { loadClassifier } = await import('../emotion/load-classifier.js');
  const { engine } = await selectEngine((str(values.engine) ?? 'auto') as AgentConfig['engine']);
  if (!b.manifest.engines[engineEntryFor(engine)]) throw new FerError('model_invalid', `manifest has no engines.${engineEntryFor(engine)} for ${engine}`);
  await checkDeclaredShapes(b.dir, b.manifest, engine);
  // Every form of the model this engine can run: the float model, and on onnxruntime the int8 one too.
  const precisions: Precision[] = engine === 'onnxruntime' && b.manifest.engines.onnx_int8 ? ['fp32', 'int8'] : ['fp32'];
  for (const precision of precisions) {
    const c = await loadClassifier(b.dir, toModelSpec(b.manifest, precision), engine, 1);
    try {
      const r = await runSelfTest(c, b.manifest);
      log.debug({ report: r, precision }, 'self-test');
      out(`self-test ok on ${engine} (${precision}): ${r.cases} cases, max difference ${r.maxDiff.toPrecision(3)} (tolerance ${selfTestFor(b.manifest, precision).tolerance})`);
    } finally {
      await c.dispose();
    }
  }
  return 0;
};

export const modelPushCommand: CliHandler = async (argv, log) => {
  const { values, positionals } = flags(argv, {
    ...brokerOptions,
    to: { type: 'string' },
    'fetch-url': { type: 'string' },
    'allow-label-change': { type: 'boolean' },
    'chunk-kb': { type: 'string' },
    'max-bytes': { type: 'string' },
    'no-wait': { type: 'boolean' },
    wait: { type: 'boolean' },
  });
  const to = str(values.to);
  if (values.help || positionals.length !== 1 || !to) {
    out('usage: fer-agent model push <bundle-dir|archive> --to <agent_id|group|all> [--mqtt-url URL] [--base-topic fer]');
    out('         [--fetch-url URL] [--chunk-kb 256] [--timeout-s 120] [--no-wait] [--wait] [--allow-label-change] [--config FILE]');
    out('  --wait: push even when no agent on the broker answers to --to yet (an agent that is offline now)');
    return values.help ? 0 : USAGE;
  }
  checkTarget(to);
  const chunkBytes = Math.round(positiveNumber(values['chunk-kb'], '--chunk-kb', DEFAULT_CHUNK_BYTES / 1024) * 1024);
  if (chunkBytes > MAX_CHUNK_BYTES) throw new FerError('config_invalid', `--chunk-kb is over ${MAX_CHUNK_BYTES / 1024}`);
  const timeoutMs = positiveNumber(values['timeout-s'], '--timeout-s', 120) * 1000;
  const b = await readBundleArg(positionals[0]!, positiveNumber(values['max-bytes'], '--max-bytes', 256 * 1024 * 1024));
  if (!b.signedBy) log.warn('bundle is unsigned: agents reject it unless model.allow_unsigned is true (sign with fer-agent model sign)');
  const broker = await brokerArgs(values);
  const transfer = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
  const client = await connectBroker(broker);
  try {
    const watch = new StatusWatch(client, broker.base);
    await watch.start();
    watch.id = transfer;
    if (to !== TARGET_ALL && !values.wait && ![...watch.known.values()].some((st) => statusMatchesTarget(st, to))) {
      const known = [...watch.known.values()].map((st) => (st.groups.length ? `${st.agent_id} (groups: ${st.groups.join(', ')})` : st.agent_id)).sort();
      out(`no agent on the broker answers to ${JSON.stringify(to)}; known agents: ${known.length ? known.join(', ') : 'none'}. ` +
        'Check --to and --base-topic, or pass --wait to push to an agent that is offline now.');
      return 1;
    }
    const sha256 = sha256Hex(b.archive);
    const messages: Iterable<PushMessage> = str(values['fetch-url'])
      ? [{ type: 'fetch', transfer, url: str(values['fetch-url'])!, sha256, bytes: b.archive.length, ...(values['allow-label-change'] ? { allow_label_change: true } : {}) }]
      : chunkTransfer(b.archive, transfer, chunkBytes, { allowLabelChange: values['allow-label-change'] === true });
    const topic = topics.push(broker.base, to);
    let sent = 0;
    for (const m of messages) {
      // QoS 1, never retained: a retained push would be replayed to every agent on every reconnect.
      await client.publishAsync(topic, Buffer.from(encodePushMessage(m)), { qos: 1, retain: false });
      sent++;
    }
    log.info({ transfer, topic, messages: sent, bytes: b.archive.length }, 'bundle published');
    out(`pushed ${b.name} ${b.version} (${b.archive.length} bytes, sha256 ${sha256}, ${b.signedBy ? `signed by ${b.signedBy}` : 'unsigned'}) to ${to} as transfer ${transfer}`);
    if (values['no-wait']) return 0;
    await watch.waitFor(() => expectedAgents(watch, to), timeoutMs);
    return report(watch, expectedAgents(watch, to));
  } finally {
    await client.endAsync();
  }
};

// ---------------------------------------------------------------- model rollback

export const modelRollbackCommand: CliHandler = async (argv, log) => {
  const { values } = flags(argv, { ...brokerOptions, agent: { type: 'string' }, to: { type: 'string' }, 'state-dir': { type: 'string' }, 'keep-versions': { type: 'string' }, forward: { type: 'boolean' } });
  if (values.help) {
    out('usage: fer-agent model rollback [--forward] --agent ID | --to <group|all> [--mqtt-url URL]   (running agents, over MQTT)');
    out('       fer-agent model rollback [--forward] [--state-dir DIR] [--config FILE]              (this machine, agent stopped)');
    out('  --forward   undo the last rollback: back to the version rolled back from (kept within model.keep_versions)');
    return 0;
  }
  const direction = values.forward === true ? 'forward' : 'back';
  const target = str(values.agent) ?? str(values.to);
  if (!target) {
    // Local: the agent on this machine picks it up on its next start.
    const cfg = loadConfig({ file: str(values.config) });
    const stateDir = str(values['state-dir']) ?? cfg.model.state_dir;
    if (!stateDir) throw new FerError('config_invalid', 'no state directory: pass --state-dir DIR or set model.state_dir (or use --agent ID for a running agent)');
    const keep = positiveNumber(values['keep-versions'], '--keep-versions', cfg.model.keep_versions);
    const store = new ModelStore({ stateDir, keepVersions: keep, log });
    await store.resolveActive();
    const r = await store.rollback(async () => undefined, direction);
    const to = r.to ? `${r.to.bundle.manifest.name} ${r.to.bundle.manifest.version}` : 'the base model (model.path)';
    out(`rolled ${direction} from ${r.from ?? 'the base model'} to ${to}; a running agent uses it after a restart (or use --agent ID)`);
    return 0;
  }
  checkTarget(target);
  const broker = await brokerArgs(values);
  const request = `rb-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const client = await connectBroker(broker);
  try {
    const watch = new StatusWatch(client, broker.base);
    await watch.start();
    watch.id = request;
    await client.publishAsync(topics.rollback(broker.base, target), encodeRollback(request, direction), { qos: 1, retain: false });
    log.info({ request, target, direction }, 'rollback requested');
    await watch.waitFor(() => (str(values.agent) ? [target] : expectedAgents(watch, target)), positiveNumber(values['timeout-s'], '--timeout-s', 60) * 1000);
    return report(watch, str(values.agent) ? [target] : expectedAgents(watch, target));
  } finally {
    await client.endAsync();
  }
};

// ---------------------------------------------------------------- model status

export const modelStatusCommand: CliHandler = async (argv) => {
  const { values } = flags(argv, { ...brokerOptions, agent: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    out('usage: fer-agent model status [--agent ID] [--json] [--mqtt-url URL]   (the retained model status of each agent)');
    return 0;
  }
  const broker = await brokerArgs(values);
  const client = await connectBroker(broker);
  try {
    const watch = new StatusWatch(client, broker.base);
    await watch.start();
    const agent = str(values.agent);
    const list = [...watch.known.values()].filter((s) => !agent || s.agent_id === agent).sort((a, b) => a.agent_id.localeCompare(b.agent_id));
    for (const s of list) {
      if (values.json) out(JSON.stringify(s));
      else {
        const u = s.last_update;
        const last = u ? `; last ${u.action} ${u.ok ? 'ok' : `rejected [${u.reason}]`} at ${u.at}: ${u.message}` : '';
        out(`${s.agent_id}: ${s.active.name} ${s.active.version} (${s.active.source}, sha256 ${s.active.sha256.slice(0, 12)})${last}`);
      }
    }
    if (list.length === 0) out(agent ? `no status from ${agent}` : 'no agent status found');
    return list.length > 0 ? 0 : 2;
  } finally {
    await client.endAsync();
  }
};

// ---------------------------------------------------------------- dispatch

const modelSubcommands: Record<string, CliHandler> = {
  push: modelPushCommand,
  sign: modelSignCommand,
  verify: modelVerifyCommand,
  pack: modelPackCommand,
  rollback: modelRollbackCommand,
  status: modelStatusCommand,
  release: modelReleaseCommand,
  withdraw: modelWithdrawCommand,
  rollout: modelRolloutCommand,
};

/** `fer-agent model <push|sign|verify|pack|rollback|status|release|withdraw|rollout> ...` */
export const modelCli: CliHandler = async (argv, log) => {
  const [sub, ...rest] = argv;
  const h = sub ? modelSubcommands[sub] : undefined;
  if (!h) {
    out(`usage: fer-agent model <${Object.keys(modelSubcommands).join('|')}> [options]   (--help on each)`);
    return sub === '--help' || sub === '-h' ? 0 : USAGE;
  }
  return h(rest, log);
};

/** `fer-agent keys generate ...` */
export const keysCli: CliHandler = async (argv, log) => {
  const [sub, ...rest] = argv;
  if (sub !== 'generate') {
    out('usage: fer-agent keys generate --out DIR [--name NAME]');
    return sub === '--help' || sub === '-h' ? 0 : USAGE;
  }
  return keysGenerateCommand(rest, log);
};

