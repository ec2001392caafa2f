/**
 * One camera's frame loop: newest frame → faces → one batched classification → tracks → debounced events.
 * Publishes FrameResult and EmotionEvent on the bus; never throws out of the loop for a bad frame.
 */
import type { Bus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ClassifiedFace, DetectedFace, EmotionEvent, Frame, FrameResult, TrackedFace } from '../core/types.js';
import type { ResolvedCamera } from '../config/load.js';
import { GRID, GRID_ROWS, MotionGate, type GateDecision } from '../vision/motion-gate.js';
import { selectFaces, type FaceDetector } from '../vision/face-detector.js';
import { mergeRegionFaces, planDetection, regionsFoundAll } from '../vision/region-plan.js';
import { CameraEvents } from '../events/camera-events.js';
import { FACE_LOST } from '../events/debouncer.js';
import { encodeSnapshot } from '../vision/snapshot.js';
import { cropRolls } from '../vision/face-roll.js';
import type { StagedFrame } from '../sources/staged-frame.js';
import type { ModelSlot } from './model-slot.js';

type FrameMeta = Pick<Frame, 'seq' | 'monoMs' | 'wallMs'>;

/** Where frames come from (CameraFeed in production; anything with `next` in tests). */
export interface FrameProvider {
  next(signal: AbortSignal): Promise<Frame | null>;
  /** The next frame undecoded (CameraFeed): the pipeline decodes a preview first where idle gating allows. */
  nextStaged?(signal: AbortSignal): Promise<StagedFrame | null>;
  /** How long the frame `next` returned last took to decode (CameraFeed measures it). */
  stats?(): { lastDecodeMs?: number };
}

export interface CameraPipelineDeps {
  camera: ResolvedCamera;
  feed: FrameProvider;
  detector: FaceDetector;
  models: ModelSlot;
  bus: Bus;
  clock: Clock;
  log: Logger;
  /** Stamps each event with its id once, so every sink reports the same one (default: none; sinks number them). */
  nextEventId?: () => string;
  /** Releases what the pipeline owns (its detector). */
  dispose?: () => Promise<void>;
}

/** The stages of one frame (ms): decode ran just before `start`, in the feed; see FrameResult.timings. */
export function timingsOf(capturedMono: number, start: number, detected: number, classified: number, end: number, decodeMs: number): FrameResult['timings'] {
  const processMs = decodeMs + (end - start);
  const totalMs = end - capturedMono;
  return { decodeMs, detectMs: detected - start, classifyMs: classified - detected, waitMs: Math.max(0, totalMs - processMs), processMs, totalMs };
}

/** Snapshots waiting to be encoded, per camera: more are skipped (and counted) rather than holding frames without bound. */
const MAX_PENDING_SNAPSHOTS = 4;

export class CameraPipeline {
  /** Snapshots are encoded one after another, in event order, beside the frame loop; at most a few wait (each holds a frame). */
  private snapshotChain: Promise<void> = Promise.resolve();
  private snapshotsPending = 0;
  /** Snapshots not made because too many were waiting to be encoded. */
  snapshotsDropped = 0;
  private events: CameraEvents;
  private generation: number;
  private paused = false;
  /** Monotonic time the loop last finished a frame (or idled while paused): the watchdog and /healthz read it. */
  lastProgressMono: number;
  frames = 0;
  errors = 0;
  private lastFrameMono = -Infinity;
  /** When the detector last searched the whole frame (follow regions). */
  private lastFullMono = -Infinity;
  /** Region searches that missed a followed face, so the frame was searched again whole. */
  regionMisses = 0;
  private lastResult: FrameResult | undefined;
  private readonly gate: MotionGate | null;
  /** The size of the last frame decoded in full (what a frame skipped on its preview reports). */
  private lastSize: { width: number; height: number } | undefined;

  constructor(private readonly d: CameraPipelineDeps) {
    this.generation = d.models.active.generation;
    this.events = this.newEvents();
    this.lastProgressMono = d.clock.mono();
    const det = d.camera.detection;
    this.gate = det.idle_gating ? new MotionGate({ idleIntervalMs: det.idle_interval_ms }) : null;
  }

  private newEvents(): CameraEvents {
    const { camera } = this.d;
    return new CameraEvents(camera.id, camera.tracking, camera.debounce);
  }

