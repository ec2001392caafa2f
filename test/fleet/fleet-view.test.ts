/** The fleet view from retained topics: one row per agent seen anywhere, online or not, and its table. */
import test from 'ava';
import { buildFleetView, formatFleetTable } from '../../agent/fleet/fleet-view.js';
import type { StatusPayload } from '../../agent/models/transport.js';

function status(agent: string, version: string, release: StatusPayload['release']): StatusPayload {
  return {
    proto: 'fer-model-status/1', agent_id: agent, groups: ['kitchen'],
    active: { name: 'fer-vgg-s', version, sha256: 'a'.repeat(64), source: 'installed', tag: null },
    installed_version: version, latest_version: version, title: 'fer-vgg-s', release_summary: '', in_progress: false,
    last_update: { id: 'x', action: 'install', ok: false, reason: 'model_untrusted', message: 'm', offered: null, at: '2026-12-05T00:00:00.000Z' },
    release, updated_at: '2026-12-05T00:00:00.000Z',
  };
}

test('rows join availability, model status and diagnostics; since = start time online, last seen offline', (t) => {
  const rows = buildFleetView({
    availability: new Map([['pi-1', 'online'], ['pi-2', 'offline']]),
    status: new Map([
      ['pi-1', status('pi-1', '1.4.0', { id: 'rel-1', target: 'all', version: '1.4.0', state: 'converged', reason: null, message: '', at: '' })],
      ['pi-2', status('pi-2', '1.3.0', null)],
    ]),
    diagnostics: new Map([
      ['pi-1', { fps: 4.8, uptime_s: 60, time: '2026-12-05T01:00:00.000Z', events_dropped: 1, frames_corrupt: 2, sources_failed: 0 }],
      ['pi-2', { fps: 0, uptime_s: 600, time: '2026-12-05T00:30:00.000Z' }],
      ['pi-3', { fps: 5, uptime_s: 1, time: '2026-12-05T01:00:00.000Z' }],
    ]),
  });
  t.deepEqual(rows.map((r) => r.agent), ['pi-1', 'pi-2', 'pi-3']);
  t.like(rows[0], { online: true, since: '2026-12-05T00:59:00.000Z', version: '1.4.0', update: 'converged 1.4.0', fps: 4.8, errors: 3 });
  t.like(rows[1], { online: false, since: '2026-12-05T00:30:00.000Z', update: 'install rejected [model_untrusted]', errors: 0 });
  t.like(rows[2], { online: null, model: null, update: 'no model status' });
  const table = formatFleetTable(rows);
  t.regex(table, /^AGENT\s+GROUPS\s+ONLINE/);
  t.regex(table, /pi-2\s+kitchen\s+no\s+2026-12-05T00:30:00Z/);
  t.regex(table, /3 agents, 1 online$/);
});
