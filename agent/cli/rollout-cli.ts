/**
 * Staged rollouts on top of releases (BUNDLE.md "Rollouts"):
 *   fer-agent model rollout <bundle> --to <group|all> --canary 2|10%|group:NAME --soak-s 600 --key PRIVATE.key
 *   fer-agent model rollout status [--to TARGET]
 * Releases to the canaries first (one record per canary agent), waits for them to install, watches them for the soak
 * period (online, running it, frames flowing, error counters flat), then releases to the whole target. On a failure it
 * halts: the canaries' records are withdrawn and those that installed are rolled back. Every phase is written to the
 * retained `<base>/_rollout/<target>`, so the command can exit and `rollout status` tells the story later.
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { FerError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Diagnostics } from '../fleet/fleet-view.js';
import { canaryProblem, parseCanarySpec, parseRolloutProgress, pickCanaries, ROLLOUT_PROTO, rolloutTopic, type RolloutProgress } from '../fleet/rollout.js';
import { checkTarget, encodeRollback, statusMatchesTarget, topics } from '../models/transport.js';
import { parseFlags } from './args.js';
import { brokerArgs, brokerOptions, connectBroker, out, readRetained, str, StatusWatch } from './broker-client.js';
import { FINAL_STATES, publishRelease, releaseInput, withdrawRelease } from './release-cli.js';

const USAGE = 2;

/** Availability and diagnostics of every agent, kept current while the rollout runs. */
class FleetSignals {
  readonly availability = new Map<string, string>();
  readonly diagnostics = new Map<string, Diagnostics>();

  constructor(private readonly client: MqttClient, private readonly base: string) {}

  async start(): Promise<void> {
    const agentOf = (t: string): string => t.slice(this.base.length + 1).split('/')[0]!;
    this.client.on('message', (topic, payload) => {
      const parts = topic.slice(this.base.length + 1).split('/');
      if (parts.length !== 2) return;
      if (parts[1] === 'availability') this.availability.set(parts[0]!, payload.toString('utf8'));
      else if (parts[1] === 'diagnostics') {
        try {
          this.diagnostics.set(parts[0]!, JSON.parse(payload.toString('utf8')) as Diagnostics);
        } catch {
          /* not diagnostics */
        }
      }
    });
    for (const [t, p] of await readRetained(this.client, `${this.base}/+/availability`)) this.availability.set(agentOf(t), p.toString('utf8'));
    await this.client.subscribeAsync([`${this.base}/+/availability`, `${this.base}/+/diagnostics`], { qos: 1 });
  }