  get cameraId(): string {
    return this.d.camera.id;
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** Whether faces are still followed (tracks not yet ended by face_lost). */
  hasOpenTracks(): boolean {
    return this.events.active();
  }

  setPaused(p: boolean): void {
    this.paused = p;
  }

  /** Runs until the signal aborts or the feed ends. */
  async run(signal: AbortSignal): Promise<void> {
    const { feed, clock, log } = this.d;
    while (!signal.aborted) {
      const staged = feed.nextStaged ? await feed.nextStaged(signal) : await this.nextDecoded(signal);
      if (!staged) break;
      this.lastProgressMono = clock.mono();
      if (this.paused) continue; // idleTick() ends the open tracks (silently: see emitEvents)
      try {
        await this.processStaged(staged);
      } catch (err) {
        // A frame that does not decode was counted and reported by the feed (corrupt frames); it is skipped here.
        if (!staged.decodeFailed) {
          this.errors++;
          log.warn({ camera: this.cameraId, seq: staged.seq, err: errorMessage(err) }, 'frame failed; continuing');
        }
      }
      this.lastProgressMono = clock.mono();
    }
    // Tracks still open when the camera stops end with face_lost, so consumers never keep a stale state.
    this.emitEvents(this.events.flush(clock.mono(), clock.wall()));
  }

  /** A feed without nextStaged: its frames come decoded, and their decode time from stats(). */
  private async nextDecoded(signal: AbortSignal): Promise<StagedFrame | null> {
    const { feed } = this.d;
    const frame = await feed.next(signal);
    if (!frame) return null;
    const decodeMs = feed.stats?.().lastDecodeMs ?? 0;
    return { ...frame, preview: async () => frame, full: async () => frame, decodeMs: () => decodeMs, decodeFailed: false, fullDecoded: true };
  }

  /**
   * Processes one frame that is not decoded yet. With idle gating, the gate decides on a small preview, and a frame
   * it skips is never decoded in full: in an empty, still room the cost per frame is the preview's decode. While
   * something watches whole frames (the live view) every frame is decoded in full, as that needs them.
   */
  async processStaged(staged: StagedFrame): Promise<FrameResult> {
    const { clock, bus } = this.d;
    if (!this.gate || bus.listenerCount('frame') > 0) return this.process(await staged.full(), staged.decodeMs());
    const preview = await staged.preview(GRID, GRID_ROWS);
    const t0 = (this.lastFrameMono = clock.mono());
    if (this.gate.decide(preview, this.events.active(), t0).decision === 'run') return this.process(await staged.full(), staged.decodeMs(), 'run');
    // The size a skipped frame reports is the last full decode's: the camera's size does not change while nothing moves.
    const size = this.lastSize ?? { width: preview.width, height: preview.height };
    // The gate's time counts as detection, as on a full frame.
    return this.finish(staged, size, [], true, 0, staged.decodeMs(), t0, clock.mono());
  }

  /** Processes one frame (`decodeMs`: what decoding it cost, for the per-stage latency); exposed for tests and benchmarks. */
  async process(frame: Frame, decodeMs = 0, gated?: GateDecision): Promise<FrameResult> {
    const { clock } = this.d;
    const t0 = (this.lastFrameMono = clock.mono());
    const skip = (gated ?? this.gate?.decide(frame, this.events.active(), t0).decision) === 'skip';
    const { faces, regions } = skip ? { faces: [], regions: 0 } : await this.findFaces(frame, t0);
    this.lastSize = { width: frame.width, height: frame.height };
    return this.finish(frame, this.lastSize, faces, skip, regions, decodeMs, t0, clock.mono(), frame);
  }

  /** Classifies the faces found, tracks and debounces them, and publishes the result (`frame`: the pixels, if decoded). */
  private async finish(meta: FrameMeta, size: { width: number; height: number }, faces: DetectedFace[], skip: boolean, regions: number, decodeMs: number, t0: number, t1: number, frame?: Frame): Promise<FrameResult> {
    const { models, bus, clock, camera } = this.d;
    const lease = models.acquire();
    let classified: ClassifiedFace[];
    try {
      const { classifier, preprocessor, generation } = lease.model;
      if (generation !== this.generation) {
        // New model, maybe new labels: start tracks and debouncing afresh.
        this.emitEvents(this.events.flush(clock.mono(), clock.wall()));
        this.generation = generation;
        this.events = this.newEvents();
      }
      const n = faces.length;
      const probs = n && frame ? await classifier.classify(preprocessor.run(frame, faces.map((f) => f.box), cropRolls(faces, camera.detection)), n) : new Float32Array(0);
      const k = classifier.labels.length;
      classified = faces.map((f, i) => ({ ...f, emotion: { labels: classifier.labels, probs: probs.slice(i * k, (i + 1) * k) } }));
    } finally {
      lease.release();
    }
    const t2 = clock.mono();
    const { tracks, events } = this.events.process(classified, meta.monoMs, meta.wallMs);
    this.frames++;
    const result: FrameResult = {
      cameraId: camera.id,
      seq: meta.seq,
      monoMs: meta.monoMs,
      wallMs: meta.wallMs,
      width: size.width,
      height: size.height,
      faces: tracks,
      ...(skip ? { detectorSkipped: true } : {}),
      ...(regions ? { detectorRegions: regions } : {}),
      timings: timingsOf(meta.monoMs, t0, t1, t2, clock.mono(), decodeMs),
    };
    this.lastResult = result;
    if (frame && bus.listenerCount('frame') > 0) bus.emit('frame', frame);
    bus.emit('result', result);
    const stamped = this.emitEvents(events);
    if (frame && camera.snapshot.enabled) this.snapshots(frame, tracks, stamped);
    return result;
  }

  /**
   * Searches only around the followed faces when the plan allows it and every one of them is found there; the whole
   * frame otherwise (on the same frame, so a face that moved far is never lost for a frame). `regions`: how many
   * regions the faces came from (0: a full search).
   */
  private async findFaces(frame: Frame, now: number): Promise<{ faces: DetectedFace[]; regions: number }> {
    const { detector, camera } = this.d;
    const det = camera.detection;
    if (det.follow_regions && detector.detectRegions) {
      const followed = this.events.followed(frame.monoMs);
      const plan = planDetection(followed, frame.width, frame.height, now - this.lastFullMono, {
        fullIntervalMs: det.full_interval_ms,
        regionInput: det.region_input,
        fullInputPixels: det.input_width * det.input_height,
      });
      if (plan.kind === 'regions') {
        const perRegion = await detector.detectRegions(frame, plan.regions);
        const faces = selectFaces(mergeRegionFaces(perRegion, plan.regions, frame.width, frame.height, det.nms_iou), det);
        if (regionsFoundAll(followed, faces)) return { faces, regions: plan.regions.length };
        this.regionMisses++;
      }
    }
    this.lastFullMono = now;
    return { faces: await detector.detect(frame), regions: 0 };
  }

  private emitEvents(events: readonly EmotionEvent[]): EmotionEvent[] {
    // Pause is privacy, one rule for every sink: nothing about a paused camera leaves the pipeline, not even the
    // face_lost that ends its open tracks, nor the events of a frame that was in flight when the pause came.
    if (this.paused) return [];
    const next = this.d.nextEventId;
    const out = events.map((e) => (next ? { ...e, eventId: next() } : e));
    for (const e of out) this.d.bus.emit('event', e);
    return out;
  }

  /** One picture per emotion event of this frame (face_lost has no face to show); encoded off the frame loop. */
  private snapshots(frame: Frame, tracks: readonly TrackedFace[], events: readonly EmotionEvent[]): void {
    const { camera, bus, log } = this.d;
    for (const e of events) {
      if (e.eventType === FACE_LOST) continue;
      const track = tracks.find((t) => t.trackId === e.trackId);
      if (!track) continue;
      if (this.snapshotsPending >= MAX_PENDING_SNAPSHOTS) {
        this.snapshotsDropped++;
        log.warn({ camera: camera.id, pending: this.snapshotsPending, dropped: this.snapshotsDropped }, 'snapshot skipped: encoding cannot keep up');
        continue;
      }
      this.snapshotsPending++;
      this.snapshotChain = this.snapshotChain
        .then(() => encodeSnapshot(frame, track.box, tracks.map((t) => t.box), camera.snapshot))
        .then((jpeg) => {
          if (jpeg) bus.emit('snapshot', { cameraId: camera.id, eventId: e.eventId, eventType: e.eventType, jpeg });
          else log.warn({ camera: camera.id, max_bytes: camera.snapshot.max_bytes }, 'snapshot over snapshot.max_bytes even at the smallest size; not sent');
        })
        .catch((err: unknown) => log.warn({ camera: camera.id, err: errorMessage(err) }, 'snapshot failed'))
        .finally(() => this.snapshotsPending--);
    }
  }

  /** Drives face_lost while no frames arrive (source stalled or paused). */
  idleTick(): void {
    const { clock } = this.d;
    if (clock.mono() - this.lastFrameMono < 200) return;
    this.emitEvents(this.events.tick(clock.mono(), clock.wall()));
  }

  /** Publishes the latest result again (e.g. Home Assistant restarted and asks for state). */
  republish(): void {
    if (this.lastResult) this.d.bus.emit('result', this.lastResult);
  }

  async dispose(): Promise<void> {
    await this.d.dispose?.();
  }

  /** The debounced state per track (for the retained state topic and the live view). */
  states() {
    return this.events.states();
  }
}
