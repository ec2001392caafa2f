/** The one JSON shape of an event, shared by the stdout, jsonl and MQTT sinks. */
import type { EmotionEvent } from '../core/types.js';

export interface EventJson {
  camera: string;
  track_id: number;
  event_type: string;
  previous: string;
  /** Rounded to 4 decimals: more is noise. */
  confidence: number;
  /** Whole milliseconds. */
  held_ms: number;
  /** ISO 8601, UTC. */
  timestamp: string;
}

export function eventToJson(e: EmotionEvent): EventJson {
  return {
    camera: e.cameraId,
    track_id: e.trackId,
    event_type: e.eventType,
    previous: e.previous,
    confidence: Math.round(e.confidence * 10_000) / 10_000,
    held_ms: Math.round(e.heldMs),
    // A broken clock value must not throw inside a sink; the event itself is still worth delivering.
    timestamp: new Date(Number.isFinite(e.wallMs) ? e.wallMs : 0).toISOString(),
  };
}

/** One line of JSON (no trailing newline). */
export function eventToJsonLine(e: EmotionEvent): string {
  return JSON.stringify(eventToJson(e));
}
