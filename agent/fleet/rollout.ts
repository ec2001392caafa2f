/**
 * Staged rollouts, pure: which agents are the canaries, whether they are healthy after the soak, and the retained
 * progress record (`fer-rollout/1`) the operator's command writes at every phase so that it can exit and
 * `fer-agent model rollout status` can tell the story later. cli/rollout-cli.ts moves the bytes.
 */
import type { Diagnostics } from './fleet-view.js';
import type { StatusPayload } from '../models/transport.js';

export const ROLLOUT_PROTO = 'fer-rollout/1';

export const rolloutTopic = (base: string, target: string): string => `${base}/_rollout/${target}`;

export interface RolloutProgress {
  proto: typeof ROLLOUT_PROTO;
  id: string;
  target: string;
  name: string;
  version: string;
  canaries: string[];
  soak_s: number;
  /** canary: released to the canaries, waiting for them; soak: all installed, watching them; released: to the whole
   *  target; halted: stopped, canaries rolled back (reason says why). */
  phase: 'canary' | 'soak' | 'released' | 'halted';
  reason: string | null;
  /** The release records this rollout published (canaries', then the target's). */
  releases: string[];
  started_at: string;
  updated_at: string;
}

/** `--canary`: a count (2), a share of the target's agents (10%), or a group (group:kitchen). */
export type CanarySpec = { count: number } | { percent: number } | { group: string };

export function parseCanarySpec(v: string): CanarySpec | null {
  if (/^\d+$/.test(v) && Number(v) > 0) return { count: Number(v) };
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(v);
  if (pct && Number(pct[1]) > 0 && Number(pct[1]) <= 100) return { percent: Number(pct[1]) };
  const g = /^group:([a-zA-Z0-9_-]{1,64})$/.exec(v);
  if (g) return { group: g[1]! };
  return null;
}

/**
 * The canaries among `agents` (those the target reaches): a group's members, or the first N (at least one) in agent-id
 * order, so the same fleet gives the same canaries every time. Offline agents are never picked: a canary must report.
 */
export function pickCanaries(agents: ReadonlyArray<Pick<StatusPayload, 'agent_id' | 'groups'>>, online: (id: string) => boolean, spec: CanarySpec): string[] {
  const up = agents.filter((a) => online(a.agent_id)).sort((a, b) => a.agent_id.localeCompare(b.agent_id));
  if ('group' in spec) return up.filter((a) => a.groups.includes(spec.group)).map((a) => a.agent_id);
  const n = 'count' in spec ? spec.count : Math.max(1, Math.ceil((up.length * spec.percent) / 100));
  return up.slice(0, n).map((a) => a.agent_id);
}

export interface CanaryObservation {
  status: StatusPayload | undefined;
  online: boolean;
  /** Diagnostics when the rollout started, and the latest. */
  before: Diagnostics | undefined;
  now: Diagnostics | undefined;
}

const errorsOf = (d: Diagnostics | undefined): number => (d ? (d.events_dropped ?? 0) + (d.frames_corrupt ?? 0) + (d.sources_failed ?? 0) : 0);

/**
 * Whether one canary is healthy on `version` after the soak: online, running it (its release converged), its latest
 * diagnostics from the new model, frames flowing if they flowed before, error counters not above where they started.
 * Returns null when healthy, else why not.
 */
export function canaryProblem(id: string, releaseId: string, version: string, o: CanaryObservation): string | null {
  const r = o.status?.release;
  if (r?.id === releaseId && (r.state === 'refused' || r.state === 'failed')) return `${id} ${r.state} the release [${r.reason}]: ${r.message}`;
  if (!o.online) return `${id} went offline`;
  if (o.status?.active.version !== version || r?.id !== releaseId || r.state !== 'converged') return `${id} is not running ${version} (runs ${o.status?.active.version ?? 'unknown'})`;
  if (!o.now || o.now.model_version !== version) return `${id} has published no diagnostics from ${version}`;
  if ((o.before?.fps ?? 0) > 0 && (o.now.fps ?? 0) <= 0) return `${id}: frames stopped flowing (fps ${o.before?.fps} before, 0 now)`;
  const rise = errorsOf(o.now) - errorsOf(o.before);
  if (rise > 0) return `${id}: error counters rose by ${rise} (dropped events + corrupt frames + failed sources)`;
  return null;
}

export function parseRolloutProgress(payload: Uint8Array): RolloutProgress | null {
  try {
    const v = JSON.parse(Buffer.from(payload).toString('utf8')) as Partial<RolloutProgress>;
    return v?.proto === ROLLOUT_PROTO && typeof v.id === 'string' && Array.isArray(v.canaries) ? (v as RolloutProgress) : null;
  } catch {
    return null;
  }
}
