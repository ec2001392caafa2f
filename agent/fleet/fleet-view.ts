/**
 * The fleet at a glance, pure: one row per agent from the retained topics every agent keeps on its broker (and, through
 * bridges, on the central one): availability, model status (with its release state) and diagnostics.
 */
import type { StatusPayload } from '../models/transport.js';

export interface FleetRow {
  agent: string;
  groups: string[];
  /** From the retained availability (`online`, or `offline` from a clean stop or the broker's Last Will). */
  online: boolean | null;
  /** Online: when the agent started (diagnostics time - uptime); offline: its last diagnostics time. */
  since: string | null;
  model: string | null;
  version: string | null;
  /** The agent's state against its newest release record, or its last push result. */
  update: string;
  fps: number | null;
  /** events dropped + corrupt frames + failed sources, from diagnostics. */
  errors: number | null;
}

export interface Diagnostics {
  fps?: number;
  model_version?: string;
  uptime_s?: number;
  time?: string;
  events_dropped?: number;
  frames_corrupt?: number;
  sources_failed?: number;
}

export interface FleetInputs {
  availability: ReadonlyMap<string, string>;
  status: ReadonlyMap<string, StatusPayload>;
  diagnostics: ReadonlyMap<string, Diagnostics>;
}

function updateOf(s: StatusPayload | undefined): string {
  if (!s) return 'no model status';
  const r = s.release;
  if (r) return r.reason ? `${r.state} ${r.version} [${r.reason}]` : `${r.state} ${r.version}`;
  const u = s.last_update;
  if (u) return u.ok ? `${u.action} ok` : `${u.action} rejected [${u.reason}]`;
  return 'none';
}

export function buildFleetView(i: FleetInputs): FleetRow[] {
  const agents = new Set([...i.availability.keys(), ...i.status.keys(), ...i.diagnostics.keys()]);
  return [...agents].sort().map((agent) => {
    const s = i.status.get(agent);
    const d = i.diagnostics.get(agent);
    const av = i.availability.get(agent);
    const online = av === undefined ? null : av === 'online';
    let since: string | null = null;
    if (d?.time) {
      const t = Date.parse(d.time);
      since = online && typeof d.uptime_s === 'number' && Number.isFinite(t) ? new Date(t - d.uptime_s * 1000).toISOString() : d.time;
    }
    const errors = d ? (d.events_dropped ?? 0) + (d.frames_corrupt ?? 0) + (d.sources_failed ?? 0) : null;
    return {
      agent,
      groups: s?.groups ?? [],
      online,
      since,
      model: s?.active.name ?? null,
      version: s?.active.version ?? null,
      update: updateOf(s),
      fps: typeof d?.fps === 'number' ? d.fps : null,
      errors,
    };
  });
}

/** A plain-text table (a terminal); the JSON form is the rows themselves. */
export function formatFleetTable(rows: readonly FleetRow[]): string {
  const head = ['AGENT', 'GROUPS', 'ONLINE', 'SINCE', 'MODEL', 'UPDATE', 'FPS', 'ERRORS'];
  const cells = rows.map((r) => [
    r.agent,
    r.groups.join(',') || '-',
    r.online === null ? '?' : r.online ? 'yes' : 'no',
    r.since ? r.since.replace(/\.\d+Z$/, 'Z') : '-',
    r.model ? `${r.model} ${r.version}` : '-',
    r.update,
    r.fps === null ? '-' : String(r.fps),
    r.errors === null ? '-' : String(r.errors),
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
  const line = (row: string[]): string => row.map((x, c) => x.padEnd(widths[c]!)).join('  ').trimEnd();
  const online = rows.filter((r) => r.online).length;
  return [line(head), ...cells.map(line), `${rows.length} agents, ${online} online`].join('\n');
}