  online(id: string): boolean {
    return this.availability.get(id) === 'online';
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export const modelRolloutCommand = async (argv: string[], log: Logger): Promise<number> => {
  if (argv[0] === 'status') return rolloutStatus(argv.slice(1));
  const { values, positionals } = parseFlags(argv, {
    ...brokerOptions,
    to: { type: 'string' },
    key: { type: 'string' },
    canary: { type: 'string' },
    'soak-s': { type: 'string' },
    'fetch-url': { type: 'string' },
    'chunk-kb': { type: 'string' },
    'allow-label-change': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const to = str(values.to);
  const spec = parseCanarySpec(str(values.canary) ?? '');
  if (values.help || positionals.length !== 1 || !to || !spec || !str(values.key)) {
    out('usage: fer-agent model rollout <bundle-dir|archive> --to <group|all> --canary N|P%|group:NAME --key PRIVATE.key');
    out('         [--soak-s 600] [--timeout-s 600] [--mqtt-url URL] [--fetch-url URL] [--config FILE]');
    out('       fer-agent model rollout status [--to TARGET]');
    return values.help ? 0 : USAGE;
  }
  checkTarget(to);
  const soakS = Number(str(values['soak-s']) ?? 600);
  const timeoutS = Number(str(values['timeout-s']) ?? 600);
  if (!(soakS >= 0) || !(timeoutS > 0)) throw new FerError('config_invalid', '--soak-s must be >= 0 and --timeout-s > 0');
  const input = await releaseInput(values, positionals[0]!);
  const broker = await brokerArgs(values);
  const client = await connectBroker(broker);
  const base = broker.base;
  try {
    const watch = new StatusWatch(client, base);
    await watch.start();
    const signals = new FleetSignals(client, base);
    await signals.start();
    const reached = [...watch.known.values()].filter((s) => statusMatchesTarget(s, to));
    const canaries = pickCanaries(reached, (id) => signals.online(id), spec);
    if (canaries.length === 0) throw new FerError('command_invalid', `no online agent answers to ${to}${'group' in spec ? ` in group ${spec.group}` : ''}: a rollout needs canaries that report`);
    const now = new Date().toISOString();
    const progress: RolloutProgress = {
      proto: ROLLOUT_PROTO, id: `ro-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`, target: to,
      name: input.bundle.name, version: input.bundle.version, canaries, soak_s: soakS, phase: 'canary', reason: null,
      releases: [], started_at: now, updated_at: now,
    };
    const save = async (p: Partial<RolloutProgress>): Promise<void> => {
      Object.assign(progress, p, { updated_at: new Date().toISOString() });
      await client.publishAsync(rolloutTopic(base, to), JSON.stringify(progress), { qos: 1, retain: true });
      out(`rollout ${progress.id}: ${progress.phase}${progress.reason ? `: ${progress.reason}` : ''}`);
    };
    await save({});
    const before = new Map(canaries.map((id) => [id, signals.diagnostics.get(id)]));
    const canaryReleases = new Map<string, string>();
    for (const id of canaries) canaryReleases.set(id, (await publishRelease(client, base, input, id)).id);
    progress.releases = [...canaryReleases.values()];
    watch.isAnswer = (s) => canaryReleases.get(s.agent_id) === s.release?.id && FINAL_STATES.has(s.release!.state);
    log.info({ rollout: progress.id, canaries }, 'released to the canaries');

    const problems = (): string[] => canaries.flatMap((id) => {
      const p = canaryProblem(id, canaryReleases.get(id)!, input.bundle.version, { status: watch.known.get(id), online: signals.online(id), before: before.get(id), now: signals.diagnostics.get(id) });
      return p ? [p] : [];
    });
    const halt = async (reason: string): Promise<number> => {
      for (const id of canaries) await withdrawRelease(client, base, id);
      // Canaries that installed go back to what they ran; one that refused still runs it.
      const installed = canaries.filter((id) => watch.known.get(id)?.active.version === input.bundle.version);
      // A rollback is a command, not desired state (installs only move forward): only an online canary can take it.
      // One that is offline keeps the version until an operator rolls it back; the progress record names it.
      const reachable = installed.filter((id) => signals.online(id));
      const unreachable = installed.filter((id) => !signals.online(id));
      const rolledBack: string[] = [];
      if (reachable.length > 0) {
        const request = `rb-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
        watch.isAnswer = null;
        watch.answers.clear();
        watch.id = request;
        for (const id of reachable) await client.publishAsync(topics.rollback(base, id), encodeRollback(request), { qos: 1, retain: false });
        await watch.waitFor(() => reachable, timeoutS * 1000);
        rolledBack.push(...reachable.filter((id) => watch.answers.get(id)?.last_update?.ok === true));
      }
      const notBack = installed.filter((id) => !rolledBack.includes(id));
      await save({
        phase: 'halted',
        reason: `${reason}; canaries' records withdrawn${rolledBack.length ? `, rolled back: ${rolledBack.join(', ')}` : ''}` +
          (notBack.length ? `; still on ${input.bundle.version}${unreachable.length ? ' (offline)' : ''}: ${notBack.join(', ')}: fer-agent model rollback --agent <id>` : ''),
      });
      return 1;
    };

    await watch.waitFor(() => canaries, timeoutS * 1000);
    const notDone = canaries.filter((id) => !watch.answers.has(id));
    if (notDone.length > 0) return await halt(`no answer from canaries ${notDone.join(', ')} within ${timeoutS} s`);
    const refused = problems().filter((p) => / (refused|failed) the release/.test(p));
    if (refused.length > 0) return await halt(refused.join('; '));

    await save({ phase: 'soak' });
    const soakEnd = Date.now() + soakS * 1000;
    while (Date.now() < soakEnd) {
      // Early out on what cannot recover: a canary gone offline or off the version.
      const bad = problems().filter((p) => / went offline| is not running /.test(p));
      if (bad.length > 0) return await halt(bad.join('; '));
      await sleep(Math.min(1000, Math.max(0, soakEnd - Date.now())));
    }
    const after = problems();
    if (after.length > 0) return await halt(after.join('; '));

    const release = await publishRelease(client, base, input, to);
    for (const id of canaries) await withdrawRelease(client, base, id);
    await save({ phase: 'released', releases: [...progress.releases, release.id] });
    out(`released ${input.bundle.name} ${input.bundle.version} to ${to} as ${release.id}; agents converge as they connect (fer-agent fleet status)`);
    return 0;
  } finally {
    await client.endAsync();
  }
};

async function rolloutStatus(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...brokerOptions, to: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    out('usage: fer-agent model rollout status [--to TARGET] [--json] [--mqtt-url URL]');
    return 0;
  }
  const broker = await brokerArgs(values);
  const client = await connectBroker(broker);
  try {
    const to = str(values.to);
    const list: RolloutProgress[] = [];
    for (const [, p] of await readRetained(client, rolloutTopic(broker.base, to ? checkTarget(to) : '+'))) {
      const r = parseRolloutProgress(p);
      if (r) list.push(r);
    }
    for (const r of list.sort((a, b) => a.target.localeCompare(b.target))) {
      if (values.json) out(JSON.stringify(r));
      else out(`${r.target}: ${r.name} ${r.version} ${r.phase} (rollout ${r.id}, canaries ${r.canaries.join(', ')}, soak ${r.soak_s} s, updated ${r.updated_at})${r.reason ? `: ${r.reason}` : ''}`);
    }
    if (list.length === 0) out(to ? `no rollout for ${to}` : 'no rollout found');
    return list.length > 0 ? 0 : 2;
  } finally {
    await client.endAsync();
  }
}
