/** The retained diagnostics topic: fps, latency, model, engine, CPU temperature, queue, uptime; every 30 s by default. */
import type { Feature, FeatureHost } from '../core/broker-link.js';
import type { Bus, ModelInfo } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import type { AgentTopics } from '../core/topics.js';
import type { FrameResult } from '../core/types.js';
import type { DeliveryStats } from '../events/delivery.js';
import { DiagnosticsModel, readCpuTemperature } from './diagnostics.js';
import type { PausedCameras } from './paused-cameras.js';

export interface DiagnosticsPublisherOptions {
  topics: AgentTopics;
  paused: PausedCameras;
  bus: Bus;
  clock: Clock;
  /** The event queue's numbers, for `queued` and `dropped`. */
  delivery: () => { depth: number; stats: DeliveryStats };
  intervalMs?: number;
  /** Linux thermal zones (tests point this elsewhere). */
  thermalDir?: string;
}

export class DiagnosticsPublisher implements Feature {
  private host?: FeatureHost;
  private readonly diag: DiagnosticsModel;
  private readonly startMono: number;
  private timer?: ReturnType<typeof setInterval>;
  private cpuTemp = false;

  constructor(private readonly o: DiagnosticsPublisherOptions) {
    this.diag = new DiagnosticsModel([...o.paused.cameraIds]);
    this.startMono = o.clock.mono();
  }

  /** Whether this machine reports a CPU temperature (Home Assistant gets a sensor for it only then). */
  get hasCpuTemperature(): boolean {
    return this.cpuTemp;
  }

  async start(host: FeatureHost): Promise<void> {
    this.host = host;
    this.cpuTemp = (await readCpuTemperature(this.o.thermalDir)) !== null;
    this.o.bus.listen(this, 'result', (r: FrameResult) => {
      if (!this.o.paused.get(r.cameraId)) this.diag.onResult(r);
    });
    this.o.bus.listen(this, 'source', (st) => this.diag.onSource(st));
    this.o.bus.listen(this, 'model', (info: ModelInfo) => {
      this.diag.onModel(info);
      void this.publish();
    });
    host.onConnect('state', () => this.publish());
    this.timer = setInterval(() => void this.publish(), this.o.intervalMs ?? 30_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.o.bus.release(this);
    clearInterval(this.timer);
  }

  private async publish(): Promise<void> {
    const host = this.host;
    if (!host) return;
    const { depth, stats } = this.o.delivery();
    const body = this.diag.snapshot(this.o.clock.mono(), this.o.clock.wall(), {
      cpuTempC: this.cpuTemp ? await readCpuTemperature(this.o.thermalDir) : null,
      queued: depth,
      dropped: stats.droppedExpired + stats.droppedOverflow,
      uptimeS: (this.o.clock.mono() - this.startMono) / 1000,
    });
    await host.publish(this.o.topics.diagnostics, JSON.stringify(body), { qos: 0, retain: true }).catch(() => {});
  }
}
