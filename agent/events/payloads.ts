/**
 * JSON bodies of events and errors (pure). An event has one shape everywhere it leaves the agent (stdout and jsonl
 * lines, the MQTT event topic, Home Assistant's fer_emotion event), described by events/schemas/event.v1.json and
 * versioned by its `schema` field: a change that could break an automation gets a new number.
 */
import type { ReasonCode } from '../core/errors.js';
import type { EmotionEvent } from '../core/types.js';

/** The event schema's version (events/schemas/event.v1.json). */
export const EVENT_SCHEMA = 1;

export interface EventPayload {
  schema: typeof EVENT_SCHEMA;
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

/** `nextId` numbers events that arrive without an id (the pipeline stamps each event once, so every sink agrees). */
export function eventPayload(e: EmotionEvent, agentId: string, nextId: () => string): EventPayload {
  return {
    schema: EVENT_SCHEMA,
    event_type: e.eventType,
    previous: e.previous,
    track_id: e.trackId,
    confidence: Math.round(e.confidence * 1000) / 1000,
    held_s: Math.round(e.heldMs) / 1000,
    // A broken clock value must not throw inside a sink; the event itself is still worth delivering.
    time: new Date(Number.isFinite(e.wallMs) ? e.wallMs : 0).toISOString(),
    ts: Number.isFinite(e.wallMs) ? e.wallMs : 0,
    camera: e.cameraId,
    agent: agentId,
    event_id: e.eventId ?? nextId(),
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
