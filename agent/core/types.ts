/**
 * The types that cross module boundaries. One frame type, one face type, one event type.
 * Stage modules take and return these; nothing else is shared between stages.
 */

/** A decoded camera frame: tightly packed 8-bit pixels, row-major, `channels` interleaved (RGB or gray). */
export interface Frame {
  cameraId: string;
  /** Monotonically increasing per source, starting at 0. */
  seq: number;
  /** Capture time on the monotonic clock (ms, `performance.now()` base); use for durations. */
  monoMs: number;
  /** Capture time on the wall clock (ms since epoch); use for timestamps shown to people. */
  wallMs: number;
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** An encoded frame as sources receive it (JPEG/PNG bytes), before decoding. */
export interface EncodedFrame {
  seq: number;
  monoMs: number;
  wallMs: number;
  bytes: Uint8Array;
}

/** Axis-aligned box in frame pixels. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DetectedFace {
  box: Box;
  score: number;
  /** Optional facial landmarks (x, y pairs in frame pixels), e.g. CenterFace's 5 points. */
  landmarks?: Array<[number, number]>;
}

/** Per-label probabilities in the model's label order. */
export interface EmotionScores {
  labels: readonly string[];
  probs: Float32Array;
}

export interface ClassifiedFace extends DetectedFace {
  emotion: EmotionScores;
}

export interface TrackedFace extends ClassifiedFace {
  trackId: number;
  /** Smoothed probabilities over the track's recent frames. */
  smoothed: Float32Array;
  /** Frames this track has been seen in. */
  age: number;
}

/** What one processed frame produced, for state publishing, the live view and metrics. */
export interface FrameResult {
  cameraId: string;
  seq: number;
  monoMs: number;
  wallMs: number;
  width: number;
  height: number;
  faces: TrackedFace[];
  /**
   * waitMs: how old the frame was when work on it began (capture or read → decode start: time in the feed's slot);
   * processMs: the work (decode + detect + classify + tracking); totalMs: capture → result, the two together.
   */
  timings: { decodeMs: number; detectMs: number; classifyMs: number; waitMs: number; processMs: number; totalMs: number };
  /** Idle gating skipped the detector on this frame (nothing moved, no face followed). */
  detectorSkipped?: boolean;
  /** The detector searched only this many follow regions around the followed faces, not the whole frame. */
  detectorRegions?: number;
}

export type EmotionEventType = string; // a model label, or 'face_lost'

/** A debounced change of a track's emotional state. */
export interface EmotionEvent {
  cameraId: string;
  trackId: number;
  /** The new emotion, or `face_lost`. */
  eventType: EmotionEventType;
  /** The emotion held before (or `none` for a new track). */
  previous: string;
  confidence: number;
  /** How long the new emotion had held when the event fired (ms). */
  heldMs: number;
  /** Wall-clock time of the change (ms since epoch). */
  wallMs: number;
  /** Monotonic time of the change (ms). */
  monoMs: number;
  /** Unique per event, stamped once by the pipeline so every sink reports the same id. */
  eventId?: string;
}

/** Something that consumes events and frame results: stdout, jsonl, MQTT, Home Assistant. */
export interface EventSink {
  readonly name: string;
  start?(): Promise<void>;
  onEvent(event: EmotionEvent): void | Promise<void>;
  onFrame?(result: FrameResult): void;
  stop?(): Promise<void>;
}

/** What commands (MQTT, Home Assistant switches, CLI) may ask of the running agent. */
export interface AgentControl {
  cameraIds(): string[];
  isPaused(cameraId: string): boolean;
  setPaused(cameraId: string, paused: boolean): void;
  /** Publish current state again (e.g. after Home Assistant restarts). */
  republishState(): void;
}
