/**
 * What the live view sends to the browser: small JSON shapes built from bus messages. Pure; numbers are rounded so
 * a result stays a few hundred bytes on the wire.
 */
import type { ModelInfo, SourceStatus } from '../core/bus.js';
import type { EmotionEvent, FrameResult } from '../core/types.js';
import type { DebouncedState } from '../events/debouncer.js';
import type { RateSnapshot } from './rate-meter.js';

const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export interface WireFace {
  trackId: number;
  /** Frame pixels. */
  box: { x: number; y: number; width: number; height: number };
  score: number;
  /** Smoothed probabilities, in `labels` order. */
  probs: number[];
  age: number;
}

export interface WireState {
  trackId: number;
  emotion: string;
  confidence: number;
  /** How long the state has held (ms), at the time the message was built. */
  heldMs: number;
}

export interface WireResult {
  cameraId: string;
  seq: number;
  wallMs: number;
  width: number;
  height: number;
  labels: string[];
  faces: WireFace[];
  /** The debounced state per track after this frame. */
  states: WireState[];
  timings: { detectMs: number; classifyMs: number; totalMs: number };
}

export function wireStates(states: readonly DebouncedState[], nowMono: number): WireState[] {
  return states.map((s) => ({ trackId: s.trackId, emotion: s.emotion, confidence: r3(s.confidence), heldMs: Math.max(0, Math.round(nowMono - s.sinceMonoMs)) }));
}

export function wireResult(r: FrameResult, states: readonly DebouncedState[], nowMono: number): WireResult {
  const labels = r.faces.length > 0 ? [...r.faces[0].emotion.labels] : [];
  return {
    cameraId: r.cameraId,
    seq: r.seq,
    wallMs: r.wallMs,
    width: r.width,
    height: r.height,
    labels,
    faces: r.faces.map((f) => ({
      trackId: f.trackId,
      box: { x: r1(f.box.x), y: r1(f.box.y), width: r1(f.box.width), height: r1(f.box.height) },
      score: r3(f.score),
      probs: Array.from(f.smoothed, r3),
      age: f.age,
    })),
    states: wireStates(states, nowMono),
    timings: { detectMs: r1(r.timings.detectMs), classifyMs: r1(r.timings.classifyMs), totalMs: r1(r.timings.totalMs) },
  };
}

export type WireEvent = Omit<EmotionEvent, 'monoMs'>;

export function wireEvent(e: EmotionEvent): WireEvent {
  return { cameraId: e.cameraId, trackId: e.trackId, eventType: e.eventType, previous: e.previous, confidence: r3(e.confidence), heldMs: Math.round(e.heldMs), wallMs: e.wallMs };
}

/** The model as the page shows it; the bundle's directory stays on the device. */
export type WireModel = Omit<ModelInfo, 'dir'>;

export function wireModel(m: ModelInfo): WireModel {
  return { name: m.name, version: m.version, sha256: m.sha256, labels: [...m.labels], engine: m.engine, precision: m.precision, flipTta: m.flipTta };
}

export interface WireCameraStats {
  cameraId: string;
  fps: number;
  latencyMs: number | null;
  frameAgeMs: number | null;
  processMs: number | null;
  detectMs: number | null;
  classifyMs: number | null;
  paused: boolean;
  source: Omit<SourceStatus, 'cameraId'> | null;
}

export function wireCameraStats(cameraId: string, rate: RateSnapshot, paused: boolean, source: SourceStatus | undefined): WireCameraStats {
  const opt = (x: number | null): number | null => (x === null ? null : r1(x));
  return {
    cameraId,
    fps: r1(rate.fps),
    latencyMs: opt(rate.latencyMs),
    frameAgeMs: opt(rate.frameAgeMs),
    processMs: opt(rate.processMs),
    detectMs: opt(rate.detectMs),
    classifyMs: opt(rate.classifyMs),
    paused,
    source: source ? { state: source.state, reason: source.reason, framesDropped: source.framesDropped, framesCorrupt: source.framesCorrupt } : null,
  };
}

/** Everything a page needs on connect, before live messages arrive. */
export interface WireHello {
  agentId: string;
  /** `snapshot`: pictures of each emotion event leave the device over MQTT (snapshot.enabled). */
  cameras: Array<{ id: string; name: string; snapshot: boolean }>;
  model: WireModel | null;
  /** Recent events, oldest first. */
  events: WireEvent[];
  /** The latest result per camera, if any. */
  results: WireResult[];
  stats: WireCameraStats[];
}
