/**
 * The agent's metrics, fed by the Bus: frames, faces, events, per-stage latency, dropped/corrupt frames, source
 * state, model info, MQTT queue depth and broker connection. It also keeps what /healthz needs (last frame time
 * per camera, pause state, broker state), so health and metrics always agree.
 */
import type { Bus, ModelInfo, SourceStatus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { EmotionEvent, FrameResult } from '../core/types.js';
import { LATENCY_BUCKETS_S, Registry, type Gauge, type Histogram } from './metrics.js';

export const SOURCE_STATES: ReadonlyArray<SourceStatus['state']> = ['connecting', 'running', 'failed', 'stopped'];

/** Stage names as they appear in the `stage` label, mapped from FrameResult.timings. */
const STAGES = [
  ['decode', 'decodeMs'],
  ['detect', 'detectMs'],
  ['classify', 'classifyMs'],
  ['wait', 'waitMs'],
  ['process', 'processMs'],
  ['total', 'totalMs'],
] as const;

export interface CameraHealthState {
  cameraId: string;
  /** Monotonic ms when the last processed frame arrived; null before the first one. */
  lastFrameMono: number | null;
  paused: boolean;
  state: SourceStatus['state'] | 'unknown';
  reason?: string;
}

export interface AgentMetricsOptions {
  clock?: Clock;
  /** Cameras from the config, so their series exist (at 0) before the first frame. */
  cameraIds?: readonly string[];
  /** Whether an MQTT broker is configured: only then do broker metrics and health checks apply. */
  mqttConfigured?: boolean;
  latencyBuckets?: readonly number[];
}

export class AgentMetrics {
  readonly registry = new Registry();
  readonly clock: Clock;
  readonly mqttConfigured: boolean;
  /** Monotonic ms when this object was created: the grace period for cameras that have not produced a frame yet. */
  readonly startedMono: number;

  private readonly frames = this.registry.counter({ name: 'fer_frames_total', help: 'Frames processed (decoded, detected, classified).', labelNames: ['camera'] });
  private readonly faces = this.registry.counter({ name: 'fer_faces_total', help: 'Faces found in processed frames.', labelNames: ['camera'] });
  private readonly facesCurrent = this.registry.gauge({ name: 'fer_faces_current', help: 'Faces in the latest processed frame.', labelNames: ['camera'] });
  private readonly events = this.registry.counter({ name: 'fer_events_total', help: 'Debounced emotion events by type (an emotion label or face_lost).', labelNames: ['camera', 'type'] });
  private readonly latency: Histogram<'camera' | 'stage'>;
  private readonly skipped = this.registry.counter({ name: 'fer_detector_skipped_total', help: 'Frames on which idle gating skipped the face detector (nothing moved, no face followed).', labelNames: ['camera'] });
  private readonly regions = this.registry.counter({ name: 'fer_detector_regions_total', help: 'Frames on which the face detector searched only the follow regions around followed faces, not the whole frame.', labelNames: ['camera'] });
  private readonly dropped = this.registry.counter({ name: 'fer_frames_dropped_total', help: 'Frames the source dropped because the pipeline was busy.', labelNames: ['camera'] });
  private readonly corrupt = this.registry.counter({ name: 'fer_frames_corrupt_total', help: 'Frames that could not be decoded.', labelNames: ['camera'] });
  private readonly sourceState = this.registry.gauge({ name: 'fer_source_state', help: 'Camera source state: 1 for the current state, 0 for the others.', labelNames: ['camera', 'state'] });
  private readonly paused = this.registry.gauge({ name: 'fer_camera_paused', help: '1 while a camera is paused by a command.', labelNames: ['camera'] });
  private readonly frameAge = this.registry.gauge({ name: 'fer_last_frame_age_seconds', help: 'Seconds since the last processed frame (since start before the first).', labelNames: ['camera'] });
  private readonly modelInfo = this.registry.gauge({ name: 'fer_model_info', help: 'The active model bundle and the engine running it (value 1).', labelNames: ['name', 'version', 'engine', 'precision', 'flip_tta'] });
  private readonly queueDepth = this.registry.gauge({ name: 'fer_mqtt_queue_depth', help: 'Events waiting for the MQTT broker.' });
  /** Only registered when MQTT is configured: a broker that is not meant to exist is neither up nor down. */
  private readonly brokerUp: Gauge | null;
  private readonly rss = this.registry.gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.' });
  private readonly startTime = this.registry.gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch in seconds.' });

  private readonly cams = new Map<string, CameraHealthState>();
  /** The last cumulative drop/corrupt totals a source reported, to turn them into counter increments. */
  private readonly lastTotals = new Map<string, { dropped: number; corrupt: number }>();
  private brokerConnected = false;
  private model: ModelInfo | null = null;
  private bus?: Bus;

  constructor(bus: Bus | null, opts: AgentMetricsOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.mqttConfigured = opts.mqttConfigured ?? false;
    this.startedMono = this.clock.mono();
    this.latency = this.registry.histogram({
      name: 'fer_stage_latency_seconds',
      help: 'Time per pipeline stage per frame (decode, detect, classify, total).',
      labelNames: ['camera', 'stage'],
      buckets: opts.latencyBuckets ?? LATENCY_BUCKETS_S,
    });
    this.startTime.set(undefined, Math.round((this.clock.wall() - process.uptime() * 1000) / 1000));
    this.brokerUp = this.mqttConfigured ? this.registry.gauge({ name: 'fer_mqtt_connected', help: '1 while connected to the MQTT broker.' }) : null;
    for (const id of opts.cameraIds ?? []) this.camera(id);
    this.registry.onCollect(() => this.collect());
    if (bus) this.subscribe(bus);
  }

  /** Frames that reached the end of the pipeline. */
  onResult(r: FrameResult): void {
    const camera = r.cameraId;
    this.camera(camera).lastFrameMono = this.clock.mono();
    this.frames.inc({ camera });
    this.faces.inc({ camera }, r.faces.length);
    if (r.detectorSkipped) this.skipped.inc({ camera });
    if (r.detectorRegions) this.regions.inc({ camera });
    this.facesCurrent.set({ camera }, r.faces.length);
    for (const [stage, key] of STAGES) {
      // A skipped detector did no work: its 0 ms would drag the detect latency down, so it is not a sample.
      if (stage === 'detect' && r.detectorSkipped) continue;
      const ms = r.timings[key];
      if (Number.isFinite(ms) && ms >= 0) this.latency.observe({ camera, stage }, ms / 1000);
    }
  }

  onEvent(e: EmotionEvent): void {
    this.camera(e.cameraId);
    this.events.inc({ camera: e.cameraId, type: e.eventType });
  }

  onSource(s: SourceStatus): void {
    const cam = this.camera(s.cameraId);
    cam.state = s.state;
    cam.reason = s.reason;
    for (const st of SOURCE_STATES) this.sourceState.set({ camera: s.cameraId, state: st }, st === s.state ? 1 : 0);
    // Sources report running totals; a restarted source starts again from 0, so a drop in the total is a reset.
    const prev = this.lastTotals.get(s.cameraId) ?? { dropped: 0, corrupt: 0 };
    const inc = (now: number, before: number): number => (now >= before ? now - before : now);
    this.dropped.inc({ camera: s.cameraId }, inc(s.framesDropped, prev.dropped));
    this.corrupt.inc({ camera: s.cameraId }, inc(s.framesCorrupt, prev.corrupt));
    this.lastTotals.set(s.cameraId, { dropped: s.framesDropped, corrupt: s.framesCorrupt });
  }

  setModel(m: ModelInfo): void {
    this.modelInfo.clear();
    this.modelInfo.set({ name: m.name, version: m.version, engine: m.engine, precision: m.precision, flip_tta: String(m.flipTta) }, 1);
    this.model = m;
  }

  setPaused(cameraId: string, paused: boolean): void {
    this.camera(cameraId).paused = paused;
    this.paused.set({ camera: cameraId }, paused ? 1 : 0);
  }

  setMqttQueueDepth(n: number): void {
    this.queueDepth.set(undefined, n);
  }

  setBrokerConnected(connected: boolean): void {
    this.brokerConnected = connected;
    this.brokerUp?.set(undefined, connected ? 1 : 0);
  }

  isBrokerConnected(): boolean {
    return this.brokerConnected;
  }

  activeModel(): ModelInfo | null {
    return this.model;
  }

  cameras(): CameraHealthState[] {
    return [...this.cams.values()].map((c) => ({ ...c }));
  }

  render(): string {
    return this.registry.render();
  }

  /** Stops listening to the bus. */
  dispose(): void {
    this.bus?.release(this);
  }

  private subscribe(bus: Bus): void {
    const onResult = (r: FrameResult): void => this.onResult(r);
    const onEvent = (e: EmotionEvent): void => this.onEvent(e);
    const onSource = (s: SourceStatus): void => this.onSource(s);
    const onModel = (m: ModelInfo): void => this.setModel(m);
    const onPaused = (p: { cameraId: string; paused: boolean }): void => this.setPaused(p.cameraId, p.paused);
    this.bus = bus;
    bus.listen(this, 'result', onResult);
    bus.listen(this, 'event', onEvent);
    bus.listen(this, 'source', onSource);
    bus.listen(this, 'model', onModel);
    bus.listen(this, 'paused', onPaused);
  }

  private camera(cameraId: string): CameraHealthState {
    let c = this.cams.get(cameraId);
    if (!c) {
      c = { cameraId, lastFrameMono: null, paused: false, state: 'unknown' };
      this.cams.set(cameraId, c);
      this.frames.inc({ camera: cameraId }, 0);
      this.faces.inc({ camera: cameraId }, 0);
      this.dropped.inc({ camera: cameraId }, 0);
      this.skipped.inc({ camera: cameraId }, 0);
      this.corrupt.inc({ camera: cameraId }, 0);
      this.paused.set({ camera: cameraId }, 0);
    }
    return c;
  }

  private collect(): void {
    const now = this.clock.mono();
    for (const c of this.cams.values()) {
      this.frameAge.set({ camera: c.cameraId }, Math.max(0, (now - (c.lastFrameMono ?? this.startedMono)) / 1000));
    }
    this.rss.set(undefined, process.memoryUsage.rss());
  }
}
