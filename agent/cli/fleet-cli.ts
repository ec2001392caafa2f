/**
 * `fer-agent fleet status [--json] [--mqtt-url URL] [--base-topic fer]`: every agent whose retained topics are on this
 * broker (a central broker sees every bridged site), online or not, its model, update state, fps and errors.
 * A table on a terminal, JSON lines otherwise (or with --json).
 */
import type { Logger } from '../core/log.js';
import { buildFleetView, formatFleetTable, type Diagnostics } from '../fleet/fleet-view.js';
import { parseStatus, type StatusPayload } from '../models/transport.js';
import { parseFlags } from './args.js';
import { brokerArgs, brokerOptions, connectBroker, out, readRetained } from './broker-client.js';

const USAGE = 2;

export const fleetCli = async (argv: string[], _log: Logger): Promise<number> => {
  const [sub, ...rest] = argv;
  if (sub !== 'status') {
    out('usage: fer-agent fleet status [--json] [--mqtt-url URL] [--base-topic fer] [--config FILE]');
    return sub === '--help' || sub === '-h' ? 0 : USAGE;
  }
  const { values } = parseFlags(rest, { ...brokerOptions, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    out('usage: fer-agent fleet status [--json] [--mqtt-url URL] [--base-topic fer] [--config FILE]');
    return 0;
  }
  const broker = await brokerArgs(values);
  const client = await connectBroker(broker);
  try {
    const base = broker.base;
    const agentOf = (topic: string): string => topic.slice(base.length + 1).split('/')[0]!;
    const availability = new Map<string, string>();
    for (const [t, p] of await readRetained(client, `${base}/+/availability`)) availability.set(agentOf(t), p.toString('utf8'));
    const status = new Map<string, StatusPayload>();
    for (const [, p] of await readRetained(client, `${base}/+/model/status`)) {
      const s = parseStatus(p);
      if (s) status.set(s.agent_id, s);
    }
    const diagnostics = new Map<string, Diagnostics>();
    for (const [t, p] of await readRetained(client, `${base}/+/diagnostics`)) {
      try {
        diagnostics.set(agentOf(t), JSON.parse(p.toString('utf8')) as Diagnostics);
      } catch {
        /* not diagnostics */
      }
    }
    const rows = buildFleetView({ availability, status, diagnostics });
    if (values.json || !process.stdout.isTTY) for (const r of rows) out(JSON.stringify(r));
    else out(formatFleetTable(rows));
    return rows.length > 0 ? 0 : 2;
  } finally {
    await client.endAsync();
  }
};
