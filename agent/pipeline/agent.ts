/**
 * The running agent: config → engine → model → per-camera pipelines → sinks, plus the services registered with it
 * (MQTT, model updates, the Home Assistant websocket, health, the live view: started by pipeline/app.ts and
 * services.ts, stopped here in reverse order). It owns the frame loops, the pause state and the hot swap.
 */
import { stateDirCache } from './precision-cache.js';
import type { AgentConfig } from '../config/schema.js';
import { resolveCameras } from '../config/load.js';
import { Bus, type ModelInfo } from '../core/bus.js';
import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { AgentControl, EventSink } from '../core/types.js';
import { eventIdFactory } from '../events/payloads.js';
import { JsonlSink } from '../events/sinks/jsonl.js';
import { StdoutSink } from '../events/sinks/stdout.js';
import { CameraFeed } from '../sources/camera-feed.js';
import { createSource } from '../sources/source.js';
import { createDetector } from '../vision/create-detector.js';
import { CameraPipeline } from './camera-pipeline.js';
import { setupClassifier, type LoadedModel } from './classifier-setup.js';
import { ModelSlot } from './model-slot.js';

export interface AgentOptions {
  clock?: Clock;
  /** Extra sinks (tests). */
  sinks?: EventSink[];
  /** Bundle directory to start with instead of cfg.model.path (the model store passes the installed one). */
  modelDir?: string;
}

export interface Service {
  stop(): Promise<void>;
}

export class Agent implements AgentControl {
  /** A listener that throws is logged and skipped; the others still get the message. */
  readonly bus = new Bus((event, err) => this.log.error({ event, err: err instanceof Error ? err.message : String(err) }, 'a bus listener threw; the others still ran'));
  readonly pipelines: CameraPipeline[] = [];
  private readonly feeds: CameraFeed[] = [];
  private readonly sinks: EventSink[] = [];
  private readonly services: Service[] = [];
  private readonly abort = new AbortController();
  private slot!: ModelSlot;
  private loaded!: LoadedModel;
  private running: Promise<void> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  readonly clock: Clock;

  constructor(readonly cfg: AgentConfig, readonly log: Logger, private readonly opts: AgentOptions = {}) {
    this.clock = opts.clock ?? systemClock;
  }

  get model(): ModelInfo {
    const l = this.loaded;
    return { name: l.name, version: l.version, sha256: l.sha256, labels: [...l.classifier.labels], engine: l.choice.engine, precision: l.classifier.spec.precision, flipTta: l.flipTta.on, dir: l.dir };
  }

  get engine(): string {
    return this.loaded.choice.engine;
  }

  async start(): Promise<void> {
    const { cfg, log } = this;
    this.loaded = await setupClassifier(cfg, this.opts.modelDir ?? cfg.model.path, log);
    this.slot = new ModelSlot(this.loaded.classifier);

    if (cfg.sinks.stdout.enabled) this.sinks.push(new StdoutSink({ logger: log, agentId: cfg.agent_id }));
    if (cfg.sinks.jsonl.path) this.sinks.push(new JsonlSink(cfg.sinks.jsonl.path, log, cfg.agent_id));
    this.sinks.push(...(this.opts.sinks ?? []));
    for (const s of this.sinks) await s.start?.();
    this.bus.listen(this, 'event', (e) => {
      for (const s of this.sinks) {
        Promise.resolve(s.onEvent(e)).catch((err: unknown) => log.warn({ sink: s.name, err: errorMessage(err) }, 'sink failed to take an event'));
      }
    });
    this.bus.listen(this, 'result', (r) => {
      for (const s of this.sinks) s.onFrame?.(r);
    });

    // Ids from the agent and its start time: unique across restarts, the same in every sink.
    const nextEventId = eventIdFactory(cfg.agent_id, this.clock.wall());
    for (const cam of resolveCameras(cfg)) {
      const detector = await createDetector(cam.detection, this.loaded.choice.engine, cfg.threads, log, stateDirCache(cfg.model.state_dir, log));
      const maxWidth = cam.detection.max_frame_width || undefined;
      const source = createSource(cam.id, cam.source, log, { clock: this.clock, fps: cam.fps, maxWidth });
      const feed = new CameraFeed({ cameraId: cam.id, source, fps: cam.fps, log, clock: this.clock, maxWidth, onStatus: (s) => this.bus.emit('source', s) });
      this.feeds.push(feed);
      this.pipelines.push(new CameraPipeline({ camera: cam, feed, detector, models: this.slot, bus: this.bus, clock: this.clock, log, nextEventId, dispose: () => detector.dispose() }));
    }
    this.bus.emit('model', this.model);
    log.info({ agent: cfg.agent_id, cameras: this.pipelines.map((p) => p.cameraId), engine: this.engine, model: `${this.loaded.name}@${this.loaded.version}` }, 'agent started');
  }

  /** Registers something to stop (in reverse order) when the agent stops: MQTT, health server, live view. */
  addService(s: Service): void {
    this.services.push(s);
  }

  /** Starts the frame loops; resolves when they all end (stop() or every source ended). */
  run(): Promise<void> {
    for (const f of this.feeds) f.start();
    // face_lost must fire even when a source stalls and no frames arrive to drive the debouncer.
    this.idleTimer = setInterval(() => {
      for (const p of this.pipelines) p.idleTick();
    }, 250);
    this.idleTimer.unref();
    this.running = Promise.all(this.pipelines.map((p) => p.run(this.abort.signal))).then(() => undefined);
    return this.running;
  }

  /** Hot swap: the new classifier serves from the next frame on; frames in flight finish on the old one. */
  async activateModel(dir: string): Promise<ModelInfo> {
    const next = await setupClassifier(this.cfg, dir, this.log);
    if (next.choice.engine !== this.loaded.choice.engine) this.log.warn({ was: this.loaded.choice.engine, now: next.choice.engine }, 'engine changed on model swap');
    this.slot.swap(next.classifier);
    this.loaded = next;
    this.bus.emit('model', this.model);
    this.log.info({ model: `${next.name}@${next.version}`, sha256: next.sha256 }, 'model activated');
    return this.model;
  }

  cameraIds(): string[] {
    return this.pipelines.map((p) => p.cameraId);
  }

  isPaused(cameraId: string): boolean {
    return this.pipelines.find((p) => p.cameraId === cameraId)?.isPaused() ?? false;
  }

  setPaused(cameraId: string, paused: boolean): void {
    const p = this.pipelines.find((x) => x.cameraId === cameraId);
    if (!p) return;
    p.setPaused(paused);
    this.bus.emit('paused', { cameraId, paused });
  }

  republishState(): void {
    for (const p of this.pipelines) p.republish();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const f of this.feeds) await f.stop();
    await this.running.catch(() => undefined);
    for (const p of this.pipelines) await p.dispose();
    for (const s of [...this.services].reverse()) await s.stop().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'service failed to stop'));
    this.bus.release(this);
    for (const s of this.sinks) await s.stop?.();
    await this.slot?.dispose();
  }
}
