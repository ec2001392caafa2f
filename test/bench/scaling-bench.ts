/**
 * Scaling benchmark (child process): N simulated agents, each the agent's real MQTT publisher (startMqtt) fed
 * with frame results and debounced events on its own bus, as one camera would produce them, all publishing to one
 * broker. The parent subscribes to everything and measures what the broker forwards.
 */
import { loadConfig } from '../../agent/config/load.js';
import { Bus } from '../../agent/core/bus.js';
import { createLogger } from '../../agent/core/log.js';
import type { AgentControl, FrameResult, TrackedFace } from '../../agent/core/types.js';
import { startMqtt, type MqttHandle } from '../../agent/pipeline/mqtt.js';
import { childMain } from './child.js';
import { FER2013_LABELS } from './labels.js';

export interface ScalingOptions {
  mqttUrl: string;
  /** agent ids are `${prefix}-NN`. */
  prefix: string;
  agents: number;
  seconds: number;
  /** Frame results per second per agent (one camera each). */
  fps: number;
  /** A debounced emotion change per agent this often. */
  eventEveryMs: number;
  /** The state topic's rate limit for confidence-only changes (the agent's default is 1000). */
  stateMinIntervalMs: number;
}

export interface ScalingChildResult {
  agents: number;
  connectSeconds: number;
  windowWall: [number, number];
  results: number;
  eventsSent: number;
  eventsDelivered: number;
  eventsDropped: number;
  cpuMs: number;
  peakRssMiB: number;
}

const wallNow = (): number => performance.timeOrigin + performance.now();
const labels = [...FER2013_LABELS];

function face(t: number, agent: number, emotion: number): TrackedFace {
  const probs = new Float32Array(labels.length).fill(0.05);
  // Confidences wobble every frame (so the state body changes), the argmax stays on the current emotion.
  probs[emotion] = 0.6 + 0.1 * Math.sin(t / 300 + agent);
  return {
    trackId: 1,
    box: { x: 200 + 10 * Math.sin(t / 500), y: 120, width: 120, height: 150 },
    score: 0.9,
    emotion: { labels, probs },
    smoothed: probs,
    age: 1,
  };
}

export async function runScaling(o: ScalingOptions): Promise<ScalingChildResult> {
  const log = createLogger(process.env.FER_LOG_LEVEL ?? 'warn', false);
  const t0 = performance.now();
  const sims: Array<{ bus: Bus; mqtt: MqttHandle; emotion: number; ticks: number }> = [];
  for (let i = 0; i < o.agents; i++) {
    const id = `${o.prefix}-${String(i).padStart(2, '0')}`;
    const cfg = loadConfig({ skipDefaultFile: true, env: {}, overrides: { agent_id: id, 'mqtt.url': o.mqttUrl, cameras: [{ id: 'cam', source: { type: 'dir', path: '/nonexistent' }, fps: o.fps }] } });
    const bus = new Bus();
    const control: AgentControl = { cameraIds: () => ['cam'], isPaused: () => false, setPaused: () => {}, republishState: () => {} };
    const mqtt = await startMqtt({ cfg, bus, control, log, cameras: [{ id: 'cam', name: 'cam' }], labels, stateMinIntervalMs: o.stateMinIntervalMs, diagnosticsIntervalMs: 30_000 });
    sims.push({ bus, mqtt, emotion: 3, ticks: 0 });
  }
  await Promise.all(sims.map((s) => s.mqtt.whenConnected(15_000)));
  const connectSeconds = (performance.now() - t0) / 1000;

  let results = 0;
  let eventsSent = 0;
  const timers: NodeJS.Timeout[] = [];
  const cpu0 = process.cpuUsage();
  const start = wallNow();
  const frameMs = 1000 / o.fps;
  const eventEvery = Math.max(1, Math.round(o.eventEveryMs / frameMs));
  await new Promise<void>((resolve) => {
    sims.forEach((s, i) => {
      // Staggered so the agents do not all publish in the same millisecond.
      const begin = setTimeout(() => {
        const tick = (): void => {
          const mono = performance.now();
          const wall = performance.timeOrigin + mono;
          s.ticks++;
          if (s.ticks % eventEvery === 0) {
            const previous = labels[s.emotion]!;
            s.emotion = s.emotion === 3 ? 6 : 3;
            s.bus.emit('event', { cameraId: 'cam', trackId: 1, eventType: labels[s.emotion]!, previous, confidence: 0.7, heldMs: 1000, wallMs: wall, monoMs: mono });
            eventsSent++;
          }
          const r: FrameResult = { cameraId: 'cam', seq: s.ticks, monoMs: mono, wallMs: wall, width: 640, height: 480, faces: [face(mono, i, s.emotion)], timings: { decodeMs: 0, detectMs: 0, classifyMs: 0, waitMs: 0, processMs: 0, totalMs: 0 } };
          s.bus.emit('result', r);
          results++;
        };
        timers.push(setInterval(tick, frameMs));
      }, (i * frameMs) / o.agents);
      timers.push(begin);
    });
    setTimeout(resolve, o.seconds * 1000);
  });
  for (const t of timers) clearInterval(t);
  const end = wallNow();
  // Let QoS 1 acknowledgements come back before counting what was delivered.
  const until = performance.now() + 5000;
  while (sims.some((s) => s.mqtt.queueDepth() > 0) && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
  const cpu = process.cpuUsage(cpu0);
  const stats = sims.map((s) => s.mqtt.stats());
  await Promise.all(sims.map((s) => s.mqtt.stop()));
  return {
    agents: o.agents,
    connectSeconds,
    windowWall: [start, end],
    results,
    eventsSent,
    eventsDelivered: stats.reduce((a, s) => a + s.delivered, 0),
    eventsDropped: stats.reduce((a, s) => a + s.droppedExpired + s.droppedOverflow, 0),
    cpuMs: (cpu.user + cpu.system) / 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

childMain(import.meta.url, runScaling);
