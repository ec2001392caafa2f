/**
 * Parts of the bridged-fleet test: a TCP proxy that carries one site's bridge to the central broker and can be cut
 * and restored; real `fer-agent run` processes on an idle camera; a watcher of every agent's retained model status;
 * per-process RSS and CPU time from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { packageRoot } from '../../agent/core/paths.js';
import { parseStatus, type StatusPayload } from '../../agent/models/transport.js';

/** A TCP relay 127.0.0.1:port → 127.0.0.1:target that can be cut (every connection dropped, new ones refused) and restored. */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  private constructor(readonly port: number, private readonly target: number) {}

  static async start(port: number, target: number): Promise<TcpProxy> {
    const p = new TcpProxy(port, target);
    await p.restore();
    return p;
  }

  async restore(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((inbound) => {
      const outbound = net.connect(this.target, '127.0.0.1');
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async cut(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

export interface AgentSpec {
  id: string;
  site: string;
  brokerUrl: string;
  stateDir: string;
  baseModel: string;
  trustedKey: string;
  cameraDir: string;
  dir: string;
}

/** A real agent: `node dist/agent/cli/main.js run --config <file>`, one idle camera, model updates on. */
export class FleetAgent {
  private proc: ChildProcess | null = null;
  private stderr = '';
  readonly configFile: string;

  constructor(readonly spec: AgentSpec) {
    this.configFile = path.join(spec.dir, `${spec.id}.json`);
    writeFileSync(this.configFile, JSON.stringify({
      agent_id: spec.id,
      agent_groups: [spec.site],
      engine: 'onnxruntime',
      threads: 1,
      log_level: 'warn',
      model: { path: spec.baseModel, state_dir: spec.stateDir, trusted_keys: [spec.trustedKey] },
      mqtt: { url: spec.brokerUrl, base_topic: 'fer' },
      homeassistant: { discovery: true },
      sinks: { stdout: { enabled: false } },
      cameras: [{ id: 'door', source: { type: 'dir', path: spec.cameraDir, loop: true }, fps: 1 }],
    }));
  }

  start(): void {
    const main = path.join(packageRoot, 'dist', 'agent', 'cli', 'main.js');
    this.stderr = '';
    const p = spawn(process.execPath, [main, 'run', '--config', this.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.proc = p;
  }

  get pid(): number | undefined {
    return this.proc?.exitCode === null ? this.proc.pid : undefined;
  }

  get log(): string {
    return this.stderr;
  }

  /** SIGTERM (a clean stop: it publishes `offline`), or SIGKILL (a crash or a pulled plug: the broker's Last Will). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  }
}

/** Every agent's retained model status as seen on one broker, kept current. */
export class StatusBoard {
  readonly status = new Map<string, StatusPayload>();
  readonly availability = new Map<string, string>();
  private constructor(readonly client: MqttClient) {}

  static async open(url: string): Promise<StatusBoard> {
    const client = connect(url, { clientId: `fleet-board-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 200 });
    const b = new StatusBoard(client);
    client.on('message', (topic, payload) => {
      const parts = topic.split('/');
      if (parts[2] === 'availability') b.availability.set(parts[1]!, payload.toString());
      const s = topic.endsWith('/model/status') ? parseStatus(payload) : null;
      if (s) b.status.set(s.agent_id, s);
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(['fer/+/model/status', 'fer/+/availability'], { qos: 1 });
    return b;
  }

  /** Agents whose status says they run `version` and reached `releaseId` (converged). */
  converged(releaseId: string, version: string): string[] {
    return [...this.status.values()].filter((s) => s.release?.id === releaseId && s.release.state === 'converged' && s.active.version === version).map((s) => s.agent_id).sort();
  }

  /** Each agent's availability, version and release state: what a failed wait prints. */
  describe(): string {
    return [...this.status.values()].map((s) => `${s.agent_id} ${this.availability.get(s.agent_id)} ${s.active.version} ${JSON.stringify(s.release)} last=${s.last_update?.reason ?? s.last_update?.ok}`).join('\n');
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

/** Resident set size (KiB) and CPU time (user + system, in clock ticks) of a process. */
export function procStats(pid: number): { rssKiB: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  // Fields after the command name (which may contain spaces): utime and stime are the 12th and 13th of those.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssKiB: rss, cpuTicks: Number(rest[11]) + Number(rest[12]) };
}
