/**
 * Turns per-frame smoothed probabilities into a few meaningful events per track. Pure: time comes in as parameters.
 *
 * Per track:
 * - A candidate emotion is the argmax with smoothed probability ≥ `min_confidence` (and not the current state). It
 *   qualifies once it has been the candidate for `min_duration_ms` without interruption.
 * - Hysteresis: the state is kept while its own probability stays ≥ `min_confidence − hysteresis`, unless another
 *   emotion qualifies. Below that the state becomes `none` (uncertain) without an event.
 * - A qualified emotion becomes the state and fires an event, except that emotion events of a track are at least
 *   `cooldown_ms` apart: a change qualifying during the cooldown waits and fires at the first frame after the
 *   cooldown if it has held all along. Coming back to the emotion last announced (after an uncertain spell) restores
 *   the state silently: events report changes, so every event's `previous` is the track's previous event type.
 * - `face_lost` fires once a track has not been seen for `absence_timeout_ms`, only for tracks that announced an
 *   emotion (a detection that never settled on one is forgotten quietly, so false positives do not spam).
 */
import { FerError } from '../core/errors.js';
import type { EmotionEvent, TrackedFace } from '../core/types.js';
import type { DebounceConfig } from '../config/schema.js';

/** The state of a track with no settled emotion. */
export const NO_EMOTION = 'none';
export const FACE_LOST = 'face_lost';

/** A track's current debounced state (for the retained MQTT state topic and the live view). */
export interface DebouncedState {
  trackId: number;
  /** A model label, or `none` while uncertain. */
  emotion: string;
  /** Smoothed probability of `emotion` in the track's latest frame (0 for `none`). */
  confidence: number;
  /** Monotonic time the state began. */
  sinceMonoMs: number;
}

export interface DebounceResult {
  events: EmotionEvent[];
  /** Tracks dropped for absence (with or without a face_lost event): the tracker should forget them too. */
  expired: number[];
}

interface TrackState {
  trackId: number;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Detector score at the last sighting (face_lost's confidence). */
  lastScore: number;
  state: string;
  stateConfidence: number;
  stateSinceMs: number;
  /** The last emotion an event announced (`none` before the first). */
  announced: string;
  lastEventMs?: number;
  candidate?: { emotion: string; sinceMs: number };
}

function checkConfig(c: DebounceConfig): void {
  const bad = (key: string, v: number, allowed: string): never => {
    throw new FerError('config_invalid', `debounce.${key} = ${String(v)} is invalid: expected ${allowed}`);
  };
  if (!(c.min_confidence >= 0 && c.min_confidence <= 1)) bad('min_confidence', c.min_confidence, 'a number in [0, 1]');
  if (!(c.hysteresis >= 0 && c.hysteresis <= 1)) bad('hysteresis', c.hysteresis, 'a number in [0, 1]');
  for (const key of ['min_duration_ms', 'cooldown_ms', 'absence_timeout_ms'] as const) {
    if (!(c[key] >= 0 && Number.isFinite(c[key]))) bad(key, c[key], 'a number of milliseconds ≥ 0');
  }
}

export class EmotionDebouncer {
  private readonly tracks = new Map<number, TrackState>();
  private lastMonoMs = -Infinity;

  constructor(
    readonly cameraId: string,
    private readonly config: DebounceConfig,
  ) {
    checkConfig(config);
  }

  /**
   * One processed frame: updates the tracks in it and expires the ones absent too long.
   * `monoMs` should not go backwards; if it does it is treated as the latest time seen.
   */
  observe(tracks: readonly TrackedFace[], monoMs: number, wallMs: number): DebounceResult {
    const now = this.advance(monoMs);
    const events: EmotionEvent[] = [];
    const seen = new Set<number>();
    for (const t of tracks) {
      seen.add(t.trackId);
      const ev = this.observeTrack(t, now, wallMs);
      if (ev !== undefined) events.push(ev);
    }
    const absent = this.expire(now, wallMs, seen);
    return { events: [...events, ...absent.events], expired: absent.expired };
  }

  /** No frame (or a frame without faces handled elsewhere): only absence timeouts advance. */
  tick(monoMs: number, wallMs: number): DebounceResult {
    return this.expire(this.advance(monoMs), wallMs, new Set());
  }

