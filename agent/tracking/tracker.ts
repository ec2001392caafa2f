/**
 * Frame-to-frame face tracking: keeps a stable id on each face so emotions can be smoothed and debounced per person.
 *
 * Matching is greedy on IoU against each track's predicted box (last box moved by its estimated velocity, so two faces
 * crossing keep their ids), then greedy on centre distance for what is left (small faces moving more than their own
 * size between frames have no overlap at all). Unmatched detections start tracks with fresh ids (monotonic, never
 * reused); a track survives `max_missed_frames` frames without a match.
 *
 * The tracker does not decide when a face counts as gone for events: the debouncer does that with
 * `absence_timeout_ms` and calls `forget()` (see agent/events/camera-events.ts).
 */
import { FerError } from '../core/errors.js';
import type { Box, ClassifiedFace, TrackedFace } from '../core/types.js';
import type { TrackingConfig } from '../config/schema.js';
import { center, iou, shift, side } from '../core/geometry.js';
import { checkSmoothingWeight, smoothProbs } from './smoothing.js';

export interface TrackerOptions {
  /** Centre-distance fallback: a detection may continue a track when its centre is within this many track sides of
   * the predicted centre. */
  centroidGate?: number;
  /** ...and its size is within this factor of the track's (either way). */
  maxSizeRatio?: number;
  /** Prediction never moves a box further than this many sides (a stalled camera must not fling boxes away). */
  maxPredictSides?: number;
}

interface Track {
  id: number;
  box: Box;
  labels: readonly string[];
  smoothed: Float32Array;
  /** Frames seen. */
  age: number;
  /** Consecutive frames without a match. */
  missed: number;
  lastMonoMs: number;
  /** Estimated centre velocity (pixels per ms); undefined until the track has been matched twice. */
  vx?: number;
  vy?: number;
}

/** Weight of the newest observed displacement in the velocity estimate. */
const VELOCITY_WEIGHT = 0.5;

function sameLabels(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((l, i) => l === b[i]));
}

export class FaceTracker {
  private readonly tracks = new Map<number, Track>();

  /** Tracks currently followed (including ones missing for a few frames). */
  get size(): number {
    return this.tracks.size;
  }
  private nextId = 1;
  private lastMonoMs = -Infinity;
  private readonly centroidGate: number;
  private readonly maxSizeRatio: number;
  private readonly maxPredictSides: number;

  constructor(
    private readonly config: TrackingConfig,
    options: TrackerOptions = {},
  ) {
    checkSmoothingWeight(config.smoothing);
    if (!(config.iou_threshold > 0 && config.iou_threshold <= 1)) {
      throw new FerError('config_invalid', `tracking.iou_threshold = ${String(config.iou_threshold)} is invalid: expected a number in (0, 1]`);
    }
    if (!Number.isInteger(config.max_missed_frames) || config.max_missed_frames < 0) {
      throw new FerError('config_invalid', `tracking.max_missed_frames = ${String(config.max_missed_frames)} is invalid: expected a whole number ≥ 0`);
    }
    this.centroidGate = options.centroidGate ?? 2.5;
    this.maxSizeRatio = options.maxSizeRatio ?? 2;
    this.maxPredictSides = options.maxPredictSides ?? 2;
  }

  /**
   * Associates one frame's faces with tracks. Returns one TrackedFace per input face, in input order.
   * `monoMs` should not go backwards; if it does it is treated as the previous frame's time.
   */
  update(faces: readonly ClassifiedFace[], monoMs: number): TrackedFace[] {
    const now = Math.max(monoMs, this.lastMonoMs);
    this.lastMonoMs = now;
    const tracks = [...this.tracks.values()];
    const predicted = tracks.map((t) => this.predict(t, now));
    const assigned = new Array<Track | undefined>(faces.length);
    const usedTracks = new Set<number>();

    const pairs: Array<{ t: number; d: number; cost: number }> = [];
    for (let t = 0; t < tracks.length; t++) {
      for (let d = 0; d < faces.length; d++) {
        const overlap = iou(predicted[t], faces[d].box);
        if (overlap >= this.config.iou_threshold) pairs.push({ t, d, cost: -overlap });
      }
    }
    this.assignGreedy(pairs, tracks, assigned, usedTracks);

    // Fallback for what overlap could not pair: nearest centre, gated by distance and size.
    const far: Array<{ t: number; d: number; cost: number }> = [];
    for (let t = 0; t < tracks.length; t++) {
      if (usedTracks.has(tracks[t].id)) continue;
      const p = predicted[t];
      const pc = center(p);
      const s = side(p);
      for (let d = 0; d < faces.length; d++) {
        if (assigned[d] !== undefined) continue;
        const box = faces[d].box;
        const ratio = side(box) / s;
        if (!(ratio <= this.maxSizeRatio && ratio >= 1 / this.maxSizeRatio)) continue;
        const c = center(box);
        const dist = Math.hypot(c.cx - pc.cx, c.cy - pc.cy) / s;
        if (dist <= this.centroidGate) far.push({ t, d, cost: dist });
      }
    }
    this.assignGreedy(far, tracks, assigned, usedTracks);

    const out: TrackedFace[] = faces.map((face, d) => {
      const track = assigned[d];
      return track === undefined ? this.start(face, now) : this.continue(track, face, now);
    });

    for (const t of tracks) {
      if (usedTracks.has(t.id)) continue;
      t.missed++;
      if (t.missed > this.config.max_missed_frames) this.tracks.delete(t.id);
    }
    return out;
  }

