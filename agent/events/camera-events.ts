/**
 * One camera's tracking and debouncing: faces in, tracked faces and events out. Pure glue; the pipeline feeds it
 * every processed frame and calls `tick` on a timer so face_lost still fires when frames stop coming.
 */
import type { Box, ClassifiedFace, EmotionEvent, TrackedFace } from '../core/types.js';
import type { DebounceConfig, TrackingConfig } from '../config/schema.js';
import { FaceTracker, type TrackerOptions } from '../tracking/tracker.js';
import { EmotionDebouncer, type DebounceResult, type DebouncedState } from './debouncer.js';

export interface CameraStep {
  tracks: TrackedFace[];
  events: EmotionEvent[];
}

export class CameraEvents {
  private readonly tracker: FaceTracker;
  private readonly debouncer: EmotionDebouncer;

  constructor(
    readonly cameraId: string,
    tracking: TrackingConfig,
    debounce: DebounceConfig,
    trackerOptions?: TrackerOptions,
  ) {
    this.tracker = new FaceTracker(tracking, trackerOptions);
    this.debouncer = new EmotionDebouncer(cameraId, debounce);
  }

  /** One processed frame (with or without faces). */
  process(faces: readonly ClassifiedFace[], monoMs: number, wallMs: number): CameraStep {
    const tracks = this.tracker.update(faces, monoMs);
    return { tracks, events: this.settle(this.debouncer.observe(tracks, monoMs, wallMs)) };
  }

  /** Time passed without a frame (source stalled, camera paused): raises face_lost for faces gone too long. */
  tick(monoMs: number, wallMs: number): EmotionEvent[] {
    return this.settle(this.debouncer.tick(monoMs, wallMs));
  }

  /** Ends every track now (camera stopping, model swap): face_lost for each face that announced an emotion. */
  flush(monoMs: number, wallMs: number): EmotionEvent[] {
    return this.settle(this.debouncer.flush(monoMs, wallMs));
  }

  /** Whether any face is still followed or still holds a state (idle gating must not skip the detector then). */
  active(): boolean {
    return this.tracker.size > 0 || this.debouncer.size > 0;
  }

  /** The faces the tracker follows, where it expects them at `monoMs` (the detector may search only there). */
  followed(monoMs: number): Array<{ box: Box; missed: number }> {
    return this.tracker.followed(monoMs);
  }

  states(): DebouncedState[] {
    return this.debouncer.states();
  }

  /** A face the debouncer gave up on must not be revived by the tracker under its old id. */
  private settle(r: DebounceResult): EmotionEvent[] {
    for (const id of r.expired) this.tracker.forget(id);
    return r.events;
  }
}