  /** Ends every track now (camera stopping, model swap): face_lost for those that announced an emotion. */
  flush(monoMs: number, wallMs: number): DebounceResult {
    return this.expire(this.advance(monoMs), wallMs, new Set(), true);
  }

  /** Tracks that hold (or are building up) a state; cheaper than states() for a per-frame check. */
  get size(): number {
    return this.tracks.size;
  }

  states(): DebouncedState[] {
    return [...this.tracks.values()]
      .sort((a, b) => a.trackId - b.trackId)
      .map((s) => ({ trackId: s.trackId, emotion: s.state, confidence: s.stateConfidence, sinceMonoMs: s.stateSinceMs }));
  }

  private advance(monoMs: number): number {
    this.lastMonoMs = Math.max(monoMs, this.lastMonoMs);
    return this.lastMonoMs;
  }

  private observeTrack(t: TrackedFace, now: number, wallMs: number): EmotionEvent | undefined {
    let s = this.tracks.get(t.trackId);
    if (s === undefined) {
      s = { trackId: t.trackId, firstSeenMs: now, lastSeenMs: now, lastScore: t.score, state: NO_EMOTION, stateConfidence: 0, stateSinceMs: now, announced: NO_EMOTION };
      this.tracks.set(t.trackId, s);
    }
    s.lastSeenMs = now;
    s.lastScore = t.score;
    const { labels } = t.emotion;
    // Smoothed values are what we debounce; raw ones only if the tracker's do not fit the labels.
    const probs = t.smoothed.length === labels.length ? t.smoothed : t.emotion.probs;
    const { min_confidence: minConf, hysteresis, min_duration_ms: minDuration, cooldown_ms: cooldown } = this.config;

    if (s.state !== NO_EMOTION) {
      const i = labels.indexOf(s.state);
      s.stateConfidence = i >= 0 ? probs[i] : 0;
      if (s.stateConfidence < minConf - hysteresis) {
        s.state = NO_EMOTION;
        s.stateConfidence = 0;
        s.stateSinceMs = now;
      }
    }

    let top = -1;
    for (let i = 0; i < labels.length; i++) if (top < 0 || probs[i] > probs[top]) top = i;
    const emotion = top >= 0 ? labels[top] : undefined;
    const p = top >= 0 ? probs[top] : 0;
    if (emotion !== undefined && p >= minConf && emotion !== s.state) {
      if (s.candidate?.emotion !== emotion) s.candidate = { emotion, sinceMs: now };
    } else {
      s.candidate = undefined;
    }
    if (s.candidate === undefined || now - s.candidate.sinceMs < minDuration) return undefined;

    const heldMs = now - s.candidate.sinceMs;
    if (s.candidate.emotion === s.announced) {
      s.state = s.announced;
      s.stateConfidence = p;
      s.stateSinceMs = now;
      s.candidate = undefined;
      return undefined;
    }
    if (s.lastEventMs !== undefined && now - s.lastEventMs < cooldown) return undefined; // deferred, not dropped
    const event: EmotionEvent = {
      cameraId: this.cameraId,
      trackId: s.trackId,
      eventType: s.candidate.emotion,
      previous: s.announced,
      confidence: p,
      heldMs,
      wallMs,
      monoMs: now,
    };
    s.state = s.announced = s.candidate.emotion;
    s.stateConfidence = p;
    s.stateSinceMs = now;
    s.lastEventMs = now;
    s.candidate = undefined;
    return event;
  }

  private expire(now: number, wallMs: number, seen: Set<number>, all = false): DebounceResult {
    const events: EmotionEvent[] = [];
    const expired: number[] = [];
    for (const s of this.tracks.values()) {
      if (!all && (seen.has(s.trackId) || now - s.lastSeenMs < this.config.absence_timeout_ms)) continue;
      this.tracks.delete(s.trackId);
      expired.push(s.trackId);
      if (s.announced === NO_EMOTION) continue;
      events.push({
        cameraId: this.cameraId,
        trackId: s.trackId,
        eventType: FACE_LOST,
        previous: s.announced,
        confidence: s.lastScore,
        heldMs: s.lastSeenMs - s.firstSeenMs,
        wallMs,
        monoMs: now,
      });
    }
    return { events, expired };
  }
}
