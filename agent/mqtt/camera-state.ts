/**
 * What a camera's retained `state` topic says, built from frame results and debounced events (pure).
 * The dominant emotion is that of the largest face: its debounced emotion once the debouncer has settled one
 * (so it agrees with the events), before that its smoothed most likely label; `none` when nobody is there.
 */
import type { EmotionEvent, FrameResult, TrackedFace } from '../core/types.js';

export interface TrackState {
  track_id: number;
  emotion: string;
  /** True once the debouncer settled this emotion (an event fired for it). */
  settled: boolean;
  confidence: number;
  confidences: Record<string, number>;
  box: { x: number; y: number; width: number; height: number };
}

export interface CameraState {
  /** events/schemas/state.v1.json */
  schema: 1;
  camera: string;
  emotion: string;
  confidence: number;
  faces: number;
  paused: boolean;
  tracks: TrackState[];
  /** ISO time of the frame this state describes (or of the change that produced it). */
  time: string;
  ts: number;
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export class CameraStateModel {
  private faces: TrackedFace[] = [];
  private labels: readonly string[] = [];
  private settled = new Map<number, string>();
  private paused = false;
  private wallMs = 0;

  constructor(readonly cameraId: string) {}

  onResult(r: FrameResult): void {
    if (r.cameraId !== this.cameraId) return;
    this.faces = r.faces;
    this.wallMs = r.wallMs;
    if (r.faces.length > 0) this.labels = r.faces[0].emotion.labels;
  }

  onEvent(e: EmotionEvent): void {
    if (e.cameraId !== this.cameraId) return;
    if (e.eventType === 'face_lost') {
      this.settled.delete(e.trackId);
      this.faces = this.faces.filter((f) => f.trackId !== e.trackId);
    } else this.settled.set(e.trackId, e.eventType);
    this.wallMs = Math.max(this.wallMs, e.wallMs);
  }

  /** While paused nothing is observed: the state says so and shows nobody. */
  setPaused(paused: boolean, wallMs: number): void {
    this.paused = paused;
    this.wallMs = wallMs;
    if (paused) {
      this.faces = [];
      this.settled.clear();
    }
  }

  snapshot(): CameraState {
    const tracks = [...this.faces]
      .sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height)
      .map((f) => this.track(f));
    const top = tracks[0];
    return {
      schema: 1,
      camera: this.cameraId,
      emotion: top ? top.emotion : 'none',
      confidence: top ? top.confidence : 0,
      faces: tracks.length,
      paused: this.paused,
      tracks,
      time: new Date(this.wallMs).toISOString(),
      ts: this.wallMs,
    };
  }

  private track(f: TrackedFace): TrackState {
    const labels = f.emotion.labels.length > 0 ? f.emotion.labels : this.labels;
    const probs = f.smoothed.length === labels.length ? f.smoothed : f.emotion.probs;
    let best = 0;
    for (let i = 1; i < probs.length; i++) if (probs[i] > probs[best]) best = i;
    const settled = this.settled.get(f.trackId);
    const idx = settled !== undefined ? labels.indexOf(settled) : best;
    const confidences: Record<string, number> = {};
    labels.forEach((l, i) => (confidences[l] = round(probs[i] ?? 0, 3)));
    return {
      track_id: f.trackId,
      emotion: settled ?? labels[best] ?? 'none',
      settled: settled !== undefined,
      confidence: round(idx >= 0 ? (probs[idx] ?? 0) : 0, 3),
      confidences,
      box: { x: Math.round(f.box.x), y: Math.round(f.box.y), width: Math.round(f.box.width), height: Math.round(f.box.height) },
    };
  }
}

/** The state without its timestamp: two states with the same body need not both be published. */
export function stateBody(s: CameraState): string {
  const { time: _time, ts: _ts, ...rest } = s;
  return JSON.stringify(rest);
}

/** The part of a state whose change must be published at once (the rest, confidences and boxes, may wait). */
export function stateKey(s: CameraState): string {
  return JSON.stringify([s.emotion, s.faces, s.paused, s.tracks.map((t) => [t.track_id, t.emotion, t.settled])]);
}

/**
 * Whether to publish `next` now: at once when something meaningful changed, otherwise at most every `minIntervalMs`
 * (confidences move a little on every frame; a retained message per frame would flood the broker).
 */
export function shouldPublish(
  last: { key: string; monoMs: number; body: string } | undefined,
  next: { key: string; body: string },
  nowMono: number,
  minIntervalMs: number,
): boolean {
  if (!last) return true;
  if (last.key !== next.key) return true;
  if (last.body === next.body) return false;
  return nowMono - last.monoMs >= minIntervalMs;
}
