/** JSON bodies of the event, error and command-reply topics (pure). */
import type { ReasonCode } from '../core/errors.js';
import type { EmotionEvent } from '../core/types.js';

export interface EventPayload {
  /** The new emotion, or `face_lost` (Home Assistant's event entity reads this key). */
  event_type: string;
  previous: string;
  track_id: number;
  confidence: number;
  /** How long the new emotion had held when the event fired. */
  held_s: number;
  /** When it happened (ISO 8601, UTC). */
  time: string;
  ts: number;
  camera: string;
  agent: string;
  /** Unique per event: a consumer can drop the rare duplicate of at-least-once delivery. */
  event_id: string;
}

export function eventPayload(e: EmotionEvent, agentId: string, eventId: string): EventPayload {
  return {
    event_type: e.eventType,
    previous: e.previous,
    track_id: e.trackId,
    confidence: Math.round(e.confidence * 1000) / 1000,
    held_s: Math.round(e.heldMs) / 1000,
    time: new Date(e.wallMs).toISOString(),
    ts: e.wallMs,
    camera: e.cameraId,
    agent: agentId,
    event_id: eventId,
  };
}

/** Event ids: the agent, its start time and a counter, so ids stay unique across restarts. */
export function eventIdFactory(agentId: string, startWallMs: number): () => string {
  let n = 0;
  const start = startWallMs.toString(36);
  return () => `${agentId}-${start}-${++n}`;
}

export interface ErrorPayload {
  reason: ReasonCode | string;
  message: string;
  camera?: string;
  time: string;
}

export function errorPayload(reason: ReasonCode | string, message: string, wallMs: number, camera?: string): ErrorPayload {
  return { reason, message, ...(camera ? { camera } : {}), time: new Date(wallMs).toISOString() };
}
