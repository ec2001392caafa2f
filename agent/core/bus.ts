/**
 * The typed event bus the pipeline publishes on; sinks, MQTT, Home Assistant, metrics and the live view subscribe.
 * Modules talk through it instead of calling each other.
 */
import { EventEmitter } from 'node:events';
import type { EmotionEvent, Frame, FrameResult } from './types.js';

export interface ModelInfo {
  name: string;
  version: string;
  sha256: string;
  labels: string[];
  engine: string;
  /** Where the active bundle lives. */
  dir: string;
}

export interface SourceStatus {
  cameraId: string;
  state: 'connecting' | 'running' | 'failed' | 'stopped';
  reason?: string;
  framesDropped: number;
  framesCorrupt: number;
}

export interface BusEvents {
  /** A processed frame (faces, tracks, timings). */
  result: [FrameResult];
  /** The decoded frame behind a result; only emitted while someone listens (the live view). */
  frame: [Frame];
  /** A debounced emotion change. */
  event: [EmotionEvent];
  /** The active model changed (startup, hot swap, rollback). */
  model: [ModelInfo];
  source: [SourceStatus];
  /** A camera was paused or resumed by a command. */
  paused: [{ cameraId: string; paused: boolean }];
}

export class Bus extends EventEmitter<BusEvents> {
  constructor() {
    super({ captureRejections: false });
    this.setMaxListeners(50);
  }
}
