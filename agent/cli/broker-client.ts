/**
 * The operator's side of a broker connection, shared by the model and fleet commands: broker settings from --config /
 * FER_* / flags, connecting with a clear error, and a watch over the agents' retained model statuses.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { loadConfig } from '../config/load.js';
import type { AgentConfig } from '../config/schema.js';
import { connectionOptions, describeConnectError } from '../mqtt/connection.js';
import { FerError, errorMessage } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';
import { parseStatus, statusMatchesTarget, TARGET_ALL, topics, type StatusPayload } from '../models/transport.js';

export function out(line: string): void {
  process.stdout.write(line + '\n');
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

export interface BrokerArgs {
  url: string;
  options: IClientOptions;
  base: string;
}

export const brokerOptions = {
  config: { type: 'string', short: 'c' },
  'mqtt-url': { type: 'string' },
  'base-topic': { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
  'ca-file': { type: 'string' },
  'timeout-s': { type: 'string' },
} as const;

/**
 * Broker settings: --config / FER_* environment as the agent reads them, then the flags on top, turned into client
 * options by the agent's own mqtt/connection.ts (the same URL and TLS checks, password file and certificates).
 */
export async function brokerArgs(values: Record<string, unknown>): Promise<BrokerArgs> {
  const cfg = loadConfig({ file: str(values.config) });
  let url = str(values['mqtt-url']) ?? cfg.mqtt.url;
  if (url === 'embedded') url = `mqtt://${cfg.mqtt.embedded_host}:${cfg.mqtt.embedded_port}`;
  if (!url) throw new FerError('config_invalid', 'no broker: pass --mqtt-url URL (or set mqtt.url in --config)');
  const pwFile = str(values['password-file']);
  const mqtt: AgentConfig['mqtt'] = {
    ...cfg.mqtt,
    ...(str(values.username) ? { username: str(values.username)! } : {}),
    ...(pwFile ? { password: (await readFile(pwFile, 'utf8')).trim() } : {}),
    ...(str(values['ca-file']) ? { ca_file: str(values['ca-file'])! } : {}),
  };
  const { options } = connectionOptions(mqtt, cfg.agent_id, url, undefined);
  // The operator's client: its own id (never the agent's: the broker would disconnect the agent), no offline store.
  delete options.outgoingStore;
  options.clientId = `fer-push-${randomBytes(4).toString('hex')}`;
  return { url, options, base: str(values['base-topic']) ?? cfg.mqtt.base_topic };
}

export async function connectBroker(b: BrokerArgs): Promise<MqttClient> {
  const client = connect(b.url, b.options);
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed')));
    });
  } catch (err) {
    client.end(true);
    // The agent's own explanation (refused login, untrusted certificate, ...), with any password in the URL masked.
    const e = err instanceof Error ? describeConnectError(err, redactUrl(b.url)) : new FerError('broker_unavailable', errorMessage(err));
    throw new FerError('broker_unavailable', redactUrl(e.message));
  }
  return client;
}

/**
 * Collects agent statuses: retained ones (who exists, in which groups) and the answers carrying `id`.
 * Resolves when every expected agent answered or the timeout passes.
 */
export class StatusWatch {
  readonly known = new Map<string, StatusPayload>();
  readonly answers = new Map<string, StatusPayload>();
  /** The transfer or request id whose answers count. */
  id: string | null = null;
  /** Or: which statuses count as an answer (a release: the agent reached a final state for it). */
  isAnswer: ((s: StatusPayload) => boolean) | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly client: MqttClient, private readonly base: string) {}

  async start(): Promise<void> {
    this.client.on('message', (topic, payload) => {
      const s = parseStatus(payload);
      if (!s || topic !== topics.status(this.base, s.agent_id)) return;
      this.known.set(s.agent_id, s);
      if ((this.id && s.last_update?.id === this.id) || this.isAnswer?.(s)) this.answers.set(s.agent_id, s);
      else if (this.isAnswer) this.answers.delete(s.agent_id);
      this.wake?.();
    });
    await this.client.subscribeAsync(topics.statusAll(this.base), { qos: 1 });
    // Retained statuses follow the SUBACK; the round trip is the barrier after them.
    await roundTrip(this.client, this.base);
  }

  /** Until every expected agent answered; with none expected (no agent known yet) until the timeout. */
  async waitFor(expected: () => string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const want = expected();
      const done = want.length > 0 && want.every((a) => this.answers.has(a));
      if (done || Date.now() >= deadline) return;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = null;
    }
  }
}

export function report(watch: StatusWatch, expected: string[]): number {
  let rejected = 0;
  for (const [agent, s] of [...watch.answers].sort()) {
    const u = s.last_update!;
    if (u.ok) out(`${agent}: ok: ${u.message}`);
    else {
      rejected++;
      out(`${agent}: rejected [${u.reason}]: ${u.message} (still running ${s.active.name} ${s.active.version})`);
    }
  }
  const missing = expected.filter((a) => !watch.answers.has(a));
  for (const a of missing) out(`${a}: no answer (offline, or not subscribed to this target)`);
  if (watch.answers.size === 0) {
    out('no agent answered');
    return 2;
  }
  return rejected > 0 ? 1 : missing.length > 0 ? 2 : 0;
}

/** Agents a target reaches, from their retained statuses; an unknown non-`all` target is taken as an agent id. */
export function expectedAgents(watch: StatusWatch, target: string): string[] {
  const agents = [...watch.known.values()].filter((s) => statusMatchesTarget(s, target)).map((s) => s.agent_id);
  if (agents.length === 0 && target !== TARGET_ALL) agents.push(target);
  return [...new Set([...agents, ...watch.answers.keys()])].sort();
}

/** Every retained message on `filter`, read up to a round trip through the broker (the barrier). */
/**
 * A message of our own through the broker, back: the broker sends one connection's messages in order, so when it is
 * back, every retained message of the subscriptions made before it has arrived (at most 10 s; the timer is cleared,
 * a pending one kept the CLI alive after its answer).
 */
export async function roundTrip(client: MqttClient, base: string): Promise<void> {
  const probe = `${base}/_probe/${randomBytes(8).toString('hex')}`;
  let done!: () => void;
  const back = new Promise<void>((r) => (done = r));
  const onMessage = (topic: string): void => {
    if (topic === probe) done();
  };
  client.on('message', onMessage);
  try {
    await client.subscribeAsync(probe, { qos: 1 });
    await client.publishAsync(probe, 'x', { qos: 1, retain: false });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([back, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    await client.unsubscribeAsync(probe);
  } finally {
    client.removeListener('message', onMessage);
  }
}

/** Every retained message on `filter` (non-empty), read up to a round trip through the broker. */
export async function readRetained(client: MqttClient, filter: string): Promise<Map<string, Buffer>> {
  const got = new Map<string, Buffer>();
  const onMessage = (topic: string, payload: Buffer): void => {
    if (payload.length > 0 && topicMatches(filter, topic) && !topic.includes('/_probe/')) got.set(topic, payload);
  };
  client.on('message', onMessage);
  try {
    await client.subscribeAsync(filter, { qos: 1 });
    await roundTrip(client, filter.split('/')[0]!);
    await client.unsubscribeAsync(filter);
  } finally {
    client.removeListener('message', onMessage);
  }
  return got;
}

function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}
