/** Shared pieces of the MQTT and Home Assistant tests: config, an in-memory AgentControl, scripted bus data, a watcher. */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { loadConfig } from '../../agent/config/load.js';
import type { AgentConfig } from '../../agent/config/schema.js';
import type { Bus, ModelInfo } from '../../agent/core/bus.js';
import type { AgentControl, EmotionEvent, FrameResult, TrackedFace } from '../../agent/core/types.js';

export const LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;

export const CAMERAS = [
  { id: 'living_room', name: 'Living room' },
  { id: 'hall-2', name: 'Hall' },
];

/** A validated config (defaults + overrides), as the agent would load it. */
export function testConfig(overrides: Record<string, unknown> = {}): AgentConfig {
  return loadConfig({
    skipDefaultFile: true,
    env: {},
    overrides: {
      agent_id: 'test-agent',
      cameras: CAMERAS.map((c) => ({ id: c.id, name: c.name, source: { type: 'dir', path: '/nonexistent' }, fps: 5 })),
      ...overrides,
    },
  });
}

/** What the agent's control does for pause/resume, in memory: announces changes on the bus. */
export class MemoryControl implements AgentControl {
  private paused = new Map<string, boolean>();
  republished = 0;
  constructor(
    private readonly bus: Bus,
    private readonly ids: string[],
  ) {}
  cameraIds(): string[] {
    return [...this.ids];
  }
  isPaused(cameraId: string): boolean {
    return this.paused.get(cameraId) === true;
  }
  setPaused(cameraId: string, paused: boolean): void {
    if (this.isPaused(cameraId) === paused) return;
    this.paused.set(cameraId, paused);
    this.bus.emit('paused', { cameraId, paused });
  }
  republishState(): void {
    this.republished++;
  }
}

export function modelInfo(labels: readonly string[] = LABELS, version = '1.0.0'): ModelInfo {
  return { name: 'fer-test', version, sha256: '0'.repeat(64), labels: [...labels], engine: 'onnxruntime', precision: 'int8', flipTta: false, dir: '/nonexistent' };
}

/** A face whose smoothed probabilities put `p` on `label` and spread the rest evenly. */
export function face(trackId: number, label: string, p: number, size = 100, labels: readonly string[] = LABELS): TrackedFace {
  const probs = new Float32Array(labels.length).fill((1 - p) / (labels.length - 1));
  probs[labels.indexOf(label)] = p;
  return {
    box: { x: 10 * trackId, y: 10, width: size, height: size },
    score: 0.9,
    emotion: { labels, probs },
    trackId,
    smoothed: probs,
    age: 5,
  };
}

export function result(cameraId: string, seq: number, monoMs: number, faces: TrackedFace[], wallMs = Date.now()): FrameResult {
  return { cameraId, seq, monoMs, wallMs, width: 640, height: 480, faces, timings: { decodeMs: 2, detectMs: 10, classifyMs: 3, waitMs: 0, processMs: 15, totalMs: 15 } };
}

export function event(cameraId: string, trackId: number, eventType: string, previous: string, monoMs: number, wallMs = Date.now()): EmotionEvent {
  return { cameraId, trackId, eventType, previous, confidence: 0.8123, heldMs: 1200, wallMs, monoMs };
}

export interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
}

/** A plain mqtt.js subscriber that records what it sees. */
export class Watcher {
  readonly seen: Seen[] = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.seen.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos });
      for (const w of this.waiters) w();
    });
  }

  static async open(url: string, filters: string[], options: IClientOptions = {}): Promise<Watcher> {
    const client = connect(url, { reconnectPeriod: 200, ...options });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const w = new Watcher(client);
    await client.subscribeAsync(filters, { qos: 1 });
    return w;
  }

  on(topic: string): Seen[] {
    return this.seen.filter((s) => s.topic === topic);
  }

  last(topic: string): Seen | undefined {
    const all = this.on(topic);
    return all[all.length - 1];
  }

  /** Resolves with the first message (in order) after `from` that matches; fails after `timeoutMs`. */
  async waitFor(pred: (s: Seen) => boolean, timeoutMs = 5000, from = 0): Promise<Seen> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.seen.slice(from).find(pred);
      if (hit) return hit;
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no matching MQTT message within ${timeoutMs} ms; seen: ${this.seen.map((s) => `${s.topic}=${s.payload.slice(0, 80)}`).join(' | ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      this.waiters = [];
    }
  }

  /**
   * A round trip through the agent as a barrier: a command it refuses, answered on its reply topic. The agent's
   * client publishes in order, so whatever it published before the answer has reached this watcher when the answer
   * has. Use it before asserting that something did not happen (never a fixed sleep).
   */
  private barriers = 0;
  async agentBarrier(base: string, agentId: string, timeoutMs = 10_000): Promise<void> {
    const reply = `${base}/${agentId}/command/reply`;
    if (!this.seen.some((x) => x.topic === reply)) await this.client.subscribeAsync(reply, { qos: 1 });
    const id = `barrier-${process.pid}-${++this.barriers}`;
    const from = this.seen.length;
    await this.client.publishAsync(`${base}/${agentId}/command`, JSON.stringify({ id, command: 'barrier' }), { qos: 1 });
    await this.waitFor((x) => x.topic === reply && x.payload.includes(`"${id}"`), timeoutMs, from);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
