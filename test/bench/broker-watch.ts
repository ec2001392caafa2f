/**
 * The parent's view of the broker during a benchmark: a subscriber that logs every message it forwards (arrival
 * time, topic, size, the payload's `ts`) and a sampler of the Mosquitto process's CPU time and RSS from /proc.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { connectAsync, type MqttClient } from 'mqtt';

export interface LoggedMessage {
  /** Arrival, ms since epoch (fractional: performance.timeOrigin + now()). */
  at: number;
  topic: string;
  bytes: number;
  /** The `ts` field of a JSON payload (state and event payloads carry the frame's wall time). */
  ts?: number;
}

export class MessageLog {
  readonly messages: LoggedMessage[] = [];
  private constructor(private readonly client: MqttClient) {}

  static async start(url: string, topics: string[]): Promise<MessageLog> {
    const client = await connectAsync(url, { clientId: `fer-bench-watch-${process.pid}`, clean: true, reconnectPeriod: 500 });
    const log = new MessageLog(client);
    client.on('message', (topic, payload) => {
      const at = performance.timeOrigin + performance.now();
      let ts: number | undefined;
      if (payload.length > 0 && payload[0] === 0x7b) {
        try {
          const v = (JSON.parse(payload.toString('utf8')) as { ts?: unknown }).ts;
          if (typeof v === 'number') ts = v;
        } catch {
          // not JSON: counted, no timestamp
        }
      }
      log.messages.push({ at, topic, bytes: payload.length + Buffer.byteLength(topic), ...(ts !== undefined ? { ts } : {}) });
    });
    await client.subscribeAsync(topics, { qos: 1 });
    return log;
  }

  between(from: number, to: number, filter: (m: LoggedMessage) => boolean = () => true): LoggedMessage[] {
    return this.messages.filter((m) => m.at >= from && m.at <= to && filter(m));
  }

  async stop(): Promise<void> {
    await this.client.endAsync();
  }
}

/** The pid of the mosquitto started with the config in `dir` (the test helper keeps it there), if any. */
export function findBrokerPid(dir: string): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes('mosquitto') && cmd.includes(dir)) return Number(name);
    } catch {
      // process gone
    }
  }
  return undefined;
}

export interface ProcSample {
  at: number;
  cpuMs: number;
  rssMiB: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

export function sampleProcess(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rssPages = Number(f[21]);
    return { at: performance.timeOrigin + performance.now(), cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS, rssMiB: (rssPages * 4096) / (1024 * 1024) };
  } catch {
    return undefined;
  }
}

/** Samples a process every `everyMs` until stopped. */
export class ProcSampler {
  readonly samples: ProcSample[] = [];
  private timer: NodeJS.Timeout;
  constructor(pid: number, everyMs = 250) {
    const take = (): void => {
      const s = sampleProcess(pid);
      if (s) this.samples.push(s);
    };
    take();
    this.timer = setInterval(take, everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** CPU % of one core and the largest RSS over [from, to]. */
  over(from: number, to: number): { cpuPercent: number; rssMiB: number } | undefined {
    const inside = this.samples.filter((s) => s.at >= from && s.at <= to);
    if (inside.length < 2) return undefined;
    const a = inside[0]!;
    const b = inside[inside.length - 1]!;
    return { cpuPercent: (100 * (b.cpuMs - a.cpuMs)) / (b.at - a.at), rssMiB: Math.max(...inside.map((s) => s.rssMiB)) };
  }
}