  /** Drops a track (the debouncer declared the face lost); a face seen there again gets a new id. */
  forget(trackId: number): void {
    this.tracks.delete(trackId);
  }

  /** Where each track is expected at `monoMs` (its box moved by its velocity) and how many frames it has been missed. */
  followed(monoMs: number): Array<{ box: Box; missed: number }> {
    const now = Math.max(monoMs, this.lastMonoMs);
    return [...this.tracks.values()].map((t) => ({ box: this.predict(t, now), missed: t.missed }));
  }

  /** Ids of the tracks alive now, ascending. */
  trackIds(): number[] {
    return [...this.tracks.keys()].sort((a, b) => a - b);
  }

  private assignGreedy(
    pairs: Array<{ t: number; d: number; cost: number }>,
    tracks: Track[],
    assigned: Array<Track | undefined>,
    usedTracks: Set<number>,
  ): void {
    // Deterministic order on ties: older tracks first, then detection order.
    pairs.sort((a, b) => a.cost - b.cost || tracks[a.t].id - tracks[b.t].id || a.d - b.d);
    for (const { t, d } of pairs) {
      const track = tracks[t];
      if (usedTracks.has(track.id) || assigned[d] !== undefined) continue;
      usedTracks.add(track.id);
      assigned[d] = track;
    }
  }

  private predict(t: Track, now: number): Box {
    if (t.vx === undefined || t.vy === undefined) return t.box;
    const dt = now - t.lastMonoMs;
    let dx = t.vx * dt;
    let dy = t.vy * dt;
    const limit = this.maxPredictSides * side(t.box);
    const len = Math.hypot(dx, dy);
    if (len > limit) {
      dx *= limit / len;
      dy *= limit / len;
    }
    return shift(t.box, dx, dy);
  }

  private start(face: ClassifiedFace, now: number): TrackedFace {
    const track: Track = {
      id: this.nextId++,
      box: { ...face.box },
      labels: face.emotion.labels,
      smoothed: smoothProbs(undefined, face.emotion.probs, this.config.smoothing),
      age: 1,
      missed: 0,
      lastMonoMs: now,
    };
    this.tracks.set(track.id, track);
    return { ...face, trackId: track.id, smoothed: track.smoothed, age: track.age };
  }

  private continue(track: Track, face: ClassifiedFace, now: number): TrackedFace {
    const dt = now - track.lastMonoMs;
    if (dt > 0) {
      const a = center(track.box);
      const b = center(face.box);
      const vx = (b.cx - a.cx) / dt;
      const vy = (b.cy - a.cy) / dt;
      const w = track.vx === undefined ? 1 : VELOCITY_WEIGHT;
      track.vx = w * vx + (1 - w) * (track.vx ?? 0);
      track.vy = w * vy + (1 - w) * (track.vy ?? 0);
    }
    // A model swap with other labels restarts the average instead of mixing unrelated classes.
    const prev = sameLabels(track.labels, face.emotion.labels) ? track.smoothed : undefined;
    track.smoothed = smoothProbs(prev, face.emotion.probs, this.config.smoothing);
    track.labels = face.emotion.labels;
    track.box = { ...face.box };
    track.age++;
    track.missed = 0;
    track.lastMonoMs = now;
    return { ...face, trackId: track.id, smoothed: track.smoothed, age: track.age };
  }
}
